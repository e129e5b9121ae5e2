/* Cached teacher rows built the way a logit cache builds them, from a
 * teacher's full logits: the top-K ids with their log-probabilities at T = 1,
 * the tail mass summed from the other tokens, and optionally n samples drawn
 * from the tail with weight tail_mass / n. Header-only, for the distillation
 * tests. */
#ifndef KD_TEST_TEACHER_ROWS_H
#define KD_TEST_TEACHER_ROWS_H

#include <math.h>
#include <stdlib.h>

#include "kd/distill.h"

typedef struct {
    teacher_row_target *rows; /* one per counted position, in order */
    int count;
    int *ids;
    float *logprobs;
    int *sample_ids;
    float *sample_weights;
    float *sample_logprobs;
} teacher_rows;

/* Tokens of one row by descending log-probability (ties by id). */
static void sort_by_logprob(int *order, const double *logprob, int V)
{
    for (int v = 0; v < V; v++)
        order[v] = v;
    for (int i = 1; i < V; i++)
        for (int j = i; j > 0 && logprob[order[j]] > logprob[order[j - 1]]; j--) {
            int swap = order[j];
            order[j] = order[j - 1];
            order[j - 1] = swap;
        }
}

/* Fills row r of `out` from a row of logits; samples use `rng` when n > 0. */
static void teacher_row_fill(teacher_rows *out, int r, const float *logits, int V, int k, int n,
                             kd_rng *rng, double *logprob, int *order)
{
    int *ids = out->ids + (size_t)r * (k + 1), *sample_ids = out->sample_ids + (size_t)r * (n + 1);
    float *logprobs = out->logprobs + (size_t)r * (k + 1);
    float *sample_weights = out->sample_weights + (size_t)r * (n + 1);
    float *sample_logprobs = out->sample_logprobs + (size_t)r * (n + 1);
    teacher_row_target *target = &out->rows[r];
    target->ids = ids;
    target->logprobs = logprobs;
    target->sample_ids = sample_ids;
    target->sample_weights = sample_weights;
    target->sample_logprobs = sample_logprobs;
    double max = logits[0], sum = 0.0;
    for (int v = 1; v < V; v++)
        max = fmax(max, logits[v]);
    for (int v = 0; v < V; v++)
        sum += exp(logits[v] - max);
    for (int v = 0; v < V; v++)
        logprob[v] = logits[v] - max - log(sum);
    sort_by_logprob(order, logprob, V);
    double tail = 0.0;
    for (int i = 0; i < V; i++) {
        if (i < k) {
            ids[i] = order[i];
            logprobs[i] = (float)logprob[order[i]];
        } else {
            tail += exp(logprob[order[i]]);
        }
    }
    target->k = k;
    target->tail_mass = (float)tail;
    target->n_samples = n;
    for (int s = 0; s < n; s++) {
        /* Inverse CDF over the tail, in descending order. */
        double u = kd_rng_uniform(rng) * tail, cumulative = 0.0;
        int pick = order[V - 1];
        for (int i = k; i < V; i++) {
            cumulative += exp(logprob[order[i]]);
            if (u < cumulative) {
                pick = order[i];
                break;
            }
        }
        sample_ids[s] = pick;
        sample_weights[s] = (float)(tail / n);
        sample_logprobs[s] = (float)logprob[pick];
    }
}

/* Rows for every position of `logits` (N, V) whose weight is nonzero. */
static void teacher_rows_build(teacher_rows *out, const float *logits, const float *weights,
                               int N, int V, int k, int n, kd_rng *rng)
{
    out->count = 0;
    for (int i = 0; i < N; i++)
        out->count += !weights || weights[i] != 0.0f;
    size_t rows = (size_t)out->count;
    out->rows = calloc(rows, sizeof *out->rows);
    out->ids = calloc(rows * (size_t)(k + 1), sizeof *out->ids);
    out->logprobs = calloc(rows * (size_t)(k + 1), sizeof *out->logprobs);
    out->sample_ids = calloc(rows * (size_t)(n + 1), sizeof *out->sample_ids);
    out->sample_weights = calloc(rows * (size_t)(n + 1), sizeof *out->sample_weights);
    out->sample_logprobs = calloc(rows * (size_t)(n + 1), sizeof *out->sample_logprobs);
    double *logprob = malloc((size_t)V * sizeof *logprob);
    int *order = malloc((size_t)V * sizeof *order);
    if (!out->rows || !out->ids || !out->logprobs || !out->sample_ids || !out->sample_weights ||
        !out->sample_logprobs || !logprob || !order)
        abort();
    for (int i = 0, r = 0; i < N; i++) {
        if (weights && weights[i] == 0.0f)
            continue;
        teacher_row_fill(out, r, logits + (size_t)i * V, V, k, n, rng, logprob, order);
        r++;
    }
    free(order);
    free(logprob);
}

static void teacher_rows_free(teacher_rows *rows)
{
    free(rows->rows);
    free(rows->ids);
    free(rows->logprobs);
    free(rows->sample_ids);
    free(rows->sample_weights);
    free(rows->sample_logprobs);
}

#endif
