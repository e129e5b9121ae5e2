/* LoRA inside the GPT-2 passes (internal to nn): the adapters of one
 * layer's target, their activations and their gradients' place. */
#ifndef KD_NN_LORA_LAYER_H
#define KD_NN_LORA_LAYER_H

#include "kd/lora.h"

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
