/* The layers of GPT-2 as forward/backward pairs (internal to nn). Shapes use
 * N = B*T rows, C channels, H heads, D = C/H. Every backward *accumulates*
 * into its parameter gradients (+=), which are zeroed once per step. Input
 * gradients are overwritten, which spares a pass that zeroes them first,
 * except kd_layernorm_backward's: it adds into the residual stream's gradient,
 * where the branches meet. */
#ifndef KD_NN_OPS_H
#define KD_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kd/nn.h"

/* Layer l's slice of a stacked parameter (or gradient) tensor; NULL for the
 * NULL gradient of a frozen tensor. */
#define LAYER_PARAM(base, l, per_layer) \
    ((base) ? (base) + (size_t)(l) * (size_t)(per_layer) : NULL)

/* out (N,C) = wte[tokens] + wpe[t] for t = position within each row of T. */
void kd_encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                        int B, int T, int C);
void kd_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                         int B, int T, int C);

/* out (N,C) = (x - mean) * rstd * weight + bias; mean, rstd (N) saved. */
void kd_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C, float eps);
/* dweight and dbias may be NULL (frozen). */
void kd_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int N, int C);

/* out (N,OC) = inp (N,IC) . weight (IC,OC) + bias (OC); bias may be NULL,
 * and so may dweight and dbias (frozen tensors) in backward. weight is one
 * of model's parameter views; the products run in the model's precision
 * (bf16: its rounded weights, inputs rounded on the way). */
void kd_matmul_forward(const gpt2_model *model, float *out, const float *inp, const float *weight,
                       const float *bias, int N, int IC, int OC);
void kd_matmul_backward(const gpt2_model *model, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight, int N, int IC,
                        int OC);
/* The one-row case of kd_matmul_forward through sgemv: out (OC) = inp (IC) . weight + bias. */
void kd_matvec_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int IC, int OC);

/* Dropout of a LoRA adapter's input: element i of a stream is zeroed with
 * probability p, else scaled by 1/(1-p), by a hash of (stream, i) alone. */
typedef struct {
    float p;          /* 0: no dropout */
    uint64_t stream;
} lora_dropout;

/* A LoRA adapter beside a Conv1D matrix: out (N,OUT) += scale * u . B^T
 * where u (N,r) = drop(inp) (N,IN) . A^T is saved; A (r,IN), B (OUT,r).
 * dropped (N,IN) is scratch for drop(inp) (unused when p is 0). */
void kd_lora_forward(float *out, float *u, float *dropped, const float *inp, const float *A,
                     const float *B, float scale, lora_dropout dropout, int N, int IN, int OUT,
                     int r);
/* dinp (N,IN) += the adapter's share of the input gradient; dA, dB +=;
 * du (N,r) and dropped (N,IN) are scratch. */
void kd_lora_backward(float *dinp, float *dA, float *dB, float *du, float *dropped,
                      const float *dout, const float *inp, const float *u, const float *A,
                      const float *B, float scale, lora_dropout dropout, int N, int IN, int OUT,
                      int r);

/* Causal self-attention. qkv (B,T,3C) holds q|k|v; out (B,T,C) is the heads
 * concatenated; att (B,H,T,T) keeps the probabilities for backward. */
void kd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H);
/* One new query attending to `length` cached positions (itself included):
 * q (C), keys and values (length, C) with the heads side by side as in qkv,
 * out (C). scores: (H, length) scratch for the probabilities. */
void kd_attention_decode_forward(float *out, float *scores, const float *q, const float *keys,
                                 const float *values, int length, int C, int H);
/* scratch: (threads, T, T). */
void kd_attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                           const float *qkv, int B, int T, int C, int H);

/* GELU with the tanh approximation (HF "gelu_new"). */
void kd_gelu_forward(float *out, const float *inp, size_t n);
void kd_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

void kd_residual_forward(float *out, const float *a, const float *b, size_t n);
void kd_add_inplace(float *acc, const float *x, size_t n);

#endif
