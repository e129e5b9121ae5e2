/* Fuzz target: a training run configuration ({"model", "train", "data"}),
 * then the checks a run makes on what it read, and the resolved form that
 * a run writes to its config.json.
 * Input: the configuration file. */
#include "fuzz.h"

#include <stdlib.h>

#include "kd/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("run.json", data, size);
    run_config config;
    kd_status status = kd_run_config_load(path, &config);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        kd_run_config_free(&config);
        return 0;
    }
    status = kd_train_settings_validate(&config.train);
    if (status == KD_OK)
        status = kd_prompt_template_validate(&config.data.prompt);
    if (status == KD_OK)
        status = kd_run_config_resolve_files(&config);
    if (status != KD_OK)
        fuzz_check_refusal(status);
    cJSON *resolved = kd_run_config_to_json(&config);
    char *text = cJSON_PrintUnformatted(resolved);
    FUZZ_CHECK(text != NULL);
    free(text);
    cJSON_Delete(resolved);
    kd_run_config_free(&config);
    return 0;
}
