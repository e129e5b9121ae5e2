/* LoRA inside the GPT-2 passes (internal to nn): the adapters of one
 * layer's target, their activations and their gradients' place. */
#ifndef KD_NN_LORA_LAYER_H
#define KD_NN_LORA_LAYER_H

#include "kd/lora.h"
#include "kd/quant.h"

/* QLoRA's base: matrices[target * n_layer + layer] in NF4, and the scratch
 * (4C*C floats, the largest matrix) the one being used is dequantized into. */
struct gpt2_nf4_base {
    kd_nf4_tensor *matrices;
    float *weight;
};
/* Quantizes model's four Conv1D matrices and shrinks params_memory to the
 * other tensors; sets model->nf4. */
kd_status kd_nf4_base_create(gpt2_model *model);
void kd_nf4_base_free(gpt2_nf4_base *base, int n_layer);
/* Layer `layer`'s Conv1D weight [in, out] of `target`: a view of the fp32
 * parameters, or with an NF4 base the matrix dequantized into its scratch,
 * valid until the next call. */
const float *kd_gpt2_base_weight(const gpt2_model *model, gpt2_lora_target target, int layer);

/* out (N,out) += the adapter of (target, layer) on inp (N,in), N the rows of
 * the current forward pass; nothing when the model has none there. */
void kd_lora_layer_forward(gpt2_model *model, gpt2_lora_target target, int layer, float *out,
                           const float *inp);
/* dinp (N,in) += its share of the input gradient; the adapter's gradients +=. */
void kd_lora_layer_backward(gpt2_model *model, gpt2_lora_target target, int layer, float *dinp,
                            const float *dout, const float *inp);

/* The one-row case for decoding, without dropout and without saving
 * anything: out (out) += the adapter of (target, layer) on inp (in). lora
 * may be NULL. */
void kd_lora_layer_decode(const gpt2_lora *lora, const gpt2_config *config,
                          gpt2_lora_target target, int layer, float *out, const float *inp);

/* Floats of the adapters' activations for (B, T). */
size_t kd_lora_acts_floats(const gpt2_lora *lora, const gpt2_config *config, int B, int T);
kd_status kd_lora_prepare_acts(gpt2_lora *lora, const gpt2_config *config, int B, int T);
/* Points the adapters' gradient views at `memory` (lora->num_params floats). */
void kd_lora_point_grads(gpt2_lora *lora, const gpt2_config *config, float *memory);
void kd_lora_free(gpt2_lora *lora);

#endif
