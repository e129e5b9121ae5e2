/* A report.json read back for kd report diff: outside input, so every part
 * the diff relies on is checked here (a JSON object, an integral schema
 * version, a "models" array of objects named by "name" and "role"), and
 * every other value is read later as "a number or nothing" ("quantization":
 * a string or nothing). */
#include <math.h>
#include <string.h>

#include "kd/io.h"
#include "report_internal.h"

static kd_status read_version(report_file *file)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(file->root, "schema_version");
    if (!version) {
        file->schema_version = 1;
        return KD_OK;
    }
    if (!cJSON_IsNumber(version) || !(version->valuedouble >= 1 && version->valuedouble <= 1e6) ||
        version->valuedouble != floor(version->valuedouble))
        return kd_fail(KD_ERR_FORMAT, "%s: \"schema_version\" is not a version number",
                       file->path);
    file->schema_version = (int)version->valuedouble;
    return KD_OK;
}

static kd_status check_models(const report_file *file)
{
    if (!cJSON_IsArray(file->models))
        return kd_fail(KD_ERR_FORMAT, "%s: no \"models\" array (not a kd report.json?)",
                       file->path);
    int index = 0;
    const cJSON *model;
    cJSON_ArrayForEach(model, file->models) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(model, "name");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(model, "role");
        if (!cJSON_IsString(name) || !cJSON_IsString(role))
            return kd_fail(KD_ERR_FORMAT, "%s: model %d has no \"name\" or \"role\" string",
                           file->path, index);
        index++;
    }
    return KD_OK;
}

kd_status kd_report_file_read(const char *path, report_file *file)
{
    *file = (report_file){.path = path};
    kd_status status = kd_json_read_file(path, &file->root);
    if (status == KD_OK && !cJSON_IsObject(file->root))
        status = kd_fail(KD_ERR_FORMAT, "%s: not a JSON object (not a kd report.json?)", path);
    if (status == KD_OK)
        status = read_version(file);
    if (status == KD_OK) {
        file->models = cJSON_GetObjectItemCaseSensitive(file->root, "models");
        status = check_models(file);
    }
    if (status != KD_OK)
        kd_report_file_free(file);
    return status;
}

void kd_report_file_free(report_file *file)
{
    cJSON_Delete(file->root);
    file->root = NULL;
    file->models = NULL;
}

const char *kd_report_file_quantization(const cJSON *model)
{
    const cJSON *quantization = cJSON_GetObjectItemCaseSensitive(model, "quantization");
    return cJSON_IsString(quantization) ? quantization->valuestring : NULL;
}

const cJSON *kd_report_file_model(const report_file *file, const cJSON *like)
{
    const char *name = cJSON_GetObjectItemCaseSensitive(like, "name")->valuestring;
    const char *role = cJSON_GetObjectItemCaseSensitive(like, "role")->valuestring;
    const char *quantization = kd_report_file_quantization(like);
    const cJSON *model;
    cJSON_ArrayForEach(model, file->models) {
        const char *n = cJSON_GetObjectItemCaseSensitive(model, "name")->valuestring;
        const char *r = cJSON_GetObjectItemCaseSensitive(model, "role")->valuestring;
        const char *q = kd_report_file_quantization(model);
        if (strcmp(n, name) == 0 && strcmp(r, role) == 0 &&
            (q && quantization ? strcmp(q, quantization) == 0 : q == quantization))
            return model;
    }
    return NULL;
}
