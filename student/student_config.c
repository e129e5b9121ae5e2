/* The student's two config sections, "distill" and "init", read with every
 * key checked, and the layer plan they imply. */
#include <math.h>
#include <string.h>

#include "kd/student.h"

static kd_status check_keys(const cJSON *object, const char *section, const char *const *known,
                            size_t count)
{
    for (const cJSON *item = object->child; item; item = item->next) {
        size_t i = 0;
        while (i < count && strcmp(known[i], item->string) != 0)
            i++;
        if (i == count)
            return kd_fail(KD_ERR_INVALID, "unknown setting %s.%s", section, item->string);
    }
    return KD_OK;
}

static kd_status read_number(const cJSON *object, const char *section, const char *key,
                             float *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!item)
        return KD_OK;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return kd_fail(KD_ERR_INVALID, "%s.%s must be a number", section, key);
    *out = (float)item->valuedouble;
    return KD_OK;
}

kd_status kd_distill_config_from_json(const cJSON *object, distill_config *config)
{
    static const char *const known[] = {"alpha", "temperature", "divergence", "jsd_beta"};
    kd_status status = check_keys(object, "distill", known, sizeof known / sizeof *known);
    if (status == KD_OK)
        status = read_number(object, "distill", "alpha", &config->alpha);
    if (status == KD_OK)
        status = read_number(object, "distill", "temperature", &config->temperature);
    if (status == KD_OK)
        status = read_number(object, "distill", "jsd_beta", &config->jsd_beta);
    const cJSON *divergence = cJSON_GetObjectItemCaseSensitive(object, "divergence");
    if (status == KD_OK && divergence &&
        (!cJSON_IsString(divergence) ||
         kd_divergence_from_name(divergence->valuestring, &config->divergence) != KD_OK))
        status = kd_fail(KD_ERR_INVALID, "distill.divergence must be \"forward_kl\", "
                         "\"reverse_kl\" or \"jsd\"");
    if (status == KD_OK)
        status = kd_distill_config_validate(config);
    return status;
}

cJSON *kd_distill_config_to_json(const distill_config *config)
{
    cJSON *object = cJSON_CreateObject();
    cJSON_AddNumberToObject(object, "alpha", config->alpha);
    cJSON_AddNumberToObject(object, "temperature", config->temperature);
    cJSON_AddStringToObject(object, "divergence", kd_divergence_name(config->divergence));
    cJSON_AddNumberToObject(object, "jsd_beta", config->jsd_beta);
    return object;
}

void kd_student_init_default(student_init *init)
{
    memset(init, 0, sizeof *init);
    init->from = STUDENT_INIT_RANDOM;
    init->calibration_examples = 64;
}

static kd_status read_layers(const cJSON *array, student_init *init)
{
    if (!cJSON_IsArray(array))
        return kd_fail(KD_ERR_INVALID, "init.layers must be an array of layer numbers");
    init->layer_count = 0;
    for (const cJSON *item = array->child; item; item = item->next) {
        if (init->layer_count == STUDENT_MAX_LAYERS)
            return kd_fail(KD_ERR_INVALID, "init.layers: at most %d layers", STUDENT_MAX_LAYERS);
        if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
            item->valuedouble < 0 || item->valuedouble >= STUDENT_MAX_LAYERS)
            return kd_fail(KD_ERR_INVALID, "init.layers must hold layer numbers from 0");
        init->layers[init->layer_count++] = (int)item->valuedouble;
    }
    return KD_OK;
}

kd_status kd_student_init_from_json(const cJSON *object, student_init *init)
{
    static const char *const known[] = {"from", "layers", "teacher", "calibration_examples"};
    kd_status status = check_keys(object, "init", known, sizeof known / sizeof *known);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(object, "from");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(object, "layers");
    const cJSON *teacher = cJSON_GetObjectItemCaseSensitive(object, "teacher");
    const cJSON *calibration = cJSON_GetObjectItemCaseSensitive(object, "calibration_examples");
    if (status != KD_OK)
        return status;
    if (from && cJSON_IsString(from) && strcmp(from->valuestring, "teacher") == 0)
        init->from = STUDENT_INIT_TEACHER;
    else if (from && !(cJSON_IsString(from) && strcmp(from->valuestring, "random") == 0))
        return kd_fail(KD_ERR_INVALID, "init.from must be \"random\" or \"teacher\"");
    if (layers && (status = read_layers(layers, init)) != KD_OK)
        return status;
    if (teacher && !cJSON_IsString(teacher))
        return kd_fail(KD_ERR_INVALID, "init.teacher must be a model directory");
    init->teacher_dir = teacher ? teacher->valuestring : NULL;
    if (calibration) {
        if (!cJSON_IsNumber(calibration) || calibration->valuedouble < 1 ||
            calibration->valuedouble > 1e6)
            return kd_fail(KD_ERR_INVALID, "init.calibration_examples must be in [1, 1000000]");
        init->calibration_examples = (int)calibration->valuedouble;
    }
    if (init->from == STUDENT_INIT_RANDOM && (layers || teacher))
        return kd_fail(KD_ERR_INVALID, "init.layers and init.teacher need \"from\": \"teacher\"");
    return KD_OK;
}

cJSON *kd_student_init_to_json(const student_init *init, const char *teacher_dir)
{
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "from",
                            init->from == STUDENT_INIT_TEACHER ? "teacher" : "random");
    if (init->from != STUDENT_INIT_TEACHER)
        return object;
    if (teacher_dir)
        cJSON_AddStringToObject(object, "teacher", teacher_dir);
    cJSON *layers = cJSON_AddArrayToObject(object, "layers");
    for (int i = 0; i < init->layer_count; i++)
        cJSON_AddItemToArray(layers, cJSON_CreateNumber(init->layers[i]));
    cJSON_AddNumberToObject(object, "calibration_examples", init->calibration_examples);
    return object;
}

kd_status kd_student_layer_plan(const student_init *init, int teacher_layers, int student_layers,
                                int *layers)
{
    if (student_layers > teacher_layers)
        return kd_fail(KD_ERR_INVALID, "the student has %d layers, more than the teacher's %d",
                       student_layers, teacher_layers);
    if (init->layer_count == 0) {
        for (int i = 0; i < student_layers; i++)
            layers[i] = (int)lround((double)i * teacher_layers / student_layers);
        return KD_OK;
    }
    if (init->layer_count != student_layers)
        return kd_fail(KD_ERR_INVALID, "init.layers lists %d teacher layers for a student of %d",
                       init->layer_count, student_layers);
    for (int i = 0; i < student_layers; i++) {
        if (init->layers[i] >= teacher_layers)
            return kd_fail(KD_ERR_INVALID, "init.layers: the teacher has no layer %d (it has "
                           "%d)", init->layers[i], teacher_layers);
        layers[i] = init->layers[i];
    }
    return KD_OK;
}
