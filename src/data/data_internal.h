/* Helpers shared by the files of the data module; not part of its API. */
#ifndef KD_DATA_INTERNAL_H
#define KD_DATA_INTERNAL_H

#include "kd/data.h"

#include <stddef.h>
#include <stdint.h>

/* Examples back to back: example i is ids[offsets[i] .. offsets[i+1]) with
 * the target mask at the same positions. */
struct dataset {
    size_t seq_len;
    size_t count;
    size_t capacity;
    size_t *offsets;          /* count + 1 */
    uint64_t *record_hashes;  /* count */
    size_t *all_indices;      /* 0 .. count-1, for DATASET_ALL */
    int *ids;
    uint8_t *target_mask;
    size_t token_capacity;
    size_t *train;            /* after kd_dataset_split */
    size_t train_count;
    size_t *validation;
    size_t validation_count;
    dataset_counts counts;
};

/* Room for `examples` more examples of `tokens` more tokens in all. */
kd_status kd_dataset_reserve(dataset *data, size_t examples, size_t tokens);
/* KD_ERR_INVALID unless the example keeps the conventions of kd/data.h. */
kd_status kd_dataset_check_example(const int *ids, const uint8_t *target_mask, size_t length,
                                   size_t seq_len);

/* Data and cache files are read whole; memory is their only size limit. */
#define DATA_MAX_FILE_BYTES (SIZE_MAX / 2)

/* The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or `length` when it is
 * all valid. The tokenizer rejects such text, so readers check it first
 * to name the file and line. */
size_t kd_utf8_invalid_offset(const char *text, size_t length);

#endif
