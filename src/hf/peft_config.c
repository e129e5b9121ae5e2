/* PEFT's adapter_config.json <-> gpt2_lora_config. Reading refuses every
 * option that would change what the adapter computes and that kd does not
 * implement; keys that only matter to PEFT's own bookkeeping (task_type,
 * inference_mode, revision, ...) are ignored. */
#include "kd/peft.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kd/io.h"

kd_status kd_peft_targets_add(const char *name, unsigned *targets)
{
    static const struct { const char *name; unsigned targets; } names[] = {
        {"c_attn", 1u << GPT2_LORA_ATTN_C_ATTN},
        {"c_proj", 1u << GPT2_LORA_ATTN_C_PROJ | 1u << GPT2_LORA_MLP_C_PROJ},
        {"c_fc", 1u << GPT2_LORA_MLP_C_FC},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0) {
            *targets |= names[i].targets;
            return KD_OK;
        }
    gpt2_lora_target target;
    kd_status status = kd_gpt2_lora_target_parse(name, &target);
    if (status == KD_OK)
        *targets |= 1u << target;
    return status;
}

kd_status kd_peft_targets_parse_list(const char *list, unsigned *targets)
{
    char copy[256];
    if (snprintf(copy, sizeof copy, "%s", list) >= (int)sizeof copy)
        return kd_fail(KD_ERR_INVALID, "lora targets \"%.32s...\" are too long", list);
    *targets = 0;
    char *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        kd_status status = kd_peft_targets_add(name, targets);
        if (status != KD_OK)
            return status;
    }
    return *targets ? KD_OK : kd_fail(KD_ERR_INVALID, "lora targets: no module named");
}

/* A key whose presence with anything but an "empty" value (null, false,
 * [], {}) asks for an option kd does not implement. */
static kd_status refuse_option(const cJSON *object, const char *key, const char *what)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    int empty = !item || cJSON_IsNull(item) || cJSON_IsFalse(item) ||
                ((cJSON_IsArray(item) || cJSON_IsObject(item)) && !item->child);
    return empty ? KD_OK
                 : kd_fail(KD_ERR_UNSUPPORTED, "%s: %s is not supported by kd", key, what);
}

static kd_status read_number(const cJSON *object, const char *key, int required, double *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item && !required)
        return KD_OK;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return kd_fail(KD_ERR_INVALID, "%s must be a number", key);
    *value = item->valuedouble;
    return KD_OK;
}

kd_status kd_peft_targets_from_json(const cJSON *item, const char *key, unsigned *targets)
{
    *targets = 0;
    if (cJSON_IsString(item))
        return kd_peft_targets_add(item->valuestring, targets);
    if (!cJSON_IsArray(item) || !item->child)
        return kd_fail(KD_ERR_INVALID, "%s must be a non-empty list of module names", key);
    const cJSON *name;
    cJSON_ArrayForEach(name, item) {
        if (!cJSON_IsString(name))
            return kd_fail(KD_ERR_INVALID, "%s must hold strings", key);
        kd_status status = kd_peft_targets_add(name->valuestring, targets);
        if (status != KD_OK)
            return kd_fail_context(status, "%s", key);
    }
    return KD_OK;
}

static kd_status read_bias(const cJSON *object, int *train_biases)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, "bias");
    *train_biases = 0;
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    if (cJSON_IsString(item) && strcmp(item->valuestring, "none") == 0)
        return KD_OK;
    if (cJSON_IsString(item) && strcmp(item->valuestring, "all") == 0) {
        *train_biases = 1;
        return KD_OK;
    }
    return kd_fail(KD_ERR_UNSUPPORTED, "bias must be \"none\" or \"all\"%s%s%s",
                   cJSON_IsString(item) ? " (not \"" : "",
                   cJSON_IsString(item) ? item->valuestring : "",
                   cJSON_IsString(item) ? "\")" : "");
}

static kd_status check_options(const cJSON *object)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(object, "peft_type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "LORA") != 0)
        return kd_fail(KD_ERR_UNSUPPORTED, "peft_type must be \"LORA\"%s%s%s",
                       cJSON_IsString(type) ? " (not \"" : "",
                       cJSON_IsString(type) ? type->valuestring : "",
                       cJSON_IsString(type) ? "\")" : "");
    static const struct { const char *key, *what; } refused[] = {
        {"use_dora", "DoRA"},
        {"modules_to_save", "training whole modules beside the adapters"},
        {"layers_to_transform", "adapting only some layers"},
        {"rank_pattern", "per-module ranks"},
        {"alpha_pattern", "per-module alphas"},
        {"layer_replication", "layer replication"},
        {"megatron_config", "Megatron layers"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        kd_status status = refuse_option(object, refused[i].key, refused[i].what);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

kd_status kd_peft_config_from_json(const cJSON *object, gpt2_lora_config *config, char *base,
                                   size_t base_size)
{
    if (!cJSON_IsObject(object))
        return kd_fail(KD_ERR_FORMAT, "an adapter config must be a JSON object");
    kd_status status = check_options(object);
    double rank = 0.0, alpha = 8.0, dropout = 0.0;
    if (status == KD_OK)
        status = read_number(object, "r", 1, &rank);
    if (status == KD_OK && (rank != floor(rank) || rank < 1.0 || rank > 1e6))
        status = kd_fail(KD_ERR_INVALID, "r must be a positive integer, got %g", rank);
    if (status == KD_OK)
        status = read_number(object, "lora_alpha", 0, &alpha);
    if (status == KD_OK)
        status = read_number(object, "lora_dropout", 0, &dropout);
    if (status != KD_OK)
        return status;
    kd_gpt2_lora_config_default(config);
    config->rank = (int)rank;
    config->alpha = (float)alpha;
    config->dropout = (float)dropout;
    config->rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(object, "use_rslora"));
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(object, "target_modules");
    if ((status = kd_peft_targets_from_json(targets, "target_modules", &config->targets)) != KD_OK ||
        (status = read_bias(object, &config->train_biases)) != KD_OK)
        return status;
    if (!(config->alpha > 0.0f) || !isfinite(config->alpha))
        return kd_fail(KD_ERR_INVALID, "lora_alpha must be a positive number");
    if (!(config->dropout >= 0.0f && config->dropout < 1.0f))
        return kd_fail(KD_ERR_INVALID, "lora_dropout must be in [0, 1)");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(object, "base_model_name_or_path");
    if (base)
        snprintf(base, base_size, "%s", cJSON_IsString(name) ? name->valuestring : "");
    return KD_OK;
}

kd_status kd_peft_config_read(const char *path, gpt2_lora_config *config, char *base,
                              size_t base_size)
{
    cJSON *root = NULL;
    kd_status status = kd_json_read_file(path, &root);
    if (status == KD_OK && (status = kd_peft_config_from_json(root, config, base, base_size)) !=
                               KD_OK)
        kd_fail_context(status, "%s", path);
    cJSON_Delete(root);
    return status;
}

cJSON *kd_peft_config_to_json(const gpt2_lora_config *config, const char *base)
{
    cJSON *json = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    cJSON_AddStringToObject(json, "peft_type", "LORA");
    cJSON_AddStringToObject(json, "task_type", "CAUSAL_LM");
    cJSON_AddStringToObject(json, "base_model_name_or_path", base ? base : "");
    cJSON_AddNumberToObject(json, "r", config->rank);
    kd_json_add_float(json, "lora_alpha", config->alpha);
    kd_json_add_float(json, "lora_dropout", config->dropout);
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        if (config->targets >> t & 1u)
            cJSON_AddItemToArray(targets, cJSON_CreateString(
                                              kd_gpt2_lora_target_name((gpt2_lora_target)t)));
    cJSON_AddItemToObject(json, "target_modules", targets);
    /* GPT-2's Conv1D stores weights [in, out]: PEFT sets this for it. */
    cJSON_AddBoolToObject(json, "fan_in_fan_out", 1);
    cJSON_AddStringToObject(json, "bias", config->train_biases ? "all" : "none");
    cJSON_AddBoolToObject(json, "use_rslora", config->rslora);
    cJSON_AddBoolToObject(json, "use_dora", 0);
    cJSON_AddNullToObject(json, "modules_to_save");
    cJSON_AddBoolToObject(json, "init_lora_weights", 1);
    cJSON_AddBoolToObject(json, "inference_mode", 1);
    return json;
}
