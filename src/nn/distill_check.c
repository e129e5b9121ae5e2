/* Distillation settings and the checks that keep bad cached rows from
 * reaching the head, where an id out of range would index past a row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/distill.h"

static const char *const divergence_names[] = {"forward_kl", "reverse_kl", "jsd"};
enum { DIVERGENCE_COUNT = sizeof divergence_names / sizeof *divergence_names };

distill_config kd_distill_config_default(void)
{
    distill_config config = {0.5f, 1.0f, 0.5f, DIVERGENCE_FORWARD_KL};
    return config;
}

const char *kd_divergence_name(divergence_kind kind)
{
    return (int)kind >= 0 && (int)kind < DIVERGENCE_COUNT ? divergence_names[kind] : NULL;
}

kd_status kd_divergence_from_name(const char *name, divergence_kind *kind)
{
    for (int i = 0; i < DIVERGENCE_COUNT; i++) {
        if (strcmp(name, divergence_names[i]) == 0) {
            *kind = (divergence_kind)i;
            return KD_OK;
        }
    }
    return kd_fail(KD_ERR_INVALID, "unknown divergence \"%s\" (forward_kl, reverse_kl, jsd)",
                   name);
}

kd_status kd_distill_config_validate(const distill_config *config)
{
    if (!(config->alpha >= 0.0f && config->alpha <= 1.0f))
        return kd_fail(KD_ERR_INVALID, "alpha %g is outside [0, 1]", (double)config->alpha);
    if (!(config->temperature > 0.0f) || !isfinite(config->temperature))
        return kd_fail(KD_ERR_INVALID, "temperature %g is not positive",
                       (double)config->temperature);
    if (!kd_divergence_name(config->divergence))
        return kd_fail(KD_ERR_INVALID, "unknown divergence %d", (int)config->divergence);
    if (config->divergence == DIVERGENCE_JSD &&
        !(config->jsd_beta > 0.0f && config->jsd_beta < 1.0f))
        return kd_fail(KD_ERR_INVALID, "JSD beta %g is outside (0, 1)",
                       (double)config->jsd_beta);
    return KD_OK;
}

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static kd_status check_top_k(const teacher_row_target *row, int index, int V,
                             const distill_config *config, int *sorted)
{
    if (row->k < 0 || row->k > V || row->k > DISTILL_MAX_TOP_K)
        return kd_fail(KD_ERR_INVALID, "teacher row %d: k = %d outside [0, %d]", index, row->k,
                       V < DISTILL_MAX_TOP_K ? V : DISTILL_MAX_TOP_K);
    double mass = 0.0;
    for (int k = 0; k < row->k; k++) {
        if (row->ids[k] < 0 || row->ids[k] >= V)
            return kd_fail(KD_ERR_INVALID, "teacher row %d: id %d at %d is outside [0, %d)",
                           index, row->ids[k], k, V);
        if (!(row->logprobs[k] <= 0.0f) || !isfinite(row->logprobs[k]))
            return kd_fail(KD_ERR_INVALID, "teacher row %d: log-probability %g at %d", index,
                           (double)row->logprobs[k], k);
        mass += exp(row->logprobs[k]);
        sorted[k] = row->ids[k];
    }
    qsort(sorted, (size_t)row->k, sizeof *sorted, compare_ints);
    for (int k = 1; k < row->k; k++)
        if (sorted[k] == sorted[k - 1])
            return kd_fail(KD_ERR_INVALID, "teacher row %d: id %d appears twice", index,
                           sorted[k]);
    float tail = row->tail_mass;
    if (!(tail >= 0.0f && tail <= 1.0f) || fabs(mass + tail - 1.0) > 0.02)
        return kd_fail(KD_ERR_INVALID,
                       "teacher row %d: tail mass %g and top-%d mass %g do not add up to 1",
                       index, (double)tail, row->k, mass);
    /* KL(q || p) is infinite where the teacher's rest bucket is empty. */
    if (config->divergence == DIVERGENCE_REVERSE_KL && row->n_samples == 0 && row->k < V &&
        tail == 0.0f)
        return kd_fail(KD_ERR_INVALID, "teacher row %d: reverse KL needs a nonzero tail mass",
                       index);
    return KD_OK;
}

static kd_status check_samples(const teacher_row_target *row, int index, int V,
                               const distill_config *config, const int *sorted)
{
    if (row->n_samples == 0)
        return KD_OK;
    if (row->n_samples < 0)
        return kd_fail(KD_ERR_INVALID, "teacher row %d: %d samples", index, row->n_samples);
    if (config->divergence != DIVERGENCE_FORWARD_KL || config->temperature != 1.0f)
        return kd_fail(KD_ERR_UNSUPPORTED,
                       "teacher row %d: sampled tails support only forward KL at temperature 1",
                       index);
    for (int n = 0; n < row->n_samples; n++) {
        int id = row->sample_ids[n];
        if (id < 0 || id >= V || bsearch(&id, sorted, (size_t)row->k, sizeof *sorted,
                                         compare_ints))
            return kd_fail(KD_ERR_INVALID,
                           "teacher row %d: sample id %d is outside the vocabulary or among "
                           "the top-%d", index, id, row->k);
        float weight = row->sample_weights[n];
        if (!(weight >= 0.0f) || !isfinite(weight))
            return kd_fail(KD_ERR_INVALID, "teacher row %d: sample %d has weight %g", index, n,
                           (double)weight);
    }
    if (!(row->entropy >= 0.0f) || !isfinite(row->entropy))
        return kd_fail(KD_ERR_INVALID, "teacher row %d: entropy %g", index,
                       (double)row->entropy);
    return KD_OK;
}

kd_status kd_distill_check_rows(const teacher_row_target *rows, int count, int vocab_size,
                                const distill_config *config)
{
    int sorted[DISTILL_MAX_TOP_K];
    for (int i = 0; i < count; i++) {
        kd_status status = check_top_k(&rows[i], i, vocab_size, config, sorted);
        if (status == KD_OK)
            status = check_samples(&rows[i], i, vocab_size, config, sorted);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}
