/* A run's metrics.jsonl read back for the loss curves and the training
 * figures (the last row's step and elapsed time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { MAX_LINE = 1 << 16, MAX_ROWS = 1 << 20 };

/* A number the row may lack (e.g. train_loss before the first step): NaN. */
static double optional_number(const cJSON *row, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static kd_status parse_row(const char *path, int line_number, const char *line,
                           metrics_point *point)
{
    cJSON *row = cJSON_Parse(line);
    if (!cJSON_IsObject(row)) {
        cJSON_Delete(row);
        return kd_fail(KD_ERR_FORMAT, "%s:%d: not a JSON object", path, line_number);
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(row, "type");
    point->is_training = cJSON_IsString(type) && strcmp(type->valuestring, "train") == 0;
    point->step = optional_number(row, "step");
    point->tokens = optional_number(row, "tokens");
    point->train_loss = optional_number(row, "train_loss");
    point->train_ce = optional_number(row, "train_ce");
    point->train_divergence = optional_number(row, "train_divergence");
    point->val_loss = optional_number(row, "val_loss");
    point->elapsed_s = optional_number(row, "elapsed_s");
    point->tokens_per_s = optional_number(row, "tokens_per_s");
    point->padding_ratio = optional_number(row, "padding_ratio");
    /* Without a divergence term, the training loss is the cross-entropy. */
    if (isnan(point->train_ce) && isnan(point->train_divergence))
        point->train_ce = point->train_loss;
    cJSON_Delete(row);
    if (!isfinite(point->step) || point->step < 0)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: \"step\" is missing or not a step number", path,
                       line_number);
    return KD_OK;
}

static kd_status append_point(metrics_history *history, const metrics_point *point,
                              int *capacity)
{
    if (history->count == *capacity) {
        int grown_capacity = *capacity ? 2 * *capacity : 64;
        metrics_point *grown = realloc(history->points, sizeof *grown * (size_t)grown_capacity);
        if (!grown)
            return kd_fail(KD_ERR_NOMEM, "no memory for %d metrics rows", grown_capacity);
        history->points = grown;
        *capacity = grown_capacity;
    }
    history->points[history->count++] = *point;
    return KD_OK;
}

kd_status kd_metrics_history_read(const char *path, metrics_history *history)
{
    *history = (metrics_history){0};
    FILE *file = fopen(path, "r");
    if (!file)
        return kd_fail(KD_ERR_IO, "cannot open %s", path);
    char *line = malloc(MAX_LINE);
    if (!line) {
        fclose(file);
        return kd_fail(KD_ERR_NOMEM, "no memory to read %s", path);
    }
    kd_status status = KD_OK;
    int capacity = 0;
    for (int number = 1; status == KD_OK && fgets(line, MAX_LINE, file); number++) {
        size_t length = strlen(line);
        if (length == MAX_LINE - 1 && line[length - 1] != '\n')
            status = kd_fail(KD_ERR_FORMAT, "%s:%d: line longer than %d bytes", path, number,
                             MAX_LINE);
        else if (strspn(line, " \t\r\n") == length)
            continue; /* blank line */
        else if (history->count == MAX_ROWS)
            status = kd_fail(KD_ERR_FORMAT, "%s: more than %d rows", path, MAX_ROWS);
        metrics_point point;
        if (status == KD_OK && (status = parse_row(path, number, line, &point)) == KD_OK)
            status = append_point(history, &point, &capacity);
    }
    free(line);
    fclose(file);
    if (status != KD_OK)
        kd_metrics_history_free(history);
    return status;
}

void kd_metrics_history_free(metrics_history *history)
{
    free(history->points);
    *history = (metrics_history){0};
}
