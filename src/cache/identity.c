/* What a cache's identity is computed from: the hashes of the inputs that
 * decide the examples and the teacher. Each input has its own field, so a
 * refused cache can name what changed. The writer and the readers all call
 * kd_cache_identity_compute: a cache is accepted only when they agree. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cache_format.h"

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

kd_status kd_cache_teacher_hash(const char *teacher_dir, uint64_t *hash)
{
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_path_join(path, sizeof path, teacher_dir, KD_MODEL_WEIGHTS_FILE);
    return status == KD_OK ? kd_hash_file(path, hash) : status;
}

kd_status kd_cache_identity_compute(const dataset_options *options, uint64_t tokenizer_hash,
                                    const char *teacher_dir, cache_identity *identity)
{
    memset(identity, 0, sizeof *identity);
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    for (size_t i = 0; i < options->path_count; i++) {
        uint64_t file_hash = 0;
        uint8_t bytes[8];
        kd_status status = kd_hash_file(options->paths[i], &file_hash);
        if (status != KD_OK)
            return status;
        put_u64(bytes, file_hash);
        XXH3_64bits_update(&state, bytes, sizeof bytes);
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
    return teacher_dir ? kd_cache_teacher_hash(teacher_dir, &identity->teacher) : KD_OK;
}
