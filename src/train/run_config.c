/* Run configuration files: the model shape, the training settings and the
 * data settings in one JSON file, with every key checked. */
#include <stdlib.h>
#include <string.h>

#include "kd/hf.h"
#include "kd/train.h"

static kd_status read_string(const cJSON *object, const char *key, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item)
        return KD_OK;
    if (!cJSON_IsString(item))
        return kd_fail(KD_ERR_INVALID, "data.%s must be a string", key);
    *out = item->valuestring;
    return KD_OK;
}

static kd_status read_string_list(const cJSON *array, const char *key, const char **out,
                                  int capacity, int *count)
{
    if (!array)
        return KD_OK;
    if (!cJSON_IsArray(array))
        return kd_fail(KD_ERR_INVALID, "data.%s must be an array of strings", key);
    *count = 0;
    for (const cJSON *item = array->child; item; item = item->next) {
        if (!cJSON_IsString(item))
            return kd_fail(KD_ERR_INVALID, "data.%s must hold only strings", key);
        if (*count >= capacity)
            return kd_fail(KD_ERR_INVALID, "data.%s: at most %d entries", key, capacity);
        out[(*count)++] = item->valuestring;
    }
    return KD_OK;
}

static kd_status read_data_section(const cJSON *data, run_config *config)
{
    static const char *const known[] = {"files", "tokenizer", "loss", "template", "fields",
                                        "skip_bad", "prompts"};
    for (const cJSON *item = data->child; item; item = item->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(known[i], item->string) != 0)
            i++;
        if (i == sizeof known / sizeof *known)
            return kd_fail(KD_ERR_INVALID, "unknown setting data.%s", item->string);
    }
    dataset_options *options = &config->data;
    const char *loss = NULL, *tokenizer = NULL;
    const cJSON *template = cJSON_GetObjectItemCaseSensitive(data, "template");
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(data, "fields");
    const cJSON *skip_bad = cJSON_GetObjectItemCaseSensitive(data, "skip_bad");
    kd_status status = read_string_list(cJSON_GetObjectItemCaseSensitive(data, "files"), "files",
                                        config->data_files, RUN_CONFIG_MAX_FILES,
                                        &config->data_file_count);
    if (status == KD_OK)
        status = read_string_list(cJSON_GetObjectItemCaseSensitive(data, "prompts"), "prompts",
                                  config->prompts, RUN_CONFIG_MAX_PROMPTS, &config->prompt_count);
    if (status == KD_OK)
        status = read_string(data, "loss", &loss);
    if (status == KD_OK)
        status = read_string(data, "tokenizer", &tokenizer);
    if (status == KD_OK && template)
        if ((status = read_string(template, "with_context", &options->prompt.with_context)) == KD_OK)
            status = read_string(template, "without_context", &options->prompt.without_context);
    if (status == KD_OK && fields)
        if ((status = read_string(fields, "instruction", &options->fields.instruction)) == KD_OK &&
            (status = read_string(fields, "context", &options->fields.context)) == KD_OK)
            status = read_string(fields, "response", &options->fields.response);
    if (status != KD_OK)
        return status;
    if (skip_bad && !cJSON_IsBool(skip_bad))
        return kd_fail(KD_ERR_INVALID, "data.skip_bad must be true or false");
    options->skip_bad = cJSON_IsTrue(skip_bad);
    if (loss && strcmp(loss, "response") != 0 && strcmp(loss, "all") != 0)
        return kd_fail(KD_ERR_INVALID, "data.loss must be \"response\" or \"all\"");
    options->loss = loss && strcmp(loss, "all") == 0 ? LOSS_ALL : LOSS_RESPONSE;
    if (tokenizer && !(config->tokenizer_dir = kd_resolve_asset(tokenizer)))
        return kd_fail_context(KD_ERR_IO, "data.tokenizer");
    return KD_OK;
}

static void use_defaults(run_config *config)
{
    memset(config, 0, sizeof *config);
    kd_train_settings_default(&config->train);
    kd_dataset_options_default(&config->data);
    config->prompts[0] = "Why can camels survive for long without water?";
    config->prompts[1] = "What is the capital of France?";
    config->prompts[2] = "Give me three tips for staying healthy.";
    config->prompt_count = 3;
}

kd_status kd_run_config_load(const char *path, run_config *config)
{
    use_defaults(config);
    kd_status status = kd_json_read_file(path, &config->root);
    if (status != KD_OK)
        return status;
    if (!cJSON_IsObject(config->root))
        return kd_fail(KD_ERR_INVALID, "%s: a run configuration must be a JSON object", path);
    /* "distill" and "init" belong to student runs (see kd/student.h); a
     * teacher run's resolved config.json records the model it fine-tuned as
     * a string "init". */
    static const char *const sections[] = {"model", "train", "data", "distill", "init", "lora"};
    enum { SECTION_COUNT = sizeof sections / sizeof *sections };
    for (const cJSON *item = config->root->child; item; item = item->next) {
        size_t i = 0;
        while (i < SECTION_COUNT && strcmp(sections[i], item->string) != 0)
            i++;
        if (i == SECTION_COUNT)
            return kd_fail(KD_ERR_INVALID, "%s: unknown section \"%s\"", path, item->string);
        if (!cJSON_IsObject(item) && !(strcmp(item->string, "init") == 0 && cJSON_IsString(item)))
            return kd_fail(KD_ERR_INVALID, "%s: \"%s\" must be an object", path, item->string);
    }
    config->distill = cJSON_GetObjectItemCaseSensitive(config->root, "distill");
    config->init = cJSON_GetObjectItemCaseSensitive(config->root, "init");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(config->root, "model");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(config->root, "train");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(config->root, "data");
    if (model && (status = kd_gpt2_config_from_json(model, &config->model)) == KD_OK)
        config->has_model = 1;
    if (status == KD_OK && train)
        status = kd_train_settings_from_json(train, &config->train);
    if (status == KD_OK && data)
        status = read_data_section(data, config);
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(config->root, "lora");
    if (status == KD_OK && lora && (status = kd_lora_settings_from_json(lora, &config->lora)) ==
                                       KD_OK)
        config->has_lora = 1;
    kd_run_config_sync_data(config);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "%s", path);
}

void kd_run_config_sync_data(run_config *config)
{
    config->data.seq_len = (size_t)config->train.seq_len;
    config->data.validation_fraction = config->train.validation_fraction;
    config->data.split_seed = config->train.split_seed;
}

kd_status kd_run_config_set_files(run_config *config, const char *const *files, int count)
{
    for (int i = 0; i < RUN_CONFIG_MAX_FILES; i++) {
        free(config->resolved_files[i]);
        config->resolved_files[i] = NULL;
    }
    for (int i = 0; i < count; i++)
        if (!(config->resolved_files[i] = kd_resolve_asset(files[i])))
            return KD_ERR_IO;
    config->data.paths = (const char *const *)config->resolved_files;
    config->data.path_count = (size_t)count;
    return KD_OK;
}

kd_status kd_run_config_resolve_files(run_config *config)
{
    return kd_run_config_set_files(config, config->data_files, config->data_file_count);
}

void kd_run_config_free(run_config *config)
{
    for (int i = 0; i < RUN_CONFIG_MAX_FILES; i++)
        free(config->resolved_files[i]);
    free(config->tokenizer_dir);
    cJSON_Delete(config->root);
    memset(config, 0, sizeof *config);
}

cJSON *kd_run_config_to_json(const run_config *config)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "model", kd_gpt2_config_to_json(&config->model));
    cJSON_AddItemToObject(root, "train", kd_train_settings_to_json(&config->train));
    if (config->has_lora)
        cJSON_AddItemToObject(root, "lora", kd_lora_settings_to_json(&config->lora));
    cJSON *data = cJSON_AddObjectToObject(root, "data");
    cJSON *files = cJSON_AddArrayToObject(data, "files");
    for (size_t i = 0; i < config->data.path_count; i++)
        cJSON_AddItemToArray(files, cJSON_CreateString(config->data.paths[i]));
    if (config->tokenizer_dir)
        cJSON_AddStringToObject(data, "tokenizer", config->tokenizer_dir);
    cJSON_AddStringToObject(data, "loss", config->data.loss == LOSS_ALL ? "all" : "response");
    cJSON *template = cJSON_AddObjectToObject(data, "template");
    cJSON_AddStringToObject(template, "with_context", config->data.prompt.with_context);
    cJSON_AddStringToObject(template, "without_context", config->data.prompt.without_context);
    cJSON *fields = cJSON_AddObjectToObject(data, "fields");
    cJSON_AddStringToObject(fields, "instruction", config->data.fields.instruction);
    if (config->data.fields.context)
        cJSON_AddStringToObject(fields, "context", config->data.fields.context);
    cJSON_AddStringToObject(fields, "response", config->data.fields.response);
    cJSON_AddBoolToObject(data, "skip_bad", config->data.skip_bad);
    cJSON *prompts = cJSON_AddArrayToObject(data, "prompts");
    for (int i = 0; i < config->prompt_count; i++)
        cJSON_AddItemToArray(prompts, cJSON_CreateString(config->prompts[i]));
    return root;
}
