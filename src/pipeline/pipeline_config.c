/* The pipeline file (see kd/pipeline.h), read with every key checked. */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/io.h"
#include "kd/train.h"
#include "pipeline_internal.h"

typedef struct {
    const char *path;       /* the pipeline file, for messages */
    char dir[KD_PATH_CAPACITY]; /* its directory, for relative paths */
} config_source;

static kd_status check_keys(const config_source *src, const cJSON *object, const char *section,
                            const char *const *known, size_t count)
{
    if (!cJSON_IsObject(object))
        return kd_fail(KD_ERR_INVALID, "%s: \"%s\" must be an object", src->path, section);
    for (const cJSON *item = object->child; item; item = item->next) {
        size_t i = 0;
        while (i < count && strcmp(known[i], item->string) != 0)
            i++;
        if (i == count)
            return kd_fail(KD_ERR_INVALID, "%s: unknown setting %s.%s", src->path, section,
                           item->string);
    }
    return KD_OK;
}

static kd_status read_text(const config_source *src, const cJSON *object, const char *section,
                           const char *key, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return kd_fail(KD_ERR_INVALID, "%s: %s.%s must be a non-empty string", src->path,
                       section, key);
    *out = item->valuestring;
    return KD_OK;
}

static kd_status read_number(const config_source *src, const cJSON *object, const char *section,
                             const char *key, double min, double max, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item)
        return KD_OK;
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= min && item->valuedouble <= max))
        return kd_fail(KD_ERR_INVALID, "%s: %s.%s must be a number in [%g, %g]", src->path,
                       section, key, min, max);
    *out = item->valuedouble;
    return KD_OK;
}

static kd_status read_int(const config_source *src, const cJSON *object, const char *section,
                          const char *key, int min, int max, int *out)
{
    double value = *out;
    kd_status status = read_number(src, object, section, key, min, max, &value);
    if (status == KD_OK && value != floor(value))
        status = kd_fail(KD_ERR_INVALID, "%s: %s.%s must be an integer", src->path, section, key);
    *out = (int)value;
    return status;
}

/* A path relative to the pipeline file's directory, else as given. */
static kd_status resolve_config_path(const config_source *src, const char *path, char **out)
{
    char joined[KD_PATH_CAPACITY];
    if (path[0] != '/' && kd_path_join(joined, sizeof joined, src->dir, path) == KD_OK &&
        access(joined, R_OK) == 0)
        *out = strdup(joined);
    else if (access(path, R_OK) == 0)
        *out = strdup(path);
    else
        return kd_fail(KD_ERR_IO, "%s: cannot find %s (relative to %s or here)", src->path, path,
                       src->dir);
    return *out ? KD_OK : KD_ERR_NOMEM;
}

static kd_status read_teacher(const config_source *src, const cJSON *object,
                              pipeline_config *config)
{
    static const char *const known[] = {"config", "init", "max_steps", "epochs", "seed"};
    const char *path = NULL, *init = NULL;
    double seed = -1;
    kd_status status = check_keys(src, object, "teacher", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_text(src, object, "teacher", "config", &path);
    if (status == KD_OK)
        status = read_text(src, object, "teacher", "init", &init);
    if (status == KD_OK)
        status = read_int(src, object, "teacher", "max_steps", 0, 1 << 30,
                          &config->teacher_max_steps);
    if (status == KD_OK)
        status = read_int(src, object, "teacher", "epochs", 0, 1 << 20, &config->teacher_epochs);
    if (status == KD_OK)
        status = read_number(src, object, "teacher", "seed", 0, 9007199254740992.0, &seed);
    if (status == KD_OK && !path)
        status = kd_fail(KD_ERR_INVALID, "%s: teacher.config is required", src->path);
    if (status == KD_OK)
        status = resolve_config_path(src, path, &config->teacher_config);
    if (status == KD_OK && init && !(config->teacher_init = kd_resolve_asset(init)))
        status = kd_fail_context(KD_ERR_IO, "%s: teacher.init", src->path);
    config->teacher_seed = (long long)seed;
    return status;
}

static kd_status read_cache(const config_source *src, const cJSON *object, cache_encoding *cache)
{
    static const char *const known[] = {"topk", "samples", "zstd_level", "shard_examples"};
    kd_status status = check_keys(src, object, "cache", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_int(src, object, "cache", "topk", 0, CACHE_MAX_TOPK, &cache->topk);
    if (status == KD_OK)
        status = read_int(src, object, "cache", "samples", 0, CACHE_MAX_SAMPLES, &cache->samples);
    if (status == KD_OK)
        status = read_int(src, object, "cache", "zstd_level", -7, 22, &cache->zstd_level);
    if (status == KD_OK)
        status = read_int(src, object, "cache", "shard_examples", 1, 1 << 20,
                          &cache->shard_examples);
    return status;
}

static kd_status read_student(const config_source *src, const cJSON *object,
                              pipeline_student *student)
{
    static const char *const known[] = {"name", "config", "alpha", "temperature", "divergence",
                                        "max_steps", "epochs", "baseline"};
    const char *path = NULL;
    double alpha = -1.0, temperature = 0.0;
    *student = (pipeline_student){.alpha = -1.0f, .baseline = 1};
    kd_status status = check_keys(src, object, "students[]", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_text(src, object, "students[]", "name", &student->name);
    if (status == KD_OK)
        status = read_text(src, object, "students[]", "config", &path);
    if (status == KD_OK)
        status = read_number(src, object, "students[]", "alpha", 0.0, 1.0, &alpha);
    if (status == KD_OK)
        status = read_number(src, object, "students[]", "temperature", 1e-3, 1e3, &temperature);
    if (status == KD_OK)
        status = read_text(src, object, "students[]", "divergence", &student->divergence);
    if (status == KD_OK)
        status = read_int(src, object, "students[]", "max_steps", 0, 1 << 30, &student->max_steps);
    if (status == KD_OK)
        status = read_int(src, object, "students[]", "epochs", 0, 1 << 20, &student->epochs);
    const cJSON *baseline = cJSON_GetObjectItemCaseSensitive(object, "baseline");
    if (status == KD_OK && baseline && !cJSON_IsBool(baseline))
        status = kd_fail(KD_ERR_INVALID, "%s: students[].baseline must be true or false",
                         src->path);
    if (status == KD_OK && (!student->name || !path))
        status = kd_fail(KD_ERR_INVALID, "%s: every student needs a \"name\" and a \"config\"",
                         src->path);
    if (status == KD_OK && strpbrk(student->name, "/\\"))
        status = kd_fail(KD_ERR_INVALID, "%s: student name \"%s\" must not contain a slash",
                         src->path, student->name);
    student->alpha = (float)alpha;
    student->temperature = (float)temperature;
    student->baseline = !baseline || cJSON_IsTrue(baseline);
    return status == KD_OK ? resolve_config_path(src, path, &student->config_path) : status;
}

static kd_status read_students(const config_source *src, const cJSON *array,
                               pipeline_config *config)
{
    if (!cJSON_IsArray(array) || cJSON_GetArraySize(array) < 1 ||
        cJSON_GetArraySize(array) > PIPELINE_MAX_STUDENTS)
        return kd_fail(KD_ERR_INVALID, "%s: \"students\" must list 1 to %d students", src->path,
                       PIPELINE_MAX_STUDENTS);
    for (const cJSON *item = array->child; item; item = item->next) {
        pipeline_student *student = &config->students[config->student_count++];
        kd_status status = read_student(src, item, student);
        for (int i = 0; status == KD_OK && i + 1 < config->student_count; i++)
            if (strcmp(config->students[i].name, student->name) == 0)
                status = kd_fail(KD_ERR_INVALID, "%s: two students are named \"%s\"", src->path,
                                 student->name);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

/* report.quantize: ["q8_0", "q4_0"], or the command line's "q8_0,q4_0". */
static kd_status read_quantize(const config_source *src, const cJSON *item,
                               pipeline_config *config)
{
    kd_status status = KD_OK;
    if (!item || cJSON_IsNull(item))
        return KD_OK;
    if (cJSON_IsString(item)) {
        status = kd_report_quantize_parse(item->valuestring, config->quantize,
                                          &config->quantize_count);
    } else if (cJSON_IsArray(item)) {
        const cJSON *type;
        cJSON_ArrayForEach(type, item) {
            if (status == KD_OK)
                status = cJSON_IsString(type)
                             ? kd_report_quantize_add(type->valuestring, config->quantize,
                                                      &config->quantize_count)
                             : kd_fail(KD_ERR_INVALID, "each type must be a string");
        }
    } else {
        status = kd_fail(KD_ERR_INVALID, "must be a list of types such as [\"q8_0\", \"q4_0\"]");
    }
    return status == KD_OK ? KD_OK
                           : kd_fail_context(KD_ERR_INVALID, "%s: report.quantize", src->path);
}

static kd_status read_report(const config_source *src, const cJSON *object,
                             pipeline_config *config)
{
    static const char *const known[] = {"rouge_examples", "repeats", "eval_batches", "quantize"};
    kd_status status = check_keys(src, object, "report", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_quantize(src, cJSON_GetObjectItemCaseSensitive(object, "quantize"), config);
    if (status == KD_OK)
        status = read_int(src, object, "report", "rouge_examples", 0, 100000,
                          &config->rouge_examples);
    if (status == KD_OK)
        status = read_int(src, object, "report", "repeats", 0, 1000, &config->repeats);
    if (status == KD_OK)
        status = read_int(src, object, "report", "eval_batches", 0, 1 << 20,
                          &config->eval_batches);
    return status;
}

static kd_status read_root(const config_source *src, pipeline_config *config)
{
    static const char *const known[] = {"name", "out", "threads", "precision", "teacher", "cache",
                                        "students", "report"};
    const cJSON *root = config->root;
    kd_status status = check_keys(src, root, "pipeline", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_text(src, root, "pipeline", "name", &config->name);
    if (status == KD_OK)
        status = read_text(src, root, "pipeline", "out", &config->out);
    if (status == KD_OK)
        status = read_int(src, root, "pipeline", "threads", 0, 1024, &config->threads);
    if (status == KD_OK)
        status = read_text(src, root, "pipeline", "precision", &config->precision_name);
    if (status == KD_OK && config->precision_name &&
        kd_precision_parse(config->precision_name, &config->precision) != KD_OK)
        status = kd_fail_context(KD_ERR_INVALID, "%s: pipeline.precision", src->path);
    if (status == KD_OK && !config->name)
        status = kd_fail(KD_ERR_INVALID, "%s: \"name\" is required", src->path);
    const cJSON *teacher = cJSON_GetObjectItemCaseSensitive(root, "teacher");
    const cJSON *cache = cJSON_GetObjectItemCaseSensitive(root, "cache");
    const cJSON *report = cJSON_GetObjectItemCaseSensitive(root, "report");
    if (status == KD_OK)
        status = teacher ? read_teacher(src, teacher, config)
                         : kd_fail(KD_ERR_INVALID, "%s: a \"teacher\" section is required",
                                   src->path);
    if (status == KD_OK && cache)
        status = read_cache(src, cache, &config->cache);
    if (status == KD_OK)
        status = read_students(src, cJSON_GetObjectItemCaseSensitive(root, "students"), config);
    if (status == KD_OK && report)
        status = read_report(src, report, config);
    return status;
}

kd_status kd_pipeline_config_load(const char *path, pipeline_config *config)
{
    memset(config, 0, sizeof *config);
    config->teacher_seed = -1;
    kd_cache_encoding_default(&config->cache);
    config_source src = {.path = path};
    char copy[KD_PATH_CAPACITY];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(src.dir, sizeof src.dir, "%s", dirname(copy));
    kd_status status = kd_json_read_file(path, &config->root);
    if (status == KD_OK && !cJSON_IsObject(config->root))
        status = kd_fail(KD_ERR_INVALID, "%s: a pipeline must be a JSON object", path);
    if (status == KD_OK)
        status = read_root(&src, config);
    return status;
}

void kd_pipeline_config_free(pipeline_config *config)
{
    for (int i = 0; i < config->student_count; i++)
        free(config->students[i].config_path);
    free(config->teacher_config);
    free(config->teacher_init);
    cJSON_Delete(config->root);
    memset(config, 0, sizeof *config);
}
