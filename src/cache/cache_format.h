/* The logit cache's on-disk format and the pieces shared by its writer,
 * reader and verifier (internal to src/cache).
 *
 * Shard file  shard-NNNNN.kdlc, all integers little-endian:
 *   header   32 bytes  "KDLCSHRD" | u32 version | u32 shard index |
 *                      u64 run key | u32 example count | u32 zero
 *   frames             one zstd frame per example, back to back from byte 32
 *   index    24 bytes per example, in cache order:
 *                      u32 example | u32 positions | u64 frame offset |
 *                      u32 frame bytes | u32 record bytes (uncompressed)
 *   footer   24 bytes  u64 index offset | u32 example count | "KDLX" |
 *                      u64 XXH3-64 of every byte before this field
 *
 * Record (one example, uncompressed):
 *   u32 example | u32 positions n | u64 example hash | u32 range count r |
 *   r x (u32 first position, u32 length)   the counted positions as runs
 *   ids      n x K ids (u16, or u32 when the vocabulary exceeds 65536)
 *   codes    n x (K + 2) 12-bit codes packed two per three bytes (a last odd
 *            code padded with 0): per row the top-1 code, then K - 1 code
 *            increments (the codes never decrease along the top-K, so the
 *            increments are small and compress well, and rounding does not
 *            accumulate), then the log tail mass code and the entropy code
 *   samples  (N > 0 only) n x u8 distinct count u, then every row's u ids
 *            (ascending), then every row's u counts (u8, summing to N)
 * Fields are grouped column by column so that zstd sees like next to like. */
#ifndef KD_CACHE_FORMAT_H
#define KD_CACHE_FORMAT_H

#include "kd/cache.h"

#include <stddef.h>
#include <stdint.h>

#define CACHE_FORMAT_VERSION 1
#define CACHE_SHARD_MAGIC "KDLCSHRD"
#define CACHE_FOOTER_MAGIC "KDLX"

enum {
    CACHE_SHARD_HEADER_BYTES = 32,
    CACHE_INDEX_ENTRY_BYTES = 24,
    CACHE_SHARD_FOOTER_BYTES = 24,
    CACHE_RECORD_HEADER_BYTES = 20,
    CACHE_CODE_BITS = 12,
    CACHE_CODE_MAX = (1 << CACHE_CODE_BITS) - 1
};

/* The value grid: code c stands for c * CACHE_CODE_STEP nats. */
#define CACHE_CODE_STEP (1.0f / 128.0f)

/* ---- little-endian bytes ------------------------------------------------- */

static inline void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- values: quantisation (quantize.c) ------------------------------------ */

/* round(-logprob / step), clamped to [0, CACHE_CODE_MAX]; logprob <= 0. */
uint16_t kd_logprob_to_code(float logprob);
float kd_code_to_logprob(uint32_t code);
/* round(nats / step) for a non-negative quantity such as the entropy. */
uint16_t kd_nats_to_code(float nats);
float kd_code_to_nats(uint32_t code);

size_t kd_codes_packed_bytes(size_t count);
void kd_codes_pack(const uint16_t *codes, size_t count, uint8_t *out);
void kd_codes_unpack(const uint8_t *in, size_t count, uint16_t *codes);

/* ---- one position's logits summarised (logit_row.c) ----------------------- */

/* Scratch for one thread: the vocabulary's unnormalised probabilities and the
 * top-K selection. */
typedef struct {
    float *exps;        /* (V) exp(logit - max) */
    int32_t *heap_ids;  /* (K) */
    float *heap_logits; /* (K) */
    int32_t *sorted_ids;/* (K) the top-K ids ascending, to skip them */
    double *uniforms;   /* (N) */
} row_scratch;

kd_status kd_row_scratch_create(row_scratch *scratch, int vocab_size, int topk, int samples);
void kd_row_scratch_free(row_scratch *scratch);

/* The stored summary of one position. */
typedef struct {
    int32_t *topk_ids;       /* (K) by descending logit (ties: lower id first) */
    float *topk_logprobs;    /* (K) */
    double topk_mass;        /* exact sum of the top-K probabilities */
    double tail_mass;        /* exact sum of every other probability */
    double entropy;
    int sample_unique;       /* distinct sampled ids */
    int32_t *sample_ids;     /* (N) ascending */
    uint8_t *sample_counts;  /* (N) */
} row_summary;

/* Summarises one row of V logits: top-K (partial selection, O(V log K) at
 * worst), log-sum-exp, entropy, tail mass and N draws from the tail with
 * `rng`. Non-finite logits are KD_ERR_NUMERIC. */
kd_status kd_row_summarise(const float *logits, int vocab_size, int topk, int samples, kd_rng *rng,
                           row_scratch *scratch, row_summary *out);

/* ---- records (record.c) --------------------------------------------------- */

typedef struct {
    int topk;
    int samples;
    int id_bytes;           /* 2 or 4 */
    int vocab_size;
    int seq_len;
} record_shape;

void kd_record_shape_from(record_shape *shape, const cache_encoding *encoding, int vocab_size,
                          int seq_len);
/* Upper bound of a record's bytes for n positions and r position runs. */
size_t kd_record_max_bytes(const record_shape *shape, size_t positions, size_t runs);

/* One example's rows, as the writer collects them (arrays sized for
 * seq_len rows) and as the reader hands them out. */
typedef struct {
    uint32_t example;
    uint64_t example_hash;
    int positions;
    int32_t *position;        /* (n) */
    int32_t *topk_ids;        /* (n, K) */
    uint16_t *codes;          /* (n, K + 2): absolute codes, then tail, entropy */
    uint16_t *stored_codes;   /* (n, K + 2): the codes as stored (increments) */
    uint8_t *sample_unique;   /* (n) */
    int32_t *sample_ids;      /* (n, N) row i's at i * N */
    uint8_t *sample_counts;   /* (n, N) */
} record_rows;

kd_status kd_record_rows_create(record_rows *rows, const record_shape *shape);
void kd_record_rows_free(record_rows *rows);

/* Serialises `rows` into `out` (kd_record_max_bytes long); returns the size. */
size_t kd_record_encode(const record_shape *shape, const record_rows *rows, uint8_t *out);
/* Parses a record, checking every count, id and code against `shape`; the
 * message names what is wrong (the caller adds the shard and example). */
kd_status kd_record_decode(const record_shape *shape, const uint8_t *data, size_t size,
                           record_rows *rows);

/* ---- shards (shard.c) ----------------------------------------------------- */

typedef struct {
    uint32_t example;
    uint32_t positions;
    uint64_t offset;
    uint32_t frame_bytes;
    uint32_t record_bytes;
} shard_entry;

typedef struct {
    uint32_t shard_index;
    uint64_t run_key;
    uint32_t example_count;
    shard_entry *entries;
    uint64_t checksum;
    uint64_t file_bytes;
} shard_layout;

void kd_shard_file_name(char name[32], int shard_index);
/* Writes a complete shard atomically (temporary file, fsync, rename): a
 * crash leaves either no shard or this one. `entries` carry absolute frame
 * offsets, the first at CACHE_SHARD_HEADER_BYTES. */
kd_status kd_shard_write(const char *path, const shard_layout *layout, const uint8_t *frames,
                         size_t frame_bytes);
/* Reads and checks a whole shard file: its size, header, footer, index (the
 * frames must tile the bytes between header and index) and checksum. */
kd_status kd_shard_read_layout(const char *path, shard_layout *layout);
void kd_shard_layout_free(shard_layout *layout);

/* ---- the manifest (manifest.c) ---------------------------------------------- */

kd_status kd_cache_manifest_write(const char *dir, const cache_manifest *manifest);
/* manifest.json carries "checksum": the XXH3-64 of its own text with those
 * 16 hex digits read as zeros, so a changed byte anywhere in it is caught.
 * Writes the checksum into `text` (which has the field); KD_ERR_FORMAT when
 * the field is missing. */
kd_status kd_cache_manifest_seal(char *text, size_t length);
/* A deep copy (the shard list included). */
kd_status kd_cache_manifest_copy(cache_manifest *to, const cache_manifest *from);
/* The run key of a plan: identity, encoding, vocabulary and example list. */
uint64_t kd_cache_plan_run_key(const cache_plan *plan);
char *kd_cache_join_path(const char *dir, const char *name);

/* ---- the reader on a manifest in memory (reader.c) ---------------------------- */

kd_status kd_cache_open_manifest(const char *dir, const cache_manifest *manifest,
                                 cache_reader **out);
/* Reads every example in an order shuffled by `seed`, returning the mean and
 * 5th percentile of the top-K mass and the tokens decoded per second. */
kd_status kd_cache_read_all(cache_reader *reader, uint64_t seed, cache_stats *stats);

#endif
