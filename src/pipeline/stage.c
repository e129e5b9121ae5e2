/* Stage keys and records: the pipeline's memory of what it already did.
 * A key folds each input in turn into an XXH3 hash (texts with their
 * length, so "ab" + "c" differs from "a" + "bc"). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "kd/io.h"
#include "pipeline_internal.h"

#define STAGE_RECORD "pipeline-stage.json"

static void fold(stage_key *key, const void *bytes, size_t length)
{
    uint64_t parts[2] = {key->value, XXH3_64bits(bytes, length)};
    key->value = XXH3_64bits(parts, sizeof parts);
}

void kd_stage_key_begin(stage_key *key, const char *stage)
{
    key->value = 0;
    kd_stage_key_add_text(key, stage);
}

void kd_stage_key_add_text(stage_key *key, const char *text)
{
    static const char absent[] = "\x01(none)";
    fold(key, text ? text : absent, text ? strlen(text) : sizeof absent);
}

void kd_stage_key_add_number(stage_key *key, double value)
{
    char text[64];
    snprintf(text, sizeof text, "%.17g", value);
    kd_stage_key_add_text(key, text);
}

kd_status kd_stage_key_add_file(stage_key *key, const char *path)
{
    uint64_t hash;
    kd_status status = kd_hash_file(path, &hash);
    if (status == KD_OK)
        fold(key, &hash, sizeof hash);
    return status;
}

stage_status kd_stage_check(const char *dir, stage_key key)
{
    char path[KD_PATH_CAPACITY], expected[17];
    if (kd_path_join(path, sizeof path, dir, STAGE_RECORD) != KD_OK)
        return STAGE_FRESH;
    cJSON *record = NULL;
    FILE *probe = fopen(path, "r");
    if (!probe)
        return STAGE_FRESH;
    fclose(probe);
    if (kd_json_read_file(path, &record) != KD_OK)
        return STAGE_FRESH; /* damaged: redo the stage */
    snprintf(expected, sizeof expected, "%016" PRIx64, key.value);
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(record, "key");
    const cJSON *complete = cJSON_GetObjectItemCaseSensitive(record, "complete");
    stage_status status = STAGE_FRESH;
    if (cJSON_IsString(stored) && strcmp(stored->valuestring, expected) == 0)
        status = cJSON_IsTrue(complete) ? STAGE_DONE : STAGE_INTERRUPTED;
    cJSON_Delete(record);
    return status;
}

kd_status kd_stage_mark(const char *dir, stage_key key, int complete)
{
    char path[KD_PATH_CAPACITY], text[96];
    kd_status status = kd_make_directories(dir);
    if (status == KD_OK)
        status = kd_path_join(path, sizeof path, dir, STAGE_RECORD);
    if (status != KD_OK)
        return status;
    int length = snprintf(text, sizeof text, "{\"key\": \"%016" PRIx64 "\", \"complete\": %s}\n",
                          key.value, complete ? "true" : "false");
    return kd_atomic_write_file(path, text, (size_t)length);
}
