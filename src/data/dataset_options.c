/* Dataset options: their defaults, and the cache key, a hash of everything
 * the examples depend on, so a cache made under any other inputs or
 * settings is never used. */
#include "kd/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Raise whenever reading, templating, fitting or the example layout
 * changes meaning, so caches made by older code go stale. */
enum { DATASET_KEY_VERSION = 1 };

void kd_dataset_options_default(dataset_options *options)
{
    memset(options, 0, sizeof *options);
    kd_record_fields_default(&options->fields);
    kd_prompt_template_default(&options->prompt);
    options->loss = LOSS_RESPONSE;
    options->seq_len = 1024;
    options->validation_fraction = 0.2;
    options->split_seed = 42;
}

static void hash_word(XXH3_state_t *state, uint64_t word)
{
    XXH3_64bits_update(state, &word, sizeof word);
}

/* Length first, so neighbouring strings cannot trade bytes; NULL differs
 * from "". */
static void hash_string(XXH3_state_t *state, const char *text)
{
    if (!text) {
        hash_word(state, UINT64_MAX);
        return;
    }
    size_t length = strlen(text);
    hash_word(state, length);
    XXH3_64bits_update(state, text, length);
}

kd_status kd_dataset_options_key(const dataset_options *options, uint64_t kd_tokenizer_hash,
                                 uint64_t *key)
{
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    hash_word(&state, DATASET_KEY_VERSION);
    hash_word(&state, options->path_count);
    for (size_t i = 0; i < options->path_count; i++) {
        uint64_t file_hash = 0;
        kd_status status = kd_hash_file(options->paths[i], &file_hash);
        if (status != KD_OK)
            return status;
        hash_word(&state, file_hash);
    }
    hash_word(&state, kd_tokenizer_hash);
    hash_string(&state, options->prompt.with_context);
    hash_string(&state, options->prompt.without_context);
    hash_string(&state, options->fields.instruction);
    hash_string(&state, options->fields.context);
    hash_string(&state, options->fields.response);
    hash_string(&state, options->fields.category);
    hash_word(&state, (uint64_t)options->loss);
    hash_word(&state, options->seq_len);
    hash_word(&state, options->skip_bad != 0);
    *key = XXH3_64bits_digest(&state);
    return KD_OK;
}
