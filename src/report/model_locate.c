/* What a --teacher or --student DIR names: a training run directory
 * (model/, config.json, metrics.jsonl), a model directory, whose parent is
 * its run when that parent holds the run's config.json and metrics.jsonl,
 * or a GGUF file, which has no run. And the rows --quantize adds: a model
 * directory exported as a GGUF file of each type, measured from the file. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd/gguf.h"
#include "kd/hf.h"
#include "report_internal.h"

static int file_exists(const char *dir, const char *name)
{
    char path[KD_PATH_CAPACITY];
    struct stat info;
    return kd_path_join(path, sizeof path, dir, name) == KD_OK && stat(path, &info) == 0 &&
           S_ISREG(info.st_mode);
}

static kd_status find_directories(const char *dir, report_model *model)
{
    struct stat info;
    if (stat(dir, &info) == 0 && S_ISREG(info.st_mode)) {
        snprintf(model->model_dir, sizeof model->model_dir, "%s", dir);
        return KD_OK;
    }
    if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode))
        return kd_fail(KD_ERR_IO, "%s: no such directory or GGUF file", dir);
    char run[KD_PATH_CAPACITY];
    if (file_exists(dir, KD_RUN_BEST_DIR "/" KD_MODEL_CONFIG_FILE) &&
        file_exists(dir, KD_RUN_CONFIG_FILE)) {
        if (!realpath(dir, model->run_dir))
            return kd_fail(KD_ERR_IO, "%s: cannot resolve the path", dir);
        return kd_path_join(model->model_dir, sizeof model->model_dir, dir, KD_RUN_BEST_DIR);
    }
    if (!file_exists(dir, KD_MODEL_CONFIG_FILE) || !file_exists(dir, KD_MODEL_WEIGHTS_FILE))
        return kd_fail(KD_ERR_INVALID, "%s is neither a run directory (model/, config.json) nor "
                       "a model directory (config.json, model.safetensors)", dir);
    snprintf(model->model_dir, sizeof model->model_dir, "%s", dir);
    if (kd_path_join(run, sizeof run, dir, "..") == KD_OK && file_exists(run, KD_RUN_CONFIG_FILE) &&
        file_exists(run, KD_RUN_METRICS_FILE) && !realpath(run, model->run_dir))
        return kd_fail(KD_ERR_IO, "%s: cannot resolve the path", run);
    return KD_OK;
}

/* The run directory's name ("tiny-kd" for runs/demo/students/tiny-kd), the
 * model directory's, or the GGUF file's without ".gguf". */
static void set_name(report_model *model)
{
    char resolved[KD_PATH_CAPACITY];
    const char *source = model->run_dir[0] ? model->run_dir : model->model_dir;
    if (!realpath(source, resolved))
        snprintf(resolved, sizeof resolved, "%s", source);
    snprintf(model->name, sizeof model->name, "%s", basename(resolved));
    size_t length = strlen(model->name);
    if (length > 5 && strcmp(model->name + length - 5, ".gguf") == 0)
        model->name[length - 5] = '\0';
}

/* A GGUF file's matrices as the report names them: "q8_0" or "q4_0" when
 * they run quantized, NULL for f32 and f16 files (run in fp32). */
static kd_status read_gguf_type(const char *path, report_model *model)
{
    gguf_file file;
    kd_status status = kd_gguf_open(&file, path);
    if (status != KD_OK)
        return status;
    status = kd_gguf_gpt2_config(&file, &model->config);
    ggml_type type = kd_gguf_gpt2_matrix_type(&file);
    model->quantization = type == GGML_Q8_0 || type == GGML_Q4_0 ? kd_ggml_type_name(type) : NULL;
    kd_gguf_close(&file);
    return status;
}

/* "baseline": a student run that learnt from hard labels only (no
 * distillation, or alpha = 1 so the teacher's term has no weight). */
static const char *student_role(const cJSON *config)
{
    if (!config)
        return "student";
    const cJSON *distill = cJSON_GetObjectItemCaseSensitive(config, "distill");
    if (!cJSON_IsObject(distill))
        return "baseline";
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(distill, "alpha");
    return cJSON_IsNumber(alpha) && alpha->valuedouble >= 1.0 ? "baseline" : "student";
}

static kd_status read_run(report_model *model)
{
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_path_join(path, sizeof path, model->run_dir, KD_RUN_CONFIG_FILE);
    if (status == KD_OK)
        status = kd_json_read_file(path, &model->run_config);
    if (status == KD_OK && !cJSON_IsObject(model->run_config))
        return kd_fail(KD_ERR_FORMAT, "%s: a run configuration must be a JSON object", path);
    if (status == KD_OK && file_exists(model->run_dir, KD_RUN_METRICS_FILE) &&
        (status = kd_path_join(path, sizeof path, model->run_dir, KD_RUN_METRICS_FILE)) == KD_OK)
        status = kd_metrics_history_read(path, &model->history);
    return status;
}

kd_status kd_report_model_locate(const char *dir, int is_teacher, report_model *model)
{
    char path[KD_PATH_CAPACITY];
    model->base = -1;
    kd_status status = find_directories(dir, model);
    if (status == KD_OK && kd_model_path_is_gguf(model->model_dir))
        status = read_gguf_type(model->model_dir, model);
    else if (status == KD_OK && (status = kd_path_join(path, sizeof path, model->model_dir,
                                                       KD_MODEL_CONFIG_FILE)) == KD_OK)
        status = kd_gpt2_config_read(path, &model->config);
    if (status == KD_OK && model->run_dir[0])
        status = read_run(model);
    if (status != KD_OK)
        return status;
    set_name(model);
    model->role = is_teacher ? "teacher" : student_role(model->run_config);
    kd_model_size_compute(&model->config, model->model_dir, &model->size);
    return KD_OK;
}

kd_status kd_report_model_quantize(const report_model *base, int base_index, kd_qtype type,
                                   const char *out_dir, report_model *model)
{
    const char *name = kd_qtype_name(type);
    char dir[KD_PATH_CAPACITY];
    ggml_type file_type;
    int f16_fallbacks = 0;
    *model = (report_model){
        .role = base->role, .quantization = name, .base = base_index, .family = base->family,
        .config = base->config,
    };
    snprintf(model->name, sizeof model->name, "%s", base->name);
    kd_status status = kd_path_join(dir, sizeof dir, out_dir, "gguf");
    if (status == KD_OK)
        status = kd_make_directories(dir);
    if (status == KD_OK && snprintf(model->model_dir, sizeof model->model_dir, "%s/%s.%s.gguf",
                                    dir, base->name, name) >= (int)sizeof model->model_dir)
        status = kd_fail(KD_ERR_INVALID, "%s/%s.%s.gguf: path too long", dir, base->name, name);
    if (status == KD_OK)
        status = kd_ggml_type_parse(name, &file_type);
    if (status == KD_OK)
        status = kd_export_gguf(base->model_dir, model->model_dir, file_type, 1, &f16_fallbacks);
    if (status == KD_OK && f16_fallbacks > 0)
        fprintf(stderr, "kd report: %s: %d matrices whose rows are not whole 32-value blocks "
                "stored f16\n", model->model_dir, f16_fallbacks);
    if (status == KD_OK)
        kd_model_size_compute(&model->config, model->model_dir, &model->size);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "%s as %s", base->name, name);
}

void kd_report_model_free(report_model *model)
{
    cJSON_Delete(model->run_config);
    kd_metrics_history_free(&model->history);
    kd_token_buffer_free(&model->argmax);
    for (int i = 0; model->answers && model->answers[i]; i++)
        free(model->answers[i]);
    free(model->answers);
    *model = (report_model){0};
}
