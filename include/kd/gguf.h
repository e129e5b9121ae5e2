/* kd gguf: GGUF version 3, the file format of llama.cpp and most CPU
 * runtimes, and GPT-2 in it as llama.cpp's "gpt2" architecture reads it.
 *
 *   container   a validating reader (the file is mapped read-only; every
 *               length, count, offset and size is checked against the file
 *               before it is used) and a writer that replaces its file
 *               atomically
 *   GPT-2       a gpt2_model and its tokenizer's spellings -> a GGUF file of
 *               type f32, f16, q8_0 or q4_0, and a GGUF file -> a gpt2_model
 *
 * Layout of a file (little-endian): "GGUF", version 3, tensor count, key
 * count, the keys with typed values, one info record per tensor (name,
 * dimensions, ggml type, offset), padding to general.alignment (default 32),
 * then the tensor data, each tensor at an aligned offset. ggml lists a
 * tensor's dimensions fastest first: ne[0] is the row length.
 *
 * Every reader failure is one line naming the file and what is wrong. */
#ifndef KD_GGUF_H
#define KD_GGUF_H

#include "kd/core.h"
#include "kd/nn.h"
#include "kd/qgpt2.h"

#include <stddef.h>
#include <stdint.h>

#define KD_GGUF_MAGIC "GGUF"
enum { KD_GGUF_VERSION = 3, KD_GGUF_DEFAULT_ALIGNMENT = 32, KD_GGUF_MAX_DIMS = 4 };

/* The metadata value types of the format. */
typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_VALUE_TYPE_COUNT
} gguf_value_type;

/* The ggml tensor types kd reads and writes (ggml's numbering). q8_0 and
 * q4_0 hold blocks of 32 values along a row: an fp16 scale, then 32 int8
 * (34 bytes) or 32 packed 4-bit values (18 bytes). */
typedef enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q8_0 = 8,
} ggml_type;

enum { GGML_BLOCK_VALUES = 32 };

/* "f32", "f16", "q4_0", "q8_0", or NULL for a type kd does not handle. */
const char *kd_ggml_type_name(int type);
/* The type named `name`; KD_ERR_INVALID naming it for anything else. */
kd_status kd_ggml_type_parse(const char *name, ggml_type *type);
/* Bytes of a row of `row_length` values; 0 when a block type's row length
 * is not a multiple of 32. */
uint64_t kd_ggml_row_bytes(ggml_type type, uint64_t row_length);

/* A string inside the mapped file: not NUL-terminated. */
typedef struct {
    const char *data;
    uint64_t length;
} gguf_string;

typedef struct {
    gguf_string key;
    gguf_value_type type;
    gguf_value_type array_type;  /* for GGUF_ARRAY */
    uint64_t array_count;        /* for GGUF_ARRAY */
    const uint8_t *value;        /* the value's bytes in the map (an array's first element) */
} gguf_kv;

typedef struct {
    gguf_string name;
    int ndim;
    uint64_t ne[KD_GGUF_MAX_DIMS];  /* ne[0] is the row length; unused ones are 1 */
    ggml_type type;
    uint64_t offset;                /* from the start of the data section */
    uint64_t bytes;
    const uint8_t *data;            /* in the map */
} gguf_tensor;

typedef struct {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kvs;
    uint64_t kv_count;
    gguf_tensor *tensors;
    uint64_t tensor_count;
} gguf_file;

/* Maps and validates `path`: magic, version, every key and value, every
 * tensor's name, dimensions, type and byte range (inside the file, aligned,
 * no two overlapping, no name twice). On failure `file` needs no close. */
kd_status kd_gguf_open(gguf_file *file, const char *path);
void kd_gguf_close(gguf_file *file);

const gguf_kv *kd_gguf_find_kv(const gguf_file *file, const char *key);
const gguf_tensor *kd_gguf_find_tensor(const gguf_file *file, const char *name);
/* Typed lookups; a missing key or one of another type is KD_ERR_FORMAT
 * naming the file and the key. An unsigned integer accepts any integer type
 * whose value fits in 32 bits. */
kd_status kd_gguf_get_u32(const gguf_file *file, const char *key, uint32_t *value);
kd_status kd_gguf_get_f32(const gguf_file *file, const char *key, float *value);
kd_status kd_gguf_get_string(const gguf_file *file, const char *key, gguf_string *value);
/* The strings of an array of strings, as NUL-terminated copies in one
 * allocation: (*items)[i] for i < *count; free(*items) frees them all. A
 * string holding a NUL byte is KD_ERR_FORMAT. */
kd_status kd_gguf_get_strings(const gguf_file *file, const char *key, char ***items,
                              uint64_t *count);
/* Whether `string` is exactly the C string `text`. */
int kd_gguf_string_equals(gguf_string string, const char *text);

/* ---- the writer -------------------------------------------------------- */

/* Keys and tensor infos are gathered in memory, tensor data is referenced
 * (the caller keeps it alive until kd_gguf_write returns). */
typedef struct {
    uint8_t *kv_bytes;
    size_t kv_size, kv_capacity;
    uint64_t kv_count;
    struct gguf_tensor_source *tensors;
    uint64_t tensor_count, tensor_capacity;
    uint32_t alignment;
    kd_status error;  /* the first failure of an add, reported by kd_gguf_write */
} gguf_writer;

void kd_gguf_writer_init(gguf_writer *writer, uint32_t alignment);
void kd_gguf_writer_free(gguf_writer *writer);
void kd_gguf_add_u32(gguf_writer *writer, const char *key, uint32_t value);
void kd_gguf_add_f32(gguf_writer *writer, const char *key, float value);
void kd_gguf_add_string(gguf_writer *writer, const char *key, const char *value);
void kd_gguf_add_strings(gguf_writer *writer, const char *key, char *const *items, uint64_t count);
void kd_gguf_add_i32s(gguf_writer *writer, const char *key, const int32_t *items, uint64_t count);
/* `ne` as ggml lists it (row length first); `data` holds the tensor's bytes.
 * The name is copied (at most 63 bytes, ggml's limit). */
void kd_gguf_add_tensor(gguf_writer *writer, const char *name, ggml_type type, int ndim,
                        const uint64_t *ne, const void *data);
/* Writes the file atomically (general.alignment is added when it is not 32). */
kd_status kd_gguf_write(gguf_writer *writer, const char *path);

/* ---- GPT-2 ------------------------------------------------------------- */

/* A GPT-2 tokenizer as GGUF stores it: tokens in GPT-2's byte spelling in
 * id order, merges "left right" by rank (what vocab.json and merges.txt
 * hold), and the end-of-text id, which is also the beginning-of-text id. */
typedef struct {
    char **tokens;
    int token_count;
    char **merges;
    int merge_count;
    int end_of_text;
} gguf_vocab;

/* Exports `model` with `vocab` in llama.cpp's gpt2 layout: every matrix
 * (token embedding, attention and MLP weights) as `type`, norms, biases and
 * the position embedding as f32. A matrix whose rows cannot be cut into
 * 32-value blocks is stored f16 and counted in *f16_fallbacks. */
kd_status kd_gguf_export_gpt2(const char *path, const gpt2_model *model, const gguf_vocab *vocab,
                              ggml_type type, int *f16_fallbacks);

/* Checks that `file` is a GPT-2 kd can run: architecture, hyper-parameters,
 * tokenizer keys, every tensor's name, shape and type, and reads the
 * hyper-parameters into `config`. */
kd_status kd_gguf_gpt2_config(const gguf_file *file, gpt2_config *config);
/* The tokenizer of a checked file; free with kd_gguf_vocab_free. */
kd_status kd_gguf_gpt2_vocab(const gguf_file *file, gguf_vocab *vocab);
void kd_gguf_vocab_free(gguf_vocab *vocab);
/* Creates `model` from a checked file whose matrices are f32 or f16, weights
 * converted to fp32 in kd's layout; q8_0 or q4_0 matrices are
 * KD_ERR_UNSUPPORTED (they run in the quantized model). On failure the model
 * is left freed. */
kd_status kd_gguf_gpt2_load(const gguf_file *file, gpt2_model *model);
/* Creates a quantized model from a checked file: q8_0 and q4_0 matrices are
 * used in place (the file must stay open while the model lives), f32 and f16
 * ones become f32 matrices, the other tensors are read as f32. */
kd_status kd_gguf_gpt2_qload(const gguf_file *file, gpt2_qmodel *model);
/* The file type of a GPT-2 file: its matrices' type. */
ggml_type kd_gguf_gpt2_matrix_type(const gguf_file *file);

/* ---- LoRA adapters ----------------------------------------------------- */

/* Writes the LoRA adapters attached to `model` as a llama.cpp LoRA GGUF:
 * general.architecture "gpt2", general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha, and f32 tensors blk.<l>.<attn_qkv|attn_output|ffn_up|
 * ffn_down>.weight.lora_a (ne [in, r]) and .lora_b (ne [r, out]), which
 * llama.cpp applies to the base GGUF that kd export writes. Adapters that
 * train biases are refused: the format has no place for them. */
kd_status kd_gguf_export_lora(const char *path, const gpt2_model *model);

#endif
