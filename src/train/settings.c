/* Training settings: defaults, the config's "train" object, and the
 * resolved copy saved in a run directory. One table drives all three so a
 * new setting is added in one place. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kd/io.h"
#include "kd/train.h"

/* FIELD_CHOICE: an enum member, named in JSON by one of `names`. */
typedef enum { FIELD_INT, FIELD_FLOAT, FIELD_DOUBLE, FIELD_SEED, FIELD_CHOICE } field_type;

typedef struct {
    const char *key;
    field_type type;
    size_t offset;
    double min;  /* inclusive bounds checked by validate */
    double max;
    const char *const *names;  /* FIELD_CHOICE: max + 1 names */
} setting_field;

/* Enum members are read and written as int. */
_Static_assert(sizeof(lr_schedule) == sizeof(int), "lr_schedule is stored as an int");
_Static_assert(sizeof(nonfinite_policy) == sizeof(int), "nonfinite_policy is stored as an int");
_Static_assert(sizeof(kd_precision) == sizeof(int), "kd_precision is stored as an int");

static const char *const schedule_names[] = {"cosine", "linear", "constant"};
static const char *const nonfinite_names[] = {"stop", "skip"};
/* In kd_precision's order. */
static const char *const precision_names[] = {"fp32", "bf16", "auto"};

#define FIELD(key, type, member, min, max)                                                  \
    {key, type, offsetof(train_settings, member), min, max, NULL}
#define CHOICE(key, member, names)                                                          \
    {key, FIELD_CHOICE, offsetof(train_settings, member), 0,                                  \
     sizeof names / sizeof *names - 1, names}

static const setting_field fields[] = {
    FIELD("epochs", FIELD_INT, epochs, 0, 1e6),
    FIELD("max_steps", FIELD_INT, max_steps, 0, 1e9),
    FIELD("batch_size", FIELD_INT, batch_size, 1, 65536),
    FIELD("grad_accum", FIELD_INT, grad_accum, 1, 65536),
    FIELD("seq_len", FIELD_INT, seq_len, 2, 1 << 20),
    FIELD("learning_rate", FIELD_FLOAT, learning_rate, 0, 10),
    FIELD("min_lr_ratio", FIELD_FLOAT, min_lr_ratio, 0, 1),
    FIELD("warmup_steps", FIELD_INT, warmup_steps, 0, 1e9),
    CHOICE("schedule", schedule, schedule_names),
    FIELD("weight_decay", FIELD_FLOAT, weight_decay, 0, 10),
    FIELD("decay_all", FIELD_INT, decay_all, 0, 1),
    FIELD("beta1", FIELD_FLOAT, beta1, 0, 0.999999),
    FIELD("beta2", FIELD_FLOAT, beta2, 0, 0.999999),
    FIELD("eps", FIELD_FLOAT, eps, 1e-30, 1),
    FIELD("grad_clip", FIELD_FLOAT, grad_clip, 0, 1e9),
    CHOICE("nonfinite", nonfinite, nonfinite_names),
    FIELD("nonfinite_max_skips", FIELD_INT, nonfinite_max_skips, 1, 1e6),
    FIELD("eval_interval", FIELD_INT, eval_interval, 0, 1e9),
    FIELD("log_every", FIELD_INT, log_every, 1, 1e9),
    FIELD("eval_batches", FIELD_INT, eval_batches, 0, 1e9),
    FIELD("patience", FIELD_INT, patience, 0, 1e9),
    FIELD("seed", FIELD_SEED, seed, 0, 0),
    FIELD("group_by_length", FIELD_INT, group_by_length, 0, 1),
    FIELD("threads", FIELD_INT, threads, 1, 1024),
    CHOICE("precision", precision, precision_names),
    FIELD("validation_fraction", FIELD_DOUBLE, validation_fraction, 0, 0.99),
    FIELD("split_seed", FIELD_SEED, split_seed, 0, 0),
};
enum { FIELD_COUNT = sizeof fields / sizeof *fields };

void kd_train_settings_default(train_settings *s)
{
    /* The original notebook: 4 epochs, batch 8, lr 5e-5 for fine-tuning.
     * These defaults suit training a small model from scratch; configs for
     * fine-tuning set their own rate. */
    *s = (train_settings){
        .epochs = 1, .max_steps = 0, .batch_size = 8, .grad_accum = 1, .seq_len = 256,
        .learning_rate = 6e-4f, .min_lr_ratio = 0.1f, .warmup_steps = 20,
        .schedule = LR_COSINE, .weight_decay = 0.1f, .decay_all = 0,
        .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .grad_clip = 1.0f,
        .nonfinite = NONFINITE_STOP, .nonfinite_max_skips = 5,
        .eval_interval = 0, .log_every = 10, .eval_batches = 0, .patience = 0, .seed = 1234,
        .group_by_length = 1, .threads = 2, .precision = KD_PRECISION_AUTO,
        .validation_fraction = 0.2, .split_seed = 42, .overlap_sums = 1,
        .bucket_mb = 16,
    };
}

static double field_value(const train_settings *s, const setting_field *f)
{
    const char *base = (const char *)s + f->offset;
    switch (f->type) {
    case FIELD_INT: return *(const int *)base;
    case FIELD_FLOAT: return *(const float *)base;
    case FIELD_DOUBLE: return *(const double *)base;
    case FIELD_CHOICE: return *(const int *)base;
    case FIELD_SEED: return (double)*(const uint64_t *)base;
    }
    return 0.0;
}

static kd_status read_choice(const cJSON *item, const setting_field *f, int *out)
{
    int count = (int)f->max + 1;
    for (int i = 0; i < count; i++) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, f->names[i]) == 0) {
            *out = i;
            return KD_OK;
        }
    }
    char allowed[256] = "";
    for (int i = 0; i < count; i++) {
        size_t used = strlen(allowed);
        snprintf(allowed + used, sizeof allowed - used, "%s\"%s\"", i == 0 ? "" : ", ",
                 f->names[i]);
    }
    return kd_fail(KD_ERR_INVALID, "train.%s must be one of %s", f->key, allowed);
}

static kd_status read_field(const cJSON *item, const setting_field *f, train_settings *s)
{
    char *base = (char *)s + f->offset;
    if (f->type == FIELD_CHOICE)
        return read_choice(item, f, (int *)base);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return kd_fail(KD_ERR_INVALID, "train.%s must be a number", f->key);
    double value = item->valuedouble;
    int integral = f->type == FIELD_INT || f->type == FIELD_SEED;
    if (integral && (value != floor(value) || value < 0 || value > 9007199254740992.0))
        return kd_fail(KD_ERR_INVALID, "train.%s must be a non-negative integer, got %g", f->key,
                       value);
    if (f->type == FIELD_SEED)
        *(uint64_t *)base = (uint64_t)value;
    else if (f->type == FIELD_INT && value > 2147483647.0)
        return kd_fail(KD_ERR_INVALID, "train.%s is too large: %g", f->key, value);
    else if (f->type == FIELD_INT)
        *(int *)base = (int)value;
    else if (f->type == FIELD_FLOAT)
        *(float *)base = (float)value;
    else
        *(double *)base = value;
    return KD_OK;
}

kd_status kd_train_settings_from_json(const cJSON *object, train_settings *settings)
{
    if (!cJSON_IsObject(object))
        return kd_fail(KD_ERR_INVALID, "\"train\" must be an object");
    for (const cJSON *item = object->child; item; item = item->next) {
        const setting_field *field = NULL;
        for (int i = 0; i < FIELD_COUNT && !field; i++)
            if (strcmp(fields[i].key, item->string) == 0)
                field = &fields[i];
        if (!field)
            return kd_fail(KD_ERR_INVALID, "unknown setting train.%s", item->string);
        kd_status status = read_field(item, field, settings);
        if (status != KD_OK)
            return status;
    }
    return kd_train_settings_validate(settings);
}

cJSON *kd_train_settings_to_json(const train_settings *settings)
{
    cJSON *object = cJSON_CreateObject();
    for (int i = 0; object && i < FIELD_COUNT; i++) {
        const setting_field *f = &fields[i];
        if (f->type == FIELD_CHOICE)
            cJSON_AddStringToObject(object, f->key, f->names[(int)field_value(settings, f)]);
        else if (f->type == FIELD_SEED) /* up to 2^53: every digit must survive */
            kd_json_add_exact_number(object, f->key, field_value(settings, f));
        else
            cJSON_AddNumberToObject(object, f->key, field_value(settings, f));
    }
    return object;
}

kd_status kd_train_settings_validate(const train_settings *settings)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        const setting_field *f = &fields[i];
        double value = field_value(settings, f);
        if (f->type != FIELD_SEED && (value < f->min || value > f->max))
            return kd_fail(KD_ERR_INVALID, "train.%s = %g is outside [%g, %g]", f->key, value,
                           f->min, f->max);
    }
    if (settings->epochs == 0 && settings->max_steps == 0)
        return kd_fail(KD_ERR_INVALID, "set train.epochs or train.max_steps");
    return KD_OK;
}
