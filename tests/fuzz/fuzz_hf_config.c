/* Fuzz target: a model's config.json, read from the file (JSON syntax
 * errors with line and column) and as a parsed object; an accepted config
 * must survive writing and reading back unchanged.
 * Input: the config.json text. */
#include "fuzz.h"

#include <string.h>

#include "kd/hf.h"

static void check_round_trip(const gpt2_config *config)
{
    const char *path = fuzz_temp_path("written.json");
    gpt2_config again;
    FUZZ_CHECK(kd_gpt2_config_write(path, config) == KD_OK);
    FUZZ_CHECK(kd_gpt2_config_read(path, &again) == KD_OK);
    FUZZ_CHECK(memcmp(config, &again, sizeof again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("config.json", data, size);
    gpt2_config config;
    kd_status status = kd_gpt2_config_read(path, &config);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    check_round_trip(&config);
    /* Training configs hold the same keys under "model". */
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    cJSON *wrapped = cJSON_CreateObject();
    FUZZ_CHECK(root && wrapped);
    cJSON_AddItemToObject(wrapped, "model", root);
    gpt2_config from_object;
    FUZZ_CHECK(kd_gpt2_config_from_json(cJSON_GetObjectItem(wrapped, "model"), &from_object) ==
               KD_OK);
    FUZZ_CHECK(memcmp(&config, &from_object, sizeof config) == 0);
    cJSON_Delete(wrapped);
    return 0;
}
