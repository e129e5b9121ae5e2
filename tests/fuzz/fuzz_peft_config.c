/* Fuzz target: a PEFT adapter_config.json, read from the file; an accepted
 * config must survive writing (kd's adapter_config.json) and reading back
 * unchanged, and pass or fail validation against a GPT-2 shape without
 * crashing. Input: the adapter_config.json text. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "kd/peft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("adapter_config.json", data, size);
    gpt2_lora_config config;
    char base[256];
    kd_status status = kd_peft_config_read(path, &config, base, sizeof base);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    /* Written as text (numbers are raw shortest decimals) and parsed again. */
    cJSON *written = kd_peft_config_to_json(&config, base);
    char *text = written ? cJSON_PrintUnformatted(written) : NULL;
    cJSON *parsed = text ? cJSON_Parse(text) : NULL;
    FUZZ_CHECK(parsed);
    gpt2_lora_config again;
    char again_base[256];
    FUZZ_CHECK(kd_peft_config_from_json(parsed, &again, again_base, sizeof again_base) == KD_OK);
    FUZZ_CHECK(memcmp(&config, &again, sizeof again) == 0);
    FUZZ_CHECK(strcmp(base, again_base) == 0);
    cJSON_Delete(parsed);
    free(text);
    cJSON_Delete(written);
    const gpt2_config shape = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_positions = 8,
                               .vocab_size = 11, .layer_norm_epsilon = 1e-5f};
    status = kd_gpt2_lora_config_validate(&config, &shape);
    if (status != KD_OK)
        fuzz_check_refusal(status);
    return 0;
}
