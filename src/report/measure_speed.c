/* Inference speed and memory of one model at batch 1, with the code `kd
 * generate` runs: prefill a fixed prompt, then greedy decoding with the KV
 * cache. The stop token is disabled so every run decodes the same number of
 * tokens. One warm-up run, then the median of the timed ones. A q8_0 or q4_0
 * GGUF file runs on the quantized engine, as kd generate runs it. */
#include <stdlib.h>

#include "report_internal.h"

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* Spread-out token ids: the speed of a forward pass does not depend on
 * which tokens it reads, but a constant prompt would be an odd thing to time. */
static void fill_prompt(int *prompt, int count, int vocab_size)
{
    for (int i = 0; i < count; i++)
        prompt[i] = (int)((13 + 7919L * i) % vocab_size);
}

/* Runs generation repeats + 1 times and keeps the medians of the last runs. */
static kd_status time_generation(report_runner *runner, const int *prompt,
                                 const speed_settings *settings, model_speed *speed)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = 0.0f;
    sampling.max_new_tokens = settings->new_tokens;
    sampling.stop_token = -1;
    double *prefill = kd_alloc((size_t)settings->repeats, sizeof *prefill, "speed samples");
    double *generate = kd_alloc((size_t)settings->repeats, sizeof *generate, "speed samples");
    kd_status status = prefill && generate ? KD_OK : KD_ERR_NOMEM;
    for (int run = 0; run <= settings->repeats && status == KD_OK; run++) {
        kd_rng rng;
        kd_rng_seed(&rng, 1);
        gpt2_generate_stats stats;
        status = kd_runner_generate(runner, prompt, settings->prompt_tokens, &sampling, &rng,
                                    NULL, &stats);
        double decode_seconds = stats.decode_seconds + stats.sample_seconds;
        if (status == KD_OK && run > 0) { /* run 0 warms caches and thread pools */
            prefill[run - 1] = stats.prefill_seconds > 0 ? stats.prompt_tokens /
                                                               stats.prefill_seconds : 0.0;
            generate[run - 1] = decode_seconds > 0 ? stats.decode_steps / decode_seconds : 0.0;
        }
    }
    if (status == KD_OK) {
        speed->prefill_tokens_per_s = median(prefill, settings->repeats);
        speed->gen_tokens_per_s = median(generate, settings->repeats);
    }
    free(prefill);
    free(generate);
    return status;
}

kd_status kd_measure_speed(const char *path, const speed_settings *settings, model_speed *speed)
{
    double resident_before = 0.0, unused_peak, resident_after;
    speed->memory_measured = kd_process_memory_reset_peak() == KD_OK &&
                             kd_process_memory_mb(&resident_before, &unused_peak) == KD_OK;
    kd_clear_error();

    report_runner runner;
    int *prompt = NULL;
    int length = settings->prompt_tokens + settings->new_tokens;
    kd_status status = kd_runner_open(&runner, path, 1, settings->prompt_tokens, length);
    if (status != KD_OK)
        return status;
    const gpt2_config *config = kd_runner_config(&runner);
    if (length > config->n_positions)
        status = kd_fail(KD_ERR_INVALID, "%s: a %d-token prompt and %d new tokens exceed "
                         "n_positions %d", path, settings->prompt_tokens,
                         settings->new_tokens, config->n_positions);
    if (status == KD_OK && !(prompt = kd_alloc((size_t)settings->prompt_tokens, sizeof *prompt,
                                               "speed prompt")))
        status = KD_ERR_NOMEM;
    if (status == KD_OK) {
        fill_prompt(prompt, settings->prompt_tokens, config->vocab_size);
        status = time_generation(&runner, prompt, settings, speed);
    }
    if (speed->memory_measured)
        speed->memory_measured = kd_process_memory_mb(&resident_after, &speed->peak_rss_mb) == KD_OK;
    if (speed->memory_measured)
        speed->model_rss_mb = speed->peak_rss_mb - resident_before;
    free(prompt);
    kd_runner_close(&runner);
    return status;
}
