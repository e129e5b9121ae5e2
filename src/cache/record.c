/* One example's record: encoding the rows the writer collected and decoding
 * them again, trusting nothing in the bytes (a record that passed its
 * shard's checksum can still come from a buggy or hostile writer). */
#include <stdlib.h>
#include <string.h>

#include "cache_format.h"

void kd_record_shape_from(record_shape *shape, const cache_encoding *encoding, int vocab_size,
                          int seq_len)
{
    shape->topk = encoding->topk;
    shape->samples = encoding->samples;
    shape->id_bytes = vocab_size <= 65536 ? 2 : 4;
    shape->vocab_size = vocab_size;
    shape->seq_len = seq_len;
}

static size_t row_codes(const record_shape *shape)
{
    return (size_t)shape->topk + 2;
}

size_t kd_record_max_bytes(const record_shape *shape, size_t positions, size_t runs)
{
    size_t bytes = CACHE_RECORD_HEADER_BYTES + 8 * runs;
    bytes += positions * (size_t)shape->topk * (size_t)shape->id_bytes;
    bytes += kd_codes_packed_bytes(positions * row_codes(shape));
    if (shape->samples > 0)
        bytes += positions * (1 + (size_t)shape->samples * ((size_t)shape->id_bytes + 1));
    return bytes;
}

kd_status kd_record_rows_create(record_rows *rows, const record_shape *shape)
{
    memset(rows, 0, sizeof *rows);
    size_t S = (size_t)shape->seq_len, K = (size_t)shape->topk;
    size_t N = shape->samples > 0 ? (size_t)shape->samples : 1;
    rows->position = kd_alloc(S, sizeof(int32_t), "cache record");
    rows->topk_ids = kd_alloc(S * (K > 0 ? K : 1), sizeof(int32_t), "cache record");
    rows->codes = kd_alloc(S * row_codes(shape), sizeof(uint16_t), "cache record");
    rows->stored_codes = kd_alloc(S * row_codes(shape), sizeof(uint16_t), "cache record");
    rows->sample_unique = kd_alloc(S, 1, "cache record");
    rows->sample_ids = kd_alloc(S * N, sizeof(int32_t), "cache record");
    rows->sample_counts = kd_alloc(S * N, 1, "cache record");
    if (!rows->position || !rows->topk_ids || !rows->codes || !rows->stored_codes ||
        !rows->sample_unique || !rows->sample_ids || !rows->sample_counts) {
        kd_record_rows_free(rows);
        return KD_ERR_NOMEM;
    }
    return KD_OK;
}

void kd_record_rows_free(record_rows *rows)
{
    free(rows->position);
    free(rows->topk_ids);
    free(rows->codes);
    free(rows->stored_codes);
    free(rows->sample_unique);
    free(rows->sample_ids);
    free(rows->sample_counts);
    memset(rows, 0, sizeof *rows);
}

static uint8_t *put_id(uint8_t *p, int id_bytes, int32_t id)
{
    if (id_bytes == 2)
        put_u16(p, (uint32_t)id);
    else
        put_u32(p, (uint32_t)id);
    return p + id_bytes;
}

static size_t count_runs(const int32_t *position, int n)
{
    size_t runs = 0;
    for (int i = 0; i < n; i++)
        runs += i == 0 || position[i] != position[i - 1] + 1;
    return runs;
}

static uint8_t *encode_runs(const int32_t *position, int n, uint8_t *p)
{
    for (int i = 0; i < n;) {
        int end = i + 1;
        while (end < n && position[end] == position[end - 1] + 1)
            end++;
        put_u32(p, (uint32_t)position[i]);
        put_u32(p + 4, (uint32_t)(end - i));
        p += 8;
        i = end;
    }
    return p;
}

/* Absolute codes -> stored codes: the top-1, then increments along the top-K. */
static void codes_to_increments(const uint16_t *codes, uint16_t *stored, size_t n, int K)
{
    size_t width = (size_t)K + 2;
    for (size_t i = 0; i < n; i++) {
        const uint16_t *row = codes + i * width;
        uint16_t *out = stored + i * width;
        for (int k = 0; k < K; k++)
            out[k] = (uint16_t)(k == 0 ? row[0] : row[k] - row[k - 1]);
        out[K] = row[K];
        out[K + 1] = row[K + 1];
    }
}

size_t kd_record_encode(const record_shape *shape, const record_rows *rows, uint8_t *out)
{
    int n = rows->positions, K = shape->topk, N = shape->samples, id_bytes = shape->id_bytes;
    size_t runs = count_runs(rows->position, n);
    uint8_t *p = out;
    put_u32(p, rows->example);
    put_u32(p + 4, (uint32_t)n);
    put_u64(p + 8, rows->example_hash);
    put_u32(p + 16, (uint32_t)runs);
    p = encode_runs(rows->position, n, p + CACHE_RECORD_HEADER_BYTES);
    for (size_t i = 0; i < (size_t)n * (size_t)K; i++)
        p = put_id(p, id_bytes, rows->topk_ids[i]);
    size_t code_count = (size_t)n * row_codes(shape);
    codes_to_increments(rows->codes, rows->stored_codes, (size_t)n, K);
    kd_codes_pack(rows->stored_codes, code_count, p);
    p += kd_codes_packed_bytes(code_count);
    if (N > 0) {
        memcpy(p, rows->sample_unique, (size_t)n);
        p += n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < rows->sample_unique[i]; j++)
                p = put_id(p, id_bytes, rows->sample_ids[(size_t)i * N + j]);
        for (int i = 0; i < n; i++) {
            memcpy(p, rows->sample_counts + (size_t)i * N, rows->sample_unique[i]);
            p += rows->sample_unique[i];
        }
    }
    return (size_t)(p - out);
}

/* ---- decoding ------------------------------------------------------------ */

/* A cursor over the record's bytes that refuses to read past the end. */
typedef struct {
    const uint8_t *p;
    size_t left;
} byte_cursor;

static const uint8_t *take(byte_cursor *cursor, size_t bytes)
{
    if (bytes > cursor->left)
        return NULL;
    const uint8_t *at = cursor->p;
    cursor->p += bytes;
    cursor->left -= bytes;
    return at;
}

static int32_t get_id(const uint8_t *p, int id_bytes)
{
    return (int32_t)(id_bytes == 2 ? get_u16(p) : get_u32(p));
}

static kd_status decode_runs(const record_shape *shape, byte_cursor *cursor, uint32_t runs,
                             record_rows *rows)
{
    const uint8_t *p = take(cursor, (size_t)runs * 8);
    if (!p)
        return kd_fail(KD_ERR_FORMAT, "record ends inside its position runs");
    uint64_t filled = 0, previous_end = 0;
    for (uint32_t r = 0; r < runs; r++, p += 8) {
        uint64_t first = get_u32(p), length = get_u32(p + 4);
        if (length == 0 || first < previous_end || first + length > (uint64_t)shape->seq_len ||
            filled + length > (uint64_t)rows->positions)
            return kd_fail(KD_ERR_FORMAT, "position run %u (%llu, %llu) is out of order or range",
                           r, (unsigned long long)first, (unsigned long long)length);
        for (uint64_t t = 0; t < length; t++)
            rows->position[filled++] = (int32_t)(first + t);
        previous_end = first + length;
    }
    if (filled != (uint64_t)rows->positions)
        return kd_fail(KD_ERR_FORMAT, "position runs cover %llu positions, the record says %d",
                       (unsigned long long)filled, rows->positions);
    return KD_OK;
}

static kd_status decode_ids(const record_shape *shape, byte_cursor *cursor, size_t count,
                            int32_t *ids, const char *what)
{
    const uint8_t *p = take(cursor, count * (size_t)shape->id_bytes);
    if (!p)
        return kd_fail(KD_ERR_FORMAT, "record ends inside its %s", what);
    for (size_t i = 0; i < count; i++, p += shape->id_bytes) {
        ids[i] = get_id(p, shape->id_bytes);
        if (ids[i] < 0 || ids[i] >= shape->vocab_size)
            return kd_fail(KD_ERR_FORMAT, "%s: token id %d is outside the vocabulary (%d)", what,
                           ids[i], shape->vocab_size);
    }
    return KD_OK;
}

static kd_status decode_codes(const record_shape *shape, byte_cursor *cursor, record_rows *rows)
{
    int K = shape->topk;
    size_t width = row_codes(shape), n = (size_t)rows->positions;
    const uint8_t *p = take(cursor, kd_codes_packed_bytes(n * width));
    if (!p)
        return kd_fail(KD_ERR_FORMAT, "record ends inside its log-probabilities");
    kd_codes_unpack(p, n * width, rows->stored_codes);
    for (size_t i = 0; i < n; i++) {
        const uint16_t *in = rows->stored_codes + i * width;
        uint16_t *row = rows->codes + i * width;
        uint32_t code = 0;
        for (int k = 0; k < K; k++) {
            code += in[k];
            if (code > CACHE_CODE_MAX)
                return kd_fail(KD_ERR_FORMAT, "row %zu: log-probability code past the grid", i);
            row[k] = (uint16_t)code;
        }
        row[K] = in[K];
        row[K + 1] = in[K + 1];
    }
    return KD_OK;
}

static kd_status decode_samples(const record_shape *shape, byte_cursor *cursor, record_rows *rows)
{
    int n = rows->positions, N = shape->samples;
    const uint8_t *unique = take(cursor, (size_t)n);
    if (!unique)
        return kd_fail(KD_ERR_FORMAT, "record ends inside its sample counts");
    memcpy(rows->sample_unique, unique, (size_t)n);
    for (int i = 0; i < n; i++) {
        if (unique[i] > N)
            return kd_fail(KD_ERR_FORMAT, "row %d: %d distinct samples of %d draws", i, unique[i],
                           N);
        kd_status status = decode_ids(shape, cursor, unique[i], rows->sample_ids + (size_t)i * N,
                                      "sampled ids");
        if (status != KD_OK)
            return status;
        for (int j = 1; j < unique[i]; j++)
            if (rows->sample_ids[(size_t)i * N + j] <= rows->sample_ids[(size_t)i * N + j - 1])
                return kd_fail(KD_ERR_FORMAT, "row %d: sampled ids are not ascending", i);
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *counts = take(cursor, unique[i]);
        if (!counts)
            return kd_fail(KD_ERR_FORMAT, "record ends inside its sample counts");
        int drawn = 0;
        for (int j = 0; j < unique[i]; j++) {
            if (counts[j] == 0)
                return kd_fail(KD_ERR_FORMAT, "row %d: a sampled id with count 0", i);
            drawn += counts[j];
        }
        if (unique[i] > 0 && drawn != N)
            return kd_fail(KD_ERR_FORMAT, "row %d: sample counts sum to %d, not %d", i, drawn, N);
        memcpy(rows->sample_counts + (size_t)i * N, counts, unique[i]);
    }
    return KD_OK;
}

kd_status kd_record_decode(const record_shape *shape, const uint8_t *data, size_t size,
                           record_rows *rows)
{
    byte_cursor cursor = {data, size};
    const uint8_t *header = take(&cursor, CACHE_RECORD_HEADER_BYTES);
    if (!header)
        return kd_fail(KD_ERR_FORMAT, "record of %zu bytes is shorter than its header", size);
    rows->example = get_u32(header);
    uint32_t positions = get_u32(header + 4), runs = get_u32(header + 16);
    rows->example_hash = get_u64(header + 8);
    if (positions > (uint32_t)shape->seq_len || runs > positions)
        return kd_fail(KD_ERR_FORMAT, "record claims %u positions in %u runs (sequence length %d)",
                       positions, runs, shape->seq_len);
    rows->positions = (int)positions;
    kd_status status = decode_runs(shape, &cursor, runs, rows);
    if (status == KD_OK)
        status = decode_ids(shape, &cursor, (size_t)positions * (size_t)shape->topk,
                            rows->topk_ids, "top-k ids");
    if (status == KD_OK)
        status = decode_codes(shape, &cursor, rows);
    if (status == KD_OK && shape->samples > 0)
        status = decode_samples(shape, &cursor, rows);
    if (status == KD_OK && cursor.left != 0)
        status = kd_fail(KD_ERR_FORMAT, "%zu stray bytes after the record", cursor.left);
    return status;
}
