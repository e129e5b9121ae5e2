/* Fuzz target: the decoder of one logit cache record (what a shard's zstd
 * frame holds), below the shard checksum that would otherwise refuse almost
 * every fuzzed byte. A decoded record must encode again and decode to the
 * same rows.
 * Input: the cache shape (fuzz_cache_shape_from), then the record. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "cache/cache_format.h"

static void check_same_rows(const record_shape *shape, const record_rows *a, const record_rows *b)
{
    size_t n = (size_t)a->positions, K = (size_t)shape->topk, N = (size_t)shape->samples;
    FUZZ_CHECK(a->example == b->example && a->example_hash == b->example_hash &&
               a->positions == b->positions);
    FUZZ_CHECK(memcmp(a->position, b->position, n * sizeof *a->position) == 0);
    FUZZ_CHECK(memcmp(a->topk_ids, b->topk_ids, n * K * sizeof *a->topk_ids) == 0);
    FUZZ_CHECK(memcmp(a->codes, b->codes, n * (K + 2) * sizeof *a->codes) == 0);
    for (size_t i = 0; N > 0 && i < n; i++) {
        FUZZ_CHECK(a->sample_unique[i] == b->sample_unique[i]);
        size_t u = a->sample_unique[i];
        FUZZ_CHECK(memcmp(a->sample_ids + i * N, b->sample_ids + i * N, u * sizeof(int32_t)) == 0);
        FUZZ_CHECK(memcmp(a->sample_counts + i * N, b->sample_counts + i * N, u) == 0);
    }
}

static void check_reencoding(const record_shape *shape, const record_rows *rows, size_t size)
{
    size_t n = (size_t)rows->positions;
    uint8_t *encoded = malloc(kd_record_max_bytes(shape, n, n));
    record_rows again;
    FUZZ_CHECK(encoded && kd_record_rows_create(&again, shape) == KD_OK);
    size_t encoded_size = kd_record_encode(shape, rows, encoded);
    /* Re-encoding can only join position runs that the input kept apart. */
    FUZZ_CHECK(encoded_size <= size);
    FUZZ_CHECK(kd_record_decode(shape, encoded, encoded_size, &again) == KD_OK);
    check_same_rows(shape, rows, &again);
    kd_record_rows_free(&again);
    free(encoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_CACHE_SHAPE_BYTES)
        return 0;
    fuzz_cache_shape chosen;
    fuzz_cache_shape_from(data, &chosen);
    record_shape shape;
    kd_record_shape_from(&shape, &chosen.encoding, chosen.vocab_size, chosen.seq_len);
    record_rows rows;
    FUZZ_CHECK(kd_record_rows_create(&rows, &shape) == KD_OK);
    kd_status status = kd_record_decode(&shape, data + FUZZ_CACHE_SHAPE_BYTES,
                                        size - FUZZ_CACHE_SHAPE_BYTES, &rows);
    if (status == KD_OK)
        check_reencoding(&shape, &rows, size - FUZZ_CACHE_SHAPE_BYTES);
    else
        fuzz_check_refusal(status);
    kd_record_rows_free(&rows);
    return 0;
}
