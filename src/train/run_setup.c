/* What every training command does before kd_train_run, whatever it trains:
 * command-line overrides, the dataset and the default run directory. */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "kd/io.h"
#include "kd/train.h"

enum { PATH_CAPACITY = 4096 };

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
    kd_run_config_sync_data(config);
}

kd_status kd_run_dataset_build(const run_config *config, const kd_tokenizer *tokenizer,
                               const char *out_dir, dataset **data)
{
    if (config->data.path_count == 0)
        return kd_fail(KD_ERR_INVALID, "no data: give data.files in the config or --data FILE");
    char cache_dir[PATH_CAPACITY];
    dataset_options options = config->data;
    options.cache_dir = cache_dir;
    dataset_report report;
    kd_status status = kd_path_join(cache_dir, sizeof cache_dir, out_dir, "dataset-cache");
    if (status == KD_OK)
        status = kd_make_directories(out_dir);
    if (status == KD_OK)
        status = kd_dataset_build(&options, tokenizer, data, &report);
    if (status == KD_OK)
        kd_dataset_report_print(&report, stderr);
    return status;
}

void kd_run_default_out_dir(const char *config_path, const char *role, char *out, size_t size)
{
    char copy[PATH_CAPACITY];
    snprintf(copy, sizeof copy, "%s", config_path);
    char *name = basename(copy);
    char *dot = strrchr(name, '.');
    if (dot)
        *dot = '\0';
    snprintf(out, size, "runs/%s/%s", name, role);
}
