/* Distillation from a cached teacher (see teacher_row_target in
 * kd/distill.h for the bucket and sampling rules). Per row: the student's
 * top-K logits are set aside and masked with -inf, so one vectorised pass
 * sums the student's rest bucket exactly (no 1 - sum cancellation); the K
 * (+ rest) buckets and the samples give D and the per-bucket gradients; one
 * more pass writes the gradient of every tail token, then the K ids and the
 * samples are filled in. */
#include <float.h>

#include "distill_head.h"

/* The teacher's normaliser at T from the cached T = 1 values, with the tail
 * spread uniformly over the other tokens; *rest gets the tail's share before
 * normalising (0 when there is no tail). */
static double teacher_log_normaliser(const teacher_row_target *target, int V, double inv_t,
                                     double *rest)
{
    double sum = 0.0;
    for (int k = 0; k < target->k; k++)
        sum += exp(target->logprobs[k] * inv_t);
    int others = V - target->k;
    *rest = others > 0 && target->tail_mass > 0.0f
                ? pow(others, 1.0 - inv_t) * pow(target->tail_mass, inv_t)
                : 0.0;
    return log(sum + *rest);
}

typedef struct {
    double divergence;
    float sum_a;
    float rest_coefficient; /* tail token v: dD/ds_v = rest_coefficient * q_v */
} bucket_result;

/* D over the top-K buckets, then either the rest bucket or the samples.
 * top: the student's logits at the ids; top_a gets each id's a. log_sum and
 * rest_sum: the student's log normaliser and rest-bucket sum at T, both
 * relative to z_max. */
static bucket_result bucket_divergence(const distill_config *config,
                                       const teacher_row_target *target, const float *top,
                                       float *top_a, const float *z, int V, float z_max,
                                       float inv_t, double log_sum, double rest_sum)
{
    divergence_kind kind = config->divergence;
    float beta = config->jsd_beta;
    double rest_share, log_z = teacher_log_normaliser(target, V, inv_t, &rest_share);
    double divergence = 0.0, sum_a = 0.0, top_self = 0.0;
    for (int k = 0; k < target->k; k++) {
        float lq = (float)((top[k] - z_max) * inv_t - log_sum);
        float lp = (float)(target->logprobs[k] * inv_t - log_z), p = expf(lp);
        divergence += divergence_term(kind, beta, p, lp, expf(lq), lq, &top_a[k]);
        sum_a += top_a[k];
        top_self += (double)p * lp;
    }
    /* Samples (forward KL at T = 1 only): -w log q each, a = -w, and the
     * tail's sum p log p from the entropy: -H - sum_k p_k log p_k. */
    for (int n = 0; n < target->n_samples; n++) {
        float lq = (float)((z[target->sample_ids[n]] - z_max) * inv_t - log_sum), a;
        divergence += divergence_term(DIVERGENCE_FORWARD_KL, beta, target->sample_weights[n],
                                      0.0f, 0.0f, lq, &a);
        sum_a += a;
    }
    if (target->n_samples > 0)
        divergence += -(double)target->entropy - top_self;
    float rest_a = 0.0f, q_rest = (float)(rest_sum / exp(log_sum));
    if (target->n_samples == 0 && target->k < V) {
        float lq = rest_sum > 0.0 ? (float)(log(rest_sum) - log_sum) : -FLT_MAX;
        float lp = rest_share > 0.0 ? (float)(log(rest_share) - log_z) : -FLT_MAX;
        divergence += divergence_term(kind, beta, expf(lp), lp, q_rest, lq, &rest_a);
        sum_a += rest_a;
    }
    bucket_result result = {divergence, (float)sum_a, 0.0f};
    /* Through Q_rest = sum of the tail's q: dD/ds_v = q_v (a_rest / Q_rest - sum(a)). */
    result.rest_coefficient = (q_rest > 0.0f ? rest_a / q_rest : 0.0f) - result.sum_a;
    return result;
}

/* Overwrites z (masked at the ids) with the row's gradient. */
static void cached_gradient(float *z, int V, const teacher_row_target *target, const float *top,
                            const float *top_a, const bucket_result *buckets,
                            const distill_scales *scales, float z_max, float ce_lse,
                            double log_sum)
{
    float inv_t = scales->inv_temperature, ce_scale = scales->ce;
    float tail_scale = scales->divergence * buckets->rest_coefficient;
    float student_lse = (float)log_sum;
#pragma omp simd
    for (int v = 0; v < V; v++)
        z[v] = ce_scale * expf(z[v] - ce_lse) +
               tail_scale * expf((z[v] - z_max) * inv_t - student_lse);
    for (int k = 0; k < target->k; k++) {
        float q = expf((float)((top[k] - z_max) * inv_t - log_sum));
        z[target->ids[k]] = ce_scale * expf(top[k] - ce_lse) +
                            scales->divergence * (top_a[k] - q * buckets->sum_a);
    }
    for (int n = 0; n < target->n_samples; n++)
        z[target->sample_ids[n]] -= scales->divergence * target->sample_weights[n];
}

static double cached_row(float *z, int V, const head_row *row, float grad_scale, void *context)
{
    distill_head *head = context;
    const distill_config *config = head->config;
    const teacher_row_target *target = &head->rows[row->counted];
    distill_scales scales = kd_distill_row_scales(config, row, grad_scale);
    float inv_t = scales.inv_temperature;
    int y = head->targets[row->position];

    float z_max = kd_logits_max(z, V);
    float ce_lse = z_max + logf(kd_logits_scaled_sum_exp(z, V, z_max, 1.0f));
    double cross_entropy = (double)ce_lse - (double)z[y];
    float top[DISTILL_MAX_TOP_K], top_a[DISTILL_MAX_TOP_K];
    double top_sum = 0.0;
    for (int k = 0; k < target->k; k++) {
        top[k] = z[target->ids[k]];
        top_sum += exp((double)(top[k] - z_max) * inv_t);
        z[target->ids[k]] = -INFINITY;
    }
    double rest_sum = kd_logits_scaled_sum_exp(z, V, z_max, inv_t);
    double log_sum = log(top_sum + rest_sum);
    bucket_result buckets = bucket_divergence(config, target, top, top_a, z, V, z_max, inv_t,
                                              log_sum, rest_sum);
    if (grad_scale != 0.0f) {
        cached_gradient(z, V, target, top, top_a, &buckets, &scales, z_max, ce_lse, log_sum);
        z[y] -= scales.ce;
    }
    return kd_distill_row_total(head, row, cross_entropy, buckets.divergence);
}

double kd_gpt2_head_distill_cached(gpt2_model *student, const teacher_row_target *rows,
                                   const int *targets, const float *weights,
                                   const distill_config *config, float grad_scale,
                                   distill_parts *parts)
{
    distill_head head = {.config = config, .targets = targets, .rows = rows};
    return kd_distill_head_run(student, weights, grad_scale, cached_row, NULL, &head, parts);
}
