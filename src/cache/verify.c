/* kd cache verify: everything the reader checks when a cache opens (shard
 * sizes, checksums, headers, indexes against the manifest), plus decoding
 * every record. */
#include "cache_format.h"

kd_status kd_cache_verify(const char *dir, cache_manifest *summary)
{
    cache_reader *reader = NULL;
    kd_status status = kd_cache_open(dir, &reader);
    if (status != KD_OK)
        return status;
    uint64_t positions = 0;
    for (size_t i = 0; status == KD_OK && i < kd_cache_reader_count(reader); i++) {
        cache_record record;
        status = kd_cache_reader_read(reader, kd_cache_reader_example_at(reader, i), &record);
        positions += status == KD_OK ? (uint64_t)record.positions : 0;
    }
    const cache_manifest *manifest = kd_cache_reader_manifest(reader);
    if (status == KD_OK && positions != manifest->positions)
        status = kd_fail(KD_ERR_FORMAT, "%s: records hold %llu positions, the manifest says %llu",
                         dir, (unsigned long long)positions,
                         (unsigned long long)manifest->positions);
    if (status == KD_OK && summary)
        status = kd_cache_manifest_copy(summary, manifest);
    kd_cache_close(reader);
    return status;
}
