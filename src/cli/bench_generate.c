/* kd bench --mode generate: batch-1 generation with the KV cache, as kd
 * generate runs it (kd_gpt2_generate_tokens, greedy so every run decodes the
 * same number of tokens): a random prompt of --seq tokens, then
 * --new-tokens decoded. The step is one decoded token; prefill speed is
 * reported beside it. --model runs a model directory or GGUF file (a q8_0
 * or q4_0 file quantized as stored) instead of random weights. With --quantize the random f32 model is quantized and
 * freed, and the quantized one runs (kd_gpt2_qgenerate_tokens). */
#include <stdlib.h>

#include "bench.h"
#include "kd/qgpt2.h"

/* The model that runs: f32, or quantized when weights.q.layers is set. */
typedef struct {
    model_weights weights;
    gpt2_kv_cache cache;
    gpt2_qstate state;
} engine;

/* --model's weights, else random ones of the config's shape. */
static kd_status engine_load(engine *e, const gpt2_config *config, const bench_options *o)
{
    if (o->model_path)
        return kd_model_load(o->model_path, &e->weights, NULL);
    kd_status status = kd_gpt2_create(&e->weights.model, config);
    if (status == KD_OK)
        kd_gpt2_init_random(&e->weights.model, BENCH_SEED);
    return status;
}

static kd_status engine_create(engine *e, const gpt2_config *config, const bench_options *o)
{
    kd_status status = engine_load(e, config, o);
    if (status == KD_OK)
        status = kd_model_quantize(&e->weights, o->weights,
                                   o->model_path ? o->model_path : o->config_path);
    if (status != KD_OK)
        return status;
    int max_len = o->seq + o->new_tokens;
    if (e->weights.q.layers)
        return kd_gpt2_qstate_create(&e->state, config, max_len);
    if ((status = kd_gpt2_prepare(&e->weights.model, 1, o->seq, 0)) == KD_OK &&
        (status = kd_gpt2_set_precision(&e->weights.model, o->precision)) == KD_OK)
        status = kd_gpt2_kv_cache_create(&e->cache, config, max_len);
    return status;
}

static void engine_free(engine *e)
{
    kd_gpt2_kv_cache_free(&e->cache);
    kd_gpt2_qstate_free(&e->state);
    kd_model_unload(&e->weights);
}

static kd_status run_generation(engine *e, const int *prompt, const bench_options *o, int *out,
                                double *prefill_s, double *token_s)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = 0.0f;
    sampling.max_new_tokens = o->new_tokens;
    sampling.stop_token = -1;
    gpt2_generate_stats stats;
    kd_status status =
        e->weights.q.layers ? kd_gpt2_qgenerate_tokens(&e->weights.q, &e->state, prompt, o->seq, &sampling, NULL,
                                               out, NULL, NULL, &stats)
                    : kd_gpt2_generate_tokens(&e->weights.model, &e->cache, prompt, o->seq, &sampling,
                                              NULL, out, NULL, NULL, &stats);
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
    engine e = {0};
    kd_status status = engine_create(&e, config, o);
    int *prompt = kd_alloc((size_t)o->seq, sizeof(int), "benchmark prompt");
    int *out = kd_alloc((size_t)o->new_tokens, sizeof(int), "benchmark output");
    double *token_times = kd_alloc((size_t)o->steps, sizeof(double), "token times");
    double *prefill_times = kd_alloc((size_t)o->steps, sizeof(double), "prefill times");
    if (status == KD_OK && (!prompt || !out || !token_times || !prefill_times))
        status = KD_ERR_NOMEM;
    kd_rng rng;
    kd_rng_seed(&rng, BENCH_SEED + 1);
    for (int i = 0; status == KD_OK && i < o->seq; i++)
        prompt[i] = (int)kd_rng_below(&rng, (uint64_t)config->vocab_size);
    for (int run = 0; status == KD_OK && run < o->warmup + o->steps; run++) {
        double prefill_s, token_s;
        status = run_generation(&e, prompt, o, out, &prefill_s, &token_s);
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
        timing->weights = e.weights.q.layers ? e.weights.q.wte.type : KD_QTYPE_F32;
        if (e.weights.q.layers)
            kd_gpt2_qmodel_matrix_bytes(&e.weights.q, &timing->matrix_bytes,
                                        &timing->matrix_f32_bytes);
    }
    engine_free(&e);
    free(prompt);
    free(out);
    free(token_times);
    free(prefill_times);
    return status;
}
