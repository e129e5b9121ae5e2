/* kd nn: GPT-2 exactly as Hugging Face's GPT2LMHeadModel computes it, with a
 * hand-written backward pass, fused lm_head losses, AdamW and generation.
 *
 * Layout follows llm.c: one struct of parameter views into a single buffer,
 * one struct of activation views into a single buffer sized for (B, T).
 * Linear weights keep HF's Conv1D layout [in, out], so a layer is the
 * row-major product out[B*T, out] = in[B*T, in] . W[in, out] + b and the
 * weights load from model.safetensors with a plain copy.
 *
 * Dropout is left out: kd trains without it (HF's 0.1 default only matters
 * for long fine-tunes, and early stopping on validation loss guards against
 * over-fitting instead). Inference in HF also runs without dropout, so
 * forward results match GPT2LMHeadModel in eval mode. */
#ifndef KD_NN_H
#define KD_NN_H

#include "kd/core.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_layer;
    int n_head;
    int n_embd;
    int n_positions;
    int vocab_size;
    float layer_norm_epsilon;
} gpt2_config;

/* Checks that every size is positive, n_embd divides by n_head, and that the
 * parameters alone fit in this machine's memory. */
kd_status kd_gpt2_config_validate(const gpt2_config *config);

enum { GPT2_NUM_PARAM_TENSORS = 16 };

/* Views into one contiguous buffer; per-layer tensors are stacked over L. */
typedef struct {
    float *wte;      /* (V, C)       token embedding, also the tied lm_head */
    float *wpe;      /* (P, C)       position embedding */
    float *ln1w;     /* (L, C) */
    float *ln1b;     /* (L, C) */
    float *qkvw;     /* (L, C, 3C)   attn.c_attn.weight, [in, out] */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C)    attn.c_proj.weight */
    float *attprojb; /* (L, C) */
    float *ln2w;     /* (L, C) */
    float *ln2b;     /* (L, C) */
    float *fcw;      /* (L, C, 4C)   mlp.c_fc.weight */
    float *fcb;      /* (L, 4C) */
    float *fcprojw;  /* (L, 4C, C)   mlp.c_proj.weight */
    float *fcprojb;  /* (L, C) */
    float *lnfw;     /* (C) */
    float *lnfb;     /* (C) */
} gpt2_params;

void kd_gpt2_param_sizes(const gpt2_config *config, size_t sizes[GPT2_NUM_PARAM_TENSORS]);
size_t kd_gpt2_num_params(const gpt2_config *config);
/* Points the views of `params` into `memory` (which holds kd_gpt2_num_params floats). */
void kd_gpt2_params_point(gpt2_params *params, float *memory, const gpt2_config *config);
/* The same for the tensors with present[i] nonzero, packed in order; the
 * views of the others are NULL. */
void kd_gpt2_params_point_subset(gpt2_params *params, float *memory, const gpt2_config *config,
                                 const unsigned char *present);
/* The present views of layers first .. first + count - 1 of the per-layer
 * tensors (count >= 1; each tensor's slices of consecutive layers are one
 * range), or of the others, wte, wpe, lnfw and lnfb (count 0): pointers and
 * float counts in `views` and `counts` (room for GPT2_NUM_PARAM_TENSORS);
 * returns how many. */
int kd_gpt2_layer_views(gpt2_params *params, const gpt2_config *config, int first, int count,
                        float **views, size_t *counts);

/* One named tensor in Hugging Face's naming, without the "transformer."
 * prefix ("wte.weight", "h.3.mlp.c_fc.weight", "ln_f.bias", ...). */
typedef struct {
    char name[64];
    float *data;
    int ndim;
    int64_t shape[2];
} gpt2_tensor;

int kd_gpt2_tensor_count(const gpt2_config *config);
/* The index-th tensor of `params` (0 <= index < kd_gpt2_tensor_count). */
void kd_gpt2_tensor_at(const gpt2_config *config, const gpt2_params *params, int index,
                       gpt2_tensor *tensor);

/* Activations for one (B, T) shape, allocated once and reused every step. */
typedef struct {
    float *encoded;   /* (B, T, C)      wte + wpe */
    float *ln1;       /* (L, B, T, C) */
    float *ln1_mean;  /* (L, B, T) */
    float *ln1_rstd;  /* (L, B, T) */
    float *qkv;       /* (L, B, T, 3C) */
    float *atty;      /* (L, B, T, C)   attention output before c_proj */
    float *att;       /* (L, B, H, T, T) softmax probabilities */
    float *residual2; /* (L, B, T, C)   after attention */
    float *ln2;       /* (L, B, T, C) */
    float *ln2_mean;  /* (L, B, T) */
    float *ln2_rstd;  /* (L, B, T) */
    float *fch;       /* (L, B, T, 4C)  c_fc output */
    float *fch_gelu;  /* (L, B, T, 4C) */
    float *residual3; /* (L, B, T, C)   block output */
    float *lnf;       /* (B, T, C)      final LayerNorm output */
    float *lnf_mean;  /* (B, T) */
    float *lnf_rstd;  /* (B, T) */
    float *dlnf;      /* (B, T, C)      gradient arriving from the head */
} gpt2_acts;

/* Gradient scratch for one layer at a time plus the residual stream. */
typedef struct {
    float *dresidual; /* (B, T, C)  gradient of the current residual stream */
    float *dln;       /* (B, T, C) */
    float *dqkv;      /* (B, T, 3C) */
    float *datty;     /* (B, T, C) */
    float *dfch;      /* (B, T, 4C) */
    float *dfch_gelu; /* (B, T, 4C) */
    float *datt;      /* (threads, T, T) per-thread attention scratch */
} gpt2_grad_acts;

/* ---- precision of the matrix products ----------------------------------
 *
 * fp32: every product through OpenBLAS sgemm. bf16: standard mixed
 * precision. The weights, their gradients and the AdamW moments stay fp32
 * (the master copy); the weights are rounded to bf16 once per step, and the
 * products of the blocks and the lm_head take bf16 inputs and accumulate and
 * write fp32, through oneDNN's matmul. LayerNorm, attention, softmax, GELU,
 * the losses, the gradient norm and AdamW stay fp32. */
typedef enum {
    KD_PRECISION_FP32 = 0,
    KD_PRECISION_BF16 = 1,
    KD_PRECISION_AUTO = 2, /* bf16 where the CPU's native bf16 products outrun fp32 */
} kd_precision;

/* "fp32", "bf16" or "auto". */
const char *kd_precision_name(kd_precision precision);
kd_status kd_precision_parse(const char *text, kd_precision *precision);
/* The precision a run uses for `requested`: auto becomes bf16 where the CPU
 * multiplies bf16 natively and faster than fp32 (AMX, or AVX512-BF16 on AMD
 * Zen 4/5, through oneDNN) and fp32 elsewhere, including Intel CPUs whose
 * only bf16 instruction is AVX512-BF16 (no faster than their fp32 FMAs).
 * bf16 runs wherever it is native; on a CPU or build without it, it is
 * KD_ERR_UNSUPPORTED with a line saying what is missing and that auto or
 * fp32 will run. */
kd_status kd_precision_resolve(kd_precision requested, kd_precision *chosen);
/* One line for the user: the precision chosen, why when auto chose it, and
 * what runs it, e.g. "precision bf16 (auto: native bf16 outruns fp32 here;
 * oneDNN avx512_core_amx)". */
void kd_precision_describe(kd_precision requested, kd_precision chosen, char *out,
                           size_t capacity);

/* What the bf16 products of a model need beside its fp32 weights. */
typedef struct {
    kd_precision precision;  /* FP32 or BF16, never AUTO */
    uint16_t *params_bf16;   /* bf16: the weights rounded, in params_memory's layout */
    uint16_t *scratch;       /* bf16: one product's activation operands */
    int params_bf16_current; /* params_bf16 matches the fp32 weights */
} gpt2_products;
/* What kd_gpt2_backward reports as it goes, for work that can start before
 * it ends: layer_done(context, l) once layer l's gradients are final (l from
 * n_layer - 1 down to 0), progress(context) between its matrix products. */
typedef struct {
    void (*layer_done)(void *context, int layer);
    void (*progress)(void *context);
    void *context;
} gpt2_backward_hook;

/* LoRA adapters (kd/lora.h), and QLoRA's NF4 base matrices. */
typedef struct gpt2_lora gpt2_lora;
typedef struct gpt2_nf4_base gpt2_nf4_base;

typedef struct {
    gpt2_config config;
    gpt2_params params;
    float *params_memory;
    size_t num_params;
    /* Which of the GPT2_NUM_PARAM_TENSORS tensors train (all, unless LoRA
     * adapters froze the base). */
    unsigned char trainable[GPT2_NUM_PARAM_TENSORS];
    gpt2_lora *lora;      /* NULL: no adapters */
    /* QLoRA: the four Conv1D matrices in NF4, their views in params NULL
     * and params_memory (num_params floats) holding the other tensors. */
    gpt2_nf4_base *nf4;
    /* Training state, allocated by kd_gpt2_prepare: the gradients of the
     * trainable tensors (the views of frozen ones are NULL), then those of
     * the adapters; AdamW's moments in the same order. */
    gpt2_params grads;
    size_t num_trainable; /* floats in grads_memory, adam_m and adam_v */
    float *grads_memory;
    float *adam_m;        /* floats [moments_begin, moments_end) of the packed gradients' */
    float *adam_v;        /*   order: all of them, or one rank's shard (ZeRO-1) */
    size_t moments_begin;
    size_t moments_end;
    /* Activations for the largest (B, T) prepared. */
    gpt2_acts acts;
    float *acts_memory;
    gpt2_grad_acts grad_acts;
    float *grad_acts_memory;
    float *head_scratch;  /* logits (R, V), gathered rows (R, C), their grads (R, C) */
    int *head_rows;       /* (B*T) indices of the rows the head counts */
    float *head_row_values; /* (B*T) per-row results of the head (e.g. argmax hits) */
    int *inputs;          /* (B, T) tokens of the last forward pass */
    int max_batch;
    int max_seq;
    int head_chunk_rows;
    /* Shape of the last forward pass. */
    int batch;
    int seq;
    gpt2_products products;
    const gpt2_backward_hook *backward_hook; /* NULL: none */
} gpt2_model;

/* Allocates zeroed parameters for `config`. */
kd_status kd_gpt2_create(gpt2_model *model, const gpt2_config *config);
void kd_gpt2_free(gpt2_model *model);
/* GPT-2 initialisation: weights N(0, 0.02), residual projections (attn.c_proj,
 * mlp.c_proj) N(0, 0.02/sqrt(2 L)), biases 0, LayerNorm weight 1 / bias 0. */
void kd_gpt2_init_random(gpt2_model *model, uint64_t seed);

/* Allocates activations for batches up to (B, T) and, when `training`,
 * gradients and AdamW moments. Call once before the step loop. */
kd_status kd_gpt2_prepare(gpt2_model *model, int max_batch, int max_seq, int training);
/* Bytes kd_gpt2_prepare(model, B, T, training) would allocate, for estimates. */
size_t kd_gpt2_prepare_bytes(const gpt2_config *config, int batch, int seq, int training);

/* Runs the model's products in `precision` (FP32 or BF16, as resolved);
 * call after kd_gpt2_prepare. bf16 allocates the weights' bf16 copy and the
 * bf16 operand scratch; it is refused (KD_ERR_UNSUPPORTED) only where
 * oneDNN cannot multiply bf16 at all, so tests can run it where the CPU
 * only emulates bf16. */
kd_status kd_gpt2_set_precision(gpt2_model *model, kd_precision precision);
/* Says the fp32 weights were written (loaded, updated): a bf16 model rounds
 * them again before its next forward pass. */
void kd_gpt2_weights_changed(gpt2_model *model);

/* Forward to the final LayerNorm output acts.lnf. tokens: (B, T), B <= max_batch,
 * T <= max_seq. Sequences shorter than T are right-padded: the causal mask
 * already keeps real tokens from seeing the padding after them. */
void kd_gpt2_forward(gpt2_model *model, const int *tokens, int batch, int seq);

/* Cross-entropy through the tied lm_head, computed in row chunks so the full
 * (B, T, V) logits never exist. targets: (B, T); weights: (B, T) per-token
 * loss weights (0 = not counted), may be NULL for all ones. Returns the sum
 * over tokens of weight * -log p(target). When `grad_scale` is nonzero it
 * also writes acts.dlnf = grad_scale * d(sum)/d(lnf) and accumulates
 * grad_scale * d(sum)/d(wte) into grads.wte. */
double kd_gpt2_head_cross_entropy(gpt2_model *model, const int *targets, const float *weights,
                                  float grad_scale);

/* Everything the head reports for evaluation: per-token loss, argmax. */
typedef struct {
    double loss_sum;      /* sum of -log p(target) over counted tokens */
    double counted;       /* number of counted tokens (sum of weights) */
    double correct;       /* counted tokens whose argmax equals the target */
} gpt2_eval_sums;
void kd_gpt2_head_evaluate(gpt2_model *model, const int *targets, const float *weights,
                           gpt2_eval_sums *sums);

/* Full logits for rows of the last forward pass: out (rows, V) for positions
 * [row_begin, row_begin + rows) of the flattened (B, T). */
void kd_gpt2_head_logits(gpt2_model *model, int row_begin, int rows, float *out);
/* log(sum(exp(logits))) over V entries, computed stably (vectorised), so
 * -log p(t) = kd_logits_log_sum_exp(logits, V) - logits[t]. */
float kd_logits_log_sum_exp(const float *logits, int V);

/* Backward from acts.dlnf to every trainable parameter's gradient
 * (accumulated into grads and the adapters' gradients). */
void kd_gpt2_backward(gpt2_model *model);
void kd_gpt2_zero_grad(gpt2_model *model);

/* Global L2 norm of all gradients. */
float kd_gpt2_grad_norm(const gpt2_model *model);
/* Sum of squares of `count` gradients, in a fixed order (the square of a
 * norm that ranks holding one slice each add up). */
double kd_grad_sum_of_squares(const float *grads, size_t count);
/* ZeRO-1: keeps only the AdamW moments of the packed gradients' floats
 * [begin, end) (copied from the full moments, e.g. just loaded from a
 * checkpoint); kd_gpt2_adamw_update then updates only those parameters. */
kd_status kd_gpt2_shard_moments(gpt2_model *model, size_t begin, size_t end);
/* The factor global-norm clipping multiplies the gradients by (PyTorch's
 * clip_grad_norm_): max_norm / (norm + 1e-6) when norm exceeds max_norm > 0,
 * else 1. */
float kd_grad_clip_factor(float norm, float max_norm);

typedef struct {
    float learning_rate;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
    int decay_all;   /* 0: decay only matrices (not biases, LayerNorm, embeddings) */
} adamw_config;

/* One AdamW step (decoupled weight decay, bias correction) on the gradients
 * times grad_factor (the clipping factor, applied on the fly rather than by
 * a pass of its own); `step` counts from 1. */
void kd_gpt2_adamw_update(gpt2_model *model, const adamw_config *adamw, int step,
                          float grad_factor);

typedef enum { LR_COSINE = 0, LR_LINEAR = 1, LR_CONSTANT = 2 } lr_schedule;
/* Linear warm-up over warmup_steps, then decay to min_ratio * peak at total_steps. */
float kd_lr_at_step(lr_schedule schedule, float peak, float min_ratio, int warmup_steps,
                    int total_steps, int step);

/* One micro-batch: tokens, targets and loss weights, each (batch, seq). */
typedef struct {
    const int *tokens;
    const int *targets;
    const float *weights;   /* NULL: every token counts */
    int batch;
    int seq;
} gpt2_batch;

/* Data-parallel training: each rank runs its slice of the step's batch, and
 * these sums over the ranks turn its partial counts, losses and gradients
 * into the whole batch's, identical on every rank. */
typedef struct {
    kd_status (*sum_doubles)(double *values, int count);
    kd_status (*sum_floats)(float *values, size_t count);
    /* ZeRO-1 (NULL: off): each rank holds the sums of its slice of the
     * gradients only (the slice its sharded moments cover), updates those
     * parameters, and the ranks' slices are then gathered everywhere. */
    kd_status (*reduce_scatter_floats)(float *values, size_t count);
    kd_status (*gather_floats)(float *values, size_t count);
    /* Overlap (NULL: off; not with ZeRO-1 or adapters): the last
     * micro-batch's backward pass starts each layer's sums as the layer is
     * done (kd_dist_bucket_start's contract) and lets them progress between
     * its products; the step finishes them, then sums wte, wpe and ln_f,
     * which are final only at the end, with sum_floats. Same bits as
     * sum_floats over everything. */
    kd_status (*bucket_start)(float *const *pieces, const size_t *counts, int piece_count);
    void (*buckets_progress)(void);
    kd_status (*buckets_finish)(void);
} gpt2_reducer;

typedef struct {
    adamw_config adamw;      /* learning_rate here is the peak; lr below is used */
    float learning_rate;     /* this step's rate (from kd_lr_at_step) */
    float grad_clip;         /* global-norm clip; <= 0 disables */
    const gpt2_reducer *reducer; /* NULL: the micro-batches are the whole step */
    /* With the reducer's buckets: consecutive layers are summed together
     * until they hold at least this many floats (0: every layer alone). */
    size_t bucket_floats;
} gpt2_step_config;

typedef struct {
    double loss;             /* mean CE over the counted tokens of all micro-batches */
    double counted;          /* tokens counted (by every rank) */
    float grad_norm;         /* before clipping */
} gpt2_step_result;

/* One optimizer step with gradient accumulation over micro_count batches:
 * the loss is the mean over every counted token of all of them, so the
 * gradient does not depend on how a batch is split. A NaN or Inf loss or
 * gradient leaves the parameters untouched and returns KD_ERR_NUMERIC.
 * `step` counts from 1 (AdamW bias correction). */
kd_status kd_gpt2_train_step(gpt2_model *model, const gpt2_batch *micro, int micro_count,
                             const gpt2_step_config *config, int step, gpt2_step_result *result);

/* ---- generation ---------------------------------------------------------
 *
 * Incremental decoding: kd_gpt2_prefill runs the prompt through kd_gpt2_forward as
 * one (1, T) batch and keeps every layer's keys and values; each
 * kd_gpt2_decode_step then computes one new position with matrix-vector
 * products, attending over the cached keys. The logits equal those of a full
 * forward pass over the whole sequence (up to float rounding). */

/* A token and its score, as the sampler ranks them. */
typedef struct {
    float logit;
    int token;
} gpt2_candidate;

/* Keys and values of every layer for up to max_len positions, and the
 * scratch one decoding step and the sampler need: one allocation. */
typedef struct {
    gpt2_config config; /* the shape it was made for */
    int max_len;
    int length;        /* positions filled */
    float *keys;       /* (L, max_len, C) */
    float *values;     /* (L, max_len, C) */
    float *residual;   /* (C) residual stream of the position being decoded */
    float *ln;         /* (C) LayerNorm output */
    float *ln_stats;   /* (2) LayerNorm mean and rstd (not needed, but written) */
    float *qkv;        /* (3C) */
    float *atty;       /* (C) */
    float *projected;  /* (C) c_proj output before the residual add */
    float *fch;        /* (4C) */
    float *fch_gelu;   /* (4C) */
    float *scores;     /* (H, max_len) attention probabilities */
    float *logits;     /* (V) logits of the last position computed */
    gpt2_candidate *candidates; /* (V) sampler scratch */
    void *memory;
} gpt2_kv_cache;

/* 1 <= max_len <= config->n_positions. */
kd_status kd_gpt2_kv_cache_create(gpt2_kv_cache *cache, const gpt2_config *config, int max_len);
void kd_gpt2_kv_cache_free(gpt2_kv_cache *cache);
size_t kd_gpt2_kv_cache_bytes(const gpt2_config *config, int max_len);

/* Empties the cache and runs tokens[0..count) through the model, which must
 * be prepared for batch 1 and sequences of at least `count` (any prepared
 * shape that large will do; its activations are overwritten). Leaves the
 * logits of the last position in cache->logits. */
kd_status kd_gpt2_prefill(gpt2_model *model, gpt2_kv_cache *cache, const int *tokens, int count);
/* Appends `token` at position cache->length and leaves the logits it
 * predicts in cache->logits. */
kd_status kd_gpt2_decode_step(const gpt2_model *model, gpt2_kv_cache *cache, int token);

typedef struct {
    float temperature;  /* logits are divided by it; 0 = greedy (argmax) */
    int top_k;          /* sample among the k most likely tokens; 0 = no limit */
    float top_p;        /* then among the fewest whose probability reaches p; 1 = no limit */
    int max_new_tokens;
    int stop_token;     /* sampling it ends generation (it is not emitted); -1 = none */
} gpt2_sampling;

/* temperature 0.7, top_k 50, top_p 1, max_new_tokens 128, no stop token. */
void kd_gpt2_sampling_default(gpt2_sampling *sampling);
kd_status kd_gpt2_sampling_validate(const gpt2_sampling *sampling);

/* The next token from logits (V), by the rules of `sampling`: argmax when
 * greedy or top_k is 1 (the rng is not used), otherwise one draw from rng.
 * Ties rank the lower token id first, so the result never depends on sort
 * order. scratch holds V candidates. */
int kd_gpt2_sample_token(const float *logits, int V, const gpt2_sampling *sampling,
                         gpt2_candidate *scratch, kd_rng *rng);

/* Fails unless 1 <= prompt_count < n_positions (at least one new token must fit). */
kd_status kd_gpt2_prompt_check(const gpt2_config *config, int prompt_count);

typedef struct {
    int prompt_tokens;
    int new_tokens;          /* tokens emitted (the stop token not included) */
    int stopped;             /* 1 when the stop token ended generation */
    int decode_steps;        /* single-token forward passes run */
    double prefill_seconds;  /* the prompt's forward pass and its logits */
    double decode_seconds;   /* the decode steps (forward passes only) */
    double sample_seconds;   /* choosing every token from its logits */
} gpt2_generate_stats;

/* Receives each new token; a status other than KD_OK ends generation with it
 * (e.g. when the text cannot be written out). */
typedef kd_status (*gpt2_token_fn)(int token, void *context);

/* Generates up to sampling->max_new_tokens tokens after `prompt`, stopping
 * early at the stop token or when prompt and new tokens fill the cache
 * (at most n_positions). Each new token goes to out (room for
 * max_new_tokens; may be NULL) and to on_token (may be NULL) as soon as it
 * is sampled. This is the code that `kd generate` and `kd bench --mode
 * generate` both run. */
kd_status kd_gpt2_generate_tokens(gpt2_model *model, gpt2_kv_cache *cache, const int *prompt,
                                  int prompt_count, const gpt2_sampling *sampling, kd_rng *rng,
                                  int *out, gpt2_token_fn on_token, void *context,
                                  gpt2_generate_stats *stats);

#endif
