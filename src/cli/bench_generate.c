/* kd bench --mode generate: batch-1 generation with the KV cache, as kd
 * generate runs it (kd_gpt2_generate_tokens, greedy so every run decodes the
 * same number of tokens): a random prompt of --seq tokens, then
 * --new-tokens decoded. The step is one decoded token; prefill speed is
 * reported beside it. */
#include <stdlib.h>

#include "bench.h"

static kd_status run_generation(gpt2_model *model, gpt2_kv_cache *cache, const int *prompt,
                                const bench_options *o, int *out, double *prefill_s,
                                double *token_s)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = 0.0f;
    sampling.max_new_tokens = o->new_tokens;
    sampling.stop_token = -1;
    gpt2_generate_stats stats;
    kd_status status = kd_gpt2_generate_tokens(model, cache, prompt, o->seq, &sampling, NULL, out,
                                               NULL, NULL, &stats);
    *prefill_s = stats.prefill_seconds;
    *token_s = (stats.decode_seconds + stats.sample_seconds) /
               (stats.decode_steps > 0 ? stats.decode_steps : 1);
    return status;
}

kd_status bench_generate(const bench_options *o, const gpt2_config *config, bench_timing *timing)
{
    if (o->seq + o->new_tokens > config->n_positions)
        return kd_fail(KD_ERR_INVALID, "a %d-token prompt and %d new tokens exceed n_positions %d",
                       o->seq, o->new_tokens, config->n_positions);
    gpt2_model model;
    gpt2_kv_cache cache = {0};
    kd_status status = kd_gpt2_create(&model, config);
    if (status != KD_OK)
        return status;
    kd_gpt2_init_random(&model, BENCH_SEED);
    int *prompt = kd_alloc((size_t)o->seq, sizeof(int), "benchmark prompt");
    int *out = kd_alloc((size_t)o->new_tokens, sizeof(int), "benchmark output");
    double *token_times = kd_alloc((size_t)o->steps, sizeof(double), "token times");
    double *prefill_times = kd_alloc((size_t)o->steps, sizeof(double), "prefill times");
    if (!prompt || !out || !token_times || !prefill_times)
        status = KD_ERR_NOMEM;
    if (status == KD_OK)
        status = kd_gpt2_prepare(&model, 1, o->seq, 0);
    if (status == KD_OK)
        status = kd_gpt2_set_precision(&model, o->precision);
    if (status == KD_OK)
        status = kd_gpt2_kv_cache_create(&cache, config, o->seq + o->new_tokens);
    kd_rng rng;
    kd_rng_seed(&rng, BENCH_SEED + 1);
    for (int i = 0; status == KD_OK && i < o->seq; i++)
        prompt[i] = (int)kd_rng_below(&rng, (uint64_t)config->vocab_size);
    for (int run = 0; status == KD_OK && run < o->warmup + o->steps; run++) {
        double prefill_s, token_s;
        status = run_generation(&model, &cache, prompt, o, out, &prefill_s, &token_s);
        if (run >= o->warmup) {
            token_times[run - o->warmup] = token_s;
            prefill_times[run - o->warmup] = o->seq / prefill_s;
        }
    }
    if (status == KD_OK) {
        bench_timing prefill;
        bench_summarise(prefill_times, o->steps, &prefill);
        bench_summarise(token_times, o->steps, timing);
        timing->prefill_tokens_per_s = prefill.median_s;
    }
    kd_gpt2_kv_cache_free(&cache);
    kd_gpt2_free(&model);
    free(prompt);
    free(out);
    free(token_times);
    free(prefill_times);
    return status;
}
