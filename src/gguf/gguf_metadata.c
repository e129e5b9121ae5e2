/* Looking up keys and tensors of an opened GGUF file, with the value types
 * converted as writers vary: llama.cpp's converter writes most counts as
 * uint32, other tools as uint64 or int32. */
#include "kd/gguf.h"

#include <stdlib.h>
#include <string.h>

int kd_gguf_string_equals(gguf_string string, const char *text)
{
    size_t length = strlen(text);
    return string.length == length && memcmp(string.data, text, length) == 0;
}

const gguf_kv *kd_gguf_find_kv(const gguf_file *file, const char *key)
{
    for (uint64_t i = 0; i < file->kv_count; i++) {
        if (kd_gguf_string_equals(file->kvs[i].key, key))
            return &file->kvs[i];
    }
    return NULL;
}

const gguf_tensor *kd_gguf_find_tensor(const gguf_file *file, const char *name)
{
    for (uint64_t i = 0; i < file->tensor_count; i++) {
        if (kd_gguf_string_equals(file->tensors[i].name, name))
            return &file->tensors[i];
    }
    return NULL;
}

static kd_status find_typed(const gguf_file *file, const char *key, const char *expected,
                            int (*accepts)(gguf_value_type), const gguf_kv **kv)
{
    *kv = kd_gguf_find_kv(file, key);
    if (!*kv)
        return kd_fail(KD_ERR_FORMAT, "%s: missing key %s", file->path, key);
    if (!accepts((*kv)->type))
        return kd_fail(KD_ERR_FORMAT, "%s: key %s is not %s", file->path, key, expected);
    return KD_OK;
}

static int is_integer(gguf_value_type type)
{
    return type <= GGUF_INT32 || type == GGUF_UINT64 || type == GGUF_INT64;
}

static int is_float(gguf_value_type type)
{
    return type == GGUF_FLOAT32 || type == GGUF_FLOAT64;
}

static int is_string(gguf_value_type type)
{
    return type == GGUF_STRING;
}

static int is_array(gguf_value_type type)
{
    return type == GGUF_ARRAY;
}

kd_status kd_gguf_get_u32(const gguf_file *file, const char *key, uint32_t *value)
{
    static const struct {
        uint8_t width, is_signed;
    } INTEGERS[] = {
        [GGUF_UINT8] = {1, 0}, [GGUF_INT8] = {1, 1},   [GGUF_UINT16] = {2, 0},
        [GGUF_INT16] = {2, 1}, [GGUF_UINT32] = {4, 0}, [GGUF_INT32] = {4, 1},
        [GGUF_UINT64] = {8, 0}, [GGUF_INT64] = {8, 1},
    };
    const gguf_kv *kv = NULL;
    kd_status status = find_typed(file, key, "an integer", is_integer, &kv);
    if (status != KD_OK)
        return status;
    unsigned width = INTEGERS[kv->type].width;
    uint64_t raw = 0;
    memcpy(&raw, kv->value, width);  /* little-endian: the low bytes */
    int negative = INTEGERS[kv->type].is_signed && (raw >> (8 * width - 1)) & 1;
    if (negative || raw > UINT32_MAX)
        return kd_fail(KD_ERR_FORMAT, "%s: key %s is out of range (0 to 2^32-1)", file->path,
                       key);
    *value = (uint32_t)raw;
    return KD_OK;
}

kd_status kd_gguf_get_f32(const gguf_file *file, const char *key, float *value)
{
    const gguf_kv *kv = NULL;
    kd_status status = find_typed(file, key, "a floating-point number", is_float, &kv);
    if (status != KD_OK)
        return status;
    if (kv->type == GGUF_FLOAT32) {
        memcpy(value, kv->value, 4);
    } else {
        double wide;
        memcpy(&wide, kv->value, 8);
        *value = (float)wide;
    }
    return KD_OK;
}

/* The string at `at` in the map: its 8-byte length, then its bytes (the
 * reader checked both fit). */
static gguf_string string_at(const uint8_t *at)
{
    gguf_string string;
    memcpy(&string.length, at, 8);
    string.data = (const char *)at + 8;
    return string;
}

kd_status kd_gguf_get_string(const gguf_file *file, const char *key, gguf_string *value)
{
    const gguf_kv *kv = NULL;
    kd_status status = find_typed(file, key, "a string", is_string, &kv);
    if (status == KD_OK)
        *value = string_at(kv->value);
    return status;
}

kd_status kd_gguf_get_strings(const gguf_file *file, const char *key, char ***items,
                              uint64_t *count)
{
    *items = NULL;
    *count = 0;
    const gguf_kv *kv = NULL;
    kd_status status = find_typed(file, key, "an array", is_array, &kv);
    if (status != KD_OK)
        return status;
    if (kv->array_type != GGUF_STRING)
        return kd_fail(KD_ERR_FORMAT, "%s: key %s is not an array of strings", file->path, key);
    /* The pointers, then the strings with their terminators: both bounded by the file. */
    uint64_t text_bytes = 0;
    const uint8_t *at = kv->value;
    for (uint64_t i = 0; i < kv->array_count; i++) {
        gguf_string string = string_at(at);
        if (memchr(string.data, '\0', string.length))
            return kd_fail(KD_ERR_FORMAT, "%s: key %s: string %llu holds a NUL byte", file->path,
                           key, (unsigned long long)i);
        text_bytes += string.length + 1;
        at += 8 + string.length;
    }
    size_t pointer_bytes = kv->array_count * sizeof(char *);
    char **copy = kd_alloc(pointer_bytes + text_bytes + 1, 1, "GGUF strings");
    if (!copy)
        return KD_ERR_NOMEM;
    char *text = (char *)copy + pointer_bytes;
    at = kv->value;
    for (uint64_t i = 0; i < kv->array_count; i++) {
        gguf_string string = string_at(at);
        copy[i] = text;
        memcpy(text, string.data, string.length);
        text[string.length] = '\0';
        text += string.length + 1;
        at += 8 + string.length;
    }
    *items = copy;
    *count = kv->array_count;
    return KD_OK;
}
