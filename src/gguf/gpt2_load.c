/* GGUF -> GPT-2: checks a file against llama.cpp's "gpt2" conventions (as
 * kd's exporter and llama.cpp's converter write them: keys in any order,
 * other keys ignored, any alignment, the output matrix present or tied) and
 * fills a gpt2_model. */
#include "gguf_gpt2.h"
#include "kd/io.h"
#include "kd/quant.h"
#include "kd/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kd_status check_string(const gguf_file *file, const char *key, const char *expected,
                              const char *what)
{
    gguf_string value;
    kd_status status = kd_gguf_get_string(file, key, &value);
    if (status == KD_OK && !kd_gguf_string_equals(value, expected))
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: %s \"%.*s\"; kd runs %s \"%s\"", file->path, what,
                       value.length < 40 ? (int)value.length : 40, value.data, what, expected);
    return status;
}

static kd_status read_int(const gguf_file *file, const char *key, int *value)
{
    uint32_t raw = 0;
    kd_status status = kd_gguf_get_u32(file, key, &raw);
    if (status == KD_OK && raw > (uint32_t)KD_FILE_MAX_COUNT)
        return kd_fail(KD_ERR_FORMAT, "%s: %s = %u is out of range", file->path, key, raw);
    *value = (int)raw;
    return status;
}

static kd_status string_array_count(const gguf_file *file, const char *key, uint64_t *count)
{
    const gguf_kv *kv = kd_gguf_find_kv(file, key);
    if (!kv)
        return kd_fail(KD_ERR_FORMAT, "%s: missing tokenizer key %s", file->path, key);
    if (kv->type != GGUF_ARRAY || kv->array_type != GGUF_STRING)
        return kd_fail(KD_ERR_FORMAT, "%s: %s is not an array of strings", file->path, key);
    *count = kv->array_count;
    return KD_OK;
}

static kd_status read_hyperparameters(const gguf_file *file, gpt2_config *config)
{
    int feed_forward = 0;
    kd_status status = check_string(file, "general.architecture", "gpt2", "architecture");
    if (status == KD_OK)
        status = read_int(file, "gpt2.context_length", &config->n_positions);
    if (status == KD_OK)
        status = read_int(file, "gpt2.embedding_length", &config->n_embd);
    if (status == KD_OK)
        status = read_int(file, "gpt2.feed_forward_length", &feed_forward);
    if (status == KD_OK)
        status = read_int(file, "gpt2.block_count", &config->n_layer);
    if (status == KD_OK)
        status = read_int(file, "gpt2.attention.head_count", &config->n_head);
    if (status == KD_OK)
        status = kd_gguf_get_f32(file, "gpt2.attention.layer_norm_epsilon",
                                 &config->layer_norm_epsilon);
    if (status == KD_OK && feed_forward != 4 * config->n_embd)
        status = kd_fail(KD_ERR_UNSUPPORTED, "%s: gpt2.feed_forward_length %d is not 4 x "
                         "gpt2.embedding_length (%d)", file->path, feed_forward, config->n_embd);
    return status;
}

static kd_status read_tokenizer_keys(const gguf_file *file, gpt2_config *config)
{
    uint64_t tokens = 0, merges = 0;
    kd_status status = check_string(file, "tokenizer.ggml.model", "gpt2", "tokenizer");
    if (status == KD_OK)
        status = string_array_count(file, "tokenizer.ggml.tokens", &tokens);
    if (status == KD_OK)
        status = string_array_count(file, "tokenizer.ggml.merges", &merges);
    if (status == KD_OK && (tokens < 256 || tokens > (uint64_t)KD_FILE_MAX_COUNT))
        status = kd_fail(KD_ERR_FORMAT, "%s: %llu tokens; a byte-level vocabulary has 256 to %d",
                         file->path, (unsigned long long)tokens, KD_FILE_MAX_COUNT);
    config->vocab_size = (int)tokens;
    return status;
}

static int shape_matches(const gguf_tensor *found, const gguf_gpt2_tensor *expected)
{
    return found->ne[0] == expected->ne[0] && found->ne[1] == expected->ne[1] &&
           found->ne[2] == 1 && found->ne[3] == 1;
}

/* One expected tensor: present, shaped as the keys say, of a type kd reads. */
static kd_status check_tensor(const gguf_file *file, const gguf_gpt2_tensor *expected)
{
    const gguf_tensor *found = kd_gguf_find_tensor(file, expected->name);
    if (!found)
        return kd_fail(KD_ERR_FORMAT, "%s: missing tensor %s", file->path, expected->name);
    if (!shape_matches(found, expected))
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s is %llu x %llu x %llu x %llu; the metadata "
                       "make it %llu x %llu", file->path, expected->name,
                       (unsigned long long)found->ne[0], (unsigned long long)found->ne[1],
                       (unsigned long long)found->ne[2], (unsigned long long)found->ne[3],
                       (unsigned long long)expected->ne[0], (unsigned long long)expected->ne[1]);
    return KD_OK;
}

/* The expected tensor named like `found`, or the optional untied output. */
static int is_expected(const gpt2_config *config, const gguf_tensor *found)
{
    if (kd_gguf_string_equals(found->name, "output.weight"))
        return 1;
    gpt2_params none = {0};
    for (int i = 0; i < kd_gguf_gpt2_tensor_count(config); i++) {
        gguf_gpt2_tensor expected;
        kd_gguf_gpt2_tensor_at(config, &none, i, &expected);
        if (kd_gguf_string_equals(found->name, expected.name))
            return 1;
    }
    return 0;
}

static kd_status check_tensors(const gguf_file *file, const gpt2_config *config)
{
    gpt2_params none = {0};
    kd_status status = KD_OK;
    for (int i = 0; i < kd_gguf_gpt2_tensor_count(config) && status == KD_OK; i++) {
        gguf_gpt2_tensor expected;
        kd_gguf_gpt2_tensor_at(config, &none, i, &expected);
        status = check_tensor(file, &expected);
    }
    const gguf_tensor *output = kd_gguf_find_tensor(file, "output.weight");
    if (status == KD_OK && output) {
        gguf_gpt2_tensor expected;
        kd_gguf_gpt2_tensor_at(config, &none, 0, &expected);  /* token_embd's shape */
        snprintf(expected.name, sizeof expected.name, "output.weight");
        status = check_tensor(file, &expected);
    }
    for (uint64_t i = 0; i < file->tensor_count && status == KD_OK; i++) {
        const gguf_tensor *found = &file->tensors[i];
        if (!is_expected(config, found))
            status = kd_fail(KD_ERR_FORMAT, "%s: unexpected tensor \"%.*s\" in a gpt2 file",
                             file->path, found->name.length < 80 ? (int)found->name.length : 80,
                             found->name.data);
    }
    return status;
}

kd_status kd_gguf_gpt2_config(const gguf_file *file, gpt2_config *config)
{
    memset(config, 0, sizeof *config);
    kd_status status = read_hyperparameters(file, config);
    if (status == KD_OK)
        status = read_tokenizer_keys(file, config);
    if (status == KD_OK && (status = kd_gpt2_config_validate(config)) != KD_OK)
        status = kd_fail_context(status, "%s", file->path);
    if (status == KD_OK)
        status = check_tensors(file, config);
    return status;
}

/* A block type when any tensor holds one: a narrow model keeps the
 * matrices whose rows are not whole blocks in f16 beside its q8_0 or q4_0
 * ones, and runs quantized all the same. */
ggml_type kd_gguf_gpt2_matrix_type(const gguf_file *file)
{
    for (uint64_t i = 0; i < file->tensor_count; i++)
        if (file->tensors[i].type == GGML_Q8_0 || file->tensors[i].type == GGML_Q4_0)
            return file->tensors[i].type;
    const gguf_tensor *qkv = kd_gguf_find_tensor(file, "blk.0.attn_qkv.weight");
    return qkv ? qkv->type : GGML_F32;
}

kd_status kd_gguf_gpt2_vocab(const gguf_file *file, gguf_vocab *vocab)
{
    memset(vocab, 0, sizeof *vocab);
    uint64_t tokens = 0, merges = 0;
    kd_status status = kd_gguf_get_strings(file, "tokenizer.ggml.tokens", &vocab->tokens, &tokens);
    if (status == KD_OK)
        status = kd_gguf_get_strings(file, "tokenizer.ggml.merges", &vocab->merges, &merges);
    if (status == KD_OK && (tokens > (uint64_t)KD_FILE_MAX_COUNT ||
                            merges > (uint64_t)KD_FILE_MAX_COUNT))
        status = kd_fail(KD_ERR_FORMAT, "%s: more than %d tokens or merges", file->path,
                         KD_FILE_MAX_COUNT);
    vocab->token_count = (int)tokens;
    vocab->merge_count = (int)merges;
    uint32_t eos = 0;
    if (status == KD_OK && kd_gguf_find_kv(file, "tokenizer.ggml.eos_token_id"))
        status = kd_gguf_get_u32(file, "tokenizer.ggml.eos_token_id", &eos);
    else if (status == KD_OK)
        status = kd_fail(KD_ERR_FORMAT, "%s: missing tokenizer key tokenizer.ggml.eos_token_id",
                         file->path);
    if (status == KD_OK && eos >= tokens)
        status = kd_fail(KD_ERR_FORMAT, "%s: tokenizer.ggml.eos_token_id %u is not a token",
                         file->path, eos);
    vocab->end_of_text = (int)eos;
    if (status != KD_OK)
        kd_gguf_vocab_free(vocab);
    return status;
}

void kd_gguf_vocab_free(gguf_vocab *vocab)
{
    free(vocab->tokens);
    free(vocab->merges);
    memset(vocab, 0, sizeof *vocab);
}

/* A tensor's values as f32 rows. Blocks are expanded only for the small
 * tensors of a quantized file that kd keeps in f32 (a position embedding
 * another tool quantized); its matrices stay in their blocks. */
static void decode_rows(const gguf_tensor *tensor, float *out)
{
    uint64_t count = tensor->ne[0] * tensor->ne[1];
    switch (tensor->type) {
    case GGML_F32:
        memcpy(out, tensor->data, count * sizeof *out);
        break;
    case GGML_F16:
        for (uint64_t i = 0; i < count; i++) {
            uint16_t half;
            memcpy(&half, tensor->data + 2 * i, 2);
            out[i] = kd_float16_to_float(half);
        }
        break;
    case GGML_Q8_0:
        kd_dequantize_row_q8_0((const kd_block_q8_0 *)tensor->data, out, count);
        break;
    case GGML_Q4_0:
        kd_dequantize_row_q4_0((const kd_block_q4_0 *)tensor->data, out, count);
        break;
    }
}

static int is_quantized(ggml_type type)
{
    return type == GGML_Q8_0 || type == GGML_Q4_0;
}

/* Matrices in q8_0 or q4_0 run only in the quantized model. */
static kd_status check_f32_matrix(const gguf_file *file, const gguf_tensor *tensor)
{
    if (is_quantized(tensor->type))
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: tensor %.*s is %s; it runs in kd's quantized "
                       "model, not the fp32 one", file->path, (int)tensor->name.length,
                       tensor->name.data, kd_ggml_type_name((int)tensor->type));
    return KD_OK;
}

/* Fills kd's tensor from the file's, transposing HF's Conv1D weights back. */
static kd_status load_tensor(const gguf_file *file, const gguf_gpt2_tensor *target, float *rows)
{
    const gguf_tensor *found = kd_gguf_find_tensor(file, target->name);
    kd_status status = target->matrix ? check_f32_matrix(file, found) : KD_OK;
    if (status == KD_OK)
        decode_rows(found, target->transposed ? rows : target->data);
    uint64_t row = target->ne[0], count = target->ne[1];
    for (uint64_t r = 0; status == KD_OK && target->transposed && r < count; r++) {
        for (uint64_t c = 0; c < row; c++)
            target->data[c * count + r] = rows[r * row + c];
    }
    return status;
}

/* kd ties the output matrix to the token embedding: a file that stores its
 * own must hold the same values. */
static kd_status check_tied_output(const gguf_file *file, const gpt2_model *model, float *rows)
{
    const gguf_tensor *output = kd_gguf_find_tensor(file, "output.weight");
    if (!output)
        return KD_OK;
    kd_status status = check_f32_matrix(file, output);
    if (status == KD_OK)
        decode_rows(output, rows);
    size_t count = (size_t)model->config.vocab_size * (size_t)model->config.n_embd;
    if (status == KD_OK && memcmp(rows, model->params.wte, count * sizeof *rows) != 0)
        status = kd_fail(KD_ERR_UNSUPPORTED, "%s: output.weight differs from token_embd.weight; "
                         "kd's GPT-2 ties them", file->path);
    return status;
}

/* Room for the largest matrix: the token embedding (V x C) or 4C x C. */
static float *tensor_scratch(const gpt2_config *config)
{
    size_t C = (size_t)config->n_embd;
    size_t largest = (size_t)config->vocab_size > 4 * C ? (size_t)config->vocab_size : 4 * C;
    return kd_alloc(largest * C, sizeof(float), "tensor scratch");
}

kd_status kd_gguf_gpt2_load(const gguf_file *file, gpt2_model *model)
{
    gpt2_config config;
    kd_status status = kd_gguf_gpt2_config(file, &config);
    if (status == KD_OK)
        status = kd_gpt2_create(model, &config);
    if (status != KD_OK)
        return status;
    float *rows = tensor_scratch(&config);
    if (!rows)
        status = KD_ERR_NOMEM;
    for (int i = 0; i < kd_gguf_gpt2_tensor_count(&config) && status == KD_OK; i++) {
        gguf_gpt2_tensor target;
        kd_gguf_gpt2_tensor_at(&config, &model->params, i, &target);
        status = load_tensor(file, &target, rows);
    }
    if (status == KD_OK)
        status = check_tied_output(file, model, rows);
    free(rows);
    if (status != KD_OK)
        kd_gpt2_free(model);
    return status;
}

static kd_qtype qtype_of(ggml_type type)
{
    return type == GGML_Q8_0 ? KD_QTYPE_Q8_0 : type == GGML_Q4_0 ? KD_QTYPE_Q4_0 : KD_QTYPE_F32;
}

/* A matrix of the quantized model: the file's blocks, used in place, or its
 * f32/f16 rows (those that are not whole blocks) as an f32 matrix. */
static kd_status load_qmatrix(const gguf_file *file, const gguf_gpt2_tensor *target,
                              kd_qmatrix *matrix, float *rows)
{
    const gguf_tensor *found = kd_gguf_find_tensor(file, target->name);
    int row_count = (int)target->ne[1], row_length = (int)target->ne[0];
    if (is_quantized(found->type))
        return kd_qmatrix_wrap(matrix, qtype_of(found->type), found->data, row_count, row_length);
    decode_rows(found, rows);
    return kd_qmatrix_quantize(matrix, KD_QTYPE_F32, rows, row_count, row_length, 0);
}

/* The tied output matrix, when stored, must be the token embedding's bytes. */
static kd_status check_tied_blocks(const gguf_file *file)
{
    const gguf_tensor *output = kd_gguf_find_tensor(file, "output.weight");
    const gguf_tensor *embedding = kd_gguf_find_tensor(file, "token_embd.weight");
    if (output && (output->type != embedding->type ||
                   memcmp(output->data, embedding->data, embedding->bytes) != 0))
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: output.weight differs from token_embd.weight; "
                       "kd's GPT-2 ties them", file->path);
    return KD_OK;
}

kd_status kd_gguf_gpt2_qload(const gguf_file *file, gpt2_qmodel *model)
{
    gpt2_config config;
    kd_status status = kd_gguf_gpt2_config(file, &config);
    if (status == KD_OK)
        status = check_tied_blocks(file);
    if (status == KD_OK)
        status = kd_gpt2_qmodel_create(model, &config);
    if (status != KD_OK)
        return status;
    float *rows = tensor_scratch(&config);
    if (!rows)
        status = KD_ERR_NOMEM;
    for (int i = 0; i < kd_gguf_gpt2_tensor_count(&config) && status == KD_OK; i++) {
        gguf_gpt2_tensor target;
        kd_gguf_gpt2_tensor_at(&config, &model->vectors, i, &target);
        kd_qmatrix *matrix = kd_gguf_gpt2_qmatrix_at(model, i);
        if (matrix)
            status = load_qmatrix(file, &target, matrix, rows);
        else
            decode_rows(kd_gguf_find_tensor(file, target.name), target.data);
    }
    free(rows);
    if (status == KD_OK)
        status = kd_gpt2_qmodel_check(model);
    if (status != KD_OK)
        kd_gpt2_qmodel_free(model);
    return status;
}
