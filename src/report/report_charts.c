/* The report's four charts, all drawn by svg.c, each rendered once for its
 * file and for report.html:
 *   loss_curves.svg   training and validation cross-entropy of every model,
 *                     in one unit, against training tokens seen;
 *   distillation.svg  the students' distillation term on its own axis;
 *   size_vs_loss.svg, size_vs_speed.svg, speed_vs_loss.svg  each model's
 *                     bytes on disk against its validation loss or generation
 *                     speed, and its speed against its loss, named on the
 *                     plot, with the Pareto front (a diamond: a quantized row). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report_internal.h"

enum { LABEL_CAPACITY = REPORT_NAME_CAPACITY + 16 };

typedef enum { CURVE_TRAINING_CE, CURVE_VALIDATION, CURVE_DIVERGENCE } curve_kind;

/* The x/y arrays and legend texts of a chart's series, freed together. */
typedef struct {
    svg_series *series;
    double *values;        /* every series' x then y, back to back */
    char (*labels)[LABEL_CAPACITY];
    int count;
    size_t used_values;
} series_store;

static kd_status store_open(series_store *store, int series, size_t values)
{
    store->series = calloc((size_t)series + 1, sizeof *store->series);
    store->values = calloc(values + 1, sizeof *store->values);
    store->labels = calloc((size_t)series + 1, sizeof *store->labels);
    store->count = 0;
    store->used_values = 0;
    return store->series && store->values && store->labels
               ? KD_OK
               : kd_fail(KD_ERR_NOMEM, "no memory for a chart");
}

static void store_close(series_store *store)
{
    free(store->series);
    free(store->values);
    free(store->labels);
}

static double *store_take(series_store *store, size_t count)
{
    double *at = store->values + store->used_values;
    store->used_values += count;
    return at;
}

/* A training row (or, in logs without them, an evaluation row, which holds
 * the training means since the previous one) or an evaluation row. */
static int row_counts(const metrics_history *history, const metrics_point *point, curve_kind kind)
{
    if (kind == CURVE_VALIDATION)
        return !point->is_training && isfinite(point->val_loss);
    int has_training_rows = 0;
    for (int i = 0; i < history->count && !has_training_rows; i++)
        has_training_rows = history->points[i].is_training;
    return point->is_training || !has_training_rows;
}

static double curve_value(const metrics_point *point, curve_kind kind)
{
    return kind == CURVE_VALIDATION ? point->val_loss
           : kind == CURVE_TRAINING_CE ? point->train_ce
                                       : point->train_divergence;
}

/* Adds one model's curve of `kind` against tokens seen; nothing when the
 * run logged no finite value of it. */
static void add_curve(series_store *store, const report_model *model, int color, curve_kind kind,
                      svg_series_style style, const char *suffix)
{
    const metrics_history *history = &model->history;
    double *x = store_take(store, (size_t)history->count);
    double *y = store_take(store, (size_t)history->count);
    int n = 0, finite = 0;
    for (int i = 0; i < history->count; i++) {
        const metrics_point *point = &history->points[i];
        if (!row_counts(history, point, kind))
            continue;
        x[n] = point->tokens;
        y[n] = curve_value(point, kind);
        finite += isfinite(x[n]) && isfinite(y[n]);
        n++;
    }
    if (finite == 0)
        return;
    char *label = store->labels[store->count];
    snprintf(label, LABEL_CAPACITY, "%s%s", model->name, suffix);
    store->series[store->count++] = (svg_series){
        .label = label, .x = x, .y = y, .count = n, .style = style, .color = color,
        .point_label = style == SVG_DASHED_LINE ? NULL : model->name,
    };
}

static size_t history_values(const report *summary)
{
    size_t values = 0;
    for (int i = 0; i < summary->model_count; i++)
        values += 4 * (size_t)summary->models[i].history.count;
    return values;
}

static char *render(const series_store *store, const char *title, const char *x_label,
                    const char *y_label)
{
    svg_chart chart = {title, x_label, y_label, store->series, store->count};
    return kd_svg_chart_render(&chart);
}

static char *cross_entropy_chart(const report *summary)
{
    series_store store;
    if (store_open(&store, 2 * summary->model_count, history_values(summary)) != KD_OK)
        return NULL;
    for (int i = 0; i < summary->model_count; i++) {
        const report_model *model = &summary->models[i];
        add_curve(&store, model, model->family, CURVE_VALIDATION, SVG_LINE, " validation");
        add_curve(&store, model, model->family, CURVE_TRAINING_CE, SVG_DASHED_LINE, " training");
    }
    char *svg = render(&store, "Cross-entropy during training", "training tokens seen",
                       "cross-entropy (nats per token)");
    store_close(&store);
    return svg;
}

static char *distillation_chart(const report *summary)
{
    series_store store;
    if (store_open(&store, summary->model_count, history_values(summary)) != KD_OK)
        return NULL;
    for (int i = 0; i < summary->model_count; i++)
        add_curve(&store, &summary->models[i], summary->models[i].family, CURVE_DIVERGENCE,
                  SVG_LINE, "");
    char *svg = render(&store, "Distillation term during training", "training tokens seen",
                       "divergence from the teacher");
    store_close(&store);
    return svg;
}

typedef enum { FIGURE_FILE_MB, FIGURE_VAL_LOSS, FIGURE_GEN_SPEED } model_figure;

static double figure_of(const report_model *model, model_figure figure)
{
    return figure == FIGURE_FILE_MB     ? model->size.file_bytes / 1e6
           : figure == FIGURE_VAL_LOSS ? model->quality.val_loss
                                        : model->speed.gen_tokens_per_s;
}

/* One marker per model (a diamond for a quantized row, in its fp32 model's
 * colour), named on the plot, and the Pareto front through the models no
 * other beats on both figures. kd_pareto_front takes smaller x as better,
 * so a speed on x is negated for it. */
static char *scatter_chart(const report *summary, model_figure x_figure, model_figure y_figure,
                           const char *title, const char *x_label, const char *y_label)
{
    int count = summary->model_count;
    series_store store;
    int *front = calloc((size_t)count + 1, sizeof *front);
    if (!front || store_open(&store, count + 1, 5 * (size_t)count) != KD_OK) {
        free(front);
        kd_fail(KD_ERR_NOMEM, "no memory for a chart");
        return NULL;
    }
    double *x = store_take(&store, (size_t)count), *y = store_take(&store, (size_t)count);
    double *front_key = store_take(&store, (size_t)count);
    for (int i = 0; i < count; i++) {
        const report_model *model = &summary->models[i];
        char *label = store.labels[store.count];
        kd_report_model_label(model, label, LABEL_CAPACITY);
        x[i] = figure_of(model, x_figure);
        y[i] = figure_of(model, y_figure);
        front_key[i] = x_figure == FIGURE_GEN_SPEED ? -x[i] : x[i];
        store.series[store.count++] = (svg_series){
            .label = label, .x = &x[i], .y = &y[i], .count = 1, .style = SVG_POINTS,
            .color = model->family,
            .marker = model->quantization ? SVG_MARKER_DIAMOND : SVG_MARKER_CIRCLE,
            .point_label = label,
        };
    }
    int on_front = kd_pareto_front(front_key, y, count, y_figure == FIGURE_GEN_SPEED, front);
    double *front_x = store_take(&store, (size_t)count), *front_y = store_take(&store, (size_t)count);
    for (int i = 0; i < on_front; i++) {
        front_x[i] = x[front[i]];
        front_y[i] = y[front[i]];
    }
    if (on_front > 1)
        store.series[store.count++] = (svg_series){
            .label = "Pareto front", .x = front_x, .y = front_y, .count = on_front,
            .style = SVG_FRONT,
        };
    char *svg = render(&store, title, x_label, y_label);
    store_close(&store);
    free(front);
    return svg;
}

kd_status kd_report_charts_render(const report *summary, report_chart *charts)
{
    charts[0] = (report_chart){"loss_curves.svg",
                               "Training (dashed) and validation (solid) cross-entropy of every "
                               "model in nats per token, against the training tokens each run "
                               "had seen.", cross_entropy_chart(summary)};
    charts[1] = (report_chart){"distillation.svg",
                               "Each student's divergence from the teacher (the distillation "
                               "term before its (1 - alpha) T^2 weight). A baseline trained "
                               "with alpha = 1 logs it without learning from it, for comparison.",
                               distillation_chart(summary)};
    charts[2] = (report_chart){"size_vs_loss.svg",
                               "Bytes on disk against validation loss: down and to the left is "
                               "better; diamonds are quantized GGUF files, in their fp32 model's "
                               "colour; the dotted line joins the models no other beats on both.",
                               scatter_chart(summary, FIGURE_FILE_MB, FIGURE_VAL_LOSS,
                                             "Size against validation loss", "MB on disk",
                                             "validation loss")};
    charts[3] = (report_chart){"size_vs_speed.svg",
                               "Bytes on disk against generation speed (batch 1): up and to the "
                               "left is better; the dotted line is the Pareto front.",
                               scatter_chart(summary, FIGURE_FILE_MB, FIGURE_GEN_SPEED,
                                             "Size against generation speed", "MB on disk",
                                             "generation tokens/s (batch 1)")};
    charts[4] = (report_chart){"speed_vs_loss.svg",
                               "Generation speed (batch 1) against validation loss: down and to "
                               "the right is better, so distilled, quantized and distilled then "
                               "quantized models compare in one picture; the dotted line is the "
                               "Pareto front.",
                               scatter_chart(summary, FIGURE_GEN_SPEED, FIGURE_VAL_LOSS,
                                             "Speed against validation loss",
                                             "generation tokens/s (batch 1)", "validation loss")};
    for (int i = 0; i < REPORT_CHART_COUNT; i++)
        if (!charts[i].svg)
            return KD_ERR_NOMEM;
    return KD_OK;
}

kd_status kd_report_charts_write(const report_chart *charts, const char *out_dir)
{
    char path[KD_PATH_CAPACITY];
    kd_status status = KD_OK;
    for (int i = 0; i < REPORT_CHART_COUNT && status == KD_OK; i++) {
        status = kd_path_join(path, sizeof path, out_dir, charts[i].file);
        if (status == KD_OK)
            status = kd_svg_file_write(path, charts[i].svg);
    }
    return status;
}

void kd_report_charts_free(report_chart *charts)
{
    for (int i = 0; i < REPORT_CHART_COUNT; i++) {
        free(charts[i].svg);
        charts[i].svg = NULL;
    }
}
