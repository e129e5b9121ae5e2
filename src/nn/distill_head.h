/* What the live and cached distillation heads share (internal to nn): the
 * per-token divergence terms, the loss scales, and the bookkeeping of the
 * two loss parts. */
#ifndef KD_NN_DISTILL_HEAD_H
#define KD_NN_DISTILL_HEAD_H

#include <math.h>

#include "head.h"
#include "kd/distill.h"
#include "nn_limits.h"
#include "vector_math.h"

typedef struct {
    const distill_config *config;
    const int *targets;
    gpt2_model *teacher;                /* live: the teacher model */
    const float *teacher_logits;        /* live: (rows, V) of the current chunk */
    const teacher_row_target *rows;     /* cached: one per counted row */
    /* Per slot of the current chunk; chunk_end adds them up in row order. */
    double cross_entropy[HEAD_MAX_ROWS];
    double divergence[HEAD_MAX_ROWS];
    distill_parts sums;
} distill_head;

/* The factors that turn a row's softmax-shaped gradients into
 * grad_scale * d(loss)/d(logits). */
typedef struct {
    float inv_temperature;
    float ce;          /* alpha * weight * grad_scale, times softmax(z) - onehot(y) */
    float divergence;  /* (1 - alpha) * T * weight * grad_scale, times dD/d(z / T) */
} distill_scales;

distill_scales kd_distill_row_scales(const distill_config *config, const head_row *row,
                                     float grad_scale);

/* Records a row's CE and D and returns its weighted total loss. */
double kd_distill_row_total(distill_head *head, const head_row *row, double cross_entropy,
                            double divergence);

/* Runs the head with `row_loss` (and chunk_begin, may be NULL) over `head`
 * and reports the parts. */
double kd_distill_head_run(gpt2_model *student, const float *weights, float grad_scale,
                           head_row_loss_fn row_loss, head_chunk_fn chunk_begin,
                           distill_head *head, distill_parts *parts);

/* One token's share of D for teacher p and student q (probabilities with their
 * logs, which stay finite where the probabilities underflow). Returns the
 * token's term of D and sets *a = q dD/dq, so that the gradient with respect
 * to the tempered student logits s = z / T is
 *     dD/ds_v = a_v - q_v sum_u a_u
 * (differentiate through q = softmax(s); constants in dD/dq cancel):
 *     forward KL  term p (lp - lq)                          a = -p
 *     reverse KL  term q (lq - lp)                          a = q (lq - lp)
 *     JSD(beta)   term beta p (lp - lm) + (1 - beta) q (lq - lm)
 *                                                           a = (1 - beta) q (lq - lm)
 * with lm = log(beta p + (1 - beta) q), taken in log space. A probability of
 * zero must come with the log -FLT_MAX rather than -inf: every term then
 * vanishes as 0 log 0 = 0 should, without the branches that would keep the
 * vocabulary loops from vectorising. `kind` is a constant at every call so
 * the switch folds away. */
static inline float divergence_term(divergence_kind kind, float beta, float p, float lp, float q,
                                    float lq, float *a)
{
    switch (kind) {
    case DIVERGENCE_FORWARD_KL:
        *a = -p;
        return p * (lp - lq);
    case DIVERGENCE_REVERSE_KL:
        *a = q * (lq - lp);
        return *a;
    case DIVERGENCE_JSD:
    default: {
        float x = logf(beta) + lp, y = logf(1.0f - beta) + lq;
        float high = x > y ? x : y, low = x > y ? y : x;
        float lm = high + logf(1.0f + expf(low - high));
        *a = (1.0f - beta) * q * (lq - lm);
        return beta * p * (lp - lm) + *a;
    }
    }
}

#endif
