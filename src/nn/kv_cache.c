/* Incremental decoding with a key/value cache. The prompt goes through the
 * ordinary batched forward pass once (sgemm at full speed) and its keys and
 * values are copied out of acts.qkv; after that each new position costs one
 * matrix-vector product per weight matrix and attends over the cache, so a
 * token costs O(parameters + length * C) instead of a forward over the whole
 * sequence. The order of operations mirrors kd_gpt2_forward line for line. */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kd/nn.h"
#include "lora_layer.h"
#include "ops.h"

/* Float views of the cache, in the order of gpt2_kv_cache's fields. */
enum { CACHE_VIEWS = 12 };
static void cache_sizes(const gpt2_config *config, int max_len, size_t sizes[CACHE_VIEWS])
{
    size_t L = (size_t)config->n_layer, C = (size_t)config->n_embd;
    size_t H = (size_t)config->n_head, T = (size_t)max_len;
    size_t list[CACHE_VIEWS] = {
        L * T * C, L * T * C,   /* keys, values */
        C, C, 2, 3 * C, C, C,   /* residual, ln, ln_stats, qkv, atty, projected */
        4 * C, 4 * C,           /* fch, fch_gelu */
        H * T,                  /* scores */
        (size_t)config->vocab_size, /* logits */
    };
    memcpy(sizes, list, sizeof list);
}

static size_t cache_floats(const gpt2_config *config, int max_len)
{
    size_t sizes[CACHE_VIEWS], total = 0;
    cache_sizes(config, max_len, sizes);
    for (int i = 0; i < CACHE_VIEWS; i++)
        total += sizes[i];
    return total;
}

size_t kd_gpt2_kv_cache_bytes(const gpt2_config *config, int max_len)
{
    return cache_floats(config, max_len) * sizeof(float) +
           (size_t)config->vocab_size * sizeof(gpt2_candidate);
}

kd_status kd_gpt2_kv_cache_create(gpt2_kv_cache *cache, const gpt2_config *config, int max_len)
{
    memset(cache, 0, sizeof *cache);
    if (max_len < 1 || max_len > config->n_positions)
        return kd_fail(KD_ERR_INVALID, "KV cache length %d is outside 1..n_positions (%d)",
                       max_len, config->n_positions);
    /* The config fits memory (kd_gpt2_config_validate), but L * T * C need not
     * fit a size_t on a pathological one: check in double before multiplying. */
    double bytes = 2.0 * config->n_layer * max_len * config->n_embd * sizeof(float);
    if (bytes > (double)(SIZE_MAX / 4))
        return kd_fail(KD_ERR_NOMEM, "KV cache of %.3g bytes cannot be allocated", bytes);
    cache->memory = kd_alloc(1, kd_gpt2_kv_cache_bytes(config, max_len), "KV cache");
    if (!cache->memory)
        return KD_ERR_NOMEM;
    size_t sizes[CACHE_VIEWS];
    cache_sizes(config, max_len, sizes);
    float **views[CACHE_VIEWS] = {&cache->keys, &cache->values, &cache->residual, &cache->ln,
                                  &cache->ln_stats, &cache->qkv, &cache->atty,
                                  &cache->projected, &cache->fch, &cache->fch_gelu,
                                  &cache->scores, &cache->logits};
    float *next = cache->memory;
    for (int i = 0; i < CACHE_VIEWS; i++) {
        *views[i] = next;
        next += sizes[i];
    }
    cache->candidates = (gpt2_candidate *)next;
    cache->config = *config;
    cache->max_len = max_len;
    return KD_OK;
}

void kd_gpt2_kv_cache_free(gpt2_kv_cache *cache)
{
    free(cache->memory);
    memset(cache, 0, sizeof *cache);
}

static kd_status check_cache_matches(const gpt2_model *model, const gpt2_kv_cache *cache)
{
    const gpt2_config *a = &model->config, *b = &cache->config;
    if (!cache->memory || a->n_layer != b->n_layer || a->n_head != b->n_head ||
        a->n_embd != b->n_embd || a->vocab_size != b->vocab_size ||
        cache->max_len > a->n_positions)
        return kd_fail(KD_ERR_INVALID, "the KV cache was not made for this model's shape");
    return KD_OK;
}

static kd_status check_token(const gpt2_config *config, int token, int position)
{
    if (token < 0 || token >= config->vocab_size)
        return kd_fail(KD_ERR_INVALID, "token %d at position %d is outside the vocabulary (%d)",
                       token, position, config->vocab_size);
    return KD_OK;
}

kd_status kd_gpt2_prefill(gpt2_model *model, gpt2_kv_cache *cache, const int *tokens, int count)
{
    kd_status status = check_cache_matches(model, cache);
    if (status != KD_OK)
        return status;
    if (count < 1 || count > cache->max_len)
        return kd_fail(KD_ERR_INVALID, "a prompt of %d tokens does not fit a KV cache of %d",
                       count, cache->max_len);
    if (!model->acts_memory || model->max_batch < 1 || model->max_seq < count)
        return kd_fail(KD_ERR_INVALID,
                       "the model is prepared for sequences of up to %d tokens; the prompt has %d",
                       model->max_seq, count);
    for (int t = 0; t < count; t++)
        if ((status = check_token(&model->config, tokens[t], t)) != KD_OK)
            return status;

    kd_gpt2_forward(model, tokens, 1, count);
    size_t C = (size_t)model->config.n_embd, stride = (size_t)cache->max_len * C;
    for (int l = 0; l < model->config.n_layer; l++) {
        /* acts.qkv is (L, 1, count, 3C): q | k | v per position. */
        const float *qkv = model->acts.qkv + (size_t)l * count * 3 * C;
        for (int t = 0; t < count; t++) {
            const float *row = qkv + (size_t)t * 3 * C;
            memcpy(cache->keys + l * stride + t * C, row + C, C * sizeof(float));
            memcpy(cache->values + l * stride + t * C, row + 2 * C, C * sizeof(float));
        }
    }
    kd_gpt2_head_logits(model, count - 1, 1, cache->logits);
    cache->length = count;
    return KD_OK;
}

kd_status kd_gpt2_decode_step(const gpt2_model *model, gpt2_kv_cache *cache, int token)
{
    kd_status status = check_cache_matches(model, cache);
    if (status != KD_OK)
        return status;
    int position = cache->length;
    if (position >= cache->max_len)
        return kd_fail(KD_ERR_INVALID, "the KV cache is full (%d positions)", cache->max_len);
    if ((status = check_token(&model->config, token, position)) != KD_OK)
        return status;

    const gpt2_config *cfg = &model->config;
    const gpt2_params *p = &model->params;
    int C = cfg->n_embd, H = cfg->n_head;
    size_t stride = (size_t)cache->max_len * C;
    float eps = cfg->layer_norm_epsilon;
    float *x = cache->residual, *mean = cache->ln_stats, *rstd = cache->ln_stats + 1;

    kd_residual_forward(x, p->wte + (size_t)token * C, p->wpe + (size_t)position * C, (size_t)C);
    for (int l = 0; l < cfg->n_layer; l++) {
        float *keys = cache->keys + l * stride, *values = cache->values + l * stride;
        /* x + attn(ln_1(x)), the new key and value joining the cache first */
        kd_layernorm_forward(cache->ln, mean, rstd, x, LAYER_PARAM(p->ln1w, l, C),
                             LAYER_PARAM(p->ln1b, l, C), 1, C, eps);
        kd_matvec_forward(cache->qkv, cache->ln, kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_ATTN, l),
                          LAYER_PARAM(p->qkvb, l, 3 * C), C, 3 * C);
        kd_lora_layer_decode(model->lora, &model->config, GPT2_LORA_ATTN_C_ATTN, l, cache->qkv,
                             cache->ln);
        memcpy(keys + (size_t)position * C, cache->qkv + C, (size_t)C * sizeof(float));
        memcpy(values + (size_t)position * C, cache->qkv + 2 * C, (size_t)C * sizeof(float));
        kd_attention_decode_forward(cache->atty, cache->scores, cache->qkv, keys, values,
                                    position + 1, C, H);
        kd_matvec_forward(cache->projected, cache->atty, kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_PROJ, l),
                          LAYER_PARAM(p->attprojb, l, C), C, C);
        kd_lora_layer_decode(model->lora, &model->config, GPT2_LORA_ATTN_C_PROJ, l,
                             cache->projected, cache->atty);
        kd_add_inplace(x, cache->projected, (size_t)C);
        /* x + mlp(ln_2(x)) */
        kd_layernorm_forward(cache->ln, mean, rstd, x, LAYER_PARAM(p->ln2w, l, C),
                             LAYER_PARAM(p->ln2b, l, C), 1, C, eps);
        kd_matvec_forward(cache->fch, cache->ln, kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_FC, l),
                          LAYER_PARAM(p->fcb, l, 4 * C), C, 4 * C);
        kd_lora_layer_decode(model->lora, &model->config, GPT2_LORA_MLP_C_FC, l, cache->fch,
                             cache->ln);
        kd_gelu_forward(cache->fch_gelu, cache->fch, 4 * (size_t)C);
        kd_matvec_forward(cache->projected, cache->fch_gelu, kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_PROJ, l),
                          LAYER_PARAM(p->fcprojb, l, C), 4 * C, C);
        kd_lora_layer_decode(model->lora, &model->config, GPT2_LORA_MLP_C_PROJ, l,
                             cache->projected, cache->fch_gelu);
        kd_add_inplace(x, cache->projected, (size_t)C);
    }
    kd_layernorm_forward(cache->ln, mean, rstd, x, p->lnfw, p->lnfb, 1, C, eps);
    /* logits (V) = wte (V,C) . ln_f(x): the tied lm_head */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, cfg->vocab_size, C, 1.0f, p->wte, C, cache->ln, 1,
                0.0f, cache->logits, 1);
    cache->length = position + 1;
    return KD_OK;
}
