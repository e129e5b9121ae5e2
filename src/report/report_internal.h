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

/* ---- one model ----------------------------------------------------------- */

/* One evaluation row of a run's metrics.jsonl. */
typedef struct {
    double step;
    double train_loss;
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
    double val_ppl;
    double val_accuracy;          /* argmax == the reference token */
    double val_tokens;
    double top1_agreement;        /* argmax == the teacher's argmax */
    double rouge_l;                  /* mean F over the ROUGE records */
} model_quality;

typedef struct {
    char name[REPORT_NAME_CAPACITY];
    char model_dir[KD_PATH_CAPACITY];
    char run_dir[KD_PATH_CAPACITY];  /* "" when the model has no run */
    const char *role;                    /* "teacher", "student" or "baseline" */
    gpt2_config config;
    cJSON *run_config;                   /* run_dir/config.json, or NULL */
    metrics_history history;
    model_size size;
    model_speed speed;
    model_quality quality;
    char **answers;                      /* greedy answers to the report's prompts, NULL-ended */
} report_model;

/* Finds the model directory and run of `dir` and reads their configs. */
kd_status kd_report_model_locate(const char *dir, int is_teacher, report_model *model);
void kd_report_model_free(report_model *model);
void kd_model_size_compute(const gpt2_config *config, const char *model_dir, model_size *size);

/* What training cost and how it was set up, from the run's metrics.jsonl
 * (its last row) and config.json; NaN or NULL where the run does not say. */
typedef struct {
    int has_run;
    int evaluations;            /* metrics rows */
    double steps;               /* the last row's step */
    double wall_s;              /* the last row's elapsed_s */
    double best_val_loss;
    double best_step;
    double tokens_per_s;        /* mean over the rows that record it */
    double padding_ratio;       /* likewise */
    double batch_size, grad_accum, seq_len, learning_rate;
    int has_distill;            /* the config has a "distill" section */
    double alpha, temperature, topk, samples;
    const char *divergence;
    const char *logits_source;  /* "cache" or "live" */
    const cJSON *distill;       /* the config's sections, as written */
    const cJSON *init;
} training_summary;

void kd_training_summary_read(const report_model *model, training_summary *summary);

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

/* Loads the model directory and times prefill and greedy generation with a
 * KV cache at batch 1: one warm-up, then the median of `repeats` runs. The
 * memory figures cover the load, the warm-up and the repeats. */
kd_status kd_measure_speed(const char *model_dir, const speed_settings *settings,
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
    /* The teacher's argmax at every counted position, in batch order. */
    int *teacher_argmax;
    size_t teacher_argmax_count;
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

/* Prepares a loaded model for everything measured on the set. */
kd_status kd_validation_prepare(gpt2_model *model, const validation_set *set);

/* Loss, perplexity and accuracy on the validation set; with `record`, the
 * teacher's argmax is stored in `set`, otherwise agreement with it is
 * measured. */
kd_status kd_measure_validation(gpt2_model *model, validation_set *set, int record,
                                model_quality *quality);

/* Greedy answers (temperature 0, stop at <|endoftext|>): the mean ROUGE-L F
 * over the set's records, and the text of each side-by-side prompt
 * (answers has room for set->sample_count strings). */
kd_status kd_measure_answers(gpt2_model *model, const kd_tokenizer *tokenizer,
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
    int rouge_count;
    const char *const *prompts;
    int prompt_count;
    char cpu_model[256];
    int threads;
    const char *blas_core;
} report;

void kd_machine_cpu_model(char *out, size_t size);

cJSON *kd_report_to_json(const report *summary);
kd_status kd_report_markdown_write(const report *summary, const char *path);
kd_status kd_report_charts_write(const report *summary, const char *out_dir);

#endif
