/* Greedy answers of one model: to the first validation records, scored
 * with ROUGE-L against their reference responses, and to the side-by-side
 * prompts. Temperature 0 and a stop at <|endoftext|>, as `kd generate
 * --temperature 0` answers. */
#include <stdlib.h>

#include "report_internal.h"

static kd_status score_rouge(gpt2_model *model, gpt2_kv_cache *cache,
                             const kd_tokenizer *tokenizer, const validation_set *set,
                             int *generated, model_quality *quality)
{
    double sum = 0.0;
    kd_status status = KD_OK;
    for (int i = 0; i < set->rouge_count && status == KD_OK; i++) {
        char *answer = NULL;
        rouge_score score;
        status = kd_greedy_answer(model, cache, tokenizer, &set->rouge_prompts[i],
                                  set->answer_tokens, generated, &answer);
        if (status == KD_OK && (status = kd_rouge_l(answer, set->rouge_references[i], &score)) ==
                                   KD_OK)
            sum += score.f_measure;
        free(answer);
    }
    quality->rouge_l = set->rouge_count > 0 ? sum / set->rouge_count : 0.0;
    return status;
}

kd_status kd_measure_answers(gpt2_model *model, const kd_tokenizer *tokenizer,
                             const validation_set *set, model_quality *quality, char **answers)
{
    int room = set->max_prompt_tokens + set->answer_tokens;
    int max_len = room < model->config.n_positions ? room : model->config.n_positions;
    gpt2_kv_cache cache;
    int *generated = kd_alloc((size_t)set->answer_tokens, sizeof *generated, "answer tokens");
    if (!generated)
        return KD_ERR_NOMEM;
    kd_status status = kd_gpt2_kv_cache_create(&cache, &model->config, max_len);
    if (status != KD_OK) {
        free(generated);
        return status;
    }
    status = score_rouge(model, &cache, tokenizer, set, generated, quality);
    for (int i = 0; i < set->sample_count && status == KD_OK; i++)
        status = kd_greedy_answer(model, &cache, tokenizer, &set->sample_prompts[i],
                                  set->answer_tokens, generated, &answers[i]);
    kd_gpt2_kv_cache_free(&cache);
    free(generated);
    return status;
}
