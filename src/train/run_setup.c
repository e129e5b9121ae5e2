/* What every command that runs a model on the config's data sets up first,
 * whatever its role: command-line overrides, the tokenizer, the dataset and
 * the default run directory. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/dist.h"
#include "kd/io.h"
#include "kd/tokenizer.h"
#include "kd/train.h"

void kd_run_config_apply_overrides(run_config *config, const train_overrides *overrides)
{
    train_settings *train = &config->train;
    if (overrides->epochs > 0) {
        train->epochs = overrides->epochs;
        train->max_steps = 0;
    }
    if (overrides->max_steps > 0)
        train->max_steps = overrides->max_steps;
    if (overrides->seed >= 0)
        train->seed = (uint64_t)overrides->seed;
    if (overrides->threads > 0)
        train->threads = overrides->threads;
    if (overrides->log_every > 0)
        train->log_every = overrides->log_every;
    if (overrides->precision_given)
        train->precision = overrides->precision;
    if (overrides->no_group_by_length)
        train->group_by_length = 0;
    train->zero_stage = overrides->zero;
    train->overlap_sums = !overrides->no_overlap;
    if (overrides->bucket_mb_given)
        train->bucket_mb = overrides->bucket_mb;
    kd_run_config_sync_data(config);
}

kd_status kd_model_use_precision(gpt2_model *model, kd_precision requested, const char *who)
{
    kd_precision chosen;
    /* QLoRA's dequantized matrices are multiplied in fp32 alone. */
    if (model->nf4 && requested == KD_PRECISION_AUTO)
        requested = KD_PRECISION_FP32;
    kd_status status = kd_precision_resolve(requested, &chosen);
    if (status == KD_OK)
        status = kd_gpt2_set_precision(model, chosen);
    if (status != KD_OK)
        return status;
    char line[128];
    kd_precision_describe(requested, chosen, line, sizeof line);
    if (kd_dist_is_writer())
        fprintf(stderr, "%s: %s\n", who, line);
    return KD_OK;
}

/* Whether `dir` holds a tokenizer (its vocab.json; merges.txt is checked
 * when it loads). */
static int has_tokenizer(const char *dir)
{
    char path[KD_PATH_CAPACITY];
    return dir && kd_path_join(path, sizeof path, dir, KD_TOKENIZER_VOCAB_FILE) == KD_OK &&
           access(path, R_OK) == 0;
}

kd_status kd_run_tokenizer_load(run_config *config, const char *model_dir, kd_tokenizer **tokenizer)
{
    if (!config->tokenizer_dir && has_tokenizer(model_dir) &&
        !(config->tokenizer_dir = strdup(model_dir)))
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", model_dir);
    if (!config->tokenizer_dir && !(config->tokenizer_dir = kd_resolve_asset("gpt2")))
        return kd_fail_context(KD_ERR_IO, "tokenizer");
    return kd_tokenizer_load(config->tokenizer_dir, tokenizer);
}

kd_status kd_run_tokenizer_check(const kd_tokenizer *tokenizer, int vocab_size, const char *name)
{
    int tokens = kd_tokenizer_vocab_size(tokenizer);
    if (tokens > vocab_size)
        return kd_fail(KD_ERR_INVALID, "the tokenizer has %d tokens but the %s only %d", tokens,
                       name, vocab_size);
    return KD_OK;
}

typedef struct {
    const dataset_options *options;
    const kd_tokenizer *tokenizer;
    const char *out_dir;
    dataset **data;
    dataset_report *report;
} dataset_build_step;

static kd_status build_dataset(void *context)
{
    dataset_build_step *step = context;
    kd_status status = kd_dist_is_writer() ? kd_make_directories(step->out_dir) : KD_OK;
    return status == KD_OK ? kd_dataset_build(step->options, step->tokenizer, step->data,
                                              step->report)
                           : status;
}

kd_status kd_run_dataset_build(const run_config *config, const kd_tokenizer *tokenizer,
                               const char *out_dir, dataset **data)
{
    if (config->data.path_count == 0)
        return kd_fail(KD_ERR_INVALID, "no data: give data.files in the config or --data FILE");
    char cache_dir[KD_PATH_CAPACITY];
    dataset_options options = config->data;
    options.cache_dir = cache_dir;
    dataset_report report;
    kd_status status = kd_path_join(cache_dir, sizeof cache_dir, out_dir, KD_RUN_DATASET_CACHE_DIR);
    /* Rank 0 builds (or finds) the cached dataset; the other ranks then
     * read what it wrote rather than race it. */
    dataset_build_step step = {&options, tokenizer, out_dir, data, &report};
    if (status == KD_OK)
        status = kd_dist_writer_first(build_dataset, &step);
    if (status == KD_OK && kd_dist_is_writer())
        kd_dataset_report_print(&report, stderr);
    return status;
}

void kd_run_default_out_dir(const char *config_path, const char *role, char *out, size_t size)
{
    char copy[KD_PATH_CAPACITY];
    snprintf(copy, sizeof copy, "%s", config_path);
    char *name = basename(copy);
    char *dot = strrchr(name, '.');
    if (dot)
        *dot = '\0';
    snprintf(out, size, "runs/%s/%s", name, role);
}
