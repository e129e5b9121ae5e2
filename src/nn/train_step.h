/* The optimizer step every training loss shares (internal to nn). */
#ifndef KD_NN_TRAIN_STEP_H
#define KD_NN_TRAIN_STEP_H

#include "kd/nn.h"

/* Sum of a micro-batch's loss weights (its size when weights is NULL). */
double kd_batch_counted_tokens(const gpt2_batch *batch);

/* Runs micro-batch `index` forward, through a loss head with `grad_scale`
 * and backward; returns the sum of its losses. */
typedef double (*micro_batch_fn)(gpt2_model *model, int index, float grad_scale,
                                 void *context);

/* One optimizer step over micro_count micro-batches whose counted tokens add
 * up to `counted`: zero the gradients, accumulate every micro-batch with
 * grad_scale 1/counted (so the step follows the mean over all counted
 * tokens, however the batch is split), clip, refuse a NaN or Inf, AdamW.
 * With config->reducer, `counted` is this rank's and becomes the sum over
 * the ranks before any gradient is scaled. */
kd_status kd_train_step_run(gpt2_model *model, double counted, int micro_count,
                            micro_batch_fn run_micro, void *context,
                            const gpt2_step_config *config, int step, gpt2_step_result *result);

#endif
