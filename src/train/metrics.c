/* metrics.jsonl and the epoch table. On resume the file is cut back to the
 * rows the checkpoint had seen (the sums of the rows still open are in the
 * checkpoint), so a resumed run's metrics read as those of an
 * uninterrupted one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/io.h"
#include "train_internal.h"

kd_status kd_metrics_truncate_after(const char *path, int step)
{
    FILE *in = fopen(path, "r");
    if (!in)
        return KD_OK; /* nothing logged yet */
    size_t capacity = 1 << 16, used = 0;
    char *kept = malloc(capacity), line[8192];
    if (!kept) {
        fclose(in);
        return kd_fail(KD_ERR_NOMEM, "%s: cannot buffer metrics", path);
    }
    while (fgets(line, sizeof line, in)) {
        cJSON *json = cJSON_Parse(line);
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(json, "step");
        int keep = cJSON_IsNumber(at) && at->valuedouble <= step;
        cJSON_Delete(json);
        size_t length = strlen(line);
        if (!keep)
            continue;
        if (used + length > capacity) {
            char *grown = realloc(kept, (capacity = 2 * (used + length)));
            if (!grown) {
                free(kept);
                fclose(in);
                return kd_fail(KD_ERR_NOMEM, "%s: cannot buffer metrics", path);
            }
            kept = grown;
        }
        memcpy(kept + used, line, length);
        used += length;
    }
    fclose(in);
    kd_status status = kd_atomic_write_file(path, kept, used);
    free(kept);
    return status;
}

kd_status kd_metrics_append(const char *path, const metrics_row *row)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "type", row->is_evaluation ? "eval" : "train");
    cJSON_AddNumberToObject(json, "step", row->step);
    cJSON_AddNumberToObject(json, "epoch", row->epoch);
    cJSON_AddNumberToObject(json, "tokens", row->tokens);
    cJSON_AddNumberToObject(json, "train_loss", row->train_loss);
    cJSON_AddNumberToObject(json, "train_ce", row->train_cross_entropy);
    if (row->has_parts)
        cJSON_AddNumberToObject(json, "train_divergence", row->train_divergence);
    if (row->is_evaluation) {
        cJSON_AddNumberToObject(json, "val_loss", row->val.loss);
        cJSON_AddNumberToObject(json, "val_ppl", row->val.ppl);
        cJSON_AddNumberToObject(json, "val_accuracy", row->val.accuracy);
    }
    cJSON_AddNumberToObject(json, "lr", row->learning_rate);
    cJSON_AddNumberToObject(json, "grad_norm", row->grad_norm);
    cJSON_AddNumberToObject(json, "tokens_per_s", row->tokens_per_s);
    cJSON_AddNumberToObject(json, "padding_ratio", row->padding_ratio);
    cJSON_AddNumberToObject(json, "elapsed_s", row->elapsed_s);
    cJSON_AddNumberToObject(json, "skipped_steps", row->skipped_steps);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    FILE *file = fopen(path, "a");
    kd_status status = KD_OK;
    if (!text || !file || fprintf(file, "%s\n", text) < 0 || fflush(file) != 0)
        status = kd_fail(KD_ERR_IO, "cannot append to %s", path);
    if (file && fclose(file) != 0 && status == KD_OK)
        status = kd_fail(KD_ERR_IO, "cannot write %s", path);
    free(text);
    return status;
}

void kd_epoch_table_header(FILE *out)
{
    fprintf(out, "%-6s %-20s %-10s %-8s %-14s %-16s %-18s %-14s %-13s\n", "epoch", "model",
            "batch_size", "threads", "training_loss", "validation_loss", "epoch_duration_sec",
            "tokens_per_sec", "padding_ratio");
}

void kd_epoch_table_row(FILE *out, int epoch, const char *model, int batch_size, int threads,
                        double training_loss, double validation_loss, double seconds,
                        double tokens, double cells)
{
    fprintf(out, "%-6d %-20s %-10d %-8d %-14.4f %-16.4f %-18.1f %-14.0f %-13.3f\n", epoch, model,
            batch_size, threads, training_loss, validation_loss, seconds,
            seconds > 0 ? tokens / seconds : 0.0, tokens > 0 ? cells / tokens : 0.0);
    fflush(out);
}
