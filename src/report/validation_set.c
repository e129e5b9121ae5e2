/* The data every model is scored on, built once: the validation split of
 * the run that trained the teacher (same files, template, loss mask and
 * split as teacher training's kd_dataset_build), the first validation records
 * for ROUGE-L with their reference responses, and the side-by-side prompts,
 * all encoded with the teacher's tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { EVAL_BATCH_SIZE = 8 };

static kd_status build_dataset(const validation_options *options, validation_set *set)
{
    dataset_options data = options->config->data;
    data.seq_len = options->seq_len;
    data.cache_dir = NULL; /* the report never writes into a run directory */
    kd_status status = kd_dataset_build(&data, options->tokenizer, &set->data, NULL);
    if (status != KD_OK)
        return status;
    kd_dataset_part_indices(set->data, DATASET_VALIDATION, &set->validation_examples);
    if (set->validation_examples == 0)
        return kd_fail(KD_ERR_INVALID, "the validation split is empty (validation_fraction %g)",
                       data.validation_fraction);
    set->seq_len = options->seq_len;
    set->batch_size = EVAL_BATCH_SIZE;
    set->max_batches = options->max_batches;
    set->group_by_length = options->config->train.group_by_length;
    return KD_OK;
}

static kd_status encode_prompt(const validation_options *options, const char *instruction,
                               const char *context, kd_token_buffer *out, int *fits)
{
    kd_status status = kd_template_encode_prompt(options->tokenizer, &options->config->data.prompt,
                                                 instruction, context, out);
    /* At least one new token must fit after the prompt in every model. */
    *fits = status == KD_OK && out->count < (size_t)options->smallest_context;
    return status;
}

static kd_status add_rouge_record(const validation_options *options, const data_record *record,
                                  validation_set *set)
{
    kd_token_buffer prompt = {0};
    int fits = 0;
    kd_status status = encode_prompt(options, record->instruction, record->context, &prompt, &fits);
    char *reference = fits ? strdup(record->response) : NULL;
    if (status != KD_OK || !fits || !reference) {
        kd_token_buffer_free(&prompt);
        return status != KD_OK || !fits ? status : kd_fail(KD_ERR_NOMEM, "no memory for text");
    }
    set->rouge_prompts[set->rouge_count] = prompt;
    set->rouge_references[set->rouge_count++] = reference;
    if ((int)prompt.count > set->max_prompt_tokens)
        set->max_prompt_tokens = (int)prompt.count;
    return KD_OK;
}

/* The first validation records, in file order, whose prompt fits. */
static kd_status collect_rouge_records(const validation_options *options, validation_set *set)
{
    const dataset_options *data = &options->config->data;
    record_list records = {0};
    kd_status status = KD_OK;
    for (size_t f = 0; f < data->path_count && status == KD_OK; f++)
        status = kd_records_read_file(data->paths[f], &data->fields, data->skip_bad, &records);
    size_t wanted = (size_t)options->rouge_examples;
    set->rouge_prompts = calloc(wanted + 1, sizeof *set->rouge_prompts);
    set->rouge_references = calloc(wanted + 1, sizeof *set->rouge_references);
    if (status == KD_OK && (!set->rouge_prompts || !set->rouge_references))
        status = kd_fail(KD_ERR_NOMEM, "no memory for %zu ROUGE records", wanted);
    for (size_t i = 0; i < records.count && (size_t)set->rouge_count < wanted && status == KD_OK;
         i++) {
        const data_record *record = &records.items[i];
        uint64_t hash = kd_record_content_hash(record->instruction, record->context, record->response);
        if (kd_split_is_validation(hash, data->split_seed, data->validation_fraction))
            status = add_rouge_record(options, record, set);
    }
    kd_record_list_free(&records);
    return status;
}

static kd_status encode_sample_prompts(const validation_options *options, validation_set *set)
{
    int count = options->prompt_count;
    set->sample_prompts = calloc((size_t)count + 1, sizeof *set->sample_prompts);
    if (!set->sample_prompts)
        return kd_fail(KD_ERR_NOMEM, "no memory for %d prompts", count);
    for (int i = 0; i < count; i++) {
        int fits = 0;
        kd_status status = encode_prompt(options, options->prompts[i], "", &set->sample_prompts[i],
                                         &fits);
        set->sample_count++;
        if (status != KD_OK)
            return status;
        if (!fits)
            return kd_fail(KD_ERR_INVALID, "prompt \"%s\" is %zu tokens: no room to answer in a "
                           "model of %d positions", options->prompts[i],
                           set->sample_prompts[i].count, options->smallest_context);
        if ((int)set->sample_prompts[i].count > set->max_prompt_tokens)
            set->max_prompt_tokens = (int)set->sample_prompts[i].count;
    }
    return KD_OK;
}

kd_status kd_validation_set_build(const validation_options *options, validation_set *set)
{
    memset(set, 0, sizeof *set);
    set->answer_tokens = options->answer_tokens;
    kd_status status = build_dataset(options, set);
    if (status == KD_OK)
        status = collect_rouge_records(options, set);
    if (status == KD_OK)
        status = encode_sample_prompts(options, set);
    return status;
}

void kd_validation_set_free(validation_set *set)
{
    kd_dataset_free(set->data);
    for (int i = 0; i < set->rouge_count; i++) {
        kd_token_buffer_free(&set->rouge_prompts[i]);
        free(set->rouge_references[i]);
    }
    for (int i = 0; i < set->sample_count; i++)
        kd_token_buffer_free(&set->sample_prompts[i]);
    free(set->rouge_prompts);
    free(set->rouge_references);
    free(set->sample_prompts);
    memset(set, 0, sizeof *set);
}
