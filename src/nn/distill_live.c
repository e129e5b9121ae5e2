/* Distillation from a live teacher: per chunk of counted rows, one more
 * sgemm gives the teacher's (R, V) logits in the teacher's own head scratch
 * (idle while only its forward pass runs), and each row's loss reads both
 * rows of logits over the full vocabulary in vectorised passes. */
#include "distill_head.h"

/* One pass over the vocabulary for D and sum(a). */
static inline __attribute__((always_inline)) double
live_sums(divergence_kind kind, float beta, const float *z, const float *t, int V, float inv_t,
          float student_lse, float teacher_lse, double *sum_a)
{
    double divergence = 0.0, total_a = 0.0;
#pragma omp simd reduction(+ : divergence, total_a)
    for (int v = 0; v < V; v++) {
        float lq = z[v] * inv_t - student_lse, lp = t[v] * inv_t - teacher_lse, a;
        divergence += divergence_term(kind, beta, expf(lp), lp, expf(lq), lq, &a);
        total_a += a;
    }
    *sum_a = total_a;
    return divergence;
}

/* One pass that turns z into the row's gradient, given sum(a) (from
 * live_sums, or -1 for forward KL, where sum(a) = -sum(p)); returns D. */
static inline __attribute__((always_inline)) double
live_gradient(divergence_kind kind, float beta, float *z, const float *t, int V, float inv_t,
              float student_lse, float teacher_lse, float ce_lse, const distill_scales *scales,
              float sum_a)
{
    double divergence = 0.0;
    float ce_scale = scales->ce, d_scale = scales->divergence;
#pragma omp simd reduction(+ : divergence)
    for (int v = 0; v < V; v++) {
        float lq = z[v] * inv_t - student_lse, lp = t[v] * inv_t - teacher_lse;
        float q = expf(lq), a;
        divergence += divergence_term(kind, beta, expf(lp), lp, q, lq, &a);
        z[v] = ce_scale * expf(z[v] - ce_lse) + d_scale * (a - q * sum_a);
    }
    return divergence;
}

/* D for row z against teacher t, writing the gradient when asked: forward
 * KL needs one pass, the others a first pass for sum(a). */
#define LIVE_DIVERGENCE(kind)                                                                 \
    do {                                                                                      \
        double sum_a = -1.0;                                                                  \
        if (!write || (kind) != DIVERGENCE_FORWARD_KL) {                                      \
            double d = live_sums(kind, beta, z, t, V, inv_t, student_lse, teacher_lse, &sum_a); \
            if (!write)                                                                       \
                return d;                                                                     \
        }                                                                                     \
        return live_gradient(kind, beta, z, t, V, inv_t, student_lse, teacher_lse, ce_lse,    \
                             scales, (float)sum_a);                                           \
    } while (0)

static double live_divergence(const distill_config *config, float *z, const float *t, int V,
                              float student_lse, float teacher_lse, float ce_lse,
                              const distill_scales *scales, int write)
{
    float beta = config->jsd_beta, inv_t = scales->inv_temperature;
    switch (config->divergence) {
    case DIVERGENCE_FORWARD_KL:
        LIVE_DIVERGENCE(DIVERGENCE_FORWARD_KL);
    case DIVERGENCE_REVERSE_KL:
        LIVE_DIVERGENCE(DIVERGENCE_REVERSE_KL);
    case DIVERGENCE_JSD:
    default:
        LIVE_DIVERGENCE(DIVERGENCE_JSD);
    }
}
#undef LIVE_DIVERGENCE

static double live_row(float *z, int V, const head_row *row, float grad_scale, void *context)
{
    distill_head *head = context;
    const distill_config *config = head->config;
    const float *t = head->teacher_logits + (size_t)row->slot * V;
    distill_scales scales = kd_distill_row_scales(config, row, grad_scale);
    float inv_t = scales.inv_temperature;
    int target = head->targets[row->position];

    float z_max = kd_logits_max(z, V), t_max = kd_logits_max(t, V);
    float ce_lse = z_max + logf(kd_logits_scaled_sum_exp(z, V, z_max, 1.0f));
    float student_lse = config->temperature == 1.0f
                            ? ce_lse
                            : z_max * inv_t + logf(kd_logits_scaled_sum_exp(z, V, z_max, inv_t));
    float teacher_lse = t_max * inv_t + logf(kd_logits_scaled_sum_exp(t, V, t_max, inv_t));
    double cross_entropy = (double)ce_lse - (double)z[target];
    double divergence = live_divergence(config, z, t, V, student_lse, teacher_lse, ce_lse,
                                        &scales, grad_scale != 0.0f);
    if (grad_scale != 0.0f)
        z[target] -= scales.ce;
    return kd_distill_row_total(head, row, cross_entropy, divergence);
}

static void teacher_chunk_logits(const int *positions, int rows, void *context)
{
    distill_head *head = context;
    head->teacher_logits = kd_head_chunk_logits(head->teacher, positions, rows);
}

kd_status kd_distill_check_live(const gpt2_model *student, const gpt2_model *teacher)
{
    if (teacher->config.vocab_size != student->config.vocab_size)
        return kd_fail(KD_ERR_INVALID, "teacher vocabulary %d differs from the student's %d",
                       teacher->config.vocab_size, student->config.vocab_size);
    if (teacher->batch != student->batch || teacher->seq != student->seq)
        return kd_fail(KD_ERR_INVALID,
                       "teacher ran on a %d x %d batch, the student on %d x %d",
                       teacher->batch, teacher->seq, student->batch, student->seq);
    int rows = student->batch * student->seq;
    int chunk = rows < student->head_chunk_rows ? rows : student->head_chunk_rows;
    if (teacher->head_chunk_rows < chunk)
        return kd_fail(KD_ERR_INVALID,
                       "teacher head holds %d rows per chunk, the student's needs %d",
                       teacher->head_chunk_rows, chunk);
    return KD_OK;
}

double kd_gpt2_head_distill_live(gpt2_model *student, gpt2_model *teacher, const int *targets,
                                 const float *weights, const distill_config *config,
                                 float grad_scale, distill_parts *parts)
{
    distill_head head = {.config = config, .targets = targets, .teacher = teacher};
    return kd_distill_head_run(student, weights, grad_scale, live_row, teacher_chunk_logits, &head,
                               parts);
}
