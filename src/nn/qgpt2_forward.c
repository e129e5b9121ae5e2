/* The quantized GPT-2's forward pass. New positions, a chunk of rows at a
 * time, are appended to the key/value cache: the prompt in chunks of up to
 * KD_QGPT2_CHUNK rows, each generated token as a chunk of one. Every query
 * attends over the cache up to its own position, so a prompt gives the same
 * result however it is cut. The order of operations is kd_gpt2_forward's. */
#include <stdlib.h>
#include <string.h>

#include "kd/qgpt2.h"
#include "head.h"
#include "ops.h"

static int chunk_rows(int max_len)
{
    return max_len < KD_QGPT2_CHUNK ? max_len : KD_QGPT2_CHUNK;
}

/* Float views of the state, in the order of gpt2_qstate's fields. */
enum { STATE_VIEWS = 10 };
static void state_sizes(const gpt2_config *config, int R, int max_len, size_t sizes[STATE_VIEWS])
{
    size_t C = (size_t)config->n_embd, rows = (size_t)R;
    size_t list[STATE_VIEWS] = {
        rows * C, rows * C, rows, rows, /* residual, ln, ln_mean, ln_rstd */
        rows * 3 * C, rows * C, rows * C, /* qkv, atty, projected */
        rows * 4 * C, rows * 4 * C,       /* fch, fch_gelu */
        rows * (size_t)config->n_head * (size_t)max_len, /* scores */
    };
    memcpy(sizes, list, sizeof list);
}

kd_status kd_gpt2_qstate_create(gpt2_qstate *state, const gpt2_config *config, int max_len)
{
    memset(state, 0, sizeof *state);
    kd_status status = kd_gpt2_kv_cache_create(&state->cache, config, max_len);
    if (status != KD_OK)
        return status;
    int R = chunk_rows(max_len);
    size_t sizes[STATE_VIEWS], total = 0;
    state_sizes(config, R, max_len, sizes);
    for (int i = 0; i < STATE_VIEWS; i++)
        total += sizes[i];
    state->memory = kd_alloc(total, sizeof(float), "quantized model activations");
    if (!state->memory ||
        (status = kd_qscratch_create(&state->act, R, 4 * config->n_embd)) != KD_OK) {
        kd_gpt2_qstate_free(state);
        return KD_ERR_NOMEM;
    }
    float **views[STATE_VIEWS] = {&state->residual,  &state->ln,  &state->ln_mean,
                                  &state->ln_rstd,   &state->qkv, &state->atty,
                                  &state->projected, &state->fch, &state->fch_gelu,
                                  &state->scores};
    float *next = state->memory;
    for (int i = 0; i < STATE_VIEWS; i++) {
        *views[i] = next;
        next += sizes[i];
    }
    return KD_OK;
}

void kd_gpt2_qstate_free(gpt2_qstate *state)
{
    kd_gpt2_kv_cache_free(&state->cache);
    free(state->logits);
    kd_qscratch_free(&state->act);
    free(state->memory);
    memset(state, 0, sizeof *state);
}

static kd_status check_run(const gpt2_qmodel *model, const gpt2_qstate *state,
                           const int *tokens, int count)
{
    const gpt2_config *a = &model->config, *b = &state->cache.config;
    if (!state->memory || a->n_layer != b->n_layer || a->n_head != b->n_head ||
        a->n_embd != b->n_embd || a->vocab_size != b->vocab_size ||
        state->cache.max_len > a->n_positions)
        return kd_fail(KD_ERR_INVALID, "the quantized state was not made for this model's shape");
    int first = state->cache.length;
    if (count < 1 || first + count > state->cache.max_len)
        return kd_fail(KD_ERR_INVALID, "%d more tokens do not fit a KV cache of %d holding %d",
                       count, state->cache.max_len, first);
    for (int t = 0; t < count; t++)
        if (tokens[t] < 0 || tokens[t] >= a->vocab_size)
            return kd_fail(KD_ERR_INVALID,
                           "token %d at position %d is outside the vocabulary (%d)", tokens[t],
                           first + t, a->vocab_size);
    return KD_OK;
}

/* x + attn(ln_1(x)) for the n rows of x at positions first.., whose keys and
 * values join the cache first. */
static void attention_block(const gpt2_qmodel *model, gpt2_qstate *state, int l, int first,
                            int n)
{
    const gpt2_params *p = &model->vectors;
    const gpt2_qlayer *layer = &model->layers[l];
    int C = model->config.n_embd, H = model->config.n_head;
    size_t stride = (size_t)state->cache.max_len * C;
    float *keys = state->cache.keys + l * stride, *values = state->cache.values + l * stride;
    kd_layernorm_forward(state->ln, state->ln_mean, state->ln_rstd, state->residual,
                         LAYER_PARAM(p->ln1w, l, C), LAYER_PARAM(p->ln1b, l, C), n, C,
                         model->config.layer_norm_epsilon);
    kd_qmatrix_forward(state->qkv, state->ln, &layer->qkv, LAYER_PARAM(p->qkvb, l, 3 * C), n,
                       &state->act);
    for (int t = 0; t < n; t++) {
        const float *row = state->qkv + (size_t)t * 3 * C;
        memcpy(keys + (size_t)(first + t) * C, row + C, (size_t)C * sizeof(float));
        memcpy(values + (size_t)(first + t) * C, row + 2 * C, (size_t)C * sizeof(float));
    }
    /* A prompt's rows in one parallel region (each row's heads then run in
     * its thread), not one region per row: on a busy machine every region
     * start waits for the other threads. Rows interleave, as row t costs t. */
    size_t row_scores = (size_t)H * state->cache.max_len;
#pragma omp parallel for schedule(static, 1) if (n > 1)
    for (int t = 0; t < n; t++)
        kd_attention_decode_forward(state->atty + (size_t)t * C, state->scores + t * row_scores,
                                    state->qkv + (size_t)t * 3 * C, keys, values, first + t + 1,
                                    C, H);
    kd_qmatrix_forward(state->projected, state->atty, &layer->attproj,
                       LAYER_PARAM(p->attprojb, l, C), n, &state->act);
    kd_add_inplace(state->residual, state->projected, (size_t)n * C);
}

/* x + mlp(ln_2(x)) for n rows. */
static void mlp_block(const gpt2_qmodel *model, gpt2_qstate *state, int l, int n)
{
    const gpt2_params *p = &model->vectors;
    const gpt2_qlayer *layer = &model->layers[l];
    int C = model->config.n_embd;
    kd_layernorm_forward(state->ln, state->ln_mean, state->ln_rstd, state->residual,
                         LAYER_PARAM(p->ln2w, l, C), LAYER_PARAM(p->ln2b, l, C), n, C,
                         model->config.layer_norm_epsilon);
    kd_qmatrix_forward(state->fch, state->ln, &layer->fc, LAYER_PARAM(p->fcb, l, 4 * C), n,
                       &state->act);
    kd_gelu_forward(state->fch_gelu, state->fch, (size_t)n * 4 * C);
    kd_qmatrix_forward(state->projected, state->fch_gelu, &layer->fcproj,
                       LAYER_PARAM(p->fcprojb, l, C), n, &state->act);
    kd_add_inplace(state->residual, state->projected, (size_t)n * C);
}

/* Appends tokens[0..n), n <= the chunk size, to the cache and leaves ln_f of
 * their residual streams in state->ln (n, C). */
static void forward_chunk(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens, int n)
{
    const gpt2_params *p = &model->vectors;
    int C = model->config.n_embd, first = state->cache.length;
    for (int t = 0; t < n; t++) {
        float *row = state->residual + (size_t)t * C;
        kd_qmatrix_row(&model->wte, tokens[t], row);
        kd_add_inplace(row, p->wpe + (size_t)(first + t) * C, (size_t)C);
    }
    for (int l = 0; l < model->config.n_layer; l++) {
        attention_block(model, state, l, first, n);
        mlp_block(model, state, l, n);
    }
    kd_layernorm_forward(state->ln, state->ln_mean, state->ln_rstd, state->residual, p->lnfw,
                         p->lnfb, n, C, model->config.layer_norm_epsilon);
    state->cache.length = first + n;
}

/* Appends tokens[0..count) chunk by chunk. logits: (count, V) for every
 * position, or NULL for only the last one's, into state->cache.logits. */
static kd_status append(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens,
                        int count, float *logits)
{
    kd_status status = check_run(model, state, tokens, count);
    if (status != KD_OK)
        return status;
    int R = chunk_rows(state->cache.max_len), C = model->config.n_embd;
    size_t V = (size_t)model->config.vocab_size;
    for (int done = 0; done < count;) {
        int n = count - done < R ? count - done : R;
        forward_chunk(model, state, tokens + done, n);
        /* logits (n, V) = ln_f(x) (n, C) . wte^T: the tied lm_head */
        if (logits)
            kd_qmatrix_forward(logits + (size_t)done * V, state->ln, &model->wte, NULL, n,
                               &state->act);
        done += n;
        if (!logits && done == count)
            kd_qmatrix_forward(state->cache.logits, state->ln + (size_t)(n - 1) * C,
                               &model->wte, NULL, 1, &state->act);
    }
    return KD_OK;
}

kd_status kd_gpt2_qprefill(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens,
                           int count)
{
    state->cache.length = 0;
    return append(model, state, tokens, count, NULL);
}

kd_status kd_gpt2_qdecode_step(const gpt2_qmodel *model, gpt2_qstate *state, int token)
{
    return append(model, state, &token, 1, NULL);
}

kd_status kd_gpt2_qforward_logits(const gpt2_qmodel *model, gpt2_qstate *state,
                                  const int *tokens, int count, float *logits)
{
    state->cache.length = 0;
    return append(model, state, tokens, count, logits);
}

kd_status kd_gpt2_qevaluate(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens,
                            const int *targets, const float *weights, int count,
                            gpt2_eval_sums *sums)
{
    /* Positions after the last counted one cannot change any counted loss. */
    int end = count;
    while (end > 0 && weights && weights[end - 1] == 0.0f)
        end--;
    if (end == 0)
        return KD_OK;
    int R = chunk_rows(state->cache.max_len), V = model->config.vocab_size;
    if (!state->logits &&
        !(state->logits = kd_alloc((size_t)R * V, sizeof(float), "quantized evaluation logits")))
        return KD_ERR_NOMEM;
    state->cache.length = 0;
    kd_status status = check_run(model, state, tokens, end);
    for (int done = 0; status == KD_OK && done < end;) {
        int n = end - done < R ? end - done : R;
        forward_chunk(model, state, tokens + done, n);
        kd_qmatrix_forward(state->logits, state->ln, &model->wte, NULL, n, &state->act);
        for (int t = 0; t < n; t++) {
            float weight = weights ? weights[done + t] : 1.0f;
            if (weight == 0.0f)
                continue;
            int hit;
            sums->loss_sum += weight * kd_logits_evaluate(state->logits + (size_t)t * V, V,
                                                          targets[done + t], &hit);
            sums->counted += weight;
            sums->correct += hit ? weight : 0.0f;
        }
        done += n;
    }
    return status;
}
