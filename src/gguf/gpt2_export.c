/* GPT-2 -> GGUF in llama.cpp's "gpt2" layout: the keys its loader requires,
 * the tokenizer, and the tensors, matrices in the chosen type with HF's
 * Conv1D weights transposed into ggml's rows. */
#include "gguf_gpt2.h"
#include "kd/io.h"
#include "kd/quant.h"

#include <stdlib.h>
#include <string.h>

/* The converted tensors, kept until the file is written. */
typedef struct {
    gguf_writer writer;
    void **buffers;
    int buffer_count;
} export_state;

/* `tensor`'s values as ggml rows (HF's Conv1D weights transposed). */
static float *ggml_rows(const gguf_gpt2_tensor *tensor)
{
    uint64_t row = tensor->ne[0], rows = tensor->ne[1];
    float *out = kd_alloc(row * rows, sizeof *out, "exported tensor");
    if (!out)
        return NULL;
    for (uint64_t r = 0; r < rows; r++) {
        for (uint64_t c = 0; c < row; c++)
            out[r * row + c] = tensor->transposed ? tensor->data[c * rows + r]
                                                  : tensor->data[r * row + c];
    }
    return out;
}

/* Rows of f32 values in `type` (f16, q8_0 or q4_0: ggml's blocks, quantized
 * row by row), in a new buffer. */
static void *encode(const float *values, uint64_t row, uint64_t rows, ggml_type type)
{
    uint8_t *out = kd_alloc(rows, kd_ggml_row_bytes(type, row), "exported tensor");
    if (!out)
        return NULL;
    uint64_t row_bytes = kd_ggml_row_bytes(type, row);
    for (uint64_t r = 0; r < rows; r++) {
        const float *x = values + r * row;
        void *y = out + r * row_bytes;
        if (type == GGML_Q8_0)
            kd_quantize_row_q8_0(x, y, row);
        else if (type == GGML_Q4_0)
            kd_quantize_row_q4_0(x, y, row);
        else {
            for (uint64_t i = 0; i < row; i++)
                ((uint16_t *)y)[i] = kd_float_to_float16(x[i]);
        }
    }
    return out;
}

static kd_status keep(export_state *state, void *buffer)
{
    void **grown = realloc(state->buffers, (size_t)(state->buffer_count + 1) * sizeof *grown);
    if (!grown) {
        free(buffer);
        return kd_fail(KD_ERR_NOMEM, "cannot allocate the export's buffer list");
    }
    state->buffers = grown;
    state->buffers[state->buffer_count++] = buffer;
    return KD_OK;
}

static kd_status add_tensor(export_state *state, const gguf_gpt2_tensor *tensor,
                            ggml_type file_type, int *f16_fallbacks)
{
    ggml_type type = tensor->matrix ? file_type : GGML_F32;
    if (kd_ggml_row_bytes(type, tensor->ne[0]) == 0) {
        type = GGML_F16;  /* rows that are not whole blocks */
        ++*f16_fallbacks;
    }
    if (type == GGML_F32 && !tensor->transposed) {
        kd_gguf_add_tensor(&state->writer, tensor->name, type, tensor->ndim, tensor->ne,
                           tensor->data);
        return KD_OK;
    }
    float *rows = ggml_rows(tensor);
    if (!rows || keep(state, rows) != KD_OK)
        return KD_ERR_NOMEM;
    void *encoded = rows;
    if (type != GGML_F32) {
        encoded = encode(rows, tensor->ne[0], tensor->ne[1], type);
        if (!encoded || keep(state, encoded) != KD_OK)
            return KD_ERR_NOMEM;
    }
    kd_gguf_add_tensor(&state->writer, tensor->name, type, tensor->ndim, tensor->ne, encoded);
    return KD_OK;
}

static void add_hyperparameters(gguf_writer *writer, const gpt2_config *config, ggml_type type)
{
    kd_gguf_add_string(writer, "general.architecture", "gpt2");
    kd_gguf_add_string(writer, "general.name", "kd gpt2");
    kd_gguf_add_u32(writer, "general.file_type", kd_gguf_gpt2_file_type(type));
    if (type == GGML_Q8_0 || type == GGML_Q4_0)
        kd_gguf_add_u32(writer, "general.quantization_version", 2);
    kd_gguf_add_u32(writer, "gpt2.context_length", (uint32_t)config->n_positions);
    kd_gguf_add_u32(writer, "gpt2.embedding_length", (uint32_t)config->n_embd);
    kd_gguf_add_u32(writer, "gpt2.feed_forward_length", 4u * (uint32_t)config->n_embd);
    kd_gguf_add_u32(writer, "gpt2.block_count", (uint32_t)config->n_layer);
    kd_gguf_add_u32(writer, "gpt2.attention.head_count", (uint32_t)config->n_head);
    kd_gguf_add_f32(writer, "gpt2.attention.layer_norm_epsilon", config->layer_norm_epsilon);
}

/* The token types llama.cpp expects: 1 normal, 3 control (<|endoftext|>). */
static kd_status add_vocab(export_state *state, const gguf_vocab *vocab)
{
    int32_t *types = kd_alloc((size_t)vocab->token_count, sizeof *types, "token types");
    if (!types || keep(state, types) != KD_OK)
        return KD_ERR_NOMEM;
    for (int id = 0; id < vocab->token_count; id++)
        types[id] = id == vocab->end_of_text ? 3 : 1;
    gguf_writer *writer = &state->writer;
    kd_gguf_add_string(writer, "tokenizer.ggml.model", "gpt2");
    kd_gguf_add_string(writer, "tokenizer.ggml.pre", "gpt-2");
    kd_gguf_add_strings(writer, "tokenizer.ggml.tokens", vocab->tokens,
                        (uint64_t)vocab->token_count);
    kd_gguf_add_i32s(writer, "tokenizer.ggml.token_type", types, (uint64_t)vocab->token_count);
    kd_gguf_add_strings(writer, "tokenizer.ggml.merges", vocab->merges,
                        (uint64_t)vocab->merge_count);
    kd_gguf_add_u32(writer, "tokenizer.ggml.bos_token_id", (uint32_t)vocab->end_of_text);
    kd_gguf_add_u32(writer, "tokenizer.ggml.eos_token_id", (uint32_t)vocab->end_of_text);
    return KD_OK;
}

kd_status kd_gguf_export_gpt2(const char *path, const gpt2_model *model, const gguf_vocab *vocab,
                              ggml_type type, int *f16_fallbacks)
{
    *f16_fallbacks = 0;
    const gpt2_config *config = &model->config;
    if (vocab->token_count != config->vocab_size)
        return kd_fail(KD_ERR_INVALID, "%s: the tokenizer has %d tokens, the model %d", path,
                       vocab->token_count, config->vocab_size);
    if (vocab->end_of_text < 0 || vocab->end_of_text >= vocab->token_count)
        return kd_fail(KD_ERR_INVALID, "%s: the tokenizer has no <|endoftext|>", path);
    export_state state = {0};
    kd_gguf_writer_init(&state.writer, KD_GGUF_DEFAULT_ALIGNMENT);
    add_hyperparameters(&state.writer, config, type);
    kd_status status = add_vocab(&state, vocab);
    int count = kd_gguf_gpt2_tensor_count(config);
    for (int i = 0; i < count && status == KD_OK; i++) {
        gguf_gpt2_tensor tensor;
        kd_gguf_gpt2_tensor_at(config, &model->params, i, &tensor);
        status = add_tensor(&state, &tensor, type, f16_fallbacks);
    }
    if (status == KD_OK)
        status = kd_gguf_write(&state.writer, path);
    kd_gguf_writer_free(&state.writer);
    for (int i = 0; i < state.buffer_count; i++)
        free(state.buffers[i]);
    free(state.buffers);
    return status;
}
