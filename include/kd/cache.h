/* kd cache: the teacher logit cache. The teacher runs once over the training
 * split; every student run then reads its soft targets from disk.
 *
 * What is stored, for every position t of an example whose target counts in
 * the loss (target_mask[t] == 1, the prediction of ids[t+1]):
 *   - the top-K token ids, by descending teacher probability at T = 1;
 *   - their log-probabilities log p = logit - lse over the full vocabulary,
 *     so they are the teacher's true log-probabilities, not renormalised;
 *   - the tail mass 1 - sum of the top-K probabilities, and the teacher's
 *     entropy at that position (what the stored part leaves out);
 *   - with samples (N > 0): N draws with replacement from the tail
 *     distribution q(v) = p(v) / tail over the tokens outside the top-K,
 *     stored as distinct ids with their counts.
 *
 * Values. Log-probabilities, log tail mass and entropy are stored on one
 * uniform grid of step 2^-7 nats in 12 bits: code c means -c / 128 (entropy:
 * +c / 128), covering [-31.99, 0]. Rounding makes every stored log-probability
 * within 2^-8 = 0.0039 nats of the true one, i.e. every probability within
 * 0.39 % relative; log-probabilities below -31.99 (p < 1.3e-14) read back as
 * -31.99. fp16 would take 16 bits and is coarser exactly where KD needs it
 * (steps of 2^-6 nats for log p in [-32, -16)); 12 bits keep K = 32 within
 * 128 bytes per token before compression. Ids are 16-bit when the vocabulary
 * has at most 65536 tokens, else 32-bit.
 *
 * The sampled estimator. For any function f of the token (e.g. -log s(v) of
 * the student, or its gradient),
 *     E_p[f] = sum_{k in top-K} p_k f(k) + sum_i w_i f(x_i),  w_i = tail * c_i / N
 * holds in expectation over the draws: the x_i are distinct sampled ids, c_i
 * their counts (sum c_i = N), and E[c_i / N] = q(x_i), so
 * E[sum_i w_i f(x_i)] = tail * E_q[f] = sum_{v outside top-K} p(v) f(v)
 * exactly; only the 0.39 % quantisation of the tail mass remains. With K = 0
 * this is the sampling of Anshumann et al. (ACL 2025): the tail is the whole
 * distribution. The KL divergence KL(p || s) = -H(p) - E_p[log s] then has
 * an unbiased estimate from the stored entropy H, the top-K and the samples.
 *
 * On disk (all integers little-endian):
 *   DIR/manifest.json        what made the cache (identity hashes, encoding,
 *                            counts, per-shard XXH3-64 checksums, stats);
 *                            written last and atomically
 *   DIR/shard-NNNNN.kdlc     header | one zstd frame per example | index |
 *                            footer; each example is decompressed alone, so
 *                            any example is readable at random
 * The format is described in full in src/cache/cache_format.h. */
#ifndef KD_CACHE_H
#define KD_CACHE_H

#include "kd/core.h"
#include "kd/data.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    CACHE_MAX_TOPK = 256,
    CACHE_MAX_SAMPLES = 255,   /* a count fits one byte */
    CACHE_MAX_SEQ_LEN = 65536,
    CACHE_DEFAULT_TOPK = 32,
    CACHE_DEFAULT_ZSTD_LEVEL = 3,
    CACHE_DEFAULT_SHARD_EXAMPLES = 256,
    CACHE_PATH_CAPACITY = 1024
};

/* The largest error of a stored log-probability (and of the log tail mass
 * and the entropy), in nats, for values in [-31.99, 0]. */
#define CACHE_LOGPROB_MAX_ERROR (1.0f / 256.0f)

/* What the cached logits were made from. A student run computes the same
 * values for its own teacher, data and settings and refuses a cache whose
 * identity differs (kd_cache_check_compatible). */
typedef struct {
    uint64_t teacher;         /* XXH3-64 of the teacher's model.safetensors */
    uint64_t tokenizer;       /* the tokenizer's hash (vocab.json, merges.txt) */
    uint64_t data;            /* XXH3-64 of the data files' contents, in order */
    uint64_t template_hash;   /* templates, field names, loss mode */
    int seq_len;
    uint64_t split_seed;
    double validation_fraction;
    char part[16];            /* the split part cached: "train" */
} cache_identity;

/* How the logits are stored. */
typedef struct {
    int topk;                 /* K, 0..CACHE_MAX_TOPK (at most the vocabulary) */
    int samples;              /* N draws from the tail per position, 0..CACHE_MAX_SAMPLES */
    uint64_t sample_seed;
    int zstd_level;           /* ZSTD_minCLevel()..ZSTD_maxCLevel() */
    int shard_examples;       /* examples per shard */
} cache_encoding;

/* K 32, no samples, seed 0, zstd level 3, 256 examples per shard. */
void kd_cache_encoding_default(cache_encoding *encoding);

/* Figures about a cache, measured when it is written. */
typedef struct {
    double bytes_per_token;       /* shard bytes on disk / cached tokens */
    double raw_bytes_per_token;   /* uncompressed record bytes / cached tokens */
    double compression_ratio;     /* uncompressed / compressed record bytes */
    double topk_mass_mean;        /* mean teacher probability covered by the top-K */
    double topk_mass_p5;          /* its 5th percentile over positions */
    double write_tokens_per_s;    /* cached tokens per second of the writing run
                                     (teacher forward included) */
    double write_mb_per_s;        /* compressed megabytes (1e6) written per second */
    double read_tokens_per_s;     /* tokens per second decoding every example in
                                     shuffled order */
    double teacher_tokens_per_s;  /* cached tokens per second of the teacher's own
                                     forward pass and lm_head while writing (0 when
                                     the writer was not told) */
    double teacher_input_tokens_per_s; /* real input tokens (not padding) per second of
                                          the teacher's work (0: not told; optional in
                                          manifests) */
    double padding_ratio;         /* teacher batch cells per real input token (0: not told) */
} cache_stats;

typedef struct {
    char file[32];            /* "shard-00000.kdlc" */
    uint32_t examples;
    uint64_t positions;       /* cached tokens */
    uint64_t bytes;           /* file size */
    uint64_t raw_bytes;       /* uncompressed records */
    uint64_t checksum;        /* XXH3-64 of the file without its last 8 bytes
                                 (which hold this same value) */
} cache_shard_info;

typedef struct {
    int version;
    cache_identity identity;
    cache_encoding encoding;
    int vocab_size;
    uint64_t run_key;         /* hash of everything above and the example list;
                                 every shard carries it */
    char teacher_dir[CACHE_PATH_CAPACITY]; /* where the teacher was when cached
                                 ("" if unknown); a hint for students that
                                 start from its layers, not part of run_key */
    char teacher_precision[8]; /* "fp32" or "bf16": the products that computed
                                 the logits ("fp32" for caches written before
                                 kd recorded it); shown, never checked */
    uint64_t examples;
    uint64_t positions;
    int shard_count;
    cache_shard_info *shards;
    cache_stats stats;
} cache_manifest;

kd_status kd_cache_manifest_read(const char *dir, cache_manifest *manifest);
void kd_cache_manifest_free(cache_manifest *manifest);
/* A human-readable summary with every stat (kd cache inspect). */
void kd_cache_manifest_print(const cache_manifest *manifest, FILE *out);

/* KD_OK when `manifest` was made from `expected`; otherwise KD_ERR_INVALID
 * with a message naming every field that differs, e.g.
 *   "runs/x/cache: made from a different teacher weights, data (cache
 *    teacher 1f2e..., expected 9a0b...; ...)". */
kd_status kd_cache_check_compatible(const cache_manifest *manifest, const cache_identity *expected,
                                    const char *dir);

/* A cache's identity, computed here alone so that the writer, which records
 * it, and every reader, which must find the same values to accept the cache,
 * cannot disagree: the fields the dataset determines (data files, tokenizer,
 * templates with the field names, loss mode and skip_bad, sequence length
 * and split, for the train part) and the teacher's (kd_cache_teacher_hash of
 * `teacher_dir`). With teacher_dir NULL the teacher field is left 0. */
kd_status kd_cache_identity_compute(const dataset_options *options, uint64_t tokenizer_hash,
                                    const char *teacher_dir, cache_identity *identity);
/* The teacher field: XXH3-64 of teacher_dir/model.safetensors. */
kd_status kd_cache_teacher_hash(const char *teacher_dir, uint64_t *hash);

/* The hash a record keeps of its example (ids and target mask), so that a
 * reader can check the record belongs to the example it trains on. */
uint64_t kd_cache_example_hash(const int *ids, const uint8_t *target_mask, size_t length);

/* ---- writing ------------------------------------------------------------ */

/* Everything a cache is made of: its identity, the encoding, the vocabulary
 * size and the dataset examples it covers, in cache order. */
typedef struct {
    cache_identity identity;
    cache_encoding encoding;
    int vocab_size;
    const uint32_t *examples; /* dataset example indices */
    size_t example_count;
    char teacher_dir[CACHE_PATH_CAPACITY]; /* recorded in the manifest */
    char teacher_precision[8];             /* recorded in the manifest */
} cache_plan;

typedef struct cache_writer cache_writer;

/* Opens `dir` (created when missing) for writing the cache of `plan`.
 * Writing is resumable: a shard is written to a temporary name and renamed
 * when complete, and the manifest is written last. Opening removes a
 * manifest made by another plan before anything else changes, and keeps
 * every complete shard of this plan from an interrupted run; the caller asks
 * kd_cache_writer_pending which examples still need the teacher. A cache
 * already complete for this plan is left as it is. */
kd_status kd_cache_writer_open(const char *dir, const cache_plan *plan, cache_writer **out);
/* Whether `dir` holds a manifest or a complete shard of another plan: what
 * kd_cache_writer_open would replace, not continue. */
int kd_cache_dir_holds_other_plan(const char *dir, const cache_plan *plan);
void kd_cache_writer_close(cache_writer *writer);

/* Whether the example at cache position `index` (0 <= index < example_count)
 * still has to be written. */
int kd_cache_writer_pending(const cache_writer *writer, size_t index);
/* Whether a complete manifest for this plan already exists. */
int kd_cache_writer_complete(const cache_writer *writer);
/* Shares the shards among `writers` writers of one cache (the ranks of a
 * data-parallel job): this one, number `index`, computes shard s only when
 * s % writers == index; the others' shards are not pending here. The writer
 * that finishes the cache calls it again with (0, 1) once every shard is
 * durable: the shards the others wrote are then checked on disk and taken
 * as done, and whatever is missing is pending again. */
void kd_cache_writer_share(cache_writer *writer, int index, int writers);

/* Writes one example: begin, then the teacher's logits (rows, V) for its
 * counted positions in order (over one or more add_rows calls), then end.
 * Examples come in cache order, skipping those not pending. */
kd_status kd_cache_writer_begin(cache_writer *writer, size_t index, const int *ids,
                                const uint8_t *target_mask, size_t length);
kd_status kd_cache_writer_add_rows(cache_writer *writer, const float *logits, int rows);
kd_status kd_cache_writer_end(cache_writer *writer);

/* Adds time the caller spent computing the teacher's logits, so the
 * manifest can compare reading the cache with recomputing them. */
void kd_cache_writer_add_teacher_time(cache_writer *writer, double seconds);
/* Adds the real input tokens and the batch cells (tokens and padding) of
 * the teacher's forward passes, for its throughput and padding ratio. */
void kd_cache_writer_add_teacher_tokens(cache_writer *writer, double inputs, double cells);

/* After every pending example: reads the whole cache back in shuffled order
 * (checking every shard and record and measuring the read speed), then
 * writes manifest.json. `manifest` (may be NULL) receives a copy. */
kd_status kd_cache_writer_finish(cache_writer *writer, cache_manifest *manifest);

/* ---- reading ------------------------------------------------------------ */

/* One example's cached targets. Arrays belong to the reader and stay valid
 * until its next read. Row i describes the position position[i], which
 * predicts ids[position[i] + 1] of the example. */
typedef struct {
    uint32_t example;             /* dataset example index */
    uint64_t example_hash;        /* kd_cache_example_hash of the example */
    int positions;                /* n: counted positions */
    const int32_t *position;      /* (n) ascending */
    int topk;                     /* K */
    const int32_t *topk_ids;      /* (n, K) by descending probability */
    const float *topk_logprobs;   /* (n, K) log p at T = 1 */
    const float *tail_mass;       /* (n) 1 - sum of the top-K probabilities */
    const float *entropy;         /* (n) teacher entropy in nats */
    int sample_draws;             /* N (0: no samples) */
    const int32_t *sample_offsets;/* (n + 1): row i's samples are [off[i], off[i+1]) */
    const int32_t *sample_ids;    /* distinct, ascending within a row, outside its top-K */
    const float *sample_weights;  /* tail * count / N: sum_i w_i f(x_i) estimates
                                     the tail's part of E_p[f] without bias */
} cache_record;

typedef struct cache_reader cache_reader;

/* Reads DIR/manifest.json and checks every shard against it (size, XXH3-64
 * checksum, header, index) before anything is used: a damaged, truncated or
 * foreign shard is refused with a message naming it. */
kd_status kd_cache_open(const char *dir, cache_reader **out);
void kd_cache_close(cache_reader *reader);
const cache_manifest *kd_cache_reader_manifest(const cache_reader *reader);

size_t kd_cache_reader_count(const cache_reader *reader);
/* The dataset example index of the cache's index-th example. */
uint32_t kd_cache_reader_example_at(const cache_reader *reader, size_t index);
/* Decodes the record of dataset example `example` (KD_ERR_INVALID when the
 * cache does not hold it). Not thread-safe: one reader per thread. */
kd_status kd_cache_reader_read(cache_reader *reader, uint32_t example, cache_record *record);

/* ---- checking ----------------------------------------------------------- */

/* Opens the cache and decodes every record, checking the counts against the
 * manifest. The first damage found fails, naming the shard (and example). */
kd_status kd_cache_verify(const char *dir, cache_manifest *summary);

#endif
