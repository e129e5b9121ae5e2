/* The report module's own types: one report_model per teacher or student,
 * filled in stages (locate, size, speed, quality, answers) and then written
 * out as JSON, Markdown and charts. */
#ifndef KD_REPORT_INTERNAL_H
#define KD_REPORT_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "kd/core.h"
#include "kd/nn.h"
#include "kd/report.h"
#include "kd/tokenizer.h"
#include "kd/train.h"

enum { REPORT_NAME_CAPACITY = 256 };

/* ---- text ---------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    int failed;     /* an allocation failed; kd_text_buffer_write reports it */
} text_buffer;

void kd_text_printf(text_buffer *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kd_text_append_xml(text_buffer *text, const char *value);
kd_status kd_text_buffer_write(const text_buffer *text, const char *path);
void kd_text_buffer_free(text_buffer *text);

/* ---- chart geometry (svg.c, svg_labels.c) --------------------------------- */

enum { SVG_WIDTH = 760, SVG_HEIGHT = 440, SVG_LEFT = 80, SVG_RIGHT = 220, SVG_TOP = 44,
       SVG_BOTTOM = 64 };

/* An axis: the data range widened to whole tick steps of 1, 2 or 5 x 10^k. */
typedef struct {
    double low, high, step;
} axis_scale;

static inline double kd_svg_pixel_x(const axis_scale *x, double value)
{
    return SVG_LEFT + (value - x->low) / (x->high - x->low) * (SVG_WIDTH - SVG_LEFT - SVG_RIGHT);
}

static inline double kd_svg_pixel_y(const axis_scale *y, double value)
{
    return SVG_HEIGHT - SVG_BOTTOM -
           (value - y->low) / (y->high - y->low) * (SVG_HEIGHT - SVG_TOP - SVG_BOTTOM);
}

/* Writes path: the XML declaration, then `svg_element` (atomically). */
kd_status kd_svg_file_write(const char *path, const char *svg_element);

/* Fills layout->label_* with each point label's place, none overlapping
 * another when the plot has room. */
void kd_svg_place_labels(const svg_chart *chart, const axis_scale *x, const axis_scale *y,
                         svg_layout *layout);

/* ---- documents (document.c): Markdown or one self-contained HTML page ---- */

typedef struct {
    text_buffer text;
    int html;
    int in_table;
} document;

void kd_document_begin(document *doc, int html, const char *title);
/* Writes the document to `path` (atomically) and frees it. */
kd_status kd_document_finish(document *doc, const char *path);
void kd_document_heading(document *doc, int level, const char *text);
/* Plain text (escaped as the format needs), formatted like printf. */
void kd_document_paragraph(document *doc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kd_document_table_begin(document *doc, const char *const *columns, int count);
void kd_document_row_begin(document *doc);
void kd_document_cell(document *doc, const char *text);
/* Text cells are left-aligned on the page, numbers right-aligned. A marked
 * cell gets a class for the page ("better", "worse"); Markdown ignores it. */
void kd_document_marked_cell(document *doc, const char *text, const char *mark);
/* printf's `format` of value, or "-" when it is not finite. */
void kd_document_number_cell(document *doc, const char *format, double value);
void kd_document_row_end(document *doc);
void kd_document_table_end(document *doc);
void kd_document_answers_begin(document *doc);
void kd_document_answer(document *doc, const char *who, const char *role, const char *answer);
void kd_document_answers_end(document *doc);

/* ---- one model ----------------------------------------------------------- */

/* One row of a run's metrics.jsonl; NaN where the row does not say. Logs
 * written before training rows existed hold evaluation rows only, whose
 * training figures are the means since the previous evaluation. */
typedef struct {
    int is_training;          /* "type": "train" */
    double step;
    double tokens;            /* training tokens fed so far */
    double train_loss;        /* the objective */
    double train_ce;          /* its hard-label cross-entropy */
    double train_divergence;  /* a student's distillation term */
    double val_loss;
    double elapsed_s;
    double tokens_per_s;   /* real input tokens per second since the row before */
    double padding_ratio;  /* batch cells per real input token, likewise */
} metrics_point;

typedef struct {
    metrics_point *points;
    int count;
} metrics_history;

/* Reads every row of metrics.jsonl; rows must carry a numeric "step". */
kd_status kd_metrics_history_read(const char *path, metrics_history *history);
void kd_metrics_history_free(metrics_history *history);

typedef struct {
    double params;
    double non_embedding_params;  /* without wte and wpe */
    double bytes_fp32;            /* the weights stored as F32 (lm_head is tied) */
    double bytes_fp16;
    double file_bytes;            /* model.safetensors as it is on disk */
} model_size;

typedef struct {
    double prefill_tokens_per_s;  /* median over the repeats */
    double gen_tokens_per_s;
    int memory_measured;          /* 0: the kernel would not reset the peak */
    double peak_rss_mb;           /* the process's peak while loading and generating */
    double model_rss_mb;          /* that peak above the resident memory before loading */
} model_speed;

typedef struct {
    double val_loss;
    double val_loss_stderr;       /* its standard error over the validation batches */
    int val_batches;
    double val_ppl;
    double val_accuracy;          /* argmax == the reference token */
    double val_tokens;
    double top1_agreement;        /* argmax == the teacher's argmax */
    double fp32_agreement;        /* a quantized row: argmax == its fp32 model's; else NaN */
    double rouge_l;                  /* mean F over the ROUGE records */
} model_quality;

/* A model's argmax at every counted validation position, in batch order:
 * token ids, so a token buffer holds them. */
typedef kd_token_buffer argmax_record;

typedef struct {
    char name[REPORT_NAME_CAPACITY];
    char model_dir[KD_PATH_CAPACITY];    /* a model directory or a GGUF file */
    char run_dir[KD_PATH_CAPACITY];  /* "" when the model has no run */
    const char *role;                    /* "teacher", "student" or "baseline" */
    const char *quantization;            /* NULL, or the weights' format ("q8_0", "q4_0") */
    int base;                            /* a quantized row: the index of its fp32 model; else -1 */
    int family;                          /* the chart colour: fp32 models in order, rows of one
                                            model share it */
    int quantized_rows;                  /* rows made from this model by --quantize */
    argmax_record argmax;                /* recorded for the teacher and every fp32 model with
                                            quantized rows */
    gpt2_config config;
    cJSON *run_config;                   /* run_dir/config.json, or NULL */
    metrics_history history;
    model_size size;
    model_speed speed;
    model_quality quality;
    char **answers;                      /* greedy answers to the report's prompts, NULL-ended */
} report_model;

/* Finds the model directory (or GGUF file) and run of `dir` and reads
 * their configs. */
kd_status kd_report_model_locate(const char *dir, int is_teacher, report_model *model);
/* Exports `base` (a model directory) as a GGUF file of `type` under
 * out_dir/gguf/ and fills `model` as the row measured from that file. */
kd_status kd_report_model_quantize(const report_model *base, int base_index, kd_qtype type,
                                   const char *out_dir, report_model *model);
void kd_report_model_free(report_model *model);
void kd_model_size_compute(const gpt2_config *config, const char *model_dir, model_size *size);

/* What training cost and how it was set up, from the run's metrics.jsonl
 * (its last row) and config.json; NaN or NULL where the run does not say. */
typedef struct {
    int has_run;
    int evaluations;            /* evaluation rows of metrics.jsonl */
    double steps;               /* the last row's step */
    double wall_s;              /* the last row's elapsed_s */
    double best_val_loss;
    double best_step;
    double tokens_per_s;        /* mean over the rows that record it */
    double padding_ratio;       /* likewise */
    double batch_size, grad_accum, seq_len, learning_rate, seed;
    int has_distill;            /* the config has a "distill" section */
    double alpha, temperature, topk, samples;
    const char *divergence;
    const char *logits_source;  /* "cache" or "live" */
    const char *teacher_precision; /* the cached logits' "fp32" or "bf16", or NULL */
    const cJSON *distill;       /* the config's sections, as written */
    const cJSON *init;
} training_summary;

void kd_training_summary_read(const report_model *model, training_summary *summary);

/* ---- running a model ---------------------------------------------------- */

/* A model as the report runs it: read from a directory or a GGUF file, on
 * the f32 engine or, for a q8_0/q4_0 file, quantized as stored. */
typedef struct {
    model_weights weights;
    gpt2_kv_cache cache;  /* the f32 engine's */
    gpt2_qstate state;    /* the quantized engine's */
    int quantized;
} report_runner;

/* Loads `path`; the f32 engine is prepared for (batch, seq) forward passes,
 * and either engine for generating sequences of up to max_len tokens
 * (capped at n_positions). On failure nothing is left to close. */
kd_status kd_runner_open(report_runner *runner, const char *path, int batch, int seq,
                         int max_len);
void kd_runner_close(report_runner *runner);
const gpt2_config *kd_runner_config(const report_runner *runner);
/* kd_gpt2_generate_tokens on whichever engine the model runs. */
kd_status kd_runner_generate(report_runner *runner, const int *prompt, int count,
                             const gpt2_sampling *sampling, kd_rng *rng, int *out,
                             gpt2_generate_stats *stats);

/* ---- measurements ------------------------------------------------------- */

/* The resident memory figures of this process, from /proc/self/status. */
kd_status kd_process_memory_mb(double *resident, double *peak);
/* Makes the peak start again from what is resident now (Linux 4.0+:
 * /proc/self/clear_refs), after handing freed heap memory back. */
kd_status kd_process_memory_reset_peak(void);

typedef struct {
    int prompt_tokens;
    int new_tokens;
    int repeats;
} speed_settings;

/* Loads the model (a directory or GGUF file) and times prefill and greedy generation with a
 * KV cache at batch 1: one warm-up, then the median of `repeats` runs. The
 * memory figures cover the load, the warm-up and the repeats. */
kd_status kd_measure_speed(const char *path, const speed_settings *settings,
                           model_speed *speed);

/* The validation data every model is scored on. */
typedef struct {
    dataset *data;
    size_t seq_len;
    int batch_size;
    int max_batches;
    int group_by_length;  /* the teacher run's train.group_by_length */
    size_t validation_examples;
    /* ROUGE records: the first validation records whose prompt fits. */
    kd_token_buffer *rouge_prompts;
    char **rouge_references;
    int rouge_count;
    /* The side-by-side prompts, encoded through the template. */
    kd_token_buffer *sample_prompts;
    int sample_count;
    int max_prompt_tokens;        /* longest of all the prompts above */
    int answer_tokens;
} validation_set;

typedef struct {
    const run_config *config;     /* the run that defines the split */
    const kd_tokenizer *tokenizer;
    size_t seq_len;
    int max_batches;
    int rouge_examples;
    int answer_tokens;
    int smallest_context;         /* least n_positions of all models */
    const char *const *prompts;   /* side-by-side prompts */
    int prompt_count;
} validation_options;

kd_status kd_validation_set_build(const validation_options *options, validation_set *set);
void kd_validation_set_free(validation_set *set);

/* Opens `path` for everything measured on the set. */
kd_status kd_validation_open(report_runner *runner, const char *path, const validation_set *set);

/* What a validation pass compares the model's argmax with, and keeps. */
typedef struct {
    const argmax_record *teacher;  /* NULL: this is the teacher (agreement 1) */
    const argmax_record *fp32;     /* a quantized row's fp32 model, or NULL */
    argmax_record *record;         /* where this model's argmax goes, or NULL */
} validation_targets;

/* Loss, perplexity, accuracy and the agreements on the validation set. */
kd_status kd_measure_validation(report_runner *runner, const validation_set *set,
                                const validation_targets *targets, model_quality *quality);

/* Greedy answers (temperature 0, stop at <|endoftext|>): the mean ROUGE-L F
 * over the set's records, and the text of each side-by-side prompt
 * (answers has room for set->sample_count strings). */
kd_status kd_measure_answers(report_runner *runner, const kd_tokenizer *tokenizer,
                             const validation_set *set, model_quality *quality, char **answers);

/* ---- the whole report --------------------------------------------------- */

typedef struct {
    report_options options;
    report_model *models;        /* [0] is the teacher */
    int model_count;
    speed_settings speed;
    char split_config[KD_PATH_CAPACITY];
    size_t eval_seq_len;
    int eval_batch_size;
    size_t validation_examples;
    double validation_tokens;
    int eval_batches_used;
    int rouge_count;
    const char *const *prompts;
    int prompt_count;
    char cpu_model[256];
    int threads;
    const char *blas_core;
} report;

void kd_machine_cpu_model(char *out, size_t size);

cJSON *kd_report_to_json(const report *summary);
/* A quantized row's validation loss minus its fp32 model's; NaN for others. */
double kd_report_loss_vs_fp32(const report *summary, const report_model *model);
/* "tiny-kd", or "tiny-kd q8_0" for a quantized row. */
void kd_report_model_label(const report_model *model, char *out, size_t size);

/* The charts, each rendered once and then written as a file and inlined in
 * report.html. */
enum { REPORT_CHART_COUNT = 5 };
typedef struct {
    const char *file;           /* "loss_curves.svg", ... */
    const char *caption;        /* one sentence on how to read it */
    char *svg;                  /* the <svg> element */
} report_chart;

kd_status kd_report_charts_render(const report *summary, report_chart *charts);
kd_status kd_report_charts_write(const report_chart *charts, const char *out_dir);
void kd_report_charts_free(report_chart *charts);

/* Markdown: a link to the chart's file under its caption; HTML: the SVG. */
void kd_document_chart(document *doc, const report_chart *chart);

/* report.md (html 0) or report.html (html 1): the same tables, charts,
 * settings and answers. */
kd_status kd_report_page_write(const report *summary, const report_chart *charts, int html,
                               const char *path);

/* ---- report.json read back (kd report diff) -------------------------------- */

typedef struct {
    const char *path;
    cJSON *root;
    int schema_version;           /* 1: written before the field existed */
    const cJSON *models;          /* objects, each with a "name" and a "role" string */
} report_file;

/* Reads and checks the parts every reader relies on; the message names
 * the file and what is wrong with it. */
kd_status kd_report_file_read(const char *path, report_file *file);
void kd_report_file_free(report_file *file);
/* The model of `file` with the name, role and quantization (a string, or
 * none for fp32) of `like`, a model of another report; or NULL. */
const cJSON *kd_report_file_model(const report_file *file, const cJSON *like);
/* A model's "quantization" string, or NULL. */
const char *kd_report_file_quantization(const cJSON *model);

#endif
