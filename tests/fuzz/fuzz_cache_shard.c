/* Fuzz target: a logit cache shard as the reader meets it: header, footer
 * and index (kd_shard_read_layout), the checks against its manifest entry,
 * then every example's zstd frame and record. The harness rewrites the
 * shard's trailing XXH3 checksum to match and makes the manifest entry from
 * the shard's own index, or the fuzzer would never get past either; the
 * manifest parser and the checksum comparison are tested on their own.
 * Input: the cache shape (fuzz_cache_shape_from), then the shard file. */
#include "fuzz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/cache_format.h"

static const char *write_shard(const uint8_t *data, size_t size)
{
    uint8_t *shard = malloc(size);
    FUZZ_CHECK(shard != NULL);
    memcpy(shard, data, size);
    put_u64(shard + size - 8, XXH3_64bits(shard, size - 8));
    char name[32];
    kd_shard_file_name(name, 0);
    const char *path = fuzz_write_temp(name, shard, size);
    free(shard);
    return path;
}

/* A one-shard manifest that agrees with `layout`. */
static void manifest_for(const fuzz_cache_shape *shape, const shard_layout *layout,
                         cache_manifest *manifest, cache_shard_info *info)
{
    memset(manifest, 0, sizeof *manifest);
    memset(info, 0, sizeof *info);
    kd_shard_file_name(info->file, 0);
    info->examples = layout->example_count;
    info->bytes = layout->file_bytes;
    info->checksum = layout->checksum;
    for (uint32_t i = 0; i < layout->example_count; i++) {
        info->positions += layout->entries[i].positions;
        info->raw_bytes += layout->entries[i].record_bytes;
    }
    manifest->version = CACHE_FORMAT_VERSION;
    manifest->identity.seq_len = shape->seq_len;
    manifest->encoding = shape->encoding;
    manifest->encoding.shard_examples = layout->example_count ? (int)layout->example_count : 1;
    manifest->vocab_size = shape->vocab_size;
    manifest->run_key = layout->run_key;
    manifest->examples = layout->example_count;
    manifest->positions = info->positions;
    manifest->shard_count = 1;
    manifest->shards = info;
}

static void check_record(const fuzz_cache_shape *shape, const cache_record *record)
{
    for (int i = 0; i < record->positions; i++) {
        FUZZ_CHECK(record->position[i] >= 0 && record->position[i] < shape->seq_len);
        FUZZ_CHECK(i == 0 || record->position[i] > record->position[i - 1]);
        for (int k = 0; k < record->topk; k++)
            FUZZ_CHECK(record->topk_ids[(size_t)i * record->topk + k] < shape->vocab_size);
        FUZZ_CHECK(record->tail_mass[i] >= 0.0f && record->tail_mass[i] <= 1.0f);
        FUZZ_CHECK(isfinite(record->entropy[i]) && record->entropy[i] >= 0.0f);
        FUZZ_CHECK(record->sample_offsets[i + 1] >= record->sample_offsets[i]);
    }
}

static void read_every_example(const fuzz_cache_shape *shape, cache_reader *reader)
{
    for (size_t i = 0; i < kd_cache_reader_count(reader); i++) {
        cache_record record;
        kd_status status = kd_cache_reader_read(reader, kd_cache_reader_example_at(reader, i), &record);
        if (status == KD_OK)
            check_record(shape, &record);
        else
            fuzz_check_refusal(status);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_CACHE_SHAPE_BYTES + 8)
        return 0;
    fuzz_cache_shape shape;
    fuzz_cache_shape_from(data, &shape);
    const char *path = write_shard(data + FUZZ_CACHE_SHAPE_BYTES, size - FUZZ_CACHE_SHAPE_BYTES);
    shard_layout layout;
    kd_status status = kd_shard_read_layout(path, &layout);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    cache_manifest manifest;
    cache_shard_info info;
    manifest_for(&shape, &layout, &manifest, &info);
    cache_reader *reader = NULL;
    status = kd_cache_open_manifest(fuzz_temp_dir(), &manifest, &reader);
    if (status == KD_OK)
        read_every_example(&shape, reader);
    else
        fuzz_check_refusal(status);
    kd_cache_close(reader);
    kd_shard_layout_free(&layout);
    return 0;
}
