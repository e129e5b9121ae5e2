/* The GGUF writer: keys are serialised into a growing buffer as they are
 * added, tensors are laid out in the order added, each at the next multiple
 * of the alignment, and the whole file goes through an atomic file so that
 * a failed write (a full disk) leaves no partial file. */
#include "kd/gguf.h"
#include "kd/io.h"

#include <stdlib.h>
#include <string.h>

/* ggml's limit on a tensor name, terminator included. */
enum { NAME_CAPACITY = 64 };

struct gguf_tensor_source {
    char name[NAME_CAPACITY];
    ggml_type type;
    int ndim;
    uint64_t ne[KD_GGUF_MAX_DIMS];
    const void *data;
    uint64_t bytes;
};

void kd_gguf_writer_init(gguf_writer *writer, uint32_t alignment)
{
    memset(writer, 0, sizeof *writer);
    writer->alignment = alignment;
    if (alignment != KD_GGUF_DEFAULT_ALIGNMENT)
        kd_gguf_add_u32(writer, "general.alignment", alignment);
}

void kd_gguf_writer_free(gguf_writer *writer)
{
    free(writer->kv_bytes);
    free(writer->tensors);
    memset(writer, 0, sizeof *writer);
}

static void append(gguf_writer *writer, const void *bytes, size_t size)
{
    if (writer->error != KD_OK)
        return;
    if (writer->kv_size + size > writer->kv_capacity) {
        size_t capacity = writer->kv_capacity ? writer->kv_capacity : 4096;
        while (capacity < writer->kv_size + size)
            capacity *= 2;
        uint8_t *grown = realloc(writer->kv_bytes, capacity);
        if (!grown) {
            writer->error = kd_fail(KD_ERR_NOMEM, "cannot allocate %zu bytes of GGUF metadata",
                                    capacity);
            return;
        }
        writer->kv_bytes = grown;
        writer->kv_capacity = capacity;
    }
    memcpy(writer->kv_bytes + writer->kv_size, bytes, size);
    writer->kv_size += size;
}

static void append_u32(gguf_writer *writer, uint32_t value)
{
    append(writer, &value, sizeof value);
}

static void append_u64(gguf_writer *writer, uint64_t value)
{
    append(writer, &value, sizeof value);
}

static void append_string(gguf_writer *writer, const char *text)
{
    size_t length = strlen(text);
    append_u64(writer, length);
    append(writer, text, length);
}

static void begin_kv(gguf_writer *writer, const char *key, gguf_value_type type)
{
    append_string(writer, key);
    append_u32(writer, (uint32_t)type);
    writer->kv_count++;
}

void kd_gguf_add_u32(gguf_writer *writer, const char *key, uint32_t value)
{
    begin_kv(writer, key, GGUF_UINT32);
    append_u32(writer, value);
}

void kd_gguf_add_f32(gguf_writer *writer, const char *key, float value)
{
    begin_kv(writer, key, GGUF_FLOAT32);
    append(writer, &value, sizeof value);
}

void kd_gguf_add_string(gguf_writer *writer, const char *key, const char *value)
{
    begin_kv(writer, key, GGUF_STRING);
    append_string(writer, value);
}

void kd_gguf_add_strings(gguf_writer *writer, const char *key, char *const *items, uint64_t count)
{
    begin_kv(writer, key, GGUF_ARRAY);
    append_u32(writer, GGUF_STRING);
    append_u64(writer, count);
    for (uint64_t i = 0; i < count; i++)
        append_string(writer, items[i]);
}

void kd_gguf_add_i32s(gguf_writer *writer, const char *key, const int32_t *items, uint64_t count)
{
    begin_kv(writer, key, GGUF_ARRAY);
    append_u32(writer, GGUF_INT32);
    append_u64(writer, count);
    append(writer, items, count * sizeof *items);
}

void kd_gguf_add_tensor(gguf_writer *writer, const char *name, ggml_type type, int ndim,
                        const uint64_t *ne, const void *data)
{
    if (writer->error != KD_OK)
        return;
    if (writer->tensor_count == writer->tensor_capacity) {
        uint64_t capacity = writer->tensor_capacity ? 2 * writer->tensor_capacity : 64;
        struct gguf_tensor_source *grown =
            realloc(writer->tensors, capacity * sizeof *writer->tensors);
        if (!grown) {
            writer->error = kd_fail(KD_ERR_NOMEM, "cannot allocate GGUF tensor records");
            return;
        }
        writer->tensors = grown;
        writer->tensor_capacity = capacity;
    }
    struct gguf_tensor_source *tensor = &writer->tensors[writer->tensor_count++];
    *tensor = (struct gguf_tensor_source){.type = type, .ndim = ndim, .data = data};
    if (strlen(name) >= NAME_CAPACITY) {
        writer->error = kd_fail(KD_ERR_INVALID, "tensor name %s is longer than %d bytes", name,
                                NAME_CAPACITY - 1);
        return;
    }
    strcpy(tensor->name, name);
    uint64_t rows = 1;
    for (int axis = 0; axis < KD_GGUF_MAX_DIMS; axis++) {
        tensor->ne[axis] = axis < ndim ? ne[axis] : 1;
        rows *= axis > 0 ? tensor->ne[axis] : 1;
    }
    tensor->bytes = kd_ggml_row_bytes(type, tensor->ne[0]) * rows;
    if (tensor->bytes == 0)
        writer->error = kd_fail(KD_ERR_INVALID, "tensor %s: a %s row of %llu values", name,
                                kd_ggml_type_name((int)type), (unsigned long long)ne[0]);
}

static uint64_t align_up(uint64_t offset, uint32_t alignment)
{
    return (offset + alignment - 1) / alignment * alignment;
}

/* The header: magic, version, counts, keys, tensor infos with their offsets,
 * built in `header`'s byte buffer. */
static kd_status header_bytes(gguf_writer *writer, gguf_writer *header)
{
    memset(header, 0, sizeof *header);
    append(header, KD_GGUF_MAGIC, 4);
    append_u32(header, KD_GGUF_VERSION);
    append_u64(header, writer->tensor_count);
    append_u64(header, writer->kv_count);
    append(header, writer->kv_bytes, writer->kv_size);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < writer->tensor_count; i++) {
        const struct gguf_tensor_source *tensor = &writer->tensors[i];
        append_string(header, tensor->name);
        append_u32(header, (uint32_t)tensor->ndim);
        for (int axis = 0; axis < tensor->ndim; axis++)
            append_u64(header, tensor->ne[axis]);
        append_u32(header, (uint32_t)tensor->type);
        append_u64(header, offset);
        offset = align_up(offset + tensor->bytes, writer->alignment);
    }
    return header->error;
}

static kd_status write_padding(atomic_file *file, uint64_t written, uint32_t alignment)
{
    static const uint8_t ZEROS[256];
    uint64_t padding = align_up(written, alignment) - written;
    kd_status status = KD_OK;
    while (padding > 0 && status == KD_OK) {
        size_t chunk = padding < sizeof ZEROS ? (size_t)padding : sizeof ZEROS;
        status = kd_atomic_file_write(file, ZEROS, chunk);
        padding -= chunk;
    }
    return status;
}

kd_status kd_gguf_write(gguf_writer *writer, const char *path)
{
    if (writer->error != KD_OK)
        return kd_fail_context(writer->error, "%s", path);
    gguf_writer header;
    kd_status status = header_bytes(writer, &header);
    atomic_file file;
    if (status == KD_OK)
        status = kd_atomic_file_open(&file, path);
    if (status != KD_OK) {
        kd_gguf_writer_free(&header);
        return status;
    }
    status = kd_atomic_file_write(&file, header.kv_bytes, header.kv_size);
    if (status == KD_OK)
        status = write_padding(&file, header.kv_size, writer->alignment);
    for (uint64_t i = 0; i < writer->tensor_count && status == KD_OK; i++) {
        const struct gguf_tensor_source *tensor = &writer->tensors[i];
        status = kd_atomic_file_write(&file, tensor->data, (size_t)tensor->bytes);
        if (status == KD_OK && i + 1 < writer->tensor_count)
            status = write_padding(&file, tensor->bytes, writer->alignment);
    }
    kd_gguf_writer_free(&header);
    if (status != KD_OK) {
        kd_atomic_file_abort(&file);
        return status;
    }
    return kd_atomic_file_commit(&file);
}
