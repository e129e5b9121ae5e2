/* samples.md: greedy generations for a fixed prompt list, written before
 * training and again from the best model after it, so a person can see
 * what the run changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/io.h"
#include "kd/train.h"

enum { SAMPLE_NEW_TOKENS = 64 };
#define SAMPLES_MAX_BYTES ((size_t)64 << 20)

kd_status kd_greedy_answer_of(kd_generate_fn generate, void *engine,
                              const kd_tokenizer *tokenizer, const kd_token_buffer *prompt,
                              int max_new_tokens, int *generated, char **text)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = 0.0f;
    sampling.max_new_tokens = max_new_tokens;
    sampling.stop_token = kd_tokenizer_token_id(tokenizer, "<|endoftext|>");
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    gpt2_generate_stats stats;
    size_t length = 0;
    kd_status status = generate(engine, prompt->ids, (int)prompt->count, &sampling, &rng,
                                generated, &stats);
    if (status == KD_OK)
        status = kd_tokenizer_decode(tokenizer, generated, (size_t)stats.new_tokens, text, &length);
    return status;
}

typedef struct {
    gpt2_model *model;
    gpt2_kv_cache *cache;
} f32_engine;

static kd_status generate_f32(void *engine, const int *prompt, int count,
                              const gpt2_sampling *sampling, kd_rng *rng, int *out,
                              gpt2_generate_stats *stats)
{
    f32_engine *e = engine;
    return kd_gpt2_generate_tokens(e->model, e->cache, prompt, count, sampling, rng, out, NULL,
                                   NULL, stats);
}

kd_status kd_greedy_answer(gpt2_model *model, gpt2_kv_cache *cache, const kd_tokenizer *tokenizer,
                           const kd_token_buffer *prompt, int max_new_tokens, int *generated,
                           char **text)
{
    f32_engine engine = {model, cache};
    return kd_greedy_answer_of(generate_f32, &engine, tokenizer, prompt, max_new_tokens,
                               generated, text);
}

/* Greedy continuation of one instruction, decoded to text. */
static kd_status sample_one(gpt2_model *model, gpt2_kv_cache *cache, const kd_tokenizer *tokenizer,
                            const prompt_template *template, const char *instruction,
                            kd_token_buffer *prompt, int *generated, char **text)
{
    kd_token_buffer_clear(prompt);
    kd_status status = kd_template_encode_prompt(tokenizer, template, instruction, "", prompt);
    if (status == KD_OK && (int)prompt->count > model->max_seq)
        status = kd_fail(KD_ERR_INVALID, "sample prompt of %zu tokens is longer than %d",
                         prompt->count, model->max_seq);
    return status == KD_OK ? kd_greedy_answer(model, cache, tokenizer, prompt, SAMPLE_NEW_TOKENS,
                                              generated, text)
                           : status;
}

/* The existing file up to the section headed `heading_line` (which a rerun
 * after a crash writes again, so it is replaced, not repeated), or all of
 * it; "" when there is no file. */
static kd_status samples_kept_text(const char *path, const char *heading_line, char **kept)
{
    size_t size = 0;
    if (access(path, F_OK) != 0) {
        *kept = strdup("");
        return *kept ? KD_OK : kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    }
    kd_status status = kd_read_file(path, SAMPLES_MAX_BYTES, kept, &size);
    if (status != KD_OK)
        return status;
    char *repeated = strstr(*kept, heading_line);
    if (repeated)
        *repeated = '\0';
    return KD_OK;
}

kd_status kd_samples_write(const char *path, const char *heading, gpt2_model *model,
                           const kd_tokenizer *tokenizer, const prompt_template *template,
                           const char *const *prompts, int prompt_count, int append)
{
    gpt2_kv_cache cache;
    kd_token_buffer prompt = {0};
    int generated[SAMPLE_NEW_TOKENS];
    int max_len = model->config.n_positions < model->max_seq + SAMPLE_NEW_TOKENS
                      ? model->config.n_positions
                      : model->max_seq + SAMPLE_NEW_TOKENS;
    char heading_line[512], *kept = NULL, *text = NULL;
    size_t text_size = 0;
    kd_status status = kd_gpt2_kv_cache_create(&cache, &model->config, max_len);
    if (status != KD_OK)
        return status;
    FILE *file = open_memstream(&text, &text_size);
    if (!file)
        status = kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    int heading_length = snprintf(heading_line, sizeof heading_line, "\n## %s\n", heading);
    if (heading_length >= (int)sizeof heading_line)
        status = kd_fail(KD_ERR_INVALID, "%s: heading too long: %s", path, heading);
    if (status == KD_OK && append)
        status = samples_kept_text(path, heading_line, &kept);
    if (status == KD_OK && append)
        fputs(kept, file);
    else if (status == KD_OK)
        fprintf(file, "# Samples\n\nGreedy decoding, at most %d new tokens, instruction "
                      "template.\n", SAMPLE_NEW_TOKENS);
    if (status == KD_OK)
        fputs(heading_line, file);
    for (int i = 0; i < prompt_count && status == KD_OK; i++) {
        char *answer = NULL;
        status = sample_one(model, &cache, tokenizer, template, prompts[i], &prompt, generated,
                            &answer);
        if (status == KD_OK)
            fprintf(file, "\n### %s\n\n%s\n", prompts[i], answer);
        free(answer);
    }
    if (file && fclose(file) != 0 && status == KD_OK)
        status = kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    /* Replaced as a whole: a crash never leaves half a section. */
    if (status == KD_OK)
        status = kd_atomic_write_file(path, text, text_size);
    free(text);
    free(kept);
    kd_token_buffer_free(&prompt);
    kd_gpt2_kv_cache_free(&cache);
    return status;
}
