/* The GGUF reader. The file is mapped read-only and walked with a cursor
 * that never reads past the end: every count and length is checked against
 * the bytes left before anything is read or allocated, so a hostile file can
 * make kd neither crash nor allocate more than the file could describe. */
#include "kd/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_NAME_BYTES = 65535 };

typedef struct {
    const gguf_file *file;
    uint64_t at;
} cursor;

/* How much of a name a message quotes. */
static int quote(gguf_string name)
{
    return name.length < 80 ? (int)name.length : 80;
}

static uint64_t bytes_left(const cursor *c)
{
    return c->file->size - c->at;
}

static kd_status take(cursor *c, uint64_t bytes, const char *what, const uint8_t **out)
{
    if (bytes > bytes_left(c))
        return kd_fail(KD_ERR_FORMAT, "%s: truncated: %s needs %llu bytes at offset %llu, the "
                       "file has %llu", c->file->path, what, (unsigned long long)bytes,
                       (unsigned long long)c->at, (unsigned long long)bytes_left(c));
    *out = c->file->map + c->at;
    c->at += bytes;
    return KD_OK;
}

static kd_status read_u32(cursor *c, const char *what, uint32_t *value)
{
    const uint8_t *bytes = NULL;
    kd_status status = take(c, 4, what, &bytes);
    if (status == KD_OK)
        memcpy(value, bytes, 4);  /* GGUF and every machine kd builds for are little-endian */
    return status;
}

static kd_status read_u64(cursor *c, const char *what, uint64_t *value)
{
    const uint8_t *bytes = NULL;
    kd_status status = take(c, 8, what, &bytes);
    if (status == KD_OK)
        memcpy(value, bytes, 8);
    return status;
}

static kd_status read_string(cursor *c, const char *what, gguf_string *string)
{
    const uint8_t *bytes = NULL;
    kd_status status = read_u64(c, what, &string->length);
    if (status == KD_OK)
        status = take(c, string->length, what, &bytes);
    string->data = (const char *)bytes;
    return status;
}

static uint64_t scalar_bytes(gguf_value_type type)
{
    static const uint8_t SIZES[GGUF_VALUE_TYPE_COUNT] = {
        [GGUF_UINT8] = 1, [GGUF_INT8] = 1, [GGUF_UINT16] = 2, [GGUF_INT16] = 2,
        [GGUF_UINT32] = 4, [GGUF_INT32] = 4, [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1,
        [GGUF_UINT64] = 8, [GGUF_INT64] = 8, [GGUF_FLOAT64] = 8,
    };
    return (unsigned)type < GGUF_VALUE_TYPE_COUNT ? SIZES[type] : 0;
}

/* Steps over one value of `type` (not an array), checking it fits. */
static kd_status skip_value(cursor *c, gguf_value_type type, const char *what)
{
    const uint8_t *bytes = NULL;
    if (type == GGUF_STRING) {
        gguf_string string;
        return read_string(c, what, &string);
    }
    return take(c, scalar_bytes(type), what, &bytes);
}

static kd_status read_value_type(cursor *c, const gguf_string *key, int in_array,
                                 gguf_value_type *type)
{
    uint32_t raw = 0;
    kd_status status = read_u32(c, "a value type", &raw);
    if (status != KD_OK)
        return status;
    int known = raw < GGUF_VALUE_TYPE_COUNT && (raw == GGUF_STRING || scalar_bytes(raw) > 0 ||
                                                (raw == GGUF_ARRAY && !in_array));
    if (!known)
        return kd_fail(KD_ERR_FORMAT, "%s: key \"%.*s\": unknown value type %u%s",
                       c->file->path, quote(*key), key->data,
                       raw, in_array ? " inside an array" : "");
    *type = (gguf_value_type)raw;
    return KD_OK;
}

static kd_status read_array(cursor *c, gguf_kv *kv)
{
    kd_status status = read_value_type(c, &kv->key, 1, &kv->array_type);
    if (status == KD_OK)
        status = read_u64(c, "an array length", &kv->array_count);
    if (status != KD_OK)
        return status;
    /* Each element takes at least its scalar size, a string its 8-byte length. */
    uint64_t least = kv->array_type == GGUF_STRING ? 8 : scalar_bytes(kv->array_type);
    if (kv->array_count > bytes_left(c) / least)
        return kd_fail(KD_ERR_FORMAT, "%s: truncated: key \"%.*s\": an array of %llu elements "
                       "cannot fit in the %llu bytes left", c->file->path,
                       quote(kv->key), kv->key.data,
                       (unsigned long long)kv->array_count, (unsigned long long)bytes_left(c));
    kv->value = c->file->map + c->at;
    for (uint64_t i = 0; i < kv->array_count && status == KD_OK; i++)
        status = skip_value(c, kv->array_type, "an array element");
    return status;
}

static kd_status read_kv(cursor *c, gguf_kv *kv)
{
    kd_status status = read_string(c, "a key", &kv->key);
    if (status == KD_OK)
        status = read_value_type(c, &kv->key, 0, &kv->type);
    if (status != KD_OK)
        return status;
    if (kv->type == GGUF_ARRAY)
        return read_array(c, kv);
    kv->value = c->file->map + c->at;
    return skip_value(c, kv->type, "a value");
}

static kd_status read_kvs(cursor *c, gguf_file *file)
{
    /* A key takes at least 12 bytes: its length and its value type. */
    if (file->kv_count > bytes_left(c) / 12)
        return kd_fail(KD_ERR_FORMAT, "%s: truncated: %llu keys cannot fit in the %llu bytes "
                       "left", file->path, (unsigned long long)file->kv_count,
                       (unsigned long long)bytes_left(c));
    file->kvs = kd_alloc(file->kv_count ? file->kv_count : 1, sizeof *file->kvs, "GGUF keys");
    if (!file->kvs)
        return KD_ERR_NOMEM;
    for (uint64_t i = 0; i < file->kv_count; i++) {
        kd_status status = read_kv(c, &file->kvs[i]);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

static kd_status read_alignment(gguf_file *file)
{
    file->alignment = KD_GGUF_DEFAULT_ALIGNMENT;
    if (!kd_gguf_find_kv(file, "general.alignment"))
        return KD_OK;
    uint32_t alignment = 0;
    kd_status status = kd_gguf_get_u32(file, "general.alignment", &alignment);
    if (status != KD_OK)
        return status;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return kd_fail(KD_ERR_FORMAT, "%s: general.alignment %u is not a power of two",
                       file->path, alignment);
    file->alignment = alignment;
    return KD_OK;
}

/* The name, dimensions, type and offset of one tensor, and its size. */
static kd_status read_tensor_info(cursor *c, gguf_tensor *tensor)
{
    const char *path = c->file->path;
    uint32_t ndim = 0, type = 0;
    kd_status status = read_string(c, "a tensor name", &tensor->name);
    if (status == KD_OK)
        status = read_u32(c, "a tensor's dimension count", &ndim);
    if (status != KD_OK)
        return status;
    if (tensor->name.length > MAX_NAME_BYTES)
        return kd_fail(KD_ERR_FORMAT, "%s: a tensor name of %llu bytes", path,
                       (unsigned long long)tensor->name.length);
    if (ndim < 1 || ndim > KD_GGUF_MAX_DIMS)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor \"%.*s\" has %u dimensions (1 to %d allowed)",
                       path, quote(tensor->name), tensor->name.data, ndim, KD_GGUF_MAX_DIMS);
    tensor->ndim = (int)ndim;
    uint64_t elements = 1;
    for (int axis = 0; axis < KD_GGUF_MAX_DIMS; axis++) {
        tensor->ne[axis] = 1;
        if (axis < tensor->ndim && (status = read_u64(c, "a tensor dimension",
                                                      &tensor->ne[axis])) != KD_OK)
            return status;
        if (tensor->ne[axis] == 0 || tensor->ne[axis] > c->file->size * 2 / elements)
            return kd_fail(KD_ERR_FORMAT, "%s: tensor \"%.*s\": dimension %d of %llu elements "
                           "is empty or larger than the file could hold", path, quote(tensor->name),
                           tensor->name.data, axis, (unsigned long long)tensor->ne[axis]);
        elements *= tensor->ne[axis];
    }
    if ((status = read_u32(c, "a tensor type", &type)) != KD_OK ||
        (status = read_u64(c, "a tensor offset", &tensor->offset)) != KD_OK)
        return status;
    if (!kd_ggml_type_name((int)type))
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: tensor \"%.*s\" has ggml type %u, which kd does "
                       "not read (f32, f16, q8_0 and q4_0 only)", path, quote(tensor->name), tensor->name.data,
                       type);
    tensor->type = (ggml_type)type;
    uint64_t row_bytes = kd_ggml_row_bytes(tensor->type, tensor->ne[0]);
    if (row_bytes == 0)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor \"%.*s\": a %s row of %llu values is not "
                       "whole blocks of %d", path, quote(tensor->name), tensor->name.data,
                       kd_ggml_type_name((int)type), (unsigned long long)tensor->ne[0],
                       GGML_BLOCK_VALUES);
    tensor->bytes = row_bytes * (elements / tensor->ne[0]);  /* elements <= 2 x file size */
    return KD_OK;
}

static int compare_names(const void *a, const void *b)
{
    const gguf_string *x = a, *y = b;
    if (x->length != y->length)
        return x->length < y->length ? -1 : 1;
    return memcmp(x->data, y->data, x->length);
}

/* No name twice among `count` keys or tensors (sorted, so that a file of
 * many names costs n log n, not n^2). */
static kd_status check_unique(const char *path, const char *what, const void *items,
                              size_t item_size, size_t name_offset, uint64_t count)
{
    gguf_string *names = kd_alloc(count ? count : 1, sizeof *names, "GGUF names");
    if (!names)
        return KD_ERR_NOMEM;
    for (uint64_t i = 0; i < count; i++)
        memcpy(&names[i], (const char *)items + i * item_size + name_offset, sizeof *names);
    qsort(names, count, sizeof *names, compare_names);
    kd_status status = KD_OK;
    for (uint64_t i = 1; i < count && status == KD_OK; i++) {
        if (compare_names(&names[i - 1], &names[i]) == 0)
            status = kd_fail(KD_ERR_FORMAT, "%s: %s \"%.*s\" appears twice", path, what,
                             quote(names[i]), names[i].data);
    }
    free(names);
    return status;
}

static int compare_offsets(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Every tensor's bytes inside the data section, aligned, and no two overlapping. */
static kd_status check_ranges(gguf_file *file)
{
    uint64_t data_size = file->size - file->data_offset;
    const gguf_tensor **order = kd_alloc(file->tensor_count ? file->tensor_count : 1,
                                         sizeof *order, "GGUF tensor order");
    if (!order)
        return KD_ERR_NOMEM;
    kd_status status = KD_OK;
    for (uint64_t i = 0; i < file->tensor_count && status == KD_OK; i++) {
        gguf_tensor *t = &file->tensors[i];
        if (t->offset % file->alignment != 0)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor \"%.*s\": offset %llu is not a multiple "
                             "of the alignment %u", file->path, quote(t->name), t->name.data,
                             (unsigned long long)t->offset, file->alignment);
        else if (t->offset > data_size || t->bytes > data_size - t->offset)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor \"%.*s\": %llu bytes at data offset %llu "
                             "run past the end of the file (%llu data bytes): truncated?",
                             file->path, quote(t->name), t->name.data, (unsigned long long)t->bytes,
                             (unsigned long long)t->offset, (unsigned long long)data_size);
        /* Only a checked offset makes a pointer: one past the mapping is undefined. */
        if (status == KD_OK)
            t->data = file->map + file->data_offset + t->offset;
        order[i] = t;
    }
    if (status == KD_OK)
        qsort(order, file->tensor_count, sizeof *order, compare_offsets);
    for (uint64_t i = 1; i < file->tensor_count && status == KD_OK; i++) {
        if (order[i - 1]->offset + order[i - 1]->bytes > order[i]->offset)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensors \"%.*s\" and \"%.*s\" overlap",
                             file->path, quote(order[i - 1]->name),
                             order[i - 1]->name.data, quote(order[i]->name),
                             order[i]->name.data);
    }
    free(order);
    return status;
}

static kd_status read_tensor_infos(cursor *c, gguf_file *file)
{
    /* An info takes at least 8 + 4 + 8 + 4 + 8 bytes. */
    if (file->tensor_count > bytes_left(c) / 32)
        return kd_fail(KD_ERR_FORMAT, "%s: truncated: %llu tensor records cannot fit in the "
                       "%llu bytes left", file->path, (unsigned long long)file->tensor_count,
                       (unsigned long long)bytes_left(c));
    file->tensors = kd_alloc(file->tensor_count ? file->tensor_count : 1, sizeof *file->tensors,
                             "GGUF tensors");
    if (!file->tensors)
        return KD_ERR_NOMEM;
    for (uint64_t i = 0; i < file->tensor_count; i++) {
        kd_status status = read_tensor_info(c, &file->tensors[i]);
        if (status != KD_OK)
            return status;
    }
    kd_status status = check_unique(file->path, "tensor", file->tensors, sizeof *file->tensors,
                                    offsetof(gguf_tensor, name), file->tensor_count);
    if (status != KD_OK)
        return status;
    /* The data section starts at the next multiple of the alignment. */
    uint64_t padding = (file->alignment - c->at % file->alignment) % file->alignment;
    if (padding > bytes_left(c))
        return kd_fail(KD_ERR_FORMAT, "%s: truncated before the tensor data", file->path);
    file->data_offset = c->at + padding;
    return check_ranges(file);
}

static kd_status read_header(gguf_file *file)
{
    cursor c = {file, 0};
    const uint8_t *magic = NULL;
    uint32_t version = 0;
    kd_status status = take(&c, 4, "the magic", &magic);
    if (status != KD_OK)
        return status;
    if (memcmp(magic, KD_GGUF_MAGIC, 4) != 0)
        return kd_fail(KD_ERR_FORMAT, "%s: not a GGUF file (wrong magic)", file->path);
    if ((status = read_u32(&c, "the version", &version)) != KD_OK)
        return status;
    if (version != KD_GGUF_VERSION)
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: GGUF version %u; kd reads version %d",
                       file->path, version, KD_GGUF_VERSION);
    if ((status = read_u64(&c, "the tensor count", &file->tensor_count)) == KD_OK &&
        (status = read_u64(&c, "the key count", &file->kv_count)) == KD_OK &&
        (status = read_kvs(&c, file)) == KD_OK &&
        (status = check_unique(file->path, "key", file->kvs, sizeof *file->kvs,
                               offsetof(gguf_kv, key), file->kv_count)) == KD_OK &&
        (status = read_alignment(file)) == KD_OK)
        status = read_tensor_infos(&c, file);
    return status;
}

static kd_status map_file(gguf_file *file)
{
    int fd = open(file->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", file->path, strerror(errno));
    struct stat info;
    kd_status status = KD_OK;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))
        status = kd_fail(KD_ERR_IO, "%s: not a regular file", file->path);
    else if (info.st_size == 0)
        status = kd_fail(KD_ERR_FORMAT, "%s: empty file", file->path);
    if (status == KD_OK) {
        void *map = mmap(NULL, (size_t)info.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
            status = kd_fail(KD_ERR_IO, "%s: cannot map: %s", file->path, strerror(errno));
        else {
            file->map = map;
            file->size = (uint64_t)info.st_size;
        }
    }
    close(fd);
    return status;
}

kd_status kd_gguf_open(gguf_file *file, const char *path)
{
    memset(file, 0, sizeof *file);
    file->path = kd_alloc(strlen(path) + 1, 1, "path");
    if (!file->path)
        return KD_ERR_NOMEM;
    strcpy(file->path, path);
    kd_status status = map_file(file);
    if (status == KD_OK)
        status = read_header(file);
    if (status != KD_OK)
        kd_gguf_close(file);
    return status;
}

void kd_gguf_close(gguf_file *file)
{
    if (file->map)
        munmap((void *)file->map, (size_t)file->size);
    free(file->kvs);
    free(file->tensors);
    free(file->path);
    memset(file, 0, sizeof *file);
}
