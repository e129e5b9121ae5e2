/* The fused lm_head machinery shared by every loss (internal to nn). */
#ifndef KD_NN_HEAD_H
#define KD_NN_HEAD_H

#include "kd/nn.h"

/* Computes one counted row's loss from its logits (V). When grad_scale is
 * nonzero it replaces the logits with grad_scale * d(loss)/d(logits). The
 * loss already includes the row's weight. `row` indexes the flattened (B, T). */
typedef double (*head_row_loss_fn)(float *logits, int V, int row, float weight,
                                   float grad_scale, void *context);

/* Runs row_loss over every row with a nonzero weight (all rows when weights
 * is NULL) and returns the sum of the row losses, in row order. With a
 * nonzero grad_scale it also writes acts.dlnf and accumulates grads.wte. */
double head_run(gpt2_model *model, const float *weights, float grad_scale,
                head_row_loss_fn row_loss, void *context);

/* log(sum(exp(logits))) over V entries, computed stably. */
float logits_log_sum_exp(const float *logits, int V);

#endif
