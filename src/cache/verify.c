/* kd cache verify: everything the reader checks when a cache opens (shard
 * sizes, checksums, headers, indexes against the manifest), plus decoding
 * every record. */
#include "cache_format.h"

kd_status cache_verify(const char *dir, cache_manifest *summary)
{
    cache_reader *reader = NULL;
    kd_status status = cache_open(dir, &reader);
    if (status != KD_OK)
        return status;
    uint64_t positions = 0;
    for (size_t i = 0; status == KD_OK && i < cache_reader_count(reader); i++) {
        cache_record record;
        status = cache_reader_read(reader, cache_reader_example_at(reader, i), &record);
        positions += status == KD_OK ? (uint64_t)record.positions : 0;
    }
    const cache_manifest *manifest = cache_reader_manifest(reader);
    if (status == KD_OK && positions != manifest->positions)
        status = kd_fail(KD_ERR_FORMAT, "%s: records hold %llu positions, the manifest says %llu",
                         dir, (unsigned long long)positions,
                         (unsigned long long)manifest->positions);
    if (status == KD_OK && summary)
        status = cache_manifest_copy(summary, manifest);
    cache_close(reader);
    return status;
}
