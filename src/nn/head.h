/* The fused lm_head machinery shared by every loss (internal to nn). */
#ifndef KD_NN_HEAD_H
#define KD_NN_HEAD_H

#include "kd/nn.h"

/* Where one counted row sits. */
typedef struct {
    int position;  /* index into the flattened (B, T) */
    int counted;   /* index among the counted rows, in order */
    int slot;      /* row within the current chunk */
    float weight;
} head_row;

/* Computes one counted row's loss from its logits (V). When grad_scale is
 * nonzero it replaces the logits with grad_scale * d(loss)/d(logits). The
 * loss already includes the row's weight. */
typedef double (*head_row_loss_fn)(float *logits, int V, const head_row *row, float grad_scale,
                                   void *context);
/* Called once per chunk with the positions of its rows. */
typedef void (*head_chunk_fn)(const int *positions, int rows, void *context);

typedef struct {
    head_row_loss_fn row_loss;
    head_chunk_fn chunk_begin; /* NULL, or runs before the chunk's row losses */
    head_chunk_fn chunk_end;   /* NULL, or runs after them (before any gradient sgemm) */
    void *context;
} head_loss;

/* Runs loss->row_loss over every row with a nonzero weight (all rows when
 * weights is NULL) and returns the sum of the row losses, in row order. With
 * a nonzero grad_scale it also writes acts.dlnf and accumulates grads.wte. */
double kd_head_run(gpt2_model *model, const float *weights, float grad_scale,
                   const head_loss *loss);

/* The (rows, V) logits of `model` at the given positions of its last forward
 * pass, through its own head scratch; returns where they are. */
float *kd_head_chunk_logits(gpt2_model *model, const int *positions, int rows);

/* The largest of V logits. */
float kd_logits_max(const float *logits, int V);
/* sum(exp((logits - max) * scale)) over V entries; with max the largest
 * logit and scale > 0 no term overflows. Entries of -inf add nothing. */
float kd_logits_scaled_sum_exp(const float *logits, int V, float max, float scale);
/* -log p(target) of one row of logits; *hit: whether target is its argmax. */
double kd_logits_evaluate(const float *logits, int V, int target, int *hit);

#endif
