/* LoRA adapters -> a llama.cpp LoRA GGUF, as convert_lora_to_gguf.py writes
 * one and llama-adapter.cpp loads it: general.type "adapter", adapter.type
 * "lora", adapter.lora.alpha, and per adapted matrix <base tensor>.lora_a
 * and .lora_b, f32.
 *
 * Shapes: llama.cpp holds GPT-2's Conv1D weight W [in, out] as ggml rows of
 * in values (ne = [in, out], HF's matrix transposed), and applies an adapter
 * as W x + scale * B (A x) with A of ne [in, r] and B of ne [r, out]. Those
 * are PEFT's A (r, in) and B (out, r) in row-major order, so kd's adapters
 * are written as they are, with no transpose: the Conv1D transpose of the
 * base and PEFT's fan_in_fan_out cancel. */
#include "kd/gguf.h"
#include "kd/lora.h"

#include <math.h>
#include <stdio.h>

/* llama.cpp's gpt2 tensor of each target (gpt2_tensors.c names them too). */
static const char *const gguf_names[GPT2_LORA_TARGETS] = {"attn_qkv", "attn_output", "ffn_up",
                                                          "ffn_down"};

static void add_matrix(gguf_writer *writer, int layer, gpt2_lora_target target, char which,
                       const float *data, uint64_t row, uint64_t rows)
{
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight.lora_%c", layer, gguf_names[target], which);
    uint64_t ne[2] = {row, rows};
    kd_gguf_add_tensor(writer, name, GGML_F32, 2, ne, data);
}

kd_status kd_gguf_export_lora(const char *path, const gpt2_model *model)
{
    const gpt2_lora *lora = model->lora;
    if (!lora)
        return kd_fail(KD_ERR_INVALID, "the model has no LoRA adapters to export");
    if (lora->config.train_biases)
        return kd_fail(KD_ERR_UNSUPPORTED, "bias \"all\": a llama.cpp LoRA GGUF holds no "
                       "biases; merge the adapter (kd merge) and export the model instead");
    int r = lora->config.rank;
    gguf_writer writer;
    kd_gguf_writer_init(&writer, KD_GGUF_DEFAULT_ALIGNMENT);
    kd_gguf_add_string(&writer, "general.architecture", "gpt2");
    kd_gguf_add_string(&writer, "general.type", "adapter");
    kd_gguf_add_string(&writer, "adapter.type", "lora");
    /* llama.cpp scales by alpha / r, r read from the tensors: rsLoRA's
     * alpha / sqrt(r) is the same scale with alpha * sqrt(r). */
    float alpha = lora->config.rslora ? lora->config.alpha * sqrtf((float)r) : lora->config.alpha;
    kd_gguf_add_f32(&writer, "adapter.lora.alpha", alpha);
    for (int l = 0; l < model->config.n_layer; l++) {
        for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
            if (!lora->a[t])
                continue;
            int in, out;
            kd_gpt2_lora_target_shape(&model->config, (gpt2_lora_target)t, &in, &out);
            add_matrix(&writer, l, (gpt2_lora_target)t, 'a', lora->a[t] + (size_t)l * r * in,
                       (uint64_t)in, (uint64_t)r);
            add_matrix(&writer, l, (gpt2_lora_target)t, 'b', lora->b[t] + (size_t)l * out * r,
                       (uint64_t)r, (uint64_t)out);
        }
    }
    kd_status status = kd_gguf_write(&writer, path);
    kd_gguf_writer_free(&writer);
    return status;
}
