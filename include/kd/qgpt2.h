/* kd nn, quantized: GPT-2 for inference with its weight matrices kept in
 * q8_0 or q4_0 blocks (kd/quant.h) in memory, never expanded to f32.
 *
 * The five matrices (the token embedding, which is also the tied lm_head,
 * and each layer's c_attn, attn.c_proj, c_fc and mlp.c_proj) are kd_qmatrix
 * in llama.cpp's row order: out-features rows of in-features values. A
 * matrix whose rows are not a multiple of 32 values stays f32. Everything
 * else (position embedding, LayerNorms, biases) is f32, as in llama.cpp.
 *
 * Each product quantizes its input rows to q8_0 once and takes integer dot
 * products with the weight rows, as ggml does. The prompt runs as chunks of
 * rows (matrix-matrix products), each new token as one row (matrix-vector
 * products): one code path, which appends positions to the key/value cache.
 *
 * Two ways to build one:
 *
 *   from an f32 gpt2_model     kd_gpt2_qmodel_quantize(&q, &model, KD_QTYPE_Q8_0)
 *
 *   from blocks already made   (e.g. a GGUF file's tensors, without requantizing)
 *       kd_gpt2_qmodel_create(&q, &config);
 *       copy the f32 tensors into q.vectors (gpt2_params views: wpe, ln1w,
 *           ln1b, qkvb, attprojb, ln2w, ln2b, fcb, fcprojb, lnfw, lnfb,
 *           stacked over layers as in gpt2_model; its matrix views are NULL);
 *       kd_qmatrix_wrap(&q.wte, type, data, V, C);              (or _quantize)
 *       for each layer l:
 *           kd_qmatrix_wrap(&q.layers[l].qkv, type, data, 3C, C);
 *           kd_qmatrix_wrap(&q.layers[l].attproj, type, data, C, C);
 *           kd_qmatrix_wrap(&q.layers[l].fc, type, data, 4C, C);
 *           kd_qmatrix_wrap(&q.layers[l].fcproj, type, data, C, 4C);
 *       kd_gpt2_qmodel_check(&q);
 *   HF's Conv1D weights are [in, out]: kd_qmatrix_quantize(..., transposed = 1)
 *   turns them into rows. A wrapped matrix's data must outlive the model;
 *   kd_gpt2_qmodel_free frees only what the model allocated. */
#ifndef KD_QGPT2_H
#define KD_QGPT2_H

#include "kd/nn.h"
#include "kd/quant.h"

typedef struct {
    kd_qmatrix qkv;     /* (3C, C)  attn.c_attn */
    kd_qmatrix attproj; /* (C, C)   attn.c_proj */
    kd_qmatrix fc;      /* (4C, C)  mlp.c_fc */
    kd_qmatrix fcproj;  /* (C, 4C)  mlp.c_proj */
} gpt2_qlayer;

typedef struct {
    gpt2_config config;
    kd_qmatrix wte;      /* (V, C) token embedding and tied lm_head */
    gpt2_qlayer *layers; /* (L) */
    gpt2_params vectors; /* the f32 tensors; wte, qkvw, attprojw, fcw, fcprojw are NULL */
    float *vectors_memory;
} gpt2_qmodel;

/* An empty model of `config`: zeroed f32 tensors, no matrices yet. */
kd_status kd_gpt2_qmodel_create(gpt2_qmodel *model, const gpt2_config *config);
/* Fails naming the first matrix that is missing or of the wrong shape. */
kd_status kd_gpt2_qmodel_check(const gpt2_qmodel *model);
/* A model of `type` from an f32 one: each matrix quantized (those whose rows
 * are not a multiple of 32 copied as f32), the f32 tensors copied. */
kd_status kd_gpt2_qmodel_quantize(gpt2_qmodel *model, const gpt2_model *source, kd_qtype type);
void kd_gpt2_qmodel_free(gpt2_qmodel *model);
/* Bytes of the five kinds of matrices, as stored, and what they would take
 * in f32. */
void kd_gpt2_qmodel_matrix_bytes(const gpt2_qmodel *model, size_t *stored, size_t *f32);

/* What running the model needs: the key/value cache (with the logits and the
 * sampler's scratch, as for gpt2_model) and activations for a chunk of up to
 * KD_QGPT2_CHUNK rows. */
enum { KD_QGPT2_CHUNK = 64 };
typedef struct {
    gpt2_kv_cache cache;
    float *residual;  /* (R, C) */
    float *ln;        /* (R, C) */
    float *ln_mean;   /* (R) */
    float *ln_rstd;   /* (R) */
    float *qkv;       /* (R, 3C) */
    float *atty;      /* (R, C) */
    float *projected; /* (R, C) */
    float *fch;       /* (R, 4C) */
    float *fch_gelu;  /* (R, 4C) */
    float *scores;    /* (R, H, max_len) each row's attention probabilities */
    kd_qscratch act;  /* the input rows of a product, as q8_0 */
    float *logits;    /* (R, V) for kd_gpt2_qevaluate, allocated by its first call */
    float *memory;
} gpt2_qstate;

/* 1 <= max_len <= n_positions. */
kd_status kd_gpt2_qstate_create(gpt2_qstate *state, const gpt2_config *config, int max_len);
void kd_gpt2_qstate_free(gpt2_qstate *state);

/* Empties the cache and runs tokens[0..count); leaves the logits of the last
 * position in state->cache.logits. */
kd_status kd_gpt2_qprefill(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens,
                           int count);
/* Appends `token` and leaves the logits it predicts in state->cache.logits. */
kd_status kd_gpt2_qdecode_step(const gpt2_qmodel *model, gpt2_qstate *state, int token);
/* Teacher forcing: empties the cache, runs tokens[0..count) and writes the
 * logits of every position to logits (count, V). */
kd_status kd_gpt2_qforward_logits(const gpt2_qmodel *model, gpt2_qstate *state,
                                  const int *tokens, int count, float *logits);

/* Teacher forcing for evaluation: runs tokens[0..count) from an empty cache
 * and adds, for each position whose weight is nonzero (weights may be NULL
 * for all ones), weight * -log p(targets[t]) to sums->loss_sum, the weight
 * to sums->counted and, when the argmax is the target, to sums->correct, as
 * kd_gpt2_head_evaluate does. The (count, V) logits never exist at once. */
kd_status kd_gpt2_qevaluate(const gpt2_qmodel *model, gpt2_qstate *state, const int *tokens,
                            const int *targets, const float *weights, int count,
                            gpt2_eval_sums *sums);

/* kd_gpt2_generate_tokens for the quantized model. */
kd_status kd_gpt2_qgenerate_tokens(const gpt2_qmodel *model, gpt2_qstate *state,
                                   const int *prompt, int prompt_count,
                                   const gpt2_sampling *sampling, kd_rng *rng, int *out,
                                   gpt2_token_fn on_token, void *context,
                                   gpt2_generate_stats *stats);

#endif
