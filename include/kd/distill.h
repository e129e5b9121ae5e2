/* kd distill (part of the nn module): knowledge-distillation losses through
 * the fused lm_head, and the distillation training step.
 *
 * Per counted token (loss weight w, hard label y, student logits z, teacher
 * logits t), with q = softmax(z / T) the student and p = softmax(t / T) the
 * teacher at temperature T:
 *
 *     loss = w * [ alpha * CE(softmax(z), y) + (1 - alpha) * T^2 * D(p || q) ]
 *
 *     forward KL  D = KL(p || q) = sum_v p_v log(p_v / q_v)        (default)
 *     reverse KL  D = KL(q || p) = sum_v q_v log(q_v / p_v)
 *     JSD(beta)   D = beta KL(p || m) + (1 - beta) KL(q || m),  m = beta p + (1 - beta) q
 *
 * JSD(beta) is the generalised Jensen-Shannon divergence of GKD (Agarwal et
 * al., "On-Policy Distillation of Language Models", 2024; TRL's
 * generalized_jsd_loss), with the mixture weighted beta towards the teacher;
 * beta = 0.5 is the symmetric JSD, bounded by log 2. beta must lie strictly
 * inside (0, 1): at either end D is identically 0. The T^2 factor keeps the
 * divergence's gradient on the scale of CE's as T changes (Hinton et al.).
 * Losses are summed over counted tokens; callers divide by the number of
 * counted tokens (via grad_scale), never by sequence length.
 *
 * The teacher comes in two forms. A live teacher is another gpt2_model run
 * forward on the same batch: its logits are computed chunk by chunk next to
 * the student's, so neither (B, T, V) tensor ever exists. A cached teacher
 * is one teacher_row_target per counted token (see below). */
#ifndef KD_DISTILL_H
#define KD_DISTILL_H

#include "kd/nn.h"

typedef enum {
    DIVERGENCE_FORWARD_KL = 0,
    DIVERGENCE_REVERSE_KL = 1,
    DIVERGENCE_JSD = 2
} divergence_kind;

typedef struct {
    float alpha;        /* weight of the hard-label CE, in [0, 1] */
    float temperature;  /* T > 0, applied to teacher and student alike */
    float jsd_beta;     /* JSD's mixture weight, in (0, 1); read only for JSD */
    divergence_kind divergence;
} distill_config;

/* alpha 0.5, T 1, forward KL, beta 0.5. */
distill_config kd_distill_config_default(void);
kd_status kd_distill_config_validate(const distill_config *config);
/* "forward_kl", "reverse_kl", "jsd"; NULL for an unknown kind. */
const char *kd_divergence_name(divergence_kind kind);
/* KD_OK and *kind for one of the names above, KD_ERR_INVALID otherwise. */
kd_status kd_divergence_from_name(const char *name, divergence_kind *kind);

/* The two terms of the loss, each summed over counted tokens with their
 * weights, for logging: total = alpha * cross_entropy
 * + (1 - alpha) * T^2 * divergence. */
typedef struct {
    double cross_entropy;
    double divergence;
} distill_parts;

/* A cached teacher's view of one counted token.
 *
 * Top-K: k distinct ids with the teacher's log-probabilities at T = 1 (in any
 * order) and tail_mass = 1 - sum(exp(logprobs)), the teacher's probability of
 * every other token.
 *
 * Without samples (n_samples = 0) D is taken over K + 1 buckets: the k ids
 * and one "rest" bucket holding every other token. The student's rest bucket
 * is exactly the sum of q over the V - k other tokens (at T). The teacher's
 * rest bucket at T != 1 is not knowable from the cache; kd assumes the tail
 * mass is spread uniformly over the V - k other tokens (the maximum-entropy
 * tail), which gives, at temperature T,
 *     p_k(T)    = exp(logprob_k / T) / Z
 *     p_rest(T) = (V - k)^(1 - 1/T) * tail_mass^(1/T) / Z
 *     Z         = sum_k exp(logprob_k / T) + (V - k)^(1 - 1/T) * tail_mass^(1/T)
 * At T = 1 this is exact (Z = 1); for T > 1 it is an upper bound on the true
 * tempered tail (x^(1/T) is concave). With k = V the buckets are the whole
 * vocabulary and the loss equals the live teacher's.
 *
 * Sampled tail ("Sparse Logit Sampling", Anshumann et al., 2025): n_samples
 * tail tokens (ids not among `ids`; kd's cache stores each distinct draw once
 * with its count) with weights such that E[sum of the weights of the samples
 * equal to v] = p_v for every tail token v at T = 1 (N draws from the tail
 * p / tail_mass: weight tail_mass * count / N), and the teacher's entropy H at
 * T = 1. The tail is then estimated from the samples instead of the rest
 * bucket, through KL(p || q) = -H - E_p[log q]:
 *     D^ = -H - sum_k p_k log q_k - sum_n w_n log q_{s_n}
 * an unbiased estimate of forward KL(p || q), loss and gradient. Only forward
 * KL at T = 1 supports samples: reverse KL and JSD need p at tokens the
 * teacher did not sample, and a tempered teacher needs the tail's normaliser.
 * The fields match kd/cache.h's cache_record row by row. */
typedef struct {
    int k;
    const int *ids;              /* (k) */
    const float *logprobs;       /* (k) */
    float tail_mass;
    int n_samples;
    const int *sample_ids;       /* (n_samples) */
    const float *sample_weights; /* (n_samples) */
    float entropy;               /* teacher entropy at T = 1, nats; read with samples */
} teacher_row_target;

enum { DISTILL_MAX_TOP_K = 1024 };

/* Checks `count` rows against a vocabulary of V and the configuration: k and
 * ids in range, ids distinct, log-probabilities finite and <= 0, tail mass
 * in [0, 1] and consistent with them (within 0.02), samples outside the
 * top-K with finite non-negative weights and a finite entropy, and samples
 * only where supported. */
kd_status kd_distill_check_rows(const teacher_row_target *rows, int count, int vocab_size,
                                const distill_config *config);
/* Checks that `teacher` ran forward on a batch of the student's shape with
 * the same vocabulary, and that its head scratch can hold the student's chunks. */
kd_status kd_distill_check_live(const gpt2_model *student, const gpt2_model *teacher);

/* The distillation loss through the student's lm_head, after kd_gpt2_forward of
 * both models on the same tokens. Returns the sum over counted tokens of the
 * loss above (weights as in kd_gpt2_head_cross_entropy, NULL for all ones); with
 * a nonzero grad_scale also writes the student's acts.dlnf and accumulates
 * grads.wte, scaled by grad_scale. parts may be NULL. Inputs must have passed
 * kd_distill_check_live. The teacher's head scratch holds its logits per chunk. */
double kd_gpt2_head_distill_live(gpt2_model *student, gpt2_model *teacher, const int *targets,
                                 const float *weights, const distill_config *config,
                                 float grad_scale, distill_parts *parts);

/* The same with a cached teacher: rows[i] belongs to the i-th counted token of
 * the flattened (B, T) (nonzero weight, in order). Rows must have passed
 * kd_distill_check_rows. */
double kd_gpt2_head_distill_cached(gpt2_model *student, const teacher_row_target *rows,
                                   const int *targets, const float *weights,
                                   const distill_config *config, float grad_scale,
                                   distill_parts *parts);

/* One micro-batch of a distillation step. With a live teacher teacher_rows is
 * NULL; with a cached one it holds teacher_row_count rows, one per counted
 * token of `batch` in order. */
typedef struct {
    gpt2_batch batch;
    const teacher_row_target *teacher_rows;
    int teacher_row_count;
} distill_batch;

typedef struct {
    gpt2_step_result step;  /* step.loss: the mean total loss per counted token */
    double cross_entropy;   /* mean CE per counted token */
    double divergence;      /* mean D per counted token (before (1 - alpha) T^2) */
} distill_step_result;

/* kd_gpt2_train_step with the distillation loss: accumulation over micro-batches,
 * clipping, the NaN guard and AdamW are the same. `teacher` is the live
 * teacher (prepared, without training state, for the largest micro-batch),
 * or NULL when every micro-batch carries cached rows. Bad rows, a teacher of
 * another vocabulary or shape, or an invalid configuration fail before any
 * parameter changes. This is also the step `kd bench --mode kd` times. */
kd_status kd_gpt2_distill_train_step(gpt2_model *student, gpt2_model *teacher,
                                     const distill_batch *micro, int micro_count,
                                     const distill_config *distill, const gpt2_step_config *config,
                                     int step, distill_step_result *result);

#endif
