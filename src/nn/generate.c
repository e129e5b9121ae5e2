/* The generation loop: prefill the prompt, then sample a token and feed it
 * back until the stop token, max_new_tokens or the end of the cache. */
#include <math.h>
#include <string.h>

#include "kd/nn.h"

kd_status kd_gpt2_prompt_check(const gpt2_config *config, int prompt_count)
{
    if (prompt_count < 1)
        return kd_fail(KD_ERR_INVALID, "the prompt is empty (0 tokens)");
    if (prompt_count >= config->n_positions)
        return kd_fail(KD_ERR_INVALID,
                       "the prompt has %d tokens; the model reads at most n_positions = %d, "
                       "which leaves no room to generate",
                       prompt_count, config->n_positions);
    return KD_OK;
}

/* A diverged or corrupt model gives NaN or Inf logits; sampling from them
 * would pick an arbitrary token without a word of warning. */
static kd_status check_logits(const float *logits, int V, int position)
{
    for (int v = 0; v < V; v++)
        if (!isfinite(logits[v]))
            return kd_fail(KD_ERR_NUMERIC, "the logit of token %d after position %d is %g", v,
                           position, (double)logits[v]);
    return KD_OK;
}

kd_status kd_gpt2_generate_tokens(gpt2_model *model, gpt2_kv_cache *cache, const int *prompt,
                                  int prompt_count, const gpt2_sampling *sampling, kd_rng *rng,
                                  int *out, gpt2_token_fn on_token, void *context,
                                  gpt2_generate_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->prompt_tokens = prompt_count;
    kd_status status = kd_gpt2_prompt_check(&model->config, prompt_count);
    if (status == KD_OK)
        status = kd_gpt2_sampling_validate(sampling);
    double start = kd_now_seconds();
    if (status == KD_OK)
        status = kd_gpt2_prefill(model, cache, prompt, prompt_count);
    stats->prefill_seconds = kd_now_seconds() - start;
    if (status != KD_OK)
        return status;

    /* Prompt and new tokens together fit the cache. */
    int room = cache->max_len - prompt_count;
    int wanted = sampling->max_new_tokens < room ? sampling->max_new_tokens : room;
    int V = model->config.vocab_size, token = -1;
    for (int n = 0; n < wanted; n++) {
        if (n > 0) {
            start = kd_now_seconds();
            status = kd_gpt2_decode_step(model, cache, token);
            stats->decode_seconds += kd_now_seconds() - start;
            if (status != KD_OK)
                return status;
            stats->decode_steps++;
        }
        if ((status = check_logits(cache->logits, V, cache->length - 1)) != KD_OK)
            return status;
        start = kd_now_seconds();
        token = kd_gpt2_sample_token(cache->logits, V, sampling, cache->candidates, rng);
        stats->sample_seconds += kd_now_seconds() - start;
        if (token == sampling->stop_token) {
            stats->stopped = 1;
            break;
        }
        if (out)
            out[n] = token;
        stats->new_tokens++;
        if (on_token && (status = on_token(token, context)) != KD_OK)
            return status;
    }
    return KD_OK;
}
