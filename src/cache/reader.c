/* Reading a cache: every shard is checked against the manifest when the
 * cache opens (size, checksum, header, index), so that training never starts
 * on damaged targets; then any example decodes alone from its zstd frame. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "cache_format.h"
#include "kd/io.h"

/* Where one example lives. */
typedef struct {
    uint32_t example;
    uint32_t shard;
    uint32_t slot;
} example_location;

struct cache_reader {
    char *dir;
    kd_dir_lock lock;             /* shared, held by kd_cache_open while reading */
    cache_manifest manifest;
    record_shape shape;
    int *fds;                     /* per shard */
    shard_layout *layouts;        /* per shard */
    example_location *order;      /* cache order */
    example_location *sorted;     /* by example, for lookups */
    size_t count;
    uint8_t *frame;
    uint8_t *record;
    size_t frame_capacity, record_capacity;
    ZSTD_DCtx *decompressor;
    record_rows rows;
    float *logprobs;              /* (seq_len, K) */
    float *tail_mass;             /* (seq_len) */
    float *entropy;               /* (seq_len) */
    int32_t *sample_offsets;      /* (seq_len + 1) */
    int32_t *sample_ids;          /* (seq_len * N) */
    float *sample_weights;        /* (seq_len * N) */
};

static int compare_locations(const void *a, const void *b)
{
    uint32_t x = ((const example_location *)a)->example, y = ((const example_location *)b)->example;
    return (x > y) - (x < y);
}

/* Checks one shard file against its manifest entry and the cache shape. */
static kd_status check_shard(cache_reader *reader, int s, const char *path)
{
    const cache_shard_info *info = &reader->manifest.shards[s];
    shard_layout *layout = &reader->layouts[s];
    kd_status status = kd_shard_read_layout(path, layout);
    if (status != KD_OK)
        return status;
    if (layout->file_bytes != info->bytes || layout->checksum != info->checksum)
        return kd_fail(KD_ERR_FORMAT, "%s: %llu bytes with checksum %016llx, the manifest lists "
                       "%llu bytes with checksum %016llx (damaged, or from another run)", path,
                       (unsigned long long)layout->file_bytes,
                       (unsigned long long)layout->checksum, (unsigned long long)info->bytes,
                       (unsigned long long)info->checksum);
    if (layout->run_key != reader->manifest.run_key || layout->shard_index != (uint32_t)s ||
        layout->example_count != info->examples)
        return kd_fail(KD_ERR_FORMAT, "%s: the shard belongs to another cache or position", path);
    uint64_t positions = 0, raw = 0;
    for (uint32_t i = 0; i < layout->example_count; i++) {
        const shard_entry *entry = &layout->entries[i];
        if (entry->positions > (uint32_t)reader->shape.seq_len ||
            entry->record_bytes > kd_record_max_bytes(&reader->shape, entry->positions,
                                                      entry->positions))
            return kd_fail(KD_ERR_FORMAT, "%s: index entry %u: %u positions in %u bytes is "
                           "impossible", path, i, entry->positions, entry->record_bytes);
        positions += entry->positions;
        raw += entry->record_bytes;
        if (entry->frame_bytes > reader->frame_capacity)
            reader->frame_capacity = entry->frame_bytes;
        if (entry->record_bytes > reader->record_capacity)
            reader->record_capacity = entry->record_bytes;
    }
    if (positions != info->positions || raw != info->raw_bytes)
        return kd_fail(KD_ERR_FORMAT, "%s: the index counts %llu positions and %llu record "
                       "bytes, the manifest %llu and %llu", path, (unsigned long long)positions,
                       (unsigned long long)raw, (unsigned long long)info->positions,
                       (unsigned long long)info->raw_bytes);
    return KD_OK;
}

static kd_status open_shards(cache_reader *reader)
{
    int shards = reader->manifest.shard_count;
    reader->fds = kd_alloc((size_t)shards, sizeof(int), "cache reader");
    reader->layouts = kd_alloc((size_t)shards, sizeof(shard_layout), "cache reader");
    reader->order = kd_alloc(reader->count, sizeof(example_location), "cache reader");
    reader->sorted = kd_alloc(reader->count, sizeof(example_location), "cache reader");
    if (!reader->fds || !reader->layouts || !reader->order || !reader->sorted)
        return KD_ERR_NOMEM;
    for (int s = 0; s < shards; s++)
        reader->fds[s] = -1;
    size_t filled = 0;
    for (int s = 0; s < shards; s++) {
        char *path = kd_cache_join_path(reader->dir, reader->manifest.shards[s].file);
        kd_status status = path ? check_shard(reader, s, path) : KD_ERR_NOMEM;
        if (status == KD_OK) {
            reader->fds[s] = open(path, O_RDONLY);
            if (reader->fds[s] < 0)
                status = kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        }
        free(path);
        if (status != KD_OK)
            return status;
        for (uint32_t i = 0; i < reader->layouts[s].example_count; i++)
            reader->order[filled++] = (example_location){reader->layouts[s].entries[i].example,
                                                         (uint32_t)s, i};
    }
    memcpy(reader->sorted, reader->order, reader->count * sizeof *reader->sorted);
    qsort(reader->sorted, reader->count, sizeof *reader->sorted, compare_locations);
    for (size_t i = 1; i < reader->count; i++)
        if (reader->sorted[i].example == reader->sorted[i - 1].example)
            return kd_fail(KD_ERR_FORMAT, "%s: example %u is cached twice", reader->dir,
                           reader->sorted[i].example);
    return KD_OK;
}

static kd_status allocate_outputs(cache_reader *reader)
{
    size_t S = (size_t)reader->shape.seq_len, K = (size_t)reader->shape.topk;
    size_t N = (size_t)reader->shape.samples;
    reader->frame = kd_alloc(reader->frame_capacity, 1, "cache reader");
    reader->record = kd_alloc(reader->record_capacity, 1, "cache reader");
    reader->logprobs = kd_alloc(S * K, sizeof(float), "cache reader");
    reader->tail_mass = kd_alloc(S, sizeof(float), "cache reader");
    reader->entropy = kd_alloc(S, sizeof(float), "cache reader");
    reader->sample_offsets = kd_alloc(S + 1, sizeof(int32_t), "cache reader");
    reader->sample_ids = kd_alloc(S * N, sizeof(int32_t), "cache reader");
    reader->sample_weights = kd_alloc(S * N, sizeof(float), "cache reader");
    reader->decompressor = ZSTD_createDCtx();
    if (!reader->frame || !reader->record || !reader->logprobs || !reader->tail_mass ||
        !reader->entropy || !reader->sample_offsets || !reader->sample_ids ||
        !reader->sample_weights)
        return KD_ERR_NOMEM;
    if (!reader->decompressor)
        return kd_fail(KD_ERR_NOMEM, "cache: cannot create a zstd context");
    return kd_record_rows_create(&reader->rows, &reader->shape);
}

kd_status kd_cache_open_manifest(const char *dir, const cache_manifest *manifest,
                                 cache_reader **out)
{
    *out = NULL;
    cache_reader *reader = kd_alloc(1, sizeof *reader, "cache reader");
    if (!reader)
        return KD_ERR_NOMEM;
    reader->lock.fd = -1;
    reader->dir = strdup(dir);
    kd_status status = reader->dir ? kd_cache_manifest_copy(&reader->manifest, manifest)
                                   : KD_ERR_NOMEM;
    if (status == KD_OK) {
        reader->count = (size_t)manifest->examples;
        kd_record_shape_from(&reader->shape, &manifest->encoding, manifest->vocab_size,
                             manifest->identity.seq_len);
        status = open_shards(reader);
    }
    if (status == KD_OK)
        status = allocate_outputs(reader);
    if (status != KD_OK) {
        kd_cache_close(reader);
        return status;
    }
    *out = reader;
    return KD_OK;
}

kd_status kd_cache_open(const char *dir, cache_reader **out)
{
    *out = NULL;
    /* Not while `kd teacher cache` rewrites it (kd_cache_open_manifest is
     * also the writer's own read-back, so it takes no lock). */
    kd_dir_lock lock;
    kd_status status = kd_dir_lock_acquire(dir, KD_LOCK_SHARED, &lock);
    if (status != KD_OK)
        return status;
    cache_manifest manifest;
    status = kd_cache_manifest_read(dir, &manifest);
    if (status == KD_OK) {
        status = kd_cache_open_manifest(dir, &manifest, out);
        kd_cache_manifest_free(&manifest);
    }
    if (status == KD_OK)
        (*out)->lock = lock;
    else
        kd_dir_lock_release(&lock);
    return status;
}

void kd_cache_close(cache_reader *reader)
{
    if (!reader)
        return;
    kd_dir_lock_release(&reader->lock);
    for (int s = 0; reader->fds && s < reader->manifest.shard_count; s++) {
        if (reader->fds[s] >= 0)
            close(reader->fds[s]);
        if (reader->layouts)
            kd_shard_layout_free(&reader->layouts[s]);
    }
    free(reader->fds);
    free(reader->layouts);
    free(reader->order);
    free(reader->sorted);
    free(reader->frame);
    free(reader->record);
    ZSTD_freeDCtx(reader->decompressor);
    kd_record_rows_free(&reader->rows);
    free(reader->logprobs);
    free(reader->tail_mass);
    free(reader->entropy);
    free(reader->sample_offsets);
    free(reader->sample_ids);
    free(reader->sample_weights);
    kd_cache_manifest_free(&reader->manifest);
    free(reader->dir);
    free(reader);
}

const cache_manifest *kd_cache_reader_manifest(const cache_reader *reader)
{
    return &reader->manifest;
}

size_t kd_cache_reader_count(const cache_reader *reader)
{
    return reader->count;
}

uint32_t kd_cache_reader_example_at(const cache_reader *reader, size_t index)
{
    return reader->order[index].example;
}

/* ---- decoding one example ---------------------------------------------------------- */

static kd_status read_frame(cache_reader *reader, const example_location *at,
                            const shard_entry *entry)
{
    int fd = reader->fds[at->shard];
    size_t done = 0;
    while (done < entry->frame_bytes) {
        ssize_t got = pread(fd, reader->frame + done, entry->frame_bytes - done,
                            (off_t)(entry->offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return kd_fail(KD_ERR_IO, "read failed: %s", got < 0 ? strerror(errno) : "truncated");
        done += (size_t)got;
    }
    size_t size = ZSTD_decompressDCtx(reader->decompressor, reader->record,
                                      reader->record_capacity, reader->frame, entry->frame_bytes);
    if (ZSTD_isError(size))
        return kd_fail(KD_ERR_FORMAT, "zstd: %s", ZSTD_getErrorName(size));
    if (size != entry->record_bytes)
        return kd_fail(KD_ERR_FORMAT, "record of %zu bytes, the index says %u", size,
                       entry->record_bytes);
    return KD_OK;
}

/* Codes to the values cache_record promises. */
static void fill_record(cache_reader *reader, cache_record *record)
{
    const record_rows *rows = &reader->rows;
    int n = rows->positions, K = reader->shape.topk, N = reader->shape.samples;
    size_t width = (size_t)K + 2;
    int32_t written = 0;
    for (int i = 0; i < n; i++) {
        const uint16_t *codes = rows->codes + (size_t)i * width;
        for (int k = 0; k < K; k++)
            reader->logprobs[(size_t)i * K + k] = kd_code_to_logprob(codes[k]);
        float tail = expf(kd_code_to_logprob(codes[K]));
        reader->tail_mass[i] = tail;
        reader->entropy[i] = kd_code_to_nats(codes[K + 1]);
        reader->sample_offsets[i] = written;
        for (int j = 0; N > 0 && j < rows->sample_unique[i]; j++, written++) {
            reader->sample_ids[written] = rows->sample_ids[(size_t)i * N + j];
            reader->sample_weights[written] = tail * rows->sample_counts[(size_t)i * N + j] / N;
        }
    }
    reader->sample_offsets[n] = written;
    *record = (cache_record){
        .example = rows->example,
        .example_hash = rows->example_hash,
        .positions = n,
        .position = rows->position,
        .topk = K,
        .topk_ids = rows->topk_ids,
        .topk_logprobs = reader->logprobs,
        .tail_mass = reader->tail_mass,
        .entropy = reader->entropy,
        .sample_draws = N,
        .sample_offsets = reader->sample_offsets,
        .sample_ids = reader->sample_ids,
        .sample_weights = reader->sample_weights,
    };
}

kd_status kd_cache_reader_read(cache_reader *reader, uint32_t example, cache_record *record)
{
    example_location key = {.example = example};
    const example_location *at = bsearch(&key, reader->sorted, reader->count,
                                         sizeof *reader->sorted, compare_locations);
    if (!at)
        return kd_fail(KD_ERR_INVALID, "%s: example %u is not in the cache", reader->dir, example);
    const shard_entry *entry = &reader->layouts[at->shard].entries[at->slot];
    kd_status status = read_frame(reader, at, entry);
    if (status == KD_OK)
        status = kd_record_decode(&reader->shape, reader->record, entry->record_bytes,
                                  &reader->rows);
    if (status == KD_OK &&
        (reader->rows.example != example || reader->rows.positions != (int)entry->positions))
        status = kd_fail(KD_ERR_FORMAT, "the record is example %u with %d positions, the index "
                         "says example %u with %u", reader->rows.example, reader->rows.positions,
                         example, entry->positions);
    if (status != KD_OK)
        return kd_fail_context(status, "%s/%s: example %u", reader->dir,
                               reader->manifest.shards[at->shard].file, example);
    fill_record(reader, record);
    return KD_OK;
}

/* ---- reading everything --------------------------------------------------------------- */

enum { MASS_BINS = 10000 };

kd_status kd_cache_read_all(cache_reader *reader, uint64_t seed, cache_stats *stats)
{
    uint32_t *order = kd_alloc(reader->count, sizeof(uint32_t), "cache read order");
    uint64_t *histogram = kd_alloc(MASS_BINS + 1, sizeof(uint64_t), "cache mass histogram");
    kd_status status = order && histogram ? KD_OK : KD_ERR_NOMEM;
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    for (size_t i = 0; status == KD_OK && i < reader->count; i++) {
        size_t j = (size_t)kd_rng_below(&rng, i + 1); /* Fisher-Yates, inside out */
        order[i] = order[j];
        order[j] = reader->order[i].example;
    }
    double mass_sum = 0.0, started = kd_now_seconds();
    uint64_t positions = 0;
    for (size_t i = 0; status == KD_OK && i < reader->count; i++) {
        cache_record record;
        status = kd_cache_reader_read(reader, order[i], &record);
        for (int p = 0; status == KD_OK && p < record.positions; p++) {
            double mass = 0.0;
            for (int k = 0; k < record.topk; k++)
                mass += exp(record.topk_logprobs[(size_t)p * record.topk + k]);
            mass = mass < 1.0 ? mass : 1.0;
            mass_sum += mass;
            histogram[(int)(mass * MASS_BINS)]++;
        }
        positions += status == KD_OK ? (uint64_t)record.positions : 0;
    }
    double elapsed = kd_now_seconds() - started;
    if (status == KD_OK) {
        uint64_t below = 0, target = (positions * 5 + 99) / 100;
        int bin = 0;
        while (bin < MASS_BINS && below + histogram[bin] < target)
            below += histogram[bin++];
        stats->topk_mass_mean = positions ? mass_sum / (double)positions : 0.0;
        stats->topk_mass_p5 = (double)bin / MASS_BINS;
        stats->read_tokens_per_s = elapsed > 0 ? (double)positions / elapsed : 0.0;
    }
    free(order);
    free(histogram);
    return status;
}
