/* One model as the report runs it. A directory, or an f32/f16 GGUF file,
 * runs on the f32 engine (OpenBLAS); a q8_0/q4_0 GGUF file runs on the
 * quantized engine with its blocks used in place, as kd generate runs it. */
#include "report_internal.h"

kd_status kd_runner_open(report_runner *runner, const char *path, int batch, int seq,
                         int max_len)
{
    *runner = (report_runner){0};
    kd_status status = kd_model_load(path, &runner->weights, NULL);
    if (status != KD_OK)
        return status;
    runner->quantized = runner->weights.q.layers != NULL;
    const gpt2_config *config = kd_runner_config(runner);
    if (max_len > config->n_positions)
        max_len = config->n_positions;
    if (runner->quantized) {
        /* KD_QKERNEL picks the kernel, as in kd generate; its forward passes
         * run one sequence at a time through the same state. */
        status = kd_qkernel_use_env();
        if (status == KD_OK)
            status = kd_gpt2_qstate_create(&runner->state, config, seq > max_len ? seq : max_len);
    } else if ((status = kd_gpt2_prepare(&runner->weights.model, batch, seq, 0)) == KD_OK) {
        status = kd_gpt2_kv_cache_create(&runner->cache, config, max_len);
    }
    if (status != KD_OK)
        kd_runner_close(runner);
    return status;
}

void kd_runner_close(report_runner *runner)
{
    kd_gpt2_kv_cache_free(&runner->cache);
    kd_gpt2_qstate_free(&runner->state);
    kd_model_unload(&runner->weights);
    *runner = (report_runner){0};
}

const gpt2_config *kd_runner_config(const report_runner *runner)
{
    return runner->weights.q.layers ? &runner->weights.q.config : &runner->weights.model.config;
}

kd_status kd_runner_generate(report_runner *runner, const int *prompt, int count,
                             const gpt2_sampling *sampling, kd_rng *rng, int *out,
                             gpt2_generate_stats *stats)
{
    if (runner->quantized)
        return kd_gpt2_qgenerate_tokens(&runner->weights.q, &runner->state, prompt, count,
                                        sampling, rng, out, NULL, NULL, stats);
    return kd_gpt2_generate_tokens(&runner->weights.model, &runner->cache, prompt, count,
                                   sampling, rng, out, NULL, NULL, stats);
}
