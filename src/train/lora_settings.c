/* The "lora" section of a run configuration and the --lora-* flags over it:
 *   {"rank": 8, "alpha": 16, "dropout": 0.05, "targets": ["attn.c_attn"],
 *    "rslora": false, "bias": "none" | "all"}
 * Targets are Hugging Face module names, or PEFT's short ones ("c_attn",
 * "c_proj" for both projections, "c_fc"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/io.h"
#include "kd/peft.h"
#include "kd/train.h"

static kd_status read_lora_number(const cJSON *item, double *value)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return kd_fail(KD_ERR_INVALID, "lora.%s must be a number", item->string);
    *value = item->valuedouble;
    return KD_OK;
}

static kd_status read_bias_name(const char *name, int *train_biases)
{
    if (strcmp(name, "none") != 0 && strcmp(name, "all") != 0)
        return kd_fail(KD_ERR_INVALID, "lora bias must be \"none\" or \"all\", got \"%s\"", name);
    *train_biases = strcmp(name, "all") == 0;
    return KD_OK;
}

static kd_status read_item(const cJSON *item, gpt2_lora_config *lora)
{
    double number = 0.0;
    const char *key = item->string;
    kd_status status = KD_OK;
    if (strcmp(key, "targets") == 0)
        return kd_peft_targets_from_json(item, "lora.targets", &lora->targets);
    if (strcmp(key, "bias") == 0)
        return cJSON_IsString(item) ? read_bias_name(item->valuestring, &lora->train_biases)
                                    : kd_fail(KD_ERR_INVALID, "lora.bias must be a string");
    int *flag = strcmp(key, "rslora") == 0  ? &lora->rslora
                : strcmp(key, "qlora") == 0 ? &lora->qlora
                                            : NULL;
    if (flag) {
        if (!cJSON_IsBool(item))
            return kd_fail(KD_ERR_INVALID, "lora.%s must be true or false", key);
        *flag = cJSON_IsTrue(item);
        return KD_OK;
    }
    if (strcmp(key, "rank") != 0 && strcmp(key, "alpha") != 0 && strcmp(key, "dropout") != 0)
        return kd_fail(KD_ERR_INVALID, "unknown setting lora.%s (rank, alpha, dropout, targets, "
                       "rslora, bias, qlora)", key);
    if ((status = read_lora_number(item, &number)) != KD_OK)
        return status;
    if (strcmp(key, "rank") == 0) {
        if (number != floor(number) || fabs(number) > 1e6)
            return kd_fail(KD_ERR_INVALID, "lora.rank must be an integer");
        lora->rank = (int)number;
    } else if (strcmp(key, "alpha") == 0) {
        lora->alpha = (float)number;
    } else {
        lora->dropout = (float)number;
    }
    return KD_OK;
}

kd_status kd_lora_settings_from_json(const cJSON *object, gpt2_lora_config *lora)
{
    kd_gpt2_lora_config_default(lora);
    for (const cJSON *item = object->child; item; item = item->next) {
        kd_status status = read_item(item, lora);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

cJSON *kd_lora_settings_to_json(const gpt2_lora_config *lora)
{
    cJSON *json = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    cJSON_AddNumberToObject(json, "rank", lora->rank);
    kd_json_add_float(json, "alpha", lora->alpha);
    kd_json_add_float(json, "dropout", lora->dropout);
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        if (lora->targets >> t & 1u)
            cJSON_AddItemToArray(targets,
                                 cJSON_CreateString(kd_gpt2_lora_target_name((gpt2_lora_target)t)));
    cJSON_AddItemToObject(json, "targets", targets);
    cJSON_AddBoolToObject(json, "rslora", lora->rslora);
    cJSON_AddStringToObject(json, "bias", lora->train_biases ? "all" : "none");
    /* only when on, so that a LoRA run's resolved config stays as it was */
    if (lora->qlora)
        cJSON_AddBoolToObject(json, "qlora", 1);
    return json;
}

kd_status kd_run_config_apply_lora(run_config *config, const lora_overrides *overrides)
{
    if (overrides->rank != 0 && !config->has_lora) {
        kd_gpt2_lora_config_default(&config->lora);
        config->has_lora = 1;
    }
    int any = overrides->alpha != 0.0f || overrides->dropout > 0.0f || overrides->targets ||
              overrides->rslora || overrides->bias || overrides->qlora;
    if (any && !config->has_lora)
        return kd_fail(KD_ERR_INVALID, "--lora-* and --qlora settings need --lora-rank (or a "
                       "\"lora\" section in the config)");
    gpt2_lora_config *lora = &config->lora;
    if (overrides->rank != 0)
        lora->rank = overrides->rank;
    if (overrides->alpha != 0.0f)
        lora->alpha = overrides->alpha;
    if (overrides->dropout > 0.0f)
        lora->dropout = overrides->dropout;
    if (overrides->rslora)
        lora->rslora = 1;
    if (overrides->qlora)
        lora->qlora = 1;
    kd_status status = KD_OK;
    if (overrides->targets)
        status = kd_peft_targets_parse_list(overrides->targets, &lora->targets);
    if (status == KD_OK && overrides->bias)
        status = read_bias_name(overrides->bias, &lora->train_biases);
    return status;
}
