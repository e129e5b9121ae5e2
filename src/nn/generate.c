/* The generation loop: prefill the prompt, then sample a token and feed it
 * back until the stop token, max_new_tokens or the end of the cache. The
 * f32 model and the quantized one share it. */
#include <math.h>
#include <string.h>

#include "kd/nn.h"
#include "kd/qgpt2.h"

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

/* What the loop runs: the f32 model or the quantized one, each with its
 * cache (whose logits, sampler scratch and length the loop reads). */
typedef struct {
    const gpt2_config *config;
    gpt2_kv_cache *cache;
    kd_status (*prefill)(const void *model, void *state, const int *tokens, int count);
    kd_status (*decode)(const void *model, void *state, int token);
    const void *model;
    void *state;
} decoder;

static kd_status generate(const decoder *d, const int *prompt, int prompt_count,
                          const gpt2_sampling *sampling, kd_rng *rng, int *out,
                          gpt2_token_fn on_token, void *context, gpt2_generate_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->prompt_tokens = prompt_count;
    kd_status status = kd_gpt2_prompt_check(d->config, prompt_count);
    if (status == KD_OK)
        status = kd_gpt2_sampling_validate(sampling);
    double start = kd_now_seconds();
    if (status == KD_OK)
        status = d->prefill(d->model, d->state, prompt, prompt_count);
    stats->prefill_seconds = kd_now_seconds() - start;
    if (status != KD_OK)
        return status;

    gpt2_kv_cache *cache = d->cache;
    /* Prompt and new tokens together fit the cache. */
    int room = cache->max_len - prompt_count;
    int wanted = sampling->max_new_tokens < room ? sampling->max_new_tokens : room;
    int V = d->config->vocab_size, token = -1;
    for (int n = 0; n < wanted; n++) {
        if (n > 0) {
            start = kd_now_seconds();
            status = d->decode(d->model, d->state, token);
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

/* kd_gpt2_prefill reuses the model's activations, hence the cast: the
 * decoder holds every model as const. */
static kd_status f32_prefill(const void *model, void *cache, const int *tokens, int count)
{
    return kd_gpt2_prefill((gpt2_model *)model, cache, tokens, count);
}

static kd_status f32_decode(const void *model, void *cache, int token)
{
    return kd_gpt2_decode_step(model, cache, token);
}

kd_status kd_gpt2_generate_tokens(gpt2_model *model, gpt2_kv_cache *cache, const int *prompt,
                                  int prompt_count, const gpt2_sampling *sampling, kd_rng *rng,
                                  int *out, gpt2_token_fn on_token, void *context,
                                  gpt2_generate_stats *stats)
{
    decoder d = {&model->config, cache, f32_prefill, f32_decode, model, cache};
    return generate(&d, prompt, prompt_count, sampling, rng, out, on_token, context, stats);
}

static kd_status quantized_prefill(const void *model, void *state, const int *tokens, int count)
{
    return kd_gpt2_qprefill(model, state, tokens, count);
}

static kd_status quantized_decode(const void *model, void *state, int token)
{
    return kd_gpt2_qdecode_step(model, state, token);
}

kd_status kd_gpt2_qgenerate_tokens(const gpt2_qmodel *model, gpt2_qstate *state,
                                   const int *prompt, int prompt_count,
                                   const gpt2_sampling *sampling, kd_rng *rng, int *out,
                                   gpt2_token_fn on_token, void *context,
                                   gpt2_generate_stats *stats)
{
    decoder d = {&model->config, &state->cache, quantized_prefill, quantized_decode, model,
                 state};
    return generate(&d, prompt, prompt_count, sampling, rng, out, on_token, context, stats);
}
