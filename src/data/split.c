/* The train/validation split: a record's side is a pure function of the
 * seed and the record's own content, so it never moves when records are
 * added, removed or reordered, and duplicates never straddle the split. */
#include "kd/data.h"

#include "data_internal.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Each field goes in with its length first, so that moving text from one
 * field to the next changes the hash. */
static void hash_field(XXH3_state_t *state, const char *text)
{
    uint64_t length = strlen(text);
    XXH3_64bits_update(state, &length, sizeof length);
    XXH3_64bits_update(state, text, length);
}

uint64_t kd_record_content_hash(const char *instruction, const char *context, const char *response)
{
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    hash_field(&state, instruction);
    hash_field(&state, context);
    hash_field(&state, response);
    return XXH3_64bits_digest(&state);
}

int kd_split_is_validation(uint64_t record_hash, uint64_t seed, double fraction)
{
    uint64_t mixed = XXH3_64bits_withSeed(&record_hash, sizeof record_hash, seed);
    double uniform = (double)(mixed >> 11) * 0x1.0p-53; /* [0, 1) */
    return uniform < fraction;
}

kd_status kd_dataset_split(dataset *data, uint64_t seed, double fraction)
{
    if (!(fraction >= 0.0 && fraction < 1.0))
        return kd_fail(KD_ERR_INVALID, "split: validation fraction %g is not in [0, 1)", fraction);
    size_t *train = kd_alloc(data->count, sizeof *train, "train indices");
    size_t *validation = kd_alloc(data->count, sizeof *validation, "validation indices");
    if (!train || !validation) {
        free(train);
        free(validation);
        return KD_ERR_NOMEM;
    }
    size_t train_count = 0, validation_count = 0;
    for (size_t i = 0; i < data->count; i++) {
        if (kd_split_is_validation(data->record_hashes[i], seed, fraction))
            validation[validation_count++] = i;
        else
            train[train_count++] = i;
    }
    free(data->train);
    free(data->validation);
    data->train = train;
    data->train_count = train_count;
    data->validation = validation;
    data->validation_count = validation_count;
    return KD_OK;
}
