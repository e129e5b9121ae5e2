/* kd report: what distillation traded. For a teacher and its students, all
 * measured on this machine: size (parameters, bytes), speed (prefill and
 * generation tokens/s with a KV cache at batch 1), peak memory of inference,
 * quality on the teacher's validation split (loss, perplexity, top-1
 * agreement with the teacher, ROUGE-L of greedy answers against the
 * reference responses) and what training cost (steps, wall time, the
 * distillation settings). Written as report.json, report.md and SVG charts.
 *
 * Also the two pieces the report is built from that are useful alone:
 * ROUGE-L as Google's rouge_score package computes it, and a small SVG
 * line/scatter chart writer. */
#ifndef KD_REPORT_H
#define KD_REPORT_H

#include <stdio.h>

#include "kd/core.h"
#include "kd/quant.h"

enum { KD_REPORT_MAX_QUANTIZE = 2 }; /* q8_0 and q4_0 */

typedef struct {
    const char *teacher_dir;          /* a run directory, a model directory or a GGUF file */
    const char *const *student_dirs;  /* the same, one per student */
    int student_count;
    const char *out_dir;              /* created when missing */
    int prompt_tokens;      /* speed: prompt length fed to prefill (default 128) */
    int new_tokens;         /* speed: tokens generated after it (default 64) */
    int repeats;            /* speed: timed runs after one warm-up; the median counts (default 5) */
    int rouge_examples;     /* validation records answered for ROUGE-L (default 32) */
    int answer_tokens;      /* most new tokens of a greedy answer (default 64) */
    int eval_batches;       /* validation batches of 8 for loss and agreement; 0: all (default) */
    int threads;            /* OpenMP/OpenBLAS threads; 0: leave as they are */
    /* Each model given as a directory is also exported as a GGUF file of
     * each of these types (in out_dir/gguf/) and measured from that file,
     * quantized as stored: one more row per model and type. */
    kd_qtype quantize[KD_REPORT_MAX_QUANTIZE];
    int quantize_count;
} report_options;

void kd_report_options_default(report_options *options);
/* Reads a list of quantized types, "q8_0,q4_0" ("none": no type), into
 * types (room for KD_REPORT_MAX_QUANTIZE) and *count; KD_ERR_INVALID
 * naming an unknown, unquantized or repeated type. */
kd_status kd_report_quantize_parse(const char *list, kd_qtype *types, int *count);
/* Appends one type by name to types[0..*count), with the same checks. */
kd_status kd_report_quantize_add(const char *name, kd_qtype *types, int *count);

/* report.json's "schema_version": raised whenever a field changes meaning
 * or goes away. kd report diff compares only reports of this version. */
#define KD_REPORT_SCHEMA_VERSION 2

/* Measures every model and writes out_dir/report.json, report.md,
 * loss_curves.svg, size_vs_loss.svg and size_vs_speed.svg (each replaced
 * atomically). Models must share the teacher's vocabulary. The validation
 * split is the one the teacher's run trained with (its config.json; the
 * first student run's when the teacher is a bare model directory). */
kd_status kd_report_write(const report_options *options);

/* ---- kd report diff -----------------------------------------------------
 * Two report.json files of this schema version, models matched by name and
 * role: what changed in each model's settings (alpha, T, divergence, cache
 * K and samples, steps, seed, ...) and results (losses, ROUGE-L, agreement,
 * speed, size, memory), with B - A, B / A and, for the validation loss,
 * whether the change exceeds twice the run-to-run noise of the two
 * evaluations (their standard errors combined). With `out_dir`, writes
 * diff.md, diff.json and diff.html there; with `markdown`, prints the
 * Markdown to it. Refuses (KD_ERR_FORMAT or KD_ERR_INVALID, naming the file)
 * malformed or truncated JSON, reports of different schema versions, and
 * reports with no model in common. */
kd_status kd_report_diff(const char *a_path, const char *b_path, const char *out_dir,
                         FILE *markdown);

/* ---- ROUGE-L ------------------------------------------------------------
 * The F-measure of the longest common subsequence of words, as rouge_score
 * (RougeScorer(["rougeL"]), no stemming) computes it: text is lower-cased,
 * every run of characters other than a-z and 0-9 separates words (so
 * punctuation and non-ASCII letters do too), precision = LCS / candidate
 * words, recall = LCS / reference words, F = 2PR / (P + R). Either text
 * without words scores 0. */
typedef struct {
    double precision;
    double recall;
    double f_measure;
} rouge_score;

kd_status kd_rouge_l(const char *candidate, const char *reference, rouge_score *score);

/* ---- SVG charts ---------------------------------------------------------
 * A chart of x/y series: axes with rounded tick values and labels, axis
 * titles, a title and a legend. Non-finite points are left out. A series
 * may name its last point on the plot; such labels are moved apart (with a
 * leader line back to their point) so that none overlaps another. */
typedef enum {
    SVG_LINE,
    SVG_DASHED_LINE,
    SVG_POINTS,
    SVG_FRONT,              /* a grey dotted line without markers: a Pareto front */
} svg_series_style;

typedef enum { SVG_MARKER_CIRCLE, SVG_MARKER_DIAMOND } svg_marker;

typedef struct {
    const char *label;      /* legend text */
    const double *x;
    const double *y;
    int count;
    svg_series_style style;
    int color;              /* index into the palette; series of one model share it */
    svg_marker marker;      /* the points' shape (a diamond: a quantized model) */
    const char *point_label; /* NULL, or text written beside the last finite point */
} svg_series;

typedef struct {
    const char *title;
    const char *x_label;
    const char *y_label;
    const svg_series *series;
    int series_count;
} svg_chart;

/* Writes `chart` as a standalone SVG file, atomically. */
kd_status kd_svg_chart_write(const char *path, const svg_chart *chart);
/* The same <svg> element as text (no XML declaration), to inline in HTML;
 * the caller frees it. NULL when memory ran out. */
char *kd_svg_chart_render(const svg_chart *chart);

/* Where the writer puts the axes and the point labels, in pixels (y down). */
enum { SVG_MAX_LABELS = 64 };
typedef struct {
    double x, y, width, height;
} svg_box;

typedef struct {
    double x_low, x_high, y_low, y_high; /* the axes' ranges, data units */
    svg_box plot;
    int label_count;                     /* the series with a point_label and a finite point */
    int label_series[SVG_MAX_LABELS];    /* which series each label names */
    double anchor_x[SVG_MAX_LABELS];     /* its point */
    double anchor_y[SVG_MAX_LABELS];
    svg_box labels[SVG_MAX_LABELS];      /* the text's box */
} svg_layout;

void kd_svg_chart_layout(const svg_chart *chart, svg_layout *layout);

/* The Pareto front of points (x[i], y[i]) where smaller x is better and
 * smaller y (larger, with maximize_y) is better: the indices of the points
 * no other point beats on both, in increasing x, written to `front`
 * (room for `count`); returns how many. Non-finite points are left out. */
int kd_pareto_front(const double *x, const double *y, int count, int maximize_y, int *front);

#endif
