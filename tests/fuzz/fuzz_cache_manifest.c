/* Fuzz target: a logit cache's manifest.json. An accepted manifest must
 * print, copy, and survive writing and reading back unchanged.
 * Input: the manifest.json text. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_format.h"

static void check_same(const cache_manifest *a, const cache_manifest *b)
{
    FUZZ_CHECK(a->version == b->version && a->vocab_size == b->vocab_size &&
               a->run_key == b->run_key && a->examples == b->examples &&
               a->positions == b->positions && a->shard_count == b->shard_count);
    FUZZ_CHECK(memcmp(&a->identity, &b->identity, sizeof a->identity) == 0);
    FUZZ_CHECK(memcmp(&a->encoding, &b->encoding, sizeof a->encoding) == 0);
    FUZZ_CHECK(memcmp(&a->stats, &b->stats, sizeof a->stats) == 0);
    FUZZ_CHECK(memcmp(a->shards, b->shards, (size_t)a->shard_count * sizeof *a->shards) == 0);
}

static void check_accepted(const cache_manifest *manifest)
{
    static FILE *sink;
    if (!sink)
        FUZZ_CHECK((sink = fopen("/dev/null", "w")) != NULL);
    kd_cache_manifest_print(manifest, sink);
    FUZZ_CHECK(kd_cache_check_compatible(manifest, &manifest->identity, fuzz_temp_dir()) == KD_OK);
    cache_manifest copy, again;
    FUZZ_CHECK(kd_cache_manifest_copy(&copy, manifest) == KD_OK);
    check_same(manifest, &copy);
    FUZZ_CHECK(kd_cache_manifest_write(fuzz_temp_dir(), &copy) == KD_OK);
    FUZZ_CHECK(kd_cache_manifest_read(fuzz_temp_dir(), &again) == KD_OK);
    check_same(manifest, &again);
    kd_cache_manifest_free(&again);
    kd_cache_manifest_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Seal the input as the writer would, or the checksum refuses nearly
     * every mutation before the parser sees it; inputs without the field
     * still test the refusal. */
    char *text = malloc(size ? size : 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    if (kd_cache_manifest_seal(text, size) != KD_OK)
        memcpy(text, data, size);
    fuzz_write_temp(KD_CACHE_MANIFEST_FILE, (const uint8_t *)text, size);
    free(text);
    cache_manifest manifest;
    kd_status status = kd_cache_manifest_read(fuzz_temp_dir(), &manifest);
    if (status == KD_OK)
        check_accepted(&manifest);
    else
        fuzz_check_refusal(status);
    kd_cache_manifest_free(&manifest);
    return 0;
}
