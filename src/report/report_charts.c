/* The report's three charts, all drawn by svg.c: every run's loss curves
 * (validation solid, training dashed), and each model's size against its
 * validation loss and against its generation speed. */
#include <stdio.h>
#include <stdlib.h>

#include "report_internal.h"

enum { LABEL_CAPACITY = REPORT_NAME_CAPACITY + 16 };

/* Columns of one run's metrics as the x/y arrays a series needs. */
typedef struct {
    double *steps;
    double *train_loss;
    double *val_loss;
    char val_label[LABEL_CAPACITY];
    char train_label[LABEL_CAPACITY];
} curve_columns;

static kd_status loss_curves(const report *summary, const char *path)
{
    int count = summary->model_count;
    curve_columns *columns = calloc((size_t)count, sizeof *columns);
    svg_series *series = calloc(2 * (size_t)count, sizeof *series);
    kd_status status = columns && series ? KD_OK : kd_fail(KD_ERR_NOMEM, "no memory for %s", path);
    int used = 0;
    for (int i = 0; i < count && status == KD_OK; i++) {
        const metrics_history *history = &summary->models[i].history;
        if (history->count == 0)
            continue;
        curve_columns *c = &columns[i];
        size_t n = (size_t)history->count;
        c->steps = malloc(n * sizeof *c->steps);
        c->train_loss = malloc(n * sizeof *c->train_loss);
        c->val_loss = malloc(n * sizeof *c->val_loss);
        if (!c->steps || !c->train_loss || !c->val_loss) {
            status = kd_fail(KD_ERR_NOMEM, "no memory for %s", path);
            break;
        }
        for (size_t p = 0; p < n; p++) {
            c->steps[p] = history->points[p].step;
            c->train_loss[p] = history->points[p].train_loss;
            c->val_loss[p] = history->points[p].val_loss;
        }
        snprintf(c->val_label, sizeof c->val_label, "%s validation", summary->models[i].name);
        snprintf(c->train_label, sizeof c->train_label, "%s training", summary->models[i].name);
        series[used++] = (svg_series){c->val_label, c->steps, c->val_loss, history->count,
                                      SVG_LINE, i};
        series[used++] = (svg_series){c->train_label, c->steps, c->train_loss, history->count,
                                      SVG_DASHED_LINE, i};
    }
    if (status == KD_OK) {
        svg_chart chart = {"Loss during training", "step", "loss (cross-entropy)", series, used};
        status = kd_svg_chart_write(path, &chart);
    }
    for (int i = 0; columns && i < count; i++) {
        free(columns[i].steps);
        free(columns[i].train_loss);
        free(columns[i].val_loss);
    }
    free(columns);
    free(series);
    return status;
}

/* One marker per model: parameters against one measured figure. */
static kd_status size_scatter(const report *summary, const char *path, const char *title,
                              const char *y_label, int speed)
{
    int count = summary->model_count;
    double *x = calloc((size_t)count, sizeof *x), *y = calloc((size_t)count, sizeof *y);
    svg_series *series = calloc((size_t)count, sizeof *series);
    kd_status status = x && y && series ? KD_OK : kd_fail(KD_ERR_NOMEM, "no memory for %s", path);
    for (int i = 0; i < count && status == KD_OK; i++) {
        const report_model *model = &summary->models[i];
        x[i] = model->size.params;
        y[i] = speed ? model->speed.gen_tokens_per_s : model->quality.val_loss;
        series[i] = (svg_series){model->name, &x[i], &y[i], 1, SVG_POINTS, i};
    }
    if (status == KD_OK) {
        svg_chart chart = {title, "parameters", y_label, series, count};
        status = kd_svg_chart_write(path, &chart);
    }
    free(x);
    free(y);
    free(series);
    return status;
}

kd_status kd_report_charts_write(const report *summary, const char *out_dir)
{
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_path_join(path, sizeof path, out_dir, "loss_curves.svg");
    if (status == KD_OK)
        status = loss_curves(summary, path);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out_dir, "size_vs_loss.svg")) ==
                               KD_OK)
        status = size_scatter(summary, path, "Size against validation loss", "validation loss", 0);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out_dir,
                                                  "size_vs_speed.svg")) == KD_OK)
        status = size_scatter(summary, path, "Size against generation speed",
                              "generation tokens/s (batch 1)", 1);
    return status;
}
