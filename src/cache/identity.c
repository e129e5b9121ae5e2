/* What a cache's identity is computed from: the hashes of the inputs that
 * decide the examples and the teacher. Each input has its own field, so a
 * refused cache can name what changed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cache_format.h"

static kd_status hash_file_into(XXH3_state_t *state, const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[1 << 16];
    uint64_t total = 0;
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        XXH3_64bits_update(state, chunk, got);
        total += got;
    }
    int failed = ferror(file);
    fclose(file);
    if (failed)
        return kd_fail(KD_ERR_IO, "%s: read error", path);
    uint8_t length[8];
    put_u64(length, total); /* ends the file: contents cannot slide into the next */
    XXH3_64bits_update(state, length, sizeof length);
    return KD_OK;
}

kd_status cache_hash_file(const char *path, uint64_t *hash)
{
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    kd_status status = hash_file_into(&state, path);
    if (status == KD_OK)
        *hash = XXH3_64bits_digest(&state);
    return status;
}

/* Length first, so neighbouring strings cannot trade bytes; NULL differs
 * from "". */
static void hash_string(XXH3_state_t *state, const char *text)
{
    uint8_t length[8];
    put_u64(length, text ? strlen(text) : UINT64_MAX);
    XXH3_64bits_update(state, length, sizeof length);
    if (text)
        XXH3_64bits_update(state, text, strlen(text));
}

kd_status cache_identity_from_data(const dataset_options *options, uint64_t tokenizer_hash,
                                   cache_identity *identity)
{
    memset(identity, 0, sizeof *identity);
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    for (size_t i = 0; i < options->path_count; i++) {
        kd_status status = hash_file_into(&state, options->paths[i]);
        if (status != KD_OK)
            return status;
    }
    identity->data = XXH3_64bits_digest(&state);
    XXH3_64bits_reset(&state);
    hash_string(&state, options->prompt.with_context);
    hash_string(&state, options->prompt.without_context);
    hash_string(&state, options->fields.instruction);
    hash_string(&state, options->fields.context);
    hash_string(&state, options->fields.response);
    hash_string(&state, options->loss == LOSS_ALL ? "loss:all" : "loss:response");
    hash_string(&state, options->skip_bad ? "skip_bad" : "strict");
    identity->template_hash = XXH3_64bits_digest(&state);
    identity->tokenizer = tokenizer_hash;
    identity->seq_len = (int)options->seq_len;
    identity->split_seed = options->split_seed;
    identity->validation_fraction = options->validation_fraction;
    snprintf(identity->part, sizeof identity->part, "train");
    return KD_OK;
}
