/* GPT-2's tensors under llama.cpp's "gpt2" names, shared by the exporter
 * and the loader so that the two cannot disagree on a name or a shape. */
#ifndef KD_GGUF_GPT2_H
#define KD_GGUF_GPT2_H

#include "kd/gguf.h"
#include "kd/qgpt2.h"

typedef struct {
    char name[64];
    float *data;        /* kd's tensor, in Hugging Face's layout */
    int ndim;
    uint64_t ne[2];     /* the GGUF shape, row length first */
    int transposed;     /* HF's Conv1D stores [in, out]: the GGUF rows are its columns */
    int matrix;         /* a weight matrix, stored in the file's type */
} gguf_gpt2_tensor;

/* token_embd, position_embd, output_norm and 12 per block. */
int kd_gguf_gpt2_tensor_count(const gpt2_config *config);
void kd_gguf_gpt2_tensor_at(const gpt2_config *config, const gpt2_params *params, int index,
                            gguf_gpt2_tensor *tensor);

/* The quantized model's matrix for the index-th tensor, or NULL when that
 * tensor is not a matrix. */
kd_qmatrix *kd_gguf_gpt2_qmatrix_at(gpt2_qmodel *model, int index);

/* llama.cpp's general.file_type for a file whose matrices are `type`. */
uint32_t kd_gguf_gpt2_file_type(ggml_type type);

#endif
