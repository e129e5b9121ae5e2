/* kd nn: LoRA adapters on GPT-2's four Conv1D matrices (arXiv 2106.09685),
 * with Hugging Face PEFT's semantics.
 *
 * A targeted matrix W [in, out] computes y = x W + b + scale * drop(x) A^T B^T
 * with A (r, in) drawn Kaiming-uniform(a = sqrt 5), i.e. U(-1/sqrt in,
 * 1/sqrt in), B (out, r) zero, scale alpha / r (alpha / sqrt r for rsLoRA)
 * and dropout on the adapter's input only. Merging adds scale * (B A)^T to
 * W, which is the fan_in_fan_out behaviour PEFT uses for GPT-2's Conv1D.
 *
 * Attached to a model, the adapters freeze the base: its tensors get no
 * weight gradients (only the activation gradient passes through them) and
 * no AdamW moments; the model's gradient and moment buffers hold the
 * adapters (and, with train_biases, every bias) alone. */
#ifndef KD_LORA_H
#define KD_LORA_H

#include "kd/nn.h"

/* Hugging Face module names, in this order: attn.c_attn, attn.c_proj,
 * mlp.c_fc, mlp.c_proj. */
typedef enum {
    GPT2_LORA_ATTN_C_ATTN = 0,
    GPT2_LORA_ATTN_C_PROJ,
    GPT2_LORA_MLP_C_FC,
    GPT2_LORA_MLP_C_PROJ,
    GPT2_LORA_TARGETS
} gpt2_lora_target;

typedef struct {
    int rank;
    float alpha;
    float dropout;       /* on the adapter input while training, in [0, 1) */
    unsigned targets;    /* bit t set: target t carries an adapter */
    int rslora;          /* scale alpha / sqrt(rank) instead of alpha / rank */
    int train_biases;    /* PEFT bias "all": every bias (Conv1D and LayerNorm) trains */
    int qlora;           /* QLoRA: the frozen Conv1D matrices held in NF4 (kd/quant.h) */
} gpt2_lora_config;

/* rank 8, alpha 8, dropout 0, attn.c_attn only (PEFT's GPT-2 default). */
void kd_gpt2_lora_config_default(gpt2_lora_config *config);

const char *kd_gpt2_lora_target_name(gpt2_lora_target target);
/* "attn.c_attn" -> target; an unknown name fails, listing the valid ones. */
kd_status kd_gpt2_lora_target_parse(const char *name, gpt2_lora_target *target);
/* A target's Conv1D shape [in, out] in `model`. */
void kd_gpt2_lora_target_shape(const gpt2_config *model, gpt2_lora_target target, int *in,
                               int *out);
/* Rank positive and no larger than any target's dimensions, at least one
 * target, alpha positive, dropout in [0, 1). */
kd_status kd_gpt2_lora_config_validate(const gpt2_lora_config *config, const gpt2_config *model);
float kd_gpt2_lora_scale(const gpt2_lora_config *config);
size_t kd_gpt2_lora_num_params(const gpt2_lora_config *config, const gpt2_config *model);
/* Parameters that train: the adapters, plus every bias with train_biases. */
size_t kd_gpt2_lora_num_trainable(const gpt2_lora_config *config, const gpt2_config *model);

/* Adapters and their activations. Per target, A and B are stacked over the
 * L layers (NULL for targets not chosen). */
struct gpt2_lora {
    gpt2_lora_config config;
    float scale;
    float *a[GPT2_LORA_TARGETS];      /* (L, r, in) */
    float *b[GPT2_LORA_TARGETS];      /* (L, out, r) */
    float *grad_a[GPT2_LORA_TARGETS]; /* views into the model's gradient buffer */
    float *grad_b[GPT2_LORA_TARGETS];
    float *params_memory;
    size_t num_params;
    /* For the largest prepared (B, T), N = B*T rows: */
    float *u[GPT2_LORA_TARGETS];      /* (L, N, r)  drop(x) A^T, kept for backward */
    float *dropped;                   /* (N, 4C)    drop(x) of the layer at hand */
    float *du;                        /* (N, r) */
    float *acts_memory;
    /* Dropout draws from a hash of (key, layer, target, element), so the
     * mask of a training forward is rebuilt in backward instead of kept, and
     * a resumed run draws the same masks. Off outside training. */
    uint64_t seed;                    /* of attach: A's draw and every mask */
    int dropout_on;
    uint64_t dropout_key;
};

/* Bytes kd_gpt2_prepare(model, B, T, 1) allocates once `lora` is attached,
 * plus the adapters themselves: what a LoRA run needs beside the weights. */
size_t kd_gpt2_lora_prepare_bytes(const gpt2_config *config, const gpt2_lora_config *lora,
                                  int batch, int seq);

/* Adds adapters to a created, not yet prepared model: A from `seed`, B zero,
 * the base frozen. The model owns them (kd_gpt2_free releases them). With
 * config->qlora the four Conv1D matrices of every layer are quantized to NF4
 * and their fp32 copies released; the passes dequantize one matrix at a time
 * into a scratch matrix, and products run in fp32 (bf16 is refused). */
kd_status kd_gpt2_lora_attach(gpt2_model *model, const gpt2_lora_config *config, uint64_t seed);

/* Bytes of the base weights as a run with `lora` holds them: every
 * parameter in fp32, or with qlora the matrices in NF4 plus the one
 * dequantized scratch matrix. lora may be NULL (full fine-tuning). */
size_t kd_gpt2_lora_base_bytes(const gpt2_config *config, const gpt2_lora_config *lora);
/* A new plain fp32 model with `model`'s base weights (NF4 matrices
 * dequantized), without adapters: what merging and saving start from. */
kd_status kd_gpt2_base_copy(const gpt2_model *model, gpt2_model *copy);

/* Adapter tensors in PEFT's naming without the "base_model.model.transformer."
 * prefix: "h.3.attn.c_attn.lora_A.weight" (r, in), "...lora_B.weight" (out, r);
 * layer by layer, targets in enum order, A before B. */
int kd_gpt2_lora_tensor_count(const gpt2_lora *lora, const gpt2_config *model);
void kd_gpt2_lora_tensor_at(const gpt2_lora *lora, const gpt2_config *model, int index,
                            gpt2_tensor *tensor);

/* Dropout masks of the next training forward passes: keyed by the step and
 * the micro-batch, so a resumed run draws what the uninterrupted one drew. */
void kd_gpt2_lora_dropout_begin(gpt2_model *model, int step, int micro);
void kd_gpt2_lora_dropout_end(gpt2_model *model);

/* W += scale * (B A)^T for every adapter: base + adapters as one plain
 * GPT-2 in `params` (any model of the same config, e.g. a copy). */
void kd_gpt2_lora_merge_into(const gpt2_lora *lora, const gpt2_config *model,
                             gpt2_params *params);

#endif
