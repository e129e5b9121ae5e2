/* Before the first step the ranks of a data-parallel run check that they
 * are about to do the same thing: a rank started with another config, other
 * data files, another tokenizer, other first weights or another kd would
 * otherwise train silently on a mixture. Each input is hashed and compared
 * with rank 0's; the first that differs stops every rank, named in one line. */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "kd/dist.h"
#include "train_internal.h"

static uint64_t config_hash(const cJSON *config)
{
    char *text = config ? cJSON_PrintUnformatted(config) : NULL;
    uint64_t hash = text ? XXH3_64bits(text, strlen(text)) : 0;
    free(text);
    return hash;
}

/* Every example of both parts: its tokens, loss mask and split. */
static uint64_t data_hash(const dataset *data)
{
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    for (int part = DATASET_TRAIN; part <= DATASET_VALIDATION; part++) {
        size_t count;
        const size_t *indices = kd_dataset_part_indices(data, (dataset_part)part, &count);
        for (size_t i = 0; i < count; i++) {
            kd_example example = kd_dataset_example(data, indices[i]);
            XXH3_64bits_update(&state, &example.length, sizeof example.length);
            XXH3_64bits_update(&state, example.ids, example.length * sizeof *example.ids);
            XXH3_64bits_update(&state, example.target_mask, example.length);
        }
        XXH3_64bits_update(&state, &count, sizeof count);
    }
    return XXH3_64bits_digest(&state);
}

/* The weights the run starts from (after a resume, the checkpoint's), and
 * a LoRA run's adapters. */
static uint64_t weights_hash(const gpt2_model *model)
{
    uint64_t hash = XXH3_64bits(model->params_memory, model->num_params * sizeof(float));
    const gpt2_lora *lora = model->lora;
    return lora ? XXH3_64bits_withSeed(lora->params_memory, lora->num_params * sizeof(float), hash)
                : hash;
}

kd_status kd_run_ranks_agree(const gpt2_model *model, const dataset *data,
                             const train_settings *settings, const train_run_options *options)
{
    uint64_t build = 0;
    kd_status status = kd_dist_check(kd_hash_file("/proc/self/exe", &build));
    if (status != KD_OK ||
        (status = kd_dist_agree("the kd build (its executable)", build)) != KD_OK ||
        (status = kd_dist_agree("the run configuration", config_hash(options->resolved_config))) != KD_OK ||
        (status = kd_dist_agree("--zero", (uint64_t)settings->zero_stage)) != KD_OK ||
        (status = kd_dist_agree("--no-overlap", (uint64_t)!settings->overlap_sums)) != KD_OK ||
        (status = kd_dist_agree("--bucket-mb", (uint64_t)settings->bucket_mb)) != KD_OK ||
        (status = kd_dist_agree("the tokenizer", options->tokenizer
                                                    ? kd_tokenizer_hash(options->tokenizer)
                                                    : 0)) != KD_OK ||
        (status = kd_dist_agree("the training and validation data", data_hash(data))) != KD_OK)
        return status;
    return kd_dist_agree("the model's starting weights", weights_hash(model));
}
