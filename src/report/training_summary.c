/* The training figures of one model's run, gathered once for the JSON and
 * the Markdown. Student runs add a "distill" section (alpha, temperature,
 * divergence, topk, samples, source) and an "init" one to the config. */
#include <math.h>
#include <stddef.h>

#include "report_internal.h"

static double number_at(const cJSON *object, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static const char *string_at(const cJSON *object, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The mean of a figure over the rows that record it (runs written before
 * padding_ratio existed lack it): NaN when none does. */
static double mean_of(const metrics_history *history, size_t offset)
{
    double sum = 0.0;
    int count = 0;
    for (int i = 0; i < history->count; i++) {
        double value = *(const double *)((const char *)&history->points[i] + offset);
        if (isfinite(value)) {
            sum += value;
            count++;
        }
    }
    return count > 0 ? sum / count : NAN;
}

static void read_history(const metrics_history *history, training_summary *summary)
{
    summary->evaluations = 0;
    summary->best_val_loss = NAN;
    summary->best_step = NAN;
    if (history->count == 0)
        return;
    const metrics_point *last = &history->points[history->count - 1];
    summary->steps = last->step;
    summary->wall_s = last->elapsed_s;
    summary->tokens_per_s = mean_of(history, offsetof(metrics_point, tokens_per_s));
    summary->padding_ratio = mean_of(history, offsetof(metrics_point, padding_ratio));
    for (int i = 0; i < history->count; i++) {
        const metrics_point *point = &history->points[i];
        summary->evaluations += !point->is_training;
        if (isfinite(point->val_loss) &&
            !(point->val_loss >= summary->best_val_loss)) { /* also replaces the NaN start */
            summary->best_val_loss = point->val_loss;
            summary->best_step = point->step;
        }
    }
}

void kd_training_summary_read(const report_model *model, training_summary *summary)
{
    *summary = (training_summary){
        .steps = NAN, .wall_s = NAN, .tokens_per_s = NAN, .padding_ratio = NAN,
        .batch_size = NAN, .grad_accum = NAN, .seq_len = NAN, .learning_rate = NAN, .seed = NAN,
        .alpha = NAN, .temperature = NAN, .topk = NAN, .samples = NAN,
    };
    summary->has_run = model->run_config != NULL;
    if (!summary->has_run)
        return;
    read_history(&model->history, summary);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(model->run_config, "train");
    summary->batch_size = number_at(train, "batch_size");
    summary->grad_accum = number_at(train, "grad_accum");
    summary->seq_len = number_at(train, "seq_len");
    summary->learning_rate = number_at(train, "learning_rate");
    summary->seed = number_at(train, "seed");
    summary->init = cJSON_GetObjectItemCaseSensitive(model->run_config, "init");
    const cJSON *distill = cJSON_GetObjectItemCaseSensitive(model->run_config, "distill");
    if (!cJSON_IsObject(distill))
        return;
    summary->has_distill = 1;
    summary->distill = distill;
    summary->alpha = number_at(distill, "alpha");
    summary->temperature = number_at(distill, "temperature");
    summary->topk = number_at(distill, "topk");
    summary->samples = number_at(distill, "samples");
    summary->divergence = string_at(distill, "divergence");
    summary->logits_source = string_at(distill, "source");
    summary->teacher_precision = string_at(distill, "teacher_precision");
}
