/* The content hash of a file, for cache keys and manifests: XXH3-64 over
 * its bytes, streamed, followed by its length so that the contents of two
 * files hashed in a row cannot slide from one into the other. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "kd/core.h"

kd_status kd_hash_file(const char *path, uint64_t *hash)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    char chunk[1 << 16];
    uint64_t total = 0;
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        XXH3_64bits_update(&state, chunk, got);
        total += got;
    }
    int failed = ferror(file);
    fclose(file);
    if (failed)
        return kd_fail(KD_ERR_IO, "%s: read error", path);
    uint8_t length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (uint8_t)(total >> (8 * i)); /* little-endian on every machine */
    XXH3_64bits_update(&state, length, sizeof length);
    *hash = XXH3_64bits_digest(&state);
    return KD_OK;
}
