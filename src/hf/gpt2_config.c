/* GPT-2's Hugging Face config.json <-> gpt2_config.
 *
 * Reading is strict about anything that would change the computation: kd
 * implements exactly GPT2LMHeadModel with gelu_new, tied embeddings, a 4x MLP
 * and 1/sqrt(d) attention scaling, so a config asking for something else is
 * refused rather than silently run differently. Keys that only matter for
 * training in PyTorch (dropout rates, initializer_range, ...) are ignored. */
#include "kd/hf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's <|endoftext|>, its bos, eos and only special token. */
enum { GPT2_END_OF_TEXT = 50256 };

static kd_status read_size(const cJSON *object, const char *key, int *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item)
        return kd_fail(KD_ERR_FORMAT, "missing key \"%s\"", key);
    double number = item->valuedouble;
    if (!cJSON_IsNumber(item) || number != floor(number) || fabs(number) > 2147483647.0)
        return kd_fail(KD_ERR_INVALID, "\"%s\" must be an integer", key);
    if (number <= 0)
        return kd_fail(KD_ERR_INVALID, "\"%s\" must be positive, got %.0f", key, number);
    *value = (int)number;
    return KD_OK;
}

/* A key that kd only accepts with one value (or absent, or null). */
static kd_status check_string(const cJSON *object, const char *key, const char *required)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    if (!cJSON_IsString(item))
        return kd_fail(KD_ERR_INVALID, "\"%s\" must be a string", key);
    if (strcmp(item->valuestring, required) != 0)
        return kd_fail(KD_ERR_UNSUPPORTED, "%s \"%s\" is not supported (kd implements \"%s\")",
                       key, item->valuestring, required);
    return KD_OK;
}

static kd_status check_bool(const cJSON *object, const char *key, int required)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    if (!cJSON_IsBool(item))
        return kd_fail(KD_ERR_INVALID, "\"%s\" must be true or false", key);
    if (cJSON_IsTrue(item) != required)
        return kd_fail(KD_ERR_UNSUPPORTED, "%s = %s is not supported", key,
                       required ? "false" : "true");
    return KD_OK;
}

static kd_status read_epsilon(const cJSON *object, float *epsilon)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, "layer_norm_epsilon");
    *epsilon = 1e-5f; /* HF's default */
    if (!item)
        return KD_OK;
    if (!cJSON_IsNumber(item) || !(item->valuedouble > 0.0 && item->valuedouble < 1.0))
        return kd_fail(KD_ERR_INVALID, "\"layer_norm_epsilon\" must be a number in (0, 1)");
    *epsilon = (float)item->valuedouble;
    return KD_OK;
}

/* n_positions is the real context length; n_ctx is its legacy alias, which
 * current transformers ignore when n_positions is present. */
static kd_status read_positions(const cJSON *object, int *positions)
{
    if (cJSON_GetObjectItemCaseSensitive(object, "n_positions"))
        return read_size(object, "n_positions", positions);
    if (cJSON_GetObjectItemCaseSensitive(object, "n_ctx"))
        return read_size(object, "n_ctx", positions);
    return kd_fail(KD_ERR_FORMAT, "missing key \"n_positions\" (or \"n_ctx\")");
}

static kd_status check_inner(const cJSON *object, int n_embd)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, "n_inner");
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    /* In double: n_embd is not yet bounded by the memory check, so 4 * n_embd
     * may not fit in an int. */
    double expected = 4.0 * n_embd;
    if (!cJSON_IsNumber(item) || item->valuedouble != expected)
        return kd_fail(KD_ERR_UNSUPPORTED, "n_inner must be null or 4 * n_embd = %.0f", expected);
    return KD_OK;
}

kd_status kd_gpt2_config_from_json(const cJSON *object, gpt2_config *config)
{
    if (!cJSON_IsObject(object))
        return kd_fail(KD_ERR_FORMAT, "model configuration is not a JSON object");
    memset(config, 0, sizeof *config);
    kd_status status = check_string(object, "model_type", "gpt2");
    if (status == KD_OK)
        status = check_string(object, "activation_function", "gelu_new");
    if (status == KD_OK)
        status = read_size(object, "n_layer", &config->n_layer);
    if (status == KD_OK)
        status = read_size(object, "n_head", &config->n_head);
    if (status == KD_OK)
        status = read_size(object, "n_embd", &config->n_embd);
    if (status == KD_OK)
        status = read_size(object, "vocab_size", &config->vocab_size);
    if (status == KD_OK)
        status = read_positions(object, &config->n_positions);
    if (status == KD_OK)
        status = read_epsilon(object, &config->layer_norm_epsilon);
    if (status == KD_OK)
        status = check_inner(object, config->n_embd);
    if (status == KD_OK)
        status = check_bool(object, "tie_word_embeddings", 1);
    if (status == KD_OK)
        status = check_bool(object, "scale_attn_weights", 1);
    if (status == KD_OK)
        status = check_bool(object, "scale_attn_by_inverse_layer_idx", 0);
    if (status == KD_OK)
        status = check_bool(object, "add_cross_attention", 0);
    if (status == KD_OK)
        status = kd_gpt2_config_validate(config);
    return status;
}

/* The whole file (a config.json), or its object `section` (a run
 * configuration's "model"). */
static kd_status read_file(const char *path, const char *section, gpt2_config *config)
{
    cJSON *root;
    kd_status status = kd_json_read_file(path, &root);
    if (status != KD_OK)
        return status;
    const cJSON *object = root;
    if (section && !(object = cJSON_GetObjectItemCaseSensitive(root, section)))
        status = kd_fail(KD_ERR_FORMAT, "no \"%s\" object", section);
    else
        status = kd_gpt2_config_from_json(object, config);
    cJSON_Delete(root);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "%s", path);
}

kd_status kd_gpt2_config_read(const char *path, gpt2_config *config)
{
    return read_file(path, NULL, config);
}

/* The shortest decimal that reads back as the same float, as a double:
 * 1e-5f is written "1e-05" rather than "9.9999997473787516e-06". */
static double float_as_decimal(float value)
{
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)value);
        if (strtof(text, NULL) == value)
            break;
    }
    return strtod(text, NULL);
}

cJSON *kd_gpt2_config_to_json(const gpt2_config *config)
{
    /* Keys sorted as save_pretrained writes them; values are GPT2Config's
     * defaults except the sizes. The dropout rates only matter to PyTorch
     * training; kd itself trains without dropout. */
    int special = config->vocab_size > GPT2_END_OF_TEXT ? GPT2_END_OF_TEXT
                                                        : config->vocab_size - 1;
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "activation_function", "gelu_new");
    const char *architectures[] = {"GPT2LMHeadModel"};
    cJSON_AddItemToObject(json, "architectures", cJSON_CreateStringArray(architectures, 1));
    cJSON_AddNumberToObject(json, "attn_pdrop", 0.1);
    cJSON_AddNumberToObject(json, "bos_token_id", special);
    cJSON_AddNumberToObject(json, "embd_pdrop", 0.1);
    cJSON_AddNumberToObject(json, "eos_token_id", special);
    cJSON_AddNumberToObject(json, "initializer_range", 0.02);
    cJSON_AddNumberToObject(json, "layer_norm_epsilon",
                            float_as_decimal(config->layer_norm_epsilon));
    cJSON_AddStringToObject(json, "model_type", "gpt2");
    cJSON_AddNumberToObject(json, "n_ctx", config->n_positions);
    cJSON_AddNumberToObject(json, "n_embd", config->n_embd);
    cJSON_AddNumberToObject(json, "n_head", config->n_head);
    cJSON_AddNullToObject(json, "n_inner");
    cJSON_AddNumberToObject(json, "n_layer", config->n_layer);
    cJSON_AddNumberToObject(json, "n_positions", config->n_positions);
    cJSON_AddBoolToObject(json, "reorder_and_upcast_attn", 0);
    cJSON_AddNumberToObject(json, "resid_pdrop", 0.1);
    cJSON_AddBoolToObject(json, "scale_attn_by_inverse_layer_idx", 0);
    cJSON_AddBoolToObject(json, "scale_attn_weights", 1);
    cJSON_AddNullToObject(json, "summary_activation");
    cJSON_AddNumberToObject(json, "summary_first_dropout", 0.1);
    cJSON_AddBoolToObject(json, "summary_proj_to_labels", 1);
    cJSON_AddStringToObject(json, "summary_type", "cls_index");
    cJSON_AddBoolToObject(json, "summary_use_proj", 1);
    cJSON_AddBoolToObject(json, "tie_word_embeddings", 1);
    cJSON_AddStringToObject(json, "torch_dtype", "float32");
    cJSON_AddBoolToObject(json, "use_cache", 1);
    cJSON_AddNumberToObject(json, "vocab_size", config->vocab_size);
    return json;
}

kd_status kd_gpt2_config_write(const char *path, const gpt2_config *config)
{
    cJSON *json = kd_gpt2_config_to_json(config);
    char *text = cJSON_Print(json);
    cJSON_Delete(json);
    if (!text)
        return kd_fail(KD_ERR_NOMEM, "%s: cannot format config.json", path);
    size_t length = strlen(text);
    text[length] = '\n'; /* replaces the terminator: files end with a newline */
    kd_status status = kd_atomic_write_file(path, text, length + 1);
    free(text);
    return status;
}

kd_status kd_gpt2_config_read_model_section(const char *path, gpt2_config *config)
{
    return read_file(path, "model", config);
}
