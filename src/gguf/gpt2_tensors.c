/* GPT-2's tensors in llama.cpp's naming, in the order the exporter writes
 * them: the embeddings and final norm first, then each block. */
#include "gguf_gpt2.h"

#include <stdio.h>

enum { GLOBAL_TENSORS = 4, BLOCK_TENSORS = 12 };

int kd_gguf_gpt2_tensor_count(const gpt2_config *config)
{
    return GLOBAL_TENSORS + BLOCK_TENSORS * config->n_layer;
}

/* base + offset, or NULL for a view that is not there (a quantized model's
 * matrices, or no model at all when only names and shapes are wanted). */
static float *at(float *base, size_t offset)
{
    return base ? base + offset : NULL;
}

static void set(gguf_gpt2_tensor *tensor, const char *name, float *data, uint64_t row,
                uint64_t rows, int transposed)
{
    snprintf(tensor->name, sizeof tensor->name, "%s", name);
    tensor->data = data;
    tensor->ndim = rows > 1 ? 2 : 1;
    tensor->ne[0] = row;
    tensor->ne[1] = rows;
    tensor->transposed = transposed;
    tensor->matrix = transposed;
}

static void global_tensor(const gpt2_config *config, const gpt2_params *params, int index,
                          gguf_gpt2_tensor *tensor)
{
    uint64_t C = (uint64_t)config->n_embd;
    switch (index) {
    case 0:
        set(tensor, "token_embd.weight", params->wte, C, (uint64_t)config->vocab_size, 0);
        tensor->matrix = 1;  /* also the tied output matrix */
        break;
    case 1: set(tensor, "position_embd.weight", params->wpe, C, (uint64_t)config->n_positions, 0);
        break;
    case 2: set(tensor, "output_norm.weight", params->lnfw, C, 1, 0); break;
    default: set(tensor, "output_norm.bias", params->lnfb, C, 1, 0); break;
    }
}

static void block_tensor(const gpt2_config *config, const gpt2_params *params, int layer,
                         int index, gguf_gpt2_tensor *tensor)
{
    size_t C = (size_t)config->n_embd, l = (size_t)layer;
    char name[64];
    static const char *const NAMES[BLOCK_TENSORS] = {
        "attn_norm.weight", "attn_norm.bias", "attn_qkv.weight", "attn_qkv.bias",
        "attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_norm.bias",
        "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias",
    };
    snprintf(name, sizeof name, "blk.%d.%s", layer, NAMES[index]);
    switch (index) {
    case 0: set(tensor, name, at(params->ln1w, l * C), C, 1, 0); break;
    case 1: set(tensor, name, at(params->ln1b, l * C), C, 1, 0); break;
    case 2: set(tensor, name, at(params->qkvw, l * C * 3 * C), C, 3 * C, 1); break;
    case 3: set(tensor, name, at(params->qkvb, l * 3 * C), 3 * C, 1, 0); break;
    case 4: set(tensor, name, at(params->attprojw, l * C * C), C, C, 1); break;
    case 5: set(tensor, name, at(params->attprojb, l * C), C, 1, 0); break;
    case 6: set(tensor, name, at(params->ln2w, l * C), C, 1, 0); break;
    case 7: set(tensor, name, at(params->ln2b, l * C), C, 1, 0); break;
    case 8: set(tensor, name, at(params->fcw, l * C * 4 * C), C, 4 * C, 1); break;
    case 9: set(tensor, name, at(params->fcb, l * 4 * C), 4 * C, 1, 0); break;
    case 10: set(tensor, name, at(params->fcprojw, l * 4 * C * C), 4 * C, C, 1); break;
    default: set(tensor, name, at(params->fcprojb, l * C), C, 1, 0); break;
    }
}

void kd_gguf_gpt2_tensor_at(const gpt2_config *config, const gpt2_params *params, int index,
                            gguf_gpt2_tensor *tensor)
{
    if (index < GLOBAL_TENSORS)
        global_tensor(config, params, index, tensor);
    else
        block_tensor(config, params, (index - GLOBAL_TENSORS) / BLOCK_TENSORS,
                     (index - GLOBAL_TENSORS) % BLOCK_TENSORS, tensor);
}

kd_qmatrix *kd_gguf_gpt2_qmatrix_at(gpt2_qmodel *model, int index)
{
    if (index == 0)
        return &model->wte;
    if (index < GLOBAL_TENSORS)
        return NULL;
    gpt2_qlayer *layer = &model->layers[(index - GLOBAL_TENSORS) / BLOCK_TENSORS];
    switch ((index - GLOBAL_TENSORS) % BLOCK_TENSORS) {
    case 2: return &layer->qkv;
    case 4: return &layer->attproj;
    case 8: return &layer->fc;
    case 10: return &layer->fcproj;
    default: return NULL;
    }
}

uint32_t kd_gguf_gpt2_file_type(ggml_type type)
{
    /* llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0. */
    switch (type) {
    case GGML_F32: return 0;
    case GGML_F16: return 1;
    case GGML_Q4_0: return 2;
    default: return 7;
    }
}
