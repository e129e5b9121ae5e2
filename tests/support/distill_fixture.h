/* What the distillation tests share (header-only): a tiny student and
 * teacher of one vocabulary on a small batch, and cached teacher rows built
 * the way a logit cache builds them from the teacher's full logits: the top-K
 * ids with their log-probabilities at T = 1, the tail mass summed from the
 * other tokens, the entropy, and optionally n samples drawn from the tail
 * with weight tail_mass / n (repeats kept as separate samples). */
#ifndef KD_TEST_DISTILL_FIXTURE_H
#define KD_TEST_DISTILL_FIXTURE_H

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
} teacher_rows;

/* Tokens of one row by descending log-probability (ties by id). */
static inline void sort_by_logprob(int *order, const double *logprob, int V)
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
static inline void teacher_row_fill(teacher_rows *out, int r, const float *logits, int V,
                                    int k, int n, kd_rng *rng, double *logprob, int *order)
{
    int *ids = out->ids + (size_t)r * (k + 1), *sample_ids = out->sample_ids + (size_t)r * (n + 1);
    float *logprobs = out->logprobs + (size_t)r * (k + 1);
    float *sample_weights = out->sample_weights + (size_t)r * (n + 1);
    teacher_row_target *target = &out->rows[r];
    target->ids = ids;
    target->logprobs = logprobs;
    target->sample_ids = sample_ids;
    target->sample_weights = sample_weights;
    double max = logits[0], sum = 0.0;
    for (int v = 1; v < V; v++)
        max = fmax(max, logits[v]);
    for (int v = 0; v < V; v++)
        sum += exp(logits[v] - max);
    for (int v = 0; v < V; v++)
        logprob[v] = logits[v] - max - log(sum);
    sort_by_logprob(order, logprob, V);
    double tail = 0.0, entropy = 0.0;
    for (int i = 0; i < V; i++) {
        entropy -= exp(logprob[i]) * logprob[i];
        if (i < k) {
            ids[i] = order[i];
            logprobs[i] = (float)logprob[order[i]];
        } else {
            tail += exp(logprob[order[i]]);
        }
    }
    target->k = k;
    target->tail_mass = (float)tail;
    target->entropy = (float)entropy;
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
    }
}

/* Rows for every position of `logits` (N, V) whose weight is nonzero. */
static inline void teacher_rows_build(teacher_rows *out, const float *logits,
                                      const float *weights, int N, int V, int k, int n,
                                      kd_rng *rng)
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
    double *logprob = malloc((size_t)V * sizeof *logprob);
    int *order = malloc((size_t)V * sizeof *order);
    if (!out->rows || !out->ids || !out->logprobs || !out->sample_ids || !out->sample_weights ||
        !logprob || !order)
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

static inline void teacher_rows_free(teacher_rows *rows)
{
    free(rows->rows);
    free(rows->ids);
    free(rows->logprobs);
    free(rows->sample_ids);
    free(rows->sample_weights);
}

/* The student's C (16) exceeds V (11), so directions of a row's hidden
 * state reach every direction of its logits. */
static const gpt2_config student_config = {
    .n_layer = 2, .n_head = 2, .n_embd = 16, .n_positions = 8, .vocab_size = 11,
    .layer_norm_epsilon = 1e-5f,
};
static const gpt2_config teacher_config = {
    .n_layer = 1, .n_head = 2, .n_embd = 12, .n_positions = 8, .vocab_size = 11,
    .layer_norm_epsilon = 1e-5f,
};
enum { B = 2, T = 5, N = B * T, V = 11, C = 16 };
static const int tokens[N] = {1, 4, 2, 9, 3, 7, 7, 0, 5, 10};
static const int targets[N] = {4, 2, 9, 3, 6, 7, 0, 5, 10, 1};
/* A right-padded second row with a prompt token, and one half weight. */
static const float weights[N] = {1, 1, 0.5f, 1, 1, 0, 1, 1, 1, 0};

typedef struct {
    gpt2_model student, teacher;
    float teacher_logits[N * V];
} distill_models;

/* Weights well above GPT-2's 0.02 so that every path carries signal and the
 * two models disagree clearly. */
static inline void init_model(gpt2_model *model, const gpt2_config *config, uint64_t seed,
                              float wiggle)
{
    if (kd_gpt2_create(model, config) != KD_OK)
        abort();
    kd_gpt2_init_random(model, seed);
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += wiggle * sinf((float)i * 0.7f + (float)seed);
}

/* Both models prepared, the teacher run forward on the batch. */
static inline void distill_models_create(distill_models *models)
{
    init_model(&models->student, &student_config, 42, 0.3f);
    init_model(&models->teacher, &teacher_config, 43, 0.5f);
    if (kd_gpt2_prepare(&models->student, B, T, 1) != KD_OK ||
        kd_gpt2_prepare(&models->teacher, B, T, 0) != KD_OK)
        abort();
    kd_gpt2_forward(&models->teacher, tokens, B, T);
    kd_gpt2_head_logits(&models->teacher, 0, N, models->teacher_logits);
}

static inline void distill_models_free(distill_models *models)
{
    kd_gpt2_free(&models->student);
    kd_gpt2_free(&models->teacher);
}

#endif
