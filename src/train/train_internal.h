/* Pieces of the training run shared between its files (internal). */
#ifndef KD_TRAIN_INTERNAL_H
#define KD_TRAIN_INTERNAL_H

#include <stdio.h>

#include "kd/train.h"

/* One row of metrics.jsonl: a training row every log_every steps, or an
 * evaluation row, whose training figures cover the steps since the
 * previous evaluation. */
typedef struct {
    int is_evaluation;      /* "type": "eval" with `val`, else "train" */
    int step;
    double epoch;           /* fractional: steps / steps per epoch */
    double tokens;          /* training tokens fed so far, the charts' x axis */
    double train_loss;      /* the objective's mean over the row's steps */
    double train_cross_entropy; /* its hard-label part (the whole loss of a teacher) */
    int has_parts;          /* a distillation run also logs its divergence term */
    double train_divergence;
    eval_result val;
    float learning_rate;
    float grad_norm;
    double tokens_per_s;    /* real input tokens (not padding) trained on per second
                               since the last row of its type */
    double padding_ratio;   /* batch cells per real input token since that row */
    double elapsed_s;
    int skipped_steps;      /* so far in the run: steps dropped as not finite */
} metrics_row;

/* In a data-parallel run: fails on every rank, naming the first that
 * differs, unless all ranks start from the same kd build, configuration,
 * tokenizer, data and weights. */
kd_status kd_run_ranks_agree(const gpt2_model *model, const dataset *data,
                             const train_settings *settings, const train_run_options *options);

/* Keeps the rows with step <= `step` (rewritten atomically). */
kd_status kd_metrics_truncate_after(const char *path, int step);
kd_status kd_metrics_append(const char *path, const metrics_row *row);

/* The table the original dolly notebook printed, one row per epoch. */
void kd_epoch_table_header(FILE *out);
void kd_epoch_table_row(FILE *out, int epoch, const char *model, int batch_size, int threads,
                        double training_loss, double validation_loss, double seconds,
                        double tokens, double cells);

#endif
