/* safetensors reader. The layout is
 *
 *     u64 little-endian N | N bytes of JSON header | data section
 *
 * and the header maps each tensor name to {"dtype", "shape", "data_offsets"}
 * (byte offsets relative to the data section), plus an optional
 * "__metadata__" map of strings. Everything in the header is untrusted: each
 * number is checked before it sizes or indexes anything. Tensor data is
 * read with pread() on demand, so opening a 500 MB model costs one header. */
#include "kd/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kd reads safetensors (little-endian) data in place; add byte swapping for this host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[SAFETENSORS_DTYPE_COUNT] = {
    [SAFETENSORS_BOOL] = {"BOOL", 1},       [SAFETENSORS_U8] = {"U8", 1},
    [SAFETENSORS_I8] = {"I8", 1},           [SAFETENSORS_F8_E5M2] = {"F8_E5M2", 1},
    [SAFETENSORS_F8_E4M3] = {"F8_E4M3", 1}, [SAFETENSORS_I16] = {"I16", 2},
    [SAFETENSORS_U16] = {"U16", 2},         [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2},       [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_U32] = {"U32", 4},         [SAFETENSORS_F32] = {"F32", 4},
    [SAFETENSORS_F64] = {"F64", 8},         [SAFETENSORS_I64] = {"I64", 8},
    [SAFETENSORS_U64] = {"U64", 8},
};

const char *kd_safetensors_dtype_name(safetensors_dtype dtype)
{
    return dtype < SAFETENSORS_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t kd_safetensors_dtype_size(safetensors_dtype dtype)
{
    return dtype < SAFETENSORS_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

uint64_t kd_safetensors_tensor_elements(const safetensors_tensor *tensor)
{
    return (tensor->data_end - tensor->data_begin) / kd_safetensors_dtype_size(tensor->dtype);
}

/* JSON numbers are doubles; accept only exact non-negative integers below
 * 2^53, where every integer is representable. */
static int json_to_u64(const cJSON *item, uint64_t *value)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double number = item->valuedouble;
    if (!(number >= 0.0 && number < 0x1p53) || number != floor(number))
        return 0;
    *value = (uint64_t)number;
    return 1;
}

static kd_status parse_dtype(const char *path, const char *name, const cJSON *entry,
                             safetensors_dtype *dtype)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(item))
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: \"dtype\" missing or not a string", path,
                       name);
    for (int i = 0; i < SAFETENSORS_DTYPE_COUNT; i++) {
        if (strcmp(item->valuestring, dtype_table[i].name) == 0) {
            *dtype = (safetensors_dtype)i;
            return KD_OK;
        }
    }
    return kd_fail(KD_ERR_UNSUPPORTED, "%s: unsupported dtype %s for tensor %s", path,
                   item->valuestring, name);
}

/* Fills ndim/shape and returns the element count through `elements`,
 * refusing counts that overflow 64 bits. */
static kd_status parse_shape(const char *path, const char *name, const cJSON *entry,
                             safetensors_tensor *tensor, uint64_t *elements)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: \"shape\" missing or not an array", path,
                       name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SAFETENSORS_MAX_DIMS)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: %d dimensions (kd reads at most %d)", path,
                       name, ndim, SAFETENSORS_MAX_DIMS);
    tensor->ndim = ndim;
    *elements = 1;
    int axis = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t extent;
        if (!json_to_u64(dim, &extent))
            return kd_fail(KD_ERR_FORMAT,
                           "%s: tensor %s: shape[%d] is not a non-negative integer", path, name,
                           axis);
        if (extent != 0 && *elements > UINT64_MAX / extent)
            return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: shape overflows 64 bits", path, name);
        *elements *= extent;
        tensor->shape[axis++] = (int64_t)extent;
    }
    return KD_OK;
}

static kd_status parse_offsets(const char *path, const char *name, const cJSON *entry,
                               uint64_t data_size, safetensors_tensor *tensor)
{
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_to_u64(cJSON_GetArrayItem(offsets, 0), &tensor->data_begin) ||
        !json_to_u64(cJSON_GetArrayItem(offsets, 1), &tensor->data_end))
        return kd_fail(KD_ERR_FORMAT,
                       "%s: tensor %s: \"data_offsets\" must be two non-negative integers", path,
                       name);
    if (tensor->data_end < tensor->data_begin)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: data_offsets end %llu is before begin %llu",
                       path, name, (unsigned long long)tensor->data_end,
                       (unsigned long long)tensor->data_begin);
    if (tensor->data_end > data_size)
        return kd_fail(KD_ERR_FORMAT,
                       "%s: tensor %s: data_offsets end %llu is past the data section "
                       "(%llu bytes)",
                       path, name, (unsigned long long)tensor->data_end,
                       (unsigned long long)data_size);
    return KD_OK;
}

static kd_status parse_tensor(const char *path, const cJSON *entry, uint64_t data_size,
                              safetensors_tensor *tensor)
{
    const char *name = entry->string;
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20)
            return kd_fail(KD_ERR_FORMAT, "%s: a tensor name contains a control character",
                           path);
    if (!cJSON_IsObject(entry))
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s: entry is not a JSON object", path, name);
    tensor->name = name;
    uint64_t elements = 0;
    kd_status status = parse_dtype(path, name, entry, &tensor->dtype);
    if (status == KD_OK)
        status = parse_shape(path, name, entry, tensor, &elements);
    if (status == KD_OK)
        status = parse_offsets(path, name, entry, data_size, tensor);
    if (status != KD_OK)
        return status;
    uint64_t element_size = kd_safetensors_dtype_size(tensor->dtype);
    uint64_t bytes = tensor->data_end - tensor->data_begin;
    if (elements > UINT64_MAX / element_size || elements * element_size != bytes)
        return kd_fail(KD_ERR_FORMAT,
                       "%s: tensor %s: %llu bytes of data, but shape and dtype %s need %llu "
                       "elements of %llu bytes",
                       path, name, (unsigned long long)bytes, dtype_table[tensor->dtype].name,
                       (unsigned long long)elements, (unsigned long long)element_size);
    return KD_OK;
}

static kd_status parse_metadata(const char *path, const cJSON *metadata)
{
    if (!cJSON_IsObject(metadata))
        return kd_fail(KD_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, metadata) {
        if (!cJSON_IsString(item))
            return kd_fail(KD_ERR_FORMAT, "%s: \"__metadata__\" value %s is not a string", path,
                           item->string);
    }
    return KD_OK;
}

static int compare_by_offset(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    if (x->data_begin != y->data_begin)
        return x->data_begin < y->data_begin ? -1 : 1;
    if (x->data_end != y->data_end)
        return x->data_end < y->data_end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int compare_by_name(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* The tensors must tile the data section exactly, like the reference
 * reader requires: no overlaps, no holes, nothing after the last one.
 * Names must be unique (cJSON keeps duplicate keys; HF would not). */
static kd_status check_layout(const safetensors_file *file)
{
    int count = file->tensor_count;
    const safetensors_tensor **order = kd_alloc((size_t)count + 1, sizeof *order, file->path);
    if (!order)
        return KD_ERR_NOMEM;
    for (int i = 0; i < count; i++)
        order[i] = &file->tensors[i];
    kd_status status = KD_OK;
    qsort(order, (size_t)count, sizeof *order, compare_by_name);
    for (int i = 1; i < count && status == KD_OK; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor %s appears twice", file->path,
                             order[i]->name);
    qsort(order, (size_t)count, sizeof *order, compare_by_offset);
    uint64_t covered = 0;
    for (int i = 0; i < count && status == KD_OK; i++) {
        const safetensors_tensor *tensor = order[i];
        if (tensor->data_begin < covered)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor %s overlaps tensor %s", file->path,
                             tensor->name, order[i - 1]->name);
        else if (tensor->data_begin > covered)
            status = kd_fail(KD_ERR_FORMAT, "%s: tensor %s: %llu unindexed bytes before it",
                             file->path, tensor->name,
                             (unsigned long long)(tensor->data_begin - covered));
        covered = tensor->data_end;
    }
    if (status == KD_OK && covered != file->data_size)
        status = kd_fail(KD_ERR_FORMAT, "%s: %llu bytes after the last tensor", file->path,
                         (unsigned long long)(file->data_size - covered));
    free(order);
    return status;
}

static kd_status parse_header(safetensors_file *file, const char *text, uint64_t length)
{
    const char *end = NULL;
    file->header = cJSON_ParseWithLengthOpts(text, (size_t)length, &end, 0);
    if (!file->header)
        return kd_fail(KD_ERR_FORMAT, "%s: header JSON malformed at byte %td", file->path,
                       end ? end - text : (ptrdiff_t)0);
    /* HF pads the header with spaces; anything else after the JSON is junk. */
    for (const char *c = end; c < text + length; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r')
            return kd_fail(KD_ERR_FORMAT, "%s: unexpected bytes after the header JSON",
                           file->path);
    if (!cJSON_IsObject(file->header))
        return kd_fail(KD_ERR_FORMAT, "%s: header is not a JSON object", file->path);
    int entries = cJSON_GetArraySize(file->header);
    file->tensors = kd_alloc((size_t)entries + 1, sizeof *file->tensors, file->path);
    if (!file->tensors)
        return KD_ERR_NOMEM;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, file->header) {
        kd_status status;
        if (strcmp(entry->string, "__metadata__") == 0) {
            status = parse_metadata(file->path, entry);
            file->metadata = entry;
        } else {
            status = parse_tensor(file->path, entry, file->data_size,
                                  &file->tensors[file->tensor_count++]);
        }
        if (status != KD_OK)
            return status;
    }
    return check_layout(file);
}

static kd_status open_and_parse(safetensors_file *file, const char *path)
{
    file->path = strdup(path);
    if (!file->path)
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    file->fd = open(path, O_RDONLY);
    if (file->fd < 0)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(file->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return kd_fail(KD_ERR_IO, "%s: not a regular file", path);
    uint64_t file_size = (uint64_t)st.st_size;
    if (file_size < 8)
        return kd_fail(KD_ERR_FORMAT,
                       "%s: %llu bytes is too short for a safetensors file (truncated?)", path,
                       (unsigned long long)file_size);
    uint8_t prefix[8];
    kd_status status = kd_file_read_at(file->fd, path, prefix, sizeof prefix, 0);
    if (status != KD_OK)
        return status;
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--)
        header_length = header_length << 8 | prefix[i];
    if (header_length == 0 || header_length > SAFETENSORS_MAX_HEADER_BYTES)
        return kd_fail(KD_ERR_FORMAT, "%s: header length %llu is absurd (limit %u)", path,
                       (unsigned long long)header_length, SAFETENSORS_MAX_HEADER_BYTES);
    if (header_length > file_size - 8)
        return kd_fail(KD_ERR_FORMAT,
                       "%s: header length %llu runs past the end of the file (%llu bytes)", path,
                       (unsigned long long)header_length, (unsigned long long)file_size);
    file->data_offset = 8 + header_length;
    file->data_size = file_size - file->data_offset;
    char *text = kd_alloc((size_t)header_length + 1, 1, path);
    if (!text)
        return KD_ERR_NOMEM;
    status = kd_file_read_at(file->fd, path, text, (size_t)header_length, 8);
    if (status == KD_OK)
        status = parse_header(file, text, header_length);
    free(text);
    return status;
}

kd_status kd_safetensors_open(safetensors_file *file, const char *path)
{
    memset(file, 0, sizeof *file);
    file->fd = -1;
    kd_status status = open_and_parse(file, path);
    if (status != KD_OK)
        kd_safetensors_close(file);
    return status;
}

void kd_safetensors_close(safetensors_file *file)
{
    if (file->fd >= 0)
        close(file->fd);
    cJSON_Delete(file->header);
    free(file->tensors);
    free(file->path);
    memset(file, 0, sizeof *file);
    file->fd = -1;
}

const safetensors_tensor *kd_safetensors_find(const safetensors_file *file, const char *name)
{
    for (int i = 0; i < file->tensor_count; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

const char *kd_safetensors_metadata(const safetensors_file *file, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(file->metadata, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Reads 16-bit elements in stack-sized chunks and widens them. */
static kd_status read_half_elements(const safetensors_file *file, uint64_t offset,
                                    uint64_t count, int is_bfloat, float *out)
{
    uint16_t chunk[4096];
    while (count > 0) {
        size_t n = count < 4096 ? (size_t)count : 4096;
        kd_status status = kd_file_read_at(file->fd, file->path, chunk, n * sizeof *chunk, offset);
        if (status != KD_OK)
            return status;
        for (size_t i = 0; i < n; i++)
            out[i] = is_bfloat ? kd_bfloat16_to_float(chunk[i]) : kd_float16_to_float(chunk[i]);
        out += n;
        count -= n;
        offset += n * sizeof *chunk;
    }
    return KD_OK;
}

kd_status kd_safetensors_read_f32(const safetensors_file *file, const safetensors_tensor *tensor,
                                  uint64_t first, uint64_t count, float *out)
{
    uint64_t elements = kd_safetensors_tensor_elements(tensor);
    if (first > elements || count > elements - first)
        return kd_fail(KD_ERR_INVALID, "%s: tensor %s: elements [%llu, +%llu) out of range (%llu)",
                       file->path, tensor->name, (unsigned long long)first,
                       (unsigned long long)count, (unsigned long long)elements);
    uint64_t offset = file->data_offset + tensor->data_begin +
                      first * kd_safetensors_dtype_size(tensor->dtype);
    switch (tensor->dtype) {
    case SAFETENSORS_F32:
        return kd_file_read_at(file->fd, file->path, out, (size_t)count * sizeof *out, offset);
    case SAFETENSORS_F16:
        return read_half_elements(file, offset, count, 0, out);
    case SAFETENSORS_BF16:
        return read_half_elements(file, offset, count, 1, out);
    default:
        return kd_fail(KD_ERR_UNSUPPORTED,
                       "%s: tensor %s has dtype %s; kd reads only F32, F16 and BF16", file->path,
                       tensor->name, dtype_table[tensor->dtype].name);
    }
}
