/* Greedy answers of one model: to the first validation records, scored
 * with ROUGE-L against their reference responses, and to the side-by-side
 * prompts. Temperature 0 and a stop at <|endoftext|>, as `kd generate
 * --temperature 0` answers. */
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* The length of the valid UTF-8 sequence at `c`, or 0 when it is not one. */
static size_t sequence_length(const unsigned char *c)
{
    size_t length = c[0] < 0x80 ? 1 : c[0] >= 0xC2 && c[0] <= 0xDF ? 2
                  : c[0] >= 0xE0 && c[0] <= 0xEF ? 3 : c[0] >= 0xF0 && c[0] <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < length; i++)
        if ((c[i] & 0xC0) != 0x80)
            return 0;
    return length;
}

/* Greedy decoding may stop inside a character, or an untrained model emit
 * byte tokens that form none: each such byte becomes U+FFFD, so that
 * report.json and the page hold valid UTF-8. */
static kd_status make_valid_utf8(char **text)
{
    const unsigned char *in = (const unsigned char *)*text;
    char *out = malloc(3 * strlen(*text) + 1), *at = out;
    if (!out)
        return kd_fail(KD_ERR_NOMEM, "no memory for an answer");
    while (*in) {
        size_t length = sequence_length(in);
        if (length == 0) {
            memcpy(at, "\xEF\xBF\xBD", 3);
            at += 3;
            in++;
            continue;
        }
        memcpy(at, in, length);
        at += length;
        in += length;
    }
    *at = '\0';
    free(*text);
    *text = out;
    return KD_OK;
}

static kd_status generate(void *runner, const int *prompt, int count,
                          const gpt2_sampling *sampling, kd_rng *rng, int *out,
                          gpt2_generate_stats *stats)
{
    return kd_runner_generate(runner, prompt, count, sampling, rng, out, stats);
}

static kd_status greedy_answer(report_runner *runner, const kd_tokenizer *tokenizer,
                               const kd_token_buffer *prompt, int max_new_tokens, int *generated,
                               char **text)
{
    return kd_greedy_answer_of(generate, runner, tokenizer, prompt, max_new_tokens, generated,
                               text);
}

static kd_status score_rouge(report_runner *runner, const kd_tokenizer *tokenizer,
                             const validation_set *set, int *generated, model_quality *quality)
{
    double sum = 0.0;
    kd_status status = KD_OK;
    for (int i = 0; i < set->rouge_count && status == KD_OK; i++) {
        char *answer = NULL;
        rouge_score score;
        status = greedy_answer(runner, tokenizer, &set->rouge_prompts[i], set->answer_tokens,
                               generated, &answer);
        if (status == KD_OK && (status = kd_rouge_l(answer, set->rouge_references[i], &score)) ==
                                   KD_OK)
            sum += score.f_measure;
        free(answer);
    }
    quality->rouge_l = set->rouge_count > 0 ? sum / set->rouge_count : 0.0;
    return status;
}

kd_status kd_measure_answers(report_runner *runner, const kd_tokenizer *tokenizer,
                             const validation_set *set, model_quality *quality, char **answers)
{
    int *generated = kd_alloc((size_t)set->answer_tokens, sizeof *generated, "answer tokens");
    if (!generated)
        return KD_ERR_NOMEM;
    kd_status status = score_rouge(runner, tokenizer, set, generated, quality);
    for (int i = 0; i < set->sample_count && status == KD_OK; i++)
        if ((status = greedy_answer(runner, tokenizer, &set->sample_prompts[i],
                                    set->answer_tokens, generated, &answers[i])) == KD_OK)
            status = make_valid_utf8(&answers[i]);
    free(generated);
    return status;
}
