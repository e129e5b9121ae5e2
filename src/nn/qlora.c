/* QLoRA's frozen base (arXiv 2305.14314): the four Conv1D matrices of every
 * layer held as NF4 blocks, each dequantized into one scratch matrix when a
 * pass reaches it, so that at most one fp32 matrix exists at a time. The
 * embeddings, LayerNorms and biases stay fp32 in params_memory, which
 * shrinks to them. */
#include <stdlib.h>
#include <string.h>

#include "lora_layer.h"
#include "ops.h"

/* The stacked Conv1D weight of each target among the parameter tensors. */
static const int target_tensor[GPT2_LORA_TARGETS] = {4, 6, 10, 12};

static int is_target_tensor(int index)
{
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        if (target_tensor[t] == index)
            return 1;
    return 0;
}

static float *stacked_weight(const gpt2_params *params, gpt2_lora_target target)
{
    float *weights[GPT2_LORA_TARGETS] = {params->qkvw, params->attprojw, params->fcw,
                                         params->fcprojw};
    return weights[target];
}

static size_t matrix_floats(const gpt2_config *config, gpt2_lora_target target)
{
    int in, out;
    kd_gpt2_lora_target_shape(config, target, &in, &out);
    return (size_t)in * (size_t)out;
}

size_t kd_gpt2_lora_base_bytes(const gpt2_config *config, const gpt2_lora_config *lora)
{
    size_t floats = kd_gpt2_num_params(config);
    if (!lora || !lora->qlora)
        return floats * sizeof(float);
    size_t nf4 = 0, matrices = 0;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        size_t per_layer = matrix_floats(config, (gpt2_lora_target)t);
        matrices += (size_t)config->n_layer * per_layer;
        nf4 += (size_t)config->n_layer * kd_nf4_bytes(per_layer);
    }
    /* plus the scratch one dequantized matrix lives in */
    size_t scratch = 4 * (size_t)config->n_embd * (size_t)config->n_embd;
    return (floats - matrices + scratch) * sizeof(float) + nf4;
}

/* Moves every tensor that stays fp32 to the front of params_memory, in
 * order (each only moves down, so memmove suffices), then gives the rest
 * back. */
static kd_status compact_params(gpt2_model *model)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS], from = 0, to = 0;
    unsigned char present[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&model->config, sizes);
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++) {
        present[i] = (unsigned char)!is_target_tensor(i);
        if (present[i]) {
            memmove(model->params_memory + to, model->params_memory + from,
                    sizes[i] * sizeof(float));
            to += sizes[i];
        }
        from += sizes[i];
    }
    float *shrunk = realloc(model->params_memory, to * sizeof(float));
    if (!shrunk)
        return kd_fail(KD_ERR_NOMEM, "cannot shrink the model's parameters to %zu floats", to);
    model->params_memory = shrunk;
    model->num_params = to;
    kd_gpt2_params_point_subset(&model->params, shrunk, &model->config, present);
    return KD_OK;
}

static kd_status quantize_matrices(gpt2_nf4_base *base, const gpt2_model *model)
{
    int L = model->config.n_layer;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        size_t per_layer = matrix_floats(&model->config, (gpt2_lora_target)t);
        const float *stacked = stacked_weight(&model->params, (gpt2_lora_target)t);
        for (int l = 0; l < L; l++) {
            kd_status status = kd_nf4_quantize(&base->matrices[t * L + l],
                                               stacked + (size_t)l * per_layer, per_layer);
            if (status != KD_OK)
                return status;
        }
    }
    return KD_OK;
}

void kd_nf4_base_free(gpt2_nf4_base *base, int n_layer)
{
    if (!base)
        return;
    for (int i = 0; base->matrices && i < GPT2_LORA_TARGETS * n_layer; i++)
        kd_nf4_free(&base->matrices[i]);
    free(base->matrices);
    free(base->weight);
    free(base);
}

kd_status kd_nf4_base_create(gpt2_model *model)
{
    const gpt2_config *config = &model->config;
    gpt2_nf4_base *base = kd_alloc(1, sizeof *base, "NF4 base");
    if (!base)
        return KD_ERR_NOMEM;
    base->matrices = kd_alloc(GPT2_LORA_TARGETS * (size_t)config->n_layer,
                              sizeof *base->matrices, "NF4 matrices");
    base->weight = kd_alloc(matrix_floats(config, GPT2_LORA_MLP_C_FC), sizeof(float),
                            "dequantized matrix");
    kd_status status = base->matrices && base->weight ? quantize_matrices(base, model)
                                                      : KD_ERR_NOMEM;
    if (status == KD_OK)
        status = compact_params(model);
    if (status != KD_OK) {
        kd_nf4_base_free(base, config->n_layer);
        return status;
    }
    model->nf4 = base;
    return KD_OK;
}

const float *kd_gpt2_base_weight(const gpt2_model *model, gpt2_lora_target target, int layer)
{
    const gpt2_nf4_base *base = model->nf4;
    if (!base)
        return stacked_weight(&model->params, target) +
               (size_t)layer * matrix_floats(&model->config, target);
    kd_nf4_dequantize(&base->matrices[target * model->config.n_layer + layer], base->weight);
    return base->weight;
}

kd_status kd_gpt2_base_copy(const gpt2_model *model, gpt2_model *copy)
{
    kd_status status = kd_gpt2_create(copy, &model->config);
    if (status != KD_OK)
        return status;
    gpt2_params *to = &copy->params;
    /* The tensors model holds in fp32, through the views of both. */
    for (int i = 0; i < kd_gpt2_tensor_count(&model->config); i++) {
        gpt2_tensor from, into;
        kd_gpt2_tensor_at(&model->config, &model->params, i, &from);
        kd_gpt2_tensor_at(&model->config, to, i, &into);
        size_t count = (size_t)from.shape[0] * (size_t)(from.ndim == 2 ? from.shape[1] : 1);
        if (from.data)
            memcpy(into.data, from.data, count * sizeof(float));
    }
    for (int t = 0; model->nf4 && t < GPT2_LORA_TARGETS; t++)
        for (int l = 0; l < model->config.n_layer; l++)
            kd_nf4_dequantize(&model->nf4->matrices[t * model->config.n_layer + l],
                              stacked_weight(to, (gpt2_lora_target)t) +
                                  (size_t)l * matrix_floats(&model->config, (gpt2_lora_target)t));
    return KD_OK;
}
