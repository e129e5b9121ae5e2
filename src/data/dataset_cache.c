/* The dataset cache file: everything kd_dataset_build computed, so that the
 * next run skips reading, templating and tokenizing.
 *
 *   header   magic "kd-data\n", then 12 little-endian u64: version,
 *            seq_len, key, example count n, token count, and the seven
 *            dataset_counts
 *   u64      offsets[n + 1]
 *   u64      record_hashes[n]
 *   i32      ids[tokens]
 *   u8       target_mask[tokens]
 *   u64      XXH3-64 of every byte before it
 *
 * Integers are in the writing machine's byte order; a big-endian reader
 * sees a bad version and rebuilds. */
#include "kd/data.h"

#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

enum { CACHE_VERSION = 1 };

_Static_assert(sizeof(int) == 4, "token ids are stored as 32-bit integers");

typedef struct {
    char magic[8];
    uint64_t version;
    uint64_t seq_len;
    uint64_t key;
    uint64_t example_count;
    uint64_t token_count;
    uint64_t counts[7];
} cache_header;

_Static_assert(sizeof(cache_header) == 104, "cache header has no padding");

static const char cache_magic[8] = {'k', 'd', '-', 'd', 'a', 't', 'a', '\n'};

static void counts_to_words(const dataset_counts *counts, uint64_t words[7])
{
    const size_t values[7] = {counts->records, counts->skipped, counts->kept, counts->shortened,
                              counts->dropped, counts->context_tokens_cut,
                              counts->response_tokens_cut};
    for (int i = 0; i < 7; i++)
        words[i] = values[i];
}

static void counts_from_words(const uint64_t words[7], dataset_counts *counts)
{
    size_t *values[7] = {&counts->records, &counts->skipped, &counts->kept, &counts->shortened,
                         &counts->dropped, &counts->context_tokens_cut,
                         &counts->response_tokens_cut};
    for (int i = 0; i < 7; i++)
        *values[i] = (size_t)words[i];
}

/* ------------------------------------------------------------- saving -- */

typedef struct {
    FILE *file;
    XXH3_state_t hash;
    int failed;
} hashed_writer;

static void write_bytes(hashed_writer *writer, const void *bytes, size_t size)
{
    if (writer->failed || size == 0)
        return;
    if (fwrite(bytes, 1, size, writer->file) != size)
        writer->failed = 1;
    XXH3_64bits_update(&writer->hash, bytes, size);
}

static void write_dataset(hashed_writer *writer, const dataset *data, uint64_t key)
{
    cache_header header = {.version = CACHE_VERSION, .seq_len = data->seq_len, .key = key,
                           .example_count = data->count,
                           .token_count = data->offsets[data->count]};
    memcpy(header.magic, cache_magic, sizeof cache_magic);
    counts_to_words(&data->counts, header.counts);
    write_bytes(writer, &header, sizeof header);
    for (size_t i = 0; i <= data->count; i++) {
        uint64_t offset = data->offsets[i];
        write_bytes(writer, &offset, sizeof offset);
    }
    write_bytes(writer, data->record_hashes, data->count * sizeof *data->record_hashes);
    write_bytes(writer, data->ids, header.token_count * sizeof *data->ids);
    write_bytes(writer, data->target_mask, header.token_count);
    uint64_t checksum = XXH3_64bits_digest(&writer->hash);
    if (!writer->failed && fwrite(&checksum, sizeof checksum, 1, writer->file) != 1)
        writer->failed = 1;
}

/* After the rename, the directory entry must reach the disk too. */
static void sync_directory(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dir = open(dirname(copy), O_RDONLY);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    free(copy);
}

kd_status kd_dataset_save(const dataset *data, uint64_t key, const char *path)
{
    char temp[KD_PATH_CAPACITY];
    if ((size_t)snprintf(temp, sizeof temp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof temp)
        return kd_fail(KD_ERR_INVALID, "%s: path too long", path);
    hashed_writer writer = {.file = fopen(temp, "wb")};
    if (!writer.file)
        return kd_fail(KD_ERR_IO, "%s: cannot create: %s", temp, strerror(errno));
    XXH3_64bits_reset(&writer.hash);
    write_dataset(&writer, data, key);
    int failed = writer.failed || fflush(writer.file) != 0 || fsync(fileno(writer.file)) != 0;
    int saved_errno = errno;
    failed |= fclose(writer.file) != 0;
    if (failed || rename(temp, path) != 0) {
        if (!failed)
            saved_errno = errno;
        unlink(temp);
        return kd_fail(KD_ERR_IO, "%s: cannot write: %s", path, strerror(saved_errno));
    }
    sync_directory(path);
    return KD_OK;
}

/* ------------------------------------------------------------ loading -- */

static kd_status damaged(const char *path, const char *why)
{
    return kd_fail(KD_ERR_FORMAT, "%s: damaged dataset cache (%s)", path, why);
}

/* Checks the header against the file size before anything is allocated
 * from it; *header is only meaningful when this returns KD_OK. */
static kd_status check_layout(const char *path, const unsigned char *bytes, size_t size,
                              cache_header *header)
{
    if (size < sizeof *header + sizeof(uint64_t))
        return damaged(path, "shorter than its header");
    memcpy(header, bytes, sizeof *header);
    if (memcmp(header->magic, cache_magic, sizeof cache_magic) != 0)
        return damaged(path, "not a kd dataset cache");
    if (header->version != CACHE_VERSION)
        return damaged(path, "unknown version");
    uint64_t stored;
    memcpy(&stored, bytes + size - sizeof stored, sizeof stored);
    if (stored != XXH3_64bits(bytes, size - sizeof stored))
        return damaged(path, "checksum mismatch");
    /* Every example takes at least 16 bytes (offset and hash) and every
     * token 5, which bounds the counts before they are multiplied. */
    uint64_t n = header->example_count, tokens = header->token_count;
    if (n > size / 16 || tokens > size / 5 || header->seq_len == 0 ||
        header->seq_len > KD_FILE_MAX_COUNT)
        return damaged(path, "impossible counts");
    uint64_t expected = sizeof *header + (2 * n + 1) * 8 + tokens * 5 + 8;
    if (expected != size)
        return damaged(path, "size does not match its counts");
    return KD_OK;
}

/* Copies the arrays into a fresh dataset and checks every example. */
static kd_status read_examples(const char *path, const unsigned char *bytes,
                               const cache_header *header, dataset *data)
{
    size_t n = header->example_count, tokens = header->token_count;
    kd_status status = kd_dataset_reserve(data, n, tokens);
    if (status != KD_OK)
        return status;
    const unsigned char *at = bytes + sizeof *header;
    const unsigned char *hashes = at + (n + 1) * 8;
    const unsigned char *ids = hashes + n * 8;
    memcpy(data->record_hashes, hashes, n * 8);
    memcpy(data->ids, ids, tokens * sizeof(int));
    memcpy(data->target_mask, ids + tokens * sizeof(int), tokens);
    for (size_t i = 0; i <= n; i++) {
        uint64_t offset;
        memcpy(&offset, at + i * 8, sizeof offset);
        if (offset > tokens || (i > 0 && offset <= data->offsets[i - 1]) || (i == 0 && offset != 0))
            return damaged(path, "example offsets out of order");
        data->offsets[i] = (size_t)offset;
    }
    if (data->offsets[n] != tokens)
        return damaged(path, "offsets do not cover the tokens");
    for (size_t i = 0; i < n; i++) {
        size_t start = data->offsets[i];
        if (kd_dataset_check_example(data->ids + start, data->target_mask + start,
                                     data->offsets[i + 1] - start, data->seq_len) != KD_OK)
            return kd_fail_context(KD_ERR_FORMAT, "%s: damaged dataset cache, example %zu",
                                   path, i);
        data->all_indices[i] = i;
    }
    data->count = n;
    counts_from_words(header->counts, &data->counts);
    return KD_OK;
}

kd_status kd_dataset_load(const char *path, uint64_t expected_key, dataset **out)
{
    *out = NULL;
    char *bytes;
    size_t size;
    kd_status status = kd_read_file(path, DATA_MAX_FILE_BYTES, &bytes, &size);
    if (status != KD_OK)
        return status;
    cache_header header;
    status = check_layout(path, (const unsigned char *)bytes, size, &header);
    if (status == KD_OK && header.key != expected_key)
        status = kd_fail(KD_ERR_INVALID,
                         "%s: dataset cache for another configuration (key %016llx, wanted %016llx)",
                         path, (unsigned long long)header.key, (unsigned long long)expected_key);
    dataset *data = NULL;
    if (status == KD_OK)
        status = kd_dataset_create((size_t)header.seq_len, &data);
    if (status == KD_OK)
        status = read_examples(path, (const unsigned char *)bytes, &header, data);
    free(bytes);
    if (status != KD_OK) {
        kd_dataset_free(data);
        return status;
    }
    *out = data;
    return KD_OK;
}
