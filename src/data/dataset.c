/* The in-memory dataset: examples in flat arrays, grown by doubling. */
#include "kd/data.h"

#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

kd_status kd_dataset_create(size_t seq_len, dataset **out)
{
    *out = NULL;
    if (seq_len == 0)
        return kd_fail(KD_ERR_INVALID, "dataset: sequence length must be at least 1");
    dataset *data = kd_alloc(1, sizeof *data, "dataset");
    if (!data)
        return KD_ERR_NOMEM;
    data->seq_len = seq_len;
    data->offsets = kd_alloc(1, sizeof *data->offsets, "dataset offsets");
    if (!data->offsets) {
        free(data);
        return KD_ERR_NOMEM;
    }
    *out = data;
    return KD_OK;
}

/* Reallocates an array to `count` elements; on failure it is unchanged. */
static kd_status resize(void **memory, size_t count, size_t size, const char *what)
{
    size_t bytes = kd_mul_size(count, size);
    void *bigger = bytes ? realloc(*memory, bytes) : NULL;
    if (!bigger)
        return kd_fail(KD_ERR_NOMEM, "dataset: cannot grow %s to %zu", what, count);
    *memory = bigger;
    return KD_OK;
}

static size_t grown_capacity(size_t capacity, size_t needed)
{
    capacity = capacity ? capacity : 64;
    while (capacity < needed)
        capacity *= 2;
    return capacity;
}

/* The arrays of one kind share a capacity that is raised only once all of
 * them have grown, so a failed realloc leaves a consistent dataset. */
kd_status kd_dataset_reserve(dataset *data, size_t examples, size_t tokens)
{
    size_t needed = data->count + examples;
    if (needed > data->capacity) {
        size_t capacity = grown_capacity(data->capacity, needed);
        kd_status status = resize((void **)&data->offsets, capacity + 1, sizeof(size_t), "offsets");
        if (status == KD_OK)
            status = resize((void **)&data->record_hashes, capacity, sizeof(uint64_t), "hashes");
        if (status == KD_OK)
            status = resize((void **)&data->all_indices, capacity, sizeof(size_t), "indices");
        if (status != KD_OK)
            return status;
        data->capacity = capacity;
    }
    size_t needed_tokens = data->offsets[data->count] + tokens;
    if (needed_tokens > data->token_capacity) {
        size_t capacity = grown_capacity(data->token_capacity, needed_tokens);
        kd_status status = resize((void **)&data->ids, capacity, sizeof(int), "token ids");
        if (status == KD_OK)
            status = resize((void **)&data->target_mask, capacity, 1, "target mask");
        if (status != KD_OK)
            return status;
        data->token_capacity = capacity;
    }
    return KD_OK;
}

static void forget_split(dataset *data)
{
    free(data->train);
    free(data->validation);
    data->train = data->validation = NULL;
    data->train_count = data->validation_count = 0;
}

kd_status kd_dataset_check_example(const int *ids, const uint8_t *target_mask, size_t length,
                                   size_t seq_len)
{
    if (length < 2 || length > seq_len + 1)
        return kd_fail(KD_ERR_INVALID, "dataset: example of %zu tokens (allowed 2 to %zu)", length,
                       seq_len + 1);
    if (target_mask[length - 1] != 0)
        return kd_fail(KD_ERR_INVALID, "dataset: the last token of an example has no target");
    for (size_t i = 0; i < length; i++) {
        if (ids[i] < 0)
            return kd_fail(KD_ERR_INVALID, "dataset: negative token id %d", ids[i]);
        if (target_mask[i] > 1)
            return kd_fail(KD_ERR_INVALID, "dataset: target mask value %u", target_mask[i]);
    }
    return KD_OK;
}

kd_status kd_dataset_append(dataset *data, const int *ids, const uint8_t *target_mask,
                            size_t length, uint64_t record_hash)
{
    kd_status status = kd_dataset_check_example(ids, target_mask, length, data->seq_len);
    if (status != KD_OK)
        return status;
    status = kd_dataset_reserve(data, 1, length);
    if (status != KD_OK)
        return status;
    forget_split(data);
    size_t start = data->offsets[data->count];
    memcpy(data->ids + start, ids, length * sizeof *ids);
    memcpy(data->target_mask + start, target_mask, length);
    data->record_hashes[data->count] = record_hash;
    data->all_indices[data->count] = data->count;
    data->offsets[++data->count] = start + length;
    return KD_OK;
}

void kd_dataset_free(dataset *data)
{
    if (!data)
        return;
    forget_split(data);
    free(data->offsets);
    free(data->record_hashes);
    free(data->all_indices);
    free(data->ids);
    free(data->target_mask);
    free(data);
}

size_t kd_dataset_size(const dataset *data)
{
    return data->count;
}

size_t kd_dataset_seq_len(const dataset *data)
{
    return data->seq_len;
}

size_t kd_dataset_token_count(const dataset *data)
{
    return data->offsets[data->count];
}

kd_example kd_dataset_example(const dataset *data, size_t index)
{
    size_t start = data->offsets[index];
    kd_example example = {data->ids + start, data->target_mask + start,
                          data->offsets[index + 1] - start, data->record_hashes[index]};
    return example;
}

dataset_counts kd_dataset_get_counts(const dataset *data)
{
    return data->counts;
}

void kd_dataset_set_counts(dataset *data, const dataset_counts *counts)
{
    data->counts = *counts;
}

const size_t *kd_dataset_part_indices(const dataset *data, dataset_part part, size_t *count)
{
    switch (part) {
    case DATASET_TRAIN:
        *count = data->train_count;
        return data->train;
    case DATASET_VALIDATION:
        *count = data->validation_count;
        return data->validation;
    case DATASET_ALL:
        break;
    }
    *count = data->count;
    return data->all_indices;
}
