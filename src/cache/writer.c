/* Writing a cache: per-position summaries (parallel over positions), one
 * record per example, one zstd frame per record (compressed in parallel over
 * a shard's examples: a frame is far below the 512 KB job size at which
 * ZSTD_c_nbWorkers could split it, so kd runs one compression context per
 * thread instead), shards written atomically, and the manifest last.
 *
 * Crash safety: a shard is complete on disk or absent, and the manifest
 * exists only after every shard was written and read back. A rerun keeps
 * the complete shards of the same plan (same run key) and redoes the rest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache_format.h"
#include "kd/io.h"

struct cache_writer {
    char *dir;
    cache_plan plan;
    uint32_t *examples;       /* the plan's example list, owned */
    record_shape shape;
    uint64_t run_key;
    int shard_count;
    uint8_t *shard_done;      /* per shard: complete on disk */
    int complete;             /* a manifest for this plan exists and checks out */
    int share_index;          /* this writer computes shards s with */
    int share_count;          /*   s % share_count == share_index */
    size_t next_index;        /* the next pending example, in cache order */
    /* The example being written. */
    int in_example;
    int rows_added;
    record_rows rows;
    /* The shard being filled: uncompressed records back to back. */
    shard_entry *entries;
    uint32_t shard_fill;
    uint8_t *records;
    size_t records_used, records_capacity;
    size_t *record_offsets;
    /* Per thread. */
    int threads;
    row_scratch *scratch;
    ZSTD_CCtx **compressors;
    /* This run's figures. */
    double started;
    uint64_t positions_written;
    uint64_t bytes_written;
    double teacher_seconds;
    double teacher_inputs;
    double teacher_cells;
};

static kd_status check_plan(const cache_plan *plan)
{
    const cache_encoding *enc = &plan->encoding;
    int max_topk = plan->vocab_size < CACHE_MAX_TOPK ? plan->vocab_size : CACHE_MAX_TOPK;
    if (plan->vocab_size < 1)
        return kd_fail(KD_ERR_INVALID, "cache: vocabulary size %d", plan->vocab_size);
    if (enc->topk < 0 || enc->topk > max_topk)
        return kd_fail(KD_ERR_INVALID, "cache: top-k %d is outside [0, %d]", enc->topk, max_topk);
    if (enc->samples < 0 || enc->samples > CACHE_MAX_SAMPLES)
        return kd_fail(KD_ERR_INVALID, "cache: %d samples is outside [0, %d]", enc->samples,
                       CACHE_MAX_SAMPLES);
    if (enc->topk == 0 && enc->samples == 0)
        return kd_fail(KD_ERR_INVALID, "cache: top-k 0 needs samples");
    if (enc->zstd_level < ZSTD_minCLevel() || enc->zstd_level > ZSTD_maxCLevel())
        return kd_fail(KD_ERR_INVALID, "cache: zstd level %d is outside [%d, %d]", enc->zstd_level,
                       ZSTD_minCLevel(), ZSTD_maxCLevel());
    if (enc->shard_examples < 1 || enc->shard_examples > KD_FILE_MAX_COUNT)
        return kd_fail(KD_ERR_INVALID, "cache: %d examples per shard", enc->shard_examples);
    if (plan->identity.seq_len < 1 || plan->identity.seq_len > CACHE_MAX_SEQ_LEN)
        return kd_fail(KD_ERR_INVALID, "cache: sequence length %d is outside [1, %d]",
                       plan->identity.seq_len, CACHE_MAX_SEQ_LEN);
    if (plan->example_count < 1 || plan->example_count > UINT32_MAX)
        return kd_fail(KD_ERR_INVALID, "cache: %zu examples", plan->example_count);
    if (!plan->identity.part[0])
        return kd_fail(KD_ERR_INVALID, "cache: the split part has no name");
    return KD_OK;
}

/* A manifest of another plan goes before any shard changes, so that no
 * manifest ever describes shards that are being rewritten. */
static kd_status remove_manifest(const char *dir)
{
    char *path = kd_cache_join_path(dir, KD_CACHE_MANIFEST_FILE);
    if (!path)
        return KD_ERR_NOMEM;
    kd_status status = KD_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        status = kd_fail(KD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return status == KD_OK ? kd_directory_sync(dir) : status;
}

static size_t shard_first(const cache_writer *writer, int shard)
{
    return (size_t)shard * (size_t)writer->plan.encoding.shard_examples;
}

static uint32_t shard_size(const cache_writer *writer, int shard)
{
    size_t first = shard_first(writer, shard), left = writer->plan.example_count - first;
    size_t per = (size_t)writer->plan.encoding.shard_examples;
    return (uint32_t)(left < per ? left : per);
}

/* Whether an existing shard file is a complete shard of this plan. */
static int shard_reusable(const cache_writer *writer, int shard)
{
    char name[32];
    kd_shard_file_name(name, shard);
    char *path = kd_cache_join_path(writer->dir, name);
    shard_layout layout;
    int reusable = path && access(path, F_OK) == 0 && kd_shard_read_layout(path, &layout) == KD_OK;
    if (reusable) {
        reusable = layout.run_key == writer->run_key && layout.shard_index == (uint32_t)shard &&
                   layout.example_count == shard_size(writer, shard);
        for (uint32_t i = 0; reusable && i < layout.example_count; i++)
            reusable = layout.entries[i].example == writer->examples[shard_first(writer, shard) + i];
        kd_shard_layout_free(&layout);
    }
    free(path);
    kd_clear_error();
    return reusable;
}

/* A manifest of this very plan whose shards all check out. */
static int manifest_complete(const cache_writer *writer)
{
    cache_manifest manifest;
    if (kd_cache_manifest_read(writer->dir, &manifest) != KD_OK) {
        kd_clear_error();
        return 0;
    }
    int complete = manifest.run_key == writer->run_key;
    cache_reader *reader = NULL;
    if (complete && kd_cache_open_manifest(writer->dir, &manifest, &reader) != KD_OK)
        complete = 0;
    kd_cache_close(reader);
    kd_cache_manifest_free(&manifest);
    kd_clear_error();
    return complete;
}

static size_t next_pending(const cache_writer *writer, size_t from)
{
    while (from < writer->plan.example_count && !kd_cache_writer_pending(writer, from))
        from++;
    return from;
}

static kd_status allocate_workers(cache_writer *writer)
{
    writer->threads = omp_get_max_threads();
    writer->scratch = kd_alloc((size_t)writer->threads, sizeof(row_scratch), "cache writer");
    writer->compressors = kd_alloc((size_t)writer->threads, sizeof(ZSTD_CCtx *), "cache writer");
    if (!writer->scratch || !writer->compressors)
        return KD_ERR_NOMEM;
    for (int t = 0; t < writer->threads; t++) {
        kd_status status = kd_row_scratch_create(&writer->scratch[t], writer->plan.vocab_size,
                                                 writer->plan.encoding.topk,
                                                 writer->plan.encoding.samples);
        if (status != KD_OK)
            return status;
        writer->compressors[t] = ZSTD_createCCtx();
        if (!writer->compressors[t])
            return kd_fail(KD_ERR_NOMEM, "cache: cannot create a zstd context");
        size_t set = ZSTD_CCtx_setParameter(writer->compressors[t], ZSTD_c_compressionLevel,
                                            writer->plan.encoding.zstd_level);
        if (ZSTD_isError(set))
            return kd_fail(KD_ERR_INVALID, "cache: zstd level: %s", ZSTD_getErrorName(set));
    }
    return KD_OK;
}

static kd_status allocate_buffers(cache_writer *writer)
{
    size_t per_shard = (size_t)writer->plan.encoding.shard_examples;
    if (per_shard > writer->plan.example_count)
        per_shard = writer->plan.example_count;
    writer->entries = kd_alloc(per_shard, sizeof(shard_entry), "cache writer");
    writer->record_offsets = kd_alloc(per_shard, sizeof(size_t), "cache writer");
    writer->shard_done = kd_alloc((size_t)writer->shard_count, 1, "cache writer");
    writer->examples = kd_alloc(writer->plan.example_count, sizeof(uint32_t), "cache writer");
    if (!writer->entries || !writer->record_offsets || !writer->shard_done || !writer->examples)
        return KD_ERR_NOMEM;
    memcpy(writer->examples, writer->plan.examples, writer->plan.example_count * sizeof(uint32_t));
    writer->plan.examples = writer->examples;
    kd_status status = kd_record_rows_create(&writer->rows, &writer->shape);
    return status == KD_OK ? allocate_workers(writer) : status;
}

/* Whether `name` in `dir` is a shard file of a run other than `run_key`. */
static int foreign_shard(const char *dir, const char *name, uint64_t run_key)
{
    int shard = -1, end = 0;
    if (sscanf(name, "shard-%d.kdlc%n", &shard, &end) != 1 || name[end] != '\0')
        return 0;
    char *path = kd_cache_join_path(dir, name);
    shard_layout layout;
    int foreign = path && kd_shard_read_layout(path, &layout) == KD_OK;
    if (foreign) {
        foreign = layout.run_key != run_key;
        kd_shard_layout_free(&layout);
    }
    free(path);
    return foreign;
}

int kd_cache_dir_holds_other_plan(const char *dir, const cache_plan *plan)
{
    uint64_t run_key = kd_cache_plan_run_key(plan);
    cache_manifest manifest;
    int other = 0;
    if (kd_cache_manifest_read(dir, &manifest) == KD_OK) {
        other = manifest.run_key != run_key;
        kd_cache_manifest_free(&manifest);
    }
    DIR *handle = opendir(dir);
    for (struct dirent *entry; !other && handle && (entry = readdir(handle));)
        other = foreign_shard(dir, entry->d_name, run_key);
    if (handle)
        closedir(handle);
    kd_clear_error(); /* a damaged file is not another plan's; the writer redoes it */
    return other;
}

kd_status kd_cache_writer_open(const char *dir, const cache_plan *plan, cache_writer **out)
{
    *out = NULL;
    kd_status status = check_plan(plan);
    if (status != KD_OK)
        return status;
    cache_writer *writer = kd_alloc(1, sizeof *writer, "cache writer");
    if (!writer)
        return KD_ERR_NOMEM;
    writer->plan = *plan;
    writer->dir = strdup(dir);
    writer->started = kd_now_seconds();
    size_t per_shard = (size_t)plan->encoding.shard_examples;
    writer->shard_count = (int)((plan->example_count + per_shard - 1) / per_shard);
    kd_record_shape_from(&writer->shape, &plan->encoding, plan->vocab_size, plan->identity.seq_len);
    writer->run_key = kd_cache_plan_run_key(plan);
    status = writer->dir ? kd_make_directories(dir) : KD_ERR_NOMEM;
    if (status == KD_OK)
        status = allocate_buffers(writer);
    if (status == KD_OK) {
        writer->complete = manifest_complete(writer);
        if (!writer->complete)
            status = remove_manifest(dir);
    }
    for (int s = 0; status == KD_OK && s < writer->shard_count; s++)
        writer->shard_done[s] = (uint8_t)(writer->complete || shard_reusable(writer, s));
    if (status != KD_OK) {
        kd_cache_writer_close(writer);
        return status;
    }
    writer->share_count = 1;
    writer->next_index = next_pending(writer, 0);
    *out = writer;
    return KD_OK;
}

void kd_cache_writer_share(cache_writer *writer, int index, int writers)
{
    writer->share_index = index;
    writer->share_count = writers;
    for (int s = 0; s < writer->shard_count; s++)
        writer->shard_done[s] = (uint8_t)(writer->shard_done[s] || shard_reusable(writer, s));
    writer->next_index = next_pending(writer, 0);
}

void kd_cache_writer_close(cache_writer *writer)
{
    if (!writer)
        return;
    for (int t = 0; t < writer->threads; t++) {
        if (writer->scratch)
            kd_row_scratch_free(&writer->scratch[t]);
        if (writer->compressors)
            ZSTD_freeCCtx(writer->compressors[t]);
    }
    free(writer->scratch);
    free(writer->compressors);
    kd_record_rows_free(&writer->rows);
    free(writer->entries);
    free(writer->record_offsets);
    free(writer->records);
    free(writer->shard_done);
    free(writer->examples);
    free(writer->dir);
    free(writer);
}

int kd_cache_writer_pending(const cache_writer *writer, size_t index)
{
    size_t shard = index / (size_t)writer->plan.encoding.shard_examples;
    return index < writer->plan.example_count && !writer->shard_done[shard] &&
           (int)(shard % (size_t)writer->share_count) == writer->share_index;
}

int kd_cache_writer_complete(const cache_writer *writer)
{
    return writer->complete;
}

void kd_cache_writer_add_teacher_time(cache_writer *writer, double seconds)
{
    writer->teacher_seconds += seconds;
}

void kd_cache_writer_add_teacher_tokens(cache_writer *writer, double inputs, double cells)
{
    writer->teacher_inputs += inputs;
    writer->teacher_cells += cells;
}

/* The first failure of a parallel loop. Error messages live in each
 * thread's own storage, so the failing thread copies its message here. */
typedef struct {
    int first;            /* the lowest failing iteration, -1 for none */
    kd_status status;
    char message[512];
} thread_failure;

static void thread_failure_note(thread_failure *failure, int iteration, kd_status status)
{
#pragma omp critical(cache_thread_failure)
    if (failure->first < 0 || iteration < failure->first) {
        failure->first = iteration;
        failure->status = status;
        snprintf(failure->message, sizeof failure->message, "%s", kd_last_error());
    }
}

/* ---- one example -------------------------------------------------------------- */

kd_status kd_cache_writer_begin(cache_writer *writer, size_t index, const int *ids,
                                const uint8_t *target_mask, size_t length)
{
    if (writer->in_example || index != writer->next_index)
        return kd_fail(KD_ERR_INVALID, "cache: example %zu written out of order (expected %zu)",
                       index, writer->next_index);
    if (length < 2 || length > (size_t)writer->shape.seq_len + 1)
        return kd_fail(KD_ERR_INVALID, "cache: example %zu has %zu tokens (sequence length %d)",
                       index, length, writer->shape.seq_len);
    record_rows *rows = &writer->rows;
    rows->example = writer->examples[index];
    rows->example_hash = kd_cache_example_hash(ids, target_mask, length);
    rows->positions = 0;
    /* The last token predicts nothing: only t < length - 1 can count. */
    for (size_t t = 0; t + 1 < length; t++)
        if (target_mask[t])
            rows->position[rows->positions++] = (int32_t)t;
    writer->rows_added = 0;
    writer->in_example = 1;
    return KD_OK;
}

/* Each position draws its samples from its own stream, so the cache is the
 * same whatever the thread count or batch size. */
static void seed_position(kd_rng *rng, uint64_t sample_seed, uint32_t example, int32_t position)
{
    uint8_t key[8];
    put_u32(key, example);
    put_u32(key + 4, (uint32_t)position);
    kd_rng_seed(rng, XXH3_64bits_withSeed(key, sizeof key, sample_seed));
}

static kd_status summarise_row(cache_writer *writer, const float *logits, int row,
                               row_scratch *scratch)
{
    record_rows *rows = &writer->rows;
    int K = writer->shape.topk, N = writer->shape.samples;
    row_summary summary = {
        .topk_ids = rows->topk_ids + (size_t)row * K,
        .sample_ids = rows->sample_ids + (size_t)row * (N > 0 ? N : 1),
        .sample_counts = rows->sample_counts + (size_t)row * (N > 0 ? N : 1),
    };
    float logprobs[CACHE_MAX_TOPK];
    summary.topk_logprobs = logprobs;
    kd_rng rng;
    seed_position(&rng, writer->plan.encoding.sample_seed, rows->example, rows->position[row]);
    kd_status status = kd_row_summarise(logits, writer->shape.vocab_size, K, N, &rng, scratch,
                                        &summary);
    if (status != KD_OK)
        return kd_fail_context(status, "example %u, position %d", rows->example,
                               rows->position[row]);
    uint16_t *codes = rows->codes + (size_t)row * ((size_t)K + 2);
    for (int k = 0; k < K; k++)
        codes[k] = kd_logprob_to_code(logprobs[k]);
    codes[K] = kd_logprob_to_code(summary.tail_mass > 0.0 ? (float)log(summary.tail_mass)
                                                         : -INFINITY);
    codes[K + 1] = kd_nats_to_code((float)summary.entropy);
    rows->sample_unique[row] = (uint8_t)summary.sample_unique;
    return KD_OK;
}

kd_status kd_cache_writer_add_rows(cache_writer *writer, const float *logits, int rows)
{
    if (!writer->in_example || rows < 0 || writer->rows_added + rows > writer->rows.positions)
        return kd_fail(KD_ERR_INVALID, "cache: %d rows of logits for example %u, which counts %d "
                       "positions (%d given already)", rows, writer->rows.example,
                       writer->rows.positions, writer->rows_added);
    thread_failure failure = {.first = -1};
    size_t V = (size_t)writer->shape.vocab_size;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        row_scratch *scratch = &writer->scratch[omp_get_thread_num()];
        kd_status status = summarise_row(writer, logits + (size_t)r * V, writer->rows_added + r,
                                         scratch);
        if (status != KD_OK)
            thread_failure_note(&failure, r, status);
    }
    if (failure.status != KD_OK)
        return kd_fail(failure.status, "%s", failure.message);
    writer->rows_added += rows;
    return KD_OK;
}

static kd_status reserve_records(cache_writer *writer, size_t more)
{
    if (writer->records_used + more <= writer->records_capacity)
        return KD_OK;
    size_t capacity = writer->records_capacity ? writer->records_capacity : (size_t)1 << 20;
    while (capacity < writer->records_used + more)
        capacity *= 2;
    uint8_t *grown = realloc(writer->records, capacity);
    if (!grown)
        return kd_fail(KD_ERR_NOMEM, "cache: cannot grow the shard buffer to %.1f MB",
                       (double)capacity / 1e6);
    writer->records = grown;
    writer->records_capacity = capacity;
    return KD_OK;
}

static kd_status flush_shard(cache_writer *writer, int shard);

kd_status kd_cache_writer_end(cache_writer *writer)
{
    record_rows *rows = &writer->rows;
    if (!writer->in_example || writer->rows_added != rows->positions)
        return kd_fail(KD_ERR_INVALID, "cache: example %u ended after %d of its %d positions",
                       rows->example, writer->rows_added, rows->positions);
    size_t runs = (size_t)rows->positions; /* at most one run per position */
    kd_status status = reserve_records(writer,
                                       kd_record_max_bytes(&writer->shape, (size_t)rows->positions,
                                                           runs));
    if (status != KD_OK)
        return status;
    size_t bytes = kd_record_encode(&writer->shape, rows, writer->records + writer->records_used);
    uint32_t slot = writer->shard_fill++;
    writer->entries[slot] = (shard_entry){.example = rows->example,
                                          .positions = (uint32_t)rows->positions,
                                          .record_bytes = (uint32_t)bytes};
    writer->record_offsets[slot] = writer->records_used;
    writer->records_used += bytes;
    writer->positions_written += (uint64_t)rows->positions;
    writer->in_example = 0;

    size_t index = writer->next_index;
    int shard = (int)(index / (size_t)writer->plan.encoding.shard_examples);
    if (writer->shard_fill == shard_size(writer, shard)) {
        status = flush_shard(writer, shard);
        if (status != KD_OK)
            return status;
    }
    writer->next_index = next_pending(writer, index + 1);
    return KD_OK;
}

/* ---- shards --------------------------------------------------------------------- */

static kd_status compress_records(cache_writer *writer, uint8_t *frames, const size_t *slots)
{
    thread_failure failure = {.first = -1};
    int count = (int)writer->shard_fill;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < count; i++) {
        shard_entry *entry = &writer->entries[i];
        size_t size = ZSTD_compress2(writer->compressors[omp_get_thread_num()], frames + slots[i],
                                     slots[i + 1] - slots[i],
                                     writer->records + writer->record_offsets[i],
                                     entry->record_bytes);
        if (ZSTD_isError(size))
            thread_failure_note(&failure, i,
                                kd_fail(KD_ERR_INVALID, "cache: zstd: %s", ZSTD_getErrorName(size)));
        else
            entry->frame_bytes = (uint32_t)size;
    }
    return failure.status == KD_OK ? KD_OK : kd_fail(failure.status, "%s", failure.message);
}

static kd_status flush_shard(cache_writer *writer, int shard)
{
    uint32_t count = writer->shard_fill;
    size_t *slots = kd_alloc((size_t)count + 1, sizeof(size_t), "cache writer");
    if (!slots)
        return KD_ERR_NOMEM;
    for (uint32_t i = 0; i < count; i++)
        slots[i + 1] = slots[i] + ZSTD_compressBound(writer->entries[i].record_bytes);
    uint8_t *frames = kd_alloc(slots[count], 1, "cache writer frames");
    kd_status status = frames ? compress_records(writer, frames, slots) : KD_ERR_NOMEM;
    size_t packed = 0;
    for (uint32_t i = 0; status == KD_OK && i < count; i++) {
        /* Close the gaps between the frames' worst-case slots. */
        memmove(frames + packed, frames + slots[i], writer->entries[i].frame_bytes);
        writer->entries[i].offset = CACHE_SHARD_HEADER_BYTES + packed;
        packed += writer->entries[i].frame_bytes;
    }
    char name[32];
    kd_shard_file_name(name, shard);
    char *path = kd_cache_join_path(writer->dir, name);
    shard_layout layout = {.shard_index = (uint32_t)shard, .run_key = writer->run_key,
                           .example_count = count, .entries = writer->entries};
    if (status == KD_OK)
        status = path ? kd_shard_write(path, &layout, frames, packed) : KD_ERR_NOMEM;
    if (status == KD_OK) {
        writer->shard_done[shard] = 1;
        writer->bytes_written += CACHE_SHARD_HEADER_BYTES + packed +
                                 (uint64_t)count * CACHE_INDEX_ENTRY_BYTES +
                                 CACHE_SHARD_FOOTER_BYTES;
    }
    writer->shard_fill = 0;
    writer->records_used = 0;
    free(path);
    free(frames);
    free(slots);
    return status;
}

/* ---- finishing ------------------------------------------------------------------- */

static kd_status describe_shard(const cache_writer *writer, int shard, cache_shard_info *info)
{
    kd_shard_file_name(info->file, shard);
    char *path = kd_cache_join_path(writer->dir, info->file);
    shard_layout layout;
    kd_status status = path ? kd_shard_read_layout(path, &layout) : KD_ERR_NOMEM;
    free(path);
    if (status != KD_OK)
        return status;
    info->examples = layout.example_count;
    info->bytes = layout.file_bytes;
    info->checksum = layout.checksum;
    info->positions = info->raw_bytes = 0;
    for (uint32_t i = 0; i < layout.example_count; i++) {
        info->positions += layout.entries[i].positions;
        info->raw_bytes += layout.entries[i].record_bytes;
    }
    kd_shard_layout_free(&layout);
    return KD_OK;
}

static kd_status build_manifest(const cache_writer *writer, cache_manifest *manifest)
{
    memset(manifest, 0, sizeof *manifest);
    manifest->version = CACHE_FORMAT_VERSION;
    manifest->identity = writer->plan.identity;
    snprintf(manifest->teacher_dir, sizeof manifest->teacher_dir, "%s",
             writer->plan.teacher_dir);
    snprintf(manifest->teacher_precision, sizeof manifest->teacher_precision, "%s",
             writer->plan.teacher_precision[0] ? writer->plan.teacher_precision : "fp32");
    manifest->encoding = writer->plan.encoding;
    manifest->vocab_size = writer->plan.vocab_size;
    manifest->run_key = writer->run_key;
    manifest->examples = writer->plan.example_count;
    manifest->shard_count = writer->shard_count;
    manifest->shards = kd_alloc((size_t)writer->shard_count, sizeof(cache_shard_info),
                                "cache manifest");
    if (!manifest->shards)
        return KD_ERR_NOMEM;
    uint64_t bytes = 0, raw = 0, frames = 0;
    for (int s = 0; s < writer->shard_count; s++) {
        cache_shard_info *info = &manifest->shards[s];
        kd_status status = describe_shard(writer, s, info);
        if (status != KD_OK)
            return status;
        manifest->positions += info->positions;
        bytes += info->bytes;
        raw += info->raw_bytes;
        frames += info->bytes - CACHE_SHARD_HEADER_BYTES - CACHE_SHARD_FOOTER_BYTES -
                  (uint64_t)info->examples * CACHE_INDEX_ENTRY_BYTES;
    }
    double tokens = manifest->positions ? (double)manifest->positions : 1.0;
    double elapsed = kd_now_seconds() - writer->started;
    manifest->stats.bytes_per_token = (double)bytes / tokens;
    manifest->stats.raw_bytes_per_token = (double)raw / tokens;
    manifest->stats.compression_ratio = frames ? (double)raw / (double)frames : 0.0;
    manifest->stats.write_tokens_per_s = elapsed > 0 ? writer->positions_written / elapsed : 0.0;
    manifest->stats.write_mb_per_s = elapsed > 0 ? writer->bytes_written / elapsed / 1e6 : 0.0;
    manifest->stats.teacher_tokens_per_s =
        writer->teacher_seconds > 0 ? writer->positions_written / writer->teacher_seconds : 0.0;
    manifest->stats.teacher_input_tokens_per_s =
        writer->teacher_seconds > 0 ? writer->teacher_inputs / writer->teacher_seconds : 0.0;
    manifest->stats.padding_ratio =
        writer->teacher_inputs > 0 ? writer->teacher_cells / writer->teacher_inputs : 0.0;
    return KD_OK;
}

/* Removes what earlier runs may have left: shards past this plan's count and
 * temporary files of interrupted shard writes. */
static void remove_leftovers(const cache_writer *writer)
{
    DIR *dir = opendir(writer->dir);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        int shard = -1, end = 0;
        int leftover = strncmp(entry->d_name, ".shard-", 7) == 0 ||
                       (sscanf(entry->d_name, "shard-%d.kdlc%n", &shard, &end) == 1 &&
                        entry->d_name[end] == '\0' && shard >= writer->shard_count);
        if (!leftover)
            continue;
        char *path = kd_cache_join_path(writer->dir, entry->d_name);
        if (path)
            unlink(path);
        free(path);
    }
    closedir(dir);
    kd_clear_error();
}

kd_status kd_cache_writer_finish(cache_writer *writer, cache_manifest *out)
{
    if (writer->in_example || writer->next_index < writer->plan.example_count)
        return kd_fail(KD_ERR_INVALID, "cache: finished before example %zu of %zu was written",
                       writer->next_index, writer->plan.example_count);
    cache_manifest manifest;
    kd_status status = KD_OK;
    if (writer->complete) {
        status = kd_cache_manifest_read(writer->dir, &manifest);
    } else {
        status = build_manifest(writer, &manifest);
        cache_reader *reader = NULL;
        if (status == KD_OK)
            status = kd_cache_open_manifest(writer->dir, &manifest, &reader);
        if (status == KD_OK)
            status = kd_cache_read_all(reader, writer->run_key, &manifest.stats);
        kd_cache_close(reader);
        if (status == KD_OK)
            status = kd_cache_manifest_write(writer->dir, &manifest);
        if (status == KD_OK)
            remove_leftovers(writer);
    }
    if (status == KD_OK && out)
        status = kd_cache_manifest_copy(out, &manifest);
    kd_cache_manifest_free(&manifest);
    return status;
}
