/* Shard files: writing one atomically, and reading back its layout with
 * every size, offset and the checksum checked before anything trusts it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache_format.h"
#include "kd/io.h"

void kd_shard_file_name(char name[32], int shard_index)
{
    snprintf(name, 32, "shard-%05d.kdlc", shard_index);
}

static void encode_header(const shard_layout *layout, uint8_t out[CACHE_SHARD_HEADER_BYTES])
{
    memset(out, 0, CACHE_SHARD_HEADER_BYTES);
    memcpy(out, CACHE_SHARD_MAGIC, 8);
    put_u32(out + 8, CACHE_FORMAT_VERSION);
    put_u32(out + 12, layout->shard_index);
    put_u64(out + 16, layout->run_key);
    put_u32(out + 24, layout->example_count);
}

static uint8_t *encode_index(const shard_layout *layout)
{
    uint8_t *index = kd_alloc(layout->example_count ? layout->example_count : 1,
                              CACHE_INDEX_ENTRY_BYTES, "shard index");
    if (!index)
        return NULL;
    for (uint32_t i = 0; i < layout->example_count; i++) {
        const shard_entry *entry = &layout->entries[i];
        uint8_t *p = index + (size_t)i * CACHE_INDEX_ENTRY_BYTES;
        put_u32(p, entry->example);
        put_u32(p + 4, entry->positions);
        put_u64(p + 8, entry->offset);
        put_u32(p + 16, entry->frame_bytes);
        put_u32(p + 20, entry->record_bytes);
    }
    return index;
}

kd_status kd_shard_write(const char *path, const shard_layout *layout, const uint8_t *frames,
                         size_t frame_bytes)
{
    uint8_t header[CACHE_SHARD_HEADER_BYTES], footer[CACHE_SHARD_FOOTER_BYTES];
    size_t index_bytes = (size_t)layout->example_count * CACHE_INDEX_ENTRY_BYTES;
    uint8_t *index = encode_index(layout);
    if (!index)
        return KD_ERR_NOMEM;
    encode_header(layout, header);
    put_u64(footer, CACHE_SHARD_HEADER_BYTES + frame_bytes);
    put_u32(footer + 8, layout->example_count);
    memcpy(footer + 12, CACHE_FOOTER_MAGIC, 4);
    XXH3_state_t *state = XXH3_createState();
    if (!state) {
        free(index);
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    }
    XXH3_64bits_reset(state);
    XXH3_64bits_update(state, header, sizeof header);
    XXH3_64bits_update(state, frames, frame_bytes);
    XXH3_64bits_update(state, index, index_bytes);
    XXH3_64bits_update(state, footer, 16);
    put_u64(footer + 16, XXH3_64bits_digest(state));
    XXH3_freeState(state);

    atomic_file file;
    kd_status status = kd_atomic_file_open(&file, path);
    if (status == KD_OK) {
        status = kd_atomic_file_write(&file, header, sizeof header);
        if (status == KD_OK)
            status = kd_atomic_file_write(&file, frames, frame_bytes);
        if (status == KD_OK)
            status = kd_atomic_file_write(&file, index, index_bytes);
        if (status == KD_OK)
            status = kd_atomic_file_write(&file, footer, sizeof footer);
        if (status == KD_OK)
            status = kd_atomic_file_commit(&file);
        else
            kd_atomic_file_abort(&file);
    }
    free(index);
    return status;
}

/* ---- reading -------------------------------------------------------------- */

/* XXH3-64 of the first `size` bytes of the file, read in 1 MiB pieces. */
static kd_status checksum_prefix(int fd, const char *path, uint64_t size, uint64_t *checksum)
{
    enum { PIECE = 1 << 20 };
    uint8_t *piece = kd_alloc(PIECE, 1, "shard checksum buffer");
    XXH3_state_t *state = XXH3_createState();
    kd_status status = piece && state ? KD_OK : kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    if (status == KD_OK)
        XXH3_64bits_reset(state);
    for (uint64_t done = 0; status == KD_OK && done < size;) {
        size_t length = size - done < PIECE ? (size_t)(size - done) : PIECE;
        status = kd_file_read_at(fd, path, piece, length, done);
        if (status == KD_OK)
            XXH3_64bits_update(state, piece, length);
        done += length;
    }
    if (status == KD_OK)
        *checksum = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    free(piece);
    return status;
}

static kd_status parse_index(const char *path, const uint8_t *index, uint64_t index_offset,
                             shard_layout *layout)
{
    uint64_t expected_offset = CACHE_SHARD_HEADER_BYTES;
    for (uint32_t i = 0; i < layout->example_count; i++) {
        const uint8_t *p = index + (size_t)i * CACHE_INDEX_ENTRY_BYTES;
        shard_entry *entry = &layout->entries[i];
        entry->example = get_u32(p);
        entry->positions = get_u32(p + 4);
        entry->offset = get_u64(p + 8);
        entry->frame_bytes = get_u32(p + 16);
        entry->record_bytes = get_u32(p + 20);
        if (entry->offset != expected_offset || entry->frame_bytes == 0 ||
            entry->offset + entry->frame_bytes > index_offset)
            return kd_fail(KD_ERR_FORMAT, "%s: index entry %u: frame at %llu (+%u) does not "
                           "follow the previous one", path, i,
                           (unsigned long long)entry->offset, entry->frame_bytes);
        expected_offset += entry->frame_bytes;
    }
    if (expected_offset != index_offset)
        return kd_fail(KD_ERR_FORMAT, "%s: frames end at %llu but the index starts at %llu", path,
                       (unsigned long long)expected_offset, (unsigned long long)index_offset);
    return KD_OK;
}

static kd_status read_layout(int fd, const char *path, uint64_t size, shard_layout *layout)
{
    uint8_t header[CACHE_SHARD_HEADER_BYTES], footer[CACHE_SHARD_FOOTER_BYTES];
    if (size < CACHE_SHARD_HEADER_BYTES + CACHE_SHARD_FOOTER_BYTES)
        return kd_fail(KD_ERR_FORMAT, "%s: truncated (%llu bytes)", path,
                       (unsigned long long)size);
    kd_status status = kd_file_read_at(fd, path, header, sizeof header, 0);
    if (status == KD_OK)
        status = kd_file_read_at(fd, path, footer, sizeof footer, size - sizeof footer);
    if (status != KD_OK)
        return status;
    if (memcmp(header, CACHE_SHARD_MAGIC, 8) != 0 || memcmp(footer + 12, CACHE_FOOTER_MAGIC, 4))
        return kd_fail(KD_ERR_FORMAT, "%s: not a kd logit cache shard, or truncated", path);
    if (get_u32(header + 8) != CACHE_FORMAT_VERSION)
        return kd_fail(KD_ERR_FORMAT, "%s: format version %u, kd reads %d", path,
                       get_u32(header + 8), CACHE_FORMAT_VERSION);
    layout->shard_index = get_u32(header + 12);
    layout->run_key = get_u64(header + 16);
    layout->example_count = get_u32(header + 24);
    layout->file_bytes = size;
    uint64_t index_offset = get_u64(footer);
    uint64_t index_bytes = (uint64_t)layout->example_count * CACHE_INDEX_ENTRY_BYTES;
    if (get_u32(footer + 8) != layout->example_count || index_offset < CACHE_SHARD_HEADER_BYTES ||
        index_offset > size || index_offset + index_bytes + CACHE_SHARD_FOOTER_BYTES != size)
        return kd_fail(KD_ERR_FORMAT, "%s: header, index and footer disagree on the layout "
                       "(truncated or damaged)", path);
    uint64_t stored = get_u64(footer + 16), computed = 0;
    status = checksum_prefix(fd, path, size - 8, &computed);
    if (status != KD_OK)
        return status;
    if (computed != stored)
        return kd_fail(KD_ERR_FORMAT, "%s: checksum mismatch (stored %016llx, computed %016llx)",
                       path, (unsigned long long)stored, (unsigned long long)computed);
    layout->checksum = stored;
    uint8_t *index = kd_alloc(index_bytes ? index_bytes : 1, 1, "shard index");
    layout->entries = kd_alloc(layout->example_count ? layout->example_count : 1,
                               sizeof(shard_entry), "shard index");
    if (!index || !layout->entries)
        status = KD_ERR_NOMEM;
    if (status == KD_OK)
        status = kd_file_read_at(fd, path, index, index_bytes, index_offset);
    if (status == KD_OK)
        status = parse_index(path, index, index_offset, layout);
    free(index);
    return status;
}

kd_status kd_shard_read_layout(const char *path, shard_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    kd_status status = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                           ? read_layout(fd, path, (uint64_t)st.st_size, layout)
                           : kd_fail(KD_ERR_IO, "%s: not a regular file", path);
    close(fd);
    if (status != KD_OK)
        kd_shard_layout_free(layout);
    return status;
}

void kd_shard_layout_free(shard_layout *layout)
{
    free(layout->entries);
    layout->entries = NULL;
}
