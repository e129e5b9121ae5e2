/* safetensors writer: F32 (or F16) tensors laid out back to back in the
 * order given, the header listing them in that same order after
 * "__metadata__", padded with spaces to 8 bytes so the data section starts
 * aligned, as HF's own writer does. The file is replaced atomically. */
#include "kd/io.h"

#include <stdlib.h>
#include <string.h>

static uint64_t source_elements(const safetensors_source *source)
{
    uint64_t elements = 1;
    for (int axis = 0; axis < source->ndim; axis++)
        elements *= (uint64_t)source->shape[axis];
    return elements;
}

static cJSON *tensor_entry(const safetensors_source *source, safetensors_dtype dtype,
                           uint64_t begin, uint64_t end)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
    cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
    cJSON_AddStringToObject(entry, "dtype", kd_safetensors_dtype_name(dtype));
    for (int axis = 0; axis < source->ndim; axis++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)source->shape[axis]));
    /* Doubles hold these offsets exactly: the header check keeps files below 2^53 bytes. */
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)end));
    return entry;
}

/* The header text (JSON plus space padding), or NULL with a message. */
static char *build_header(const char *path, const safetensors_source *tensors, int count,
                          safetensors_dtype dtype, uint64_t *padded_length)
{
    cJSON *header = cJSON_CreateObject();
    cJSON *metadata = cJSON_AddObjectToObject(header, "__metadata__");
    cJSON_AddStringToObject(metadata, "format", "pt");
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        uint64_t bytes = source_elements(&tensors[i]) * kd_safetensors_dtype_size(dtype);
        cJSON_AddItemToObject(header, tensors[i].name,
                              tensor_entry(&tensors[i], dtype, offset, offset + bytes));
        offset += bytes;
    }
    char *json = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    if (!json) {
        kd_fail(KD_ERR_NOMEM, "%s: cannot build the safetensors header", path);
        return NULL;
    }
    size_t length = strlen(json);
    size_t padded = (length + 7) / 8 * 8;
    char *text = realloc(json, padded + 1);
    if (!text) {
        free(json);
        kd_fail(KD_ERR_NOMEM, "%s: cannot build the safetensors header", path);
        return NULL;
    }
    memset(text + length, ' ', padded - length);
    text[padded] = '\0';
    *padded_length = padded;
    return text;
}

static kd_status write_f16(atomic_file *file, const float *data, uint64_t count)
{
    uint16_t chunk[4096];
    while (count > 0) {
        size_t n = count < 4096 ? (size_t)count : 4096;
        for (size_t i = 0; i < n; i++)
            chunk[i] = kd_float_to_float16(data[i]);
        kd_status status = kd_atomic_file_write(file, chunk, n * sizeof *chunk);
        if (status != KD_OK)
            return status;
        data += n;
        count -= n;
    }
    return KD_OK;
}

static kd_status check_sources(const char *path, const safetensors_source *tensors, int count,
                               safetensors_dtype dtype)
{
    if (dtype != SAFETENSORS_F32 && dtype != SAFETENSORS_F16)
        return kd_fail(KD_ERR_UNSUPPORTED, "%s: kd writes F32 or F16 tensors, not %s", path,
                       kd_safetensors_dtype_name(dtype));
    for (int i = 0; i < count; i++) {
        const safetensors_source *source = &tensors[i];
        if (source->ndim < 0 || source->ndim > SAFETENSORS_MAX_DIMS)
            return kd_fail(KD_ERR_INVALID, "%s: tensor %s: %d dimensions", path, source->name,
                           source->ndim);
        for (int axis = 0; axis < source->ndim; axis++)
            if (source->shape[axis] < 0)
                return kd_fail(KD_ERR_INVALID, "%s: tensor %s: negative shape", path,
                               source->name);
    }
    return KD_OK;
}

kd_status kd_safetensors_write(const char *path, const safetensors_source *tensors, int count,
                               safetensors_dtype dtype)
{
    kd_status status = check_sources(path, tensors, count, dtype);
    if (status != KD_OK)
        return status;
    uint64_t header_length;
    char *header = build_header(path, tensors, count, dtype, &header_length);
    if (!header)
        return KD_ERR_NOMEM;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(header_length >> (8 * i));
    atomic_file file;
    status = kd_atomic_file_open(&file, path);
    if (status != KD_OK) {
        free(header);
        return status;
    }
    status = kd_atomic_file_write(&file, prefix, sizeof prefix);
    if (status == KD_OK)
        status = kd_atomic_file_write(&file, header, (size_t)header_length);
    for (int i = 0; i < count && status == KD_OK; i++) {
        uint64_t elements = source_elements(&tensors[i]);
        if (dtype == SAFETENSORS_F32)
            status = kd_atomic_file_write(&file, tensors[i].data, (size_t)elements * sizeof(float));
        else
            status = write_f16(&file, tensors[i].data, elements);
    }
    free(header);
    if (status != KD_OK) {
        kd_atomic_file_abort(&file);
        return status;
    }
    return kd_atomic_file_commit(&file);
}
