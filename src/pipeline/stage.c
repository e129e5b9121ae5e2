/* Stage keys and records: the pipeline's memory of what it already did.
 * A key folds each input in turn into an XXH3 hash (texts with their
 * length, so "ab" + "c" differs from "a" + "bc"), and keeps each input's own
 * hash under a name, so that a changed key can say which input changed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kd/io.h"
#include "pipeline_internal.h"

static void fold(stage_key *key, const char *name, const void *bytes, size_t length)
{
    uint64_t parts[2] = {key->value, XXH3_64bits(bytes, length)};
    key->value = XXH3_64bits(parts, sizeof parts);
    if (!name || key->part_count == STAGE_MAX_PARTS)
        return; /* the value still counts it; only the explanation is shorter */
    stage_part *part = &key->parts[key->part_count++];
    snprintf(part->name, sizeof part->name, "%s", name);
    part->hash = parts[1];
}

static void add_text(stage_key *key, const char *name, const char *text)
{
    static const char absent[] = "\x01(none)";
    fold(key, name, text ? text : absent, text ? strlen(text) : sizeof absent);
}

void kd_stage_key_begin(stage_key *key, const char *stage)
{
    memset(key, 0, sizeof *key);
    add_text(key, NULL, stage);
}

void kd_stage_key_add_text(stage_key *key, const char *name, const char *text)
{
    add_text(key, name, text);
}

void kd_stage_key_add_number(stage_key *key, const char *name, double value)
{
    char text[64];
    snprintf(text, sizeof text, "%.17g", value);
    add_text(key, name, text);
}

kd_status kd_stage_key_add_file(stage_key *key, const char *name, const char *path)
{
    uint64_t hash;
    kd_status status = kd_hash_file(path, &hash);
    if (status == KD_OK)
        fold(key, name, &hash, sizeof hash);
    return status;
}

/* "a, b changed" from the parts whose hashes differ from the record's, or
 * that it lacks; a record from before parts were kept has none to compare. */
static void explain(const stage_key *key, const cJSON *stored, char *why, size_t size)
{
    size_t used = 0;
    int named = 0;
    char hash[17];
    why[0] = '\0';
    for (int i = 0; stored && i < key->part_count; i++) {
        snprintf(hash, sizeof hash, "%016" PRIx64, key->parts[i].hash);
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(stored, key->parts[i].name);
        if (cJSON_IsString(old) && strcmp(old->valuestring, hash) == 0)
            continue;
        int n = snprintf(why + used, size - used, "%s%s", named ? ", " : "", key->parts[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
        named++;
    }
    if (named == 0)
        snprintf(why, size, "its inputs");
    size_t length = strlen(why);
    snprintf(why + length, size - length, " changed");
}

stage_status kd_stage_check(const char *record_path, const stage_key *key, char *why,
                            size_t why_size)
{
    char expected[17];
    cJSON *record = NULL;
    FILE *probe = fopen(record_path, "r");
    if (!probe)
        return STAGE_FRESH;
    fclose(probe);
    snprintf(why, why_size, "its record %s is damaged", record_path);
    if (kd_json_read_file(record_path, &record) != KD_OK) {
        kd_clear_error();
        return STAGE_CHANGED;
    }
    snprintf(expected, sizeof expected, "%016" PRIx64, key->value);
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(record, "key");
    const cJSON *complete = cJSON_GetObjectItemCaseSensitive(record, "complete");
    stage_status status = STAGE_CHANGED;
    if (cJSON_IsString(stored) && strcmp(stored->valuestring, expected) == 0)
        status = cJSON_IsTrue(complete) ? STAGE_DONE : STAGE_INTERRUPTED;
    else
        explain(key, cJSON_GetObjectItemCaseSensitive(record, "inputs"), why, why_size);
    cJSON_Delete(record);
    return status;
}

kd_status kd_stage_mark(const char *record_path, const stage_key *key, int complete)
{
    char hash[17];
    cJSON *record = cJSON_CreateObject();
    cJSON *inputs = cJSON_CreateObject();
    snprintf(hash, sizeof hash, "%016" PRIx64, key->value);
    cJSON_AddStringToObject(record, "key", hash);
    cJSON_AddBoolToObject(record, "complete", complete);
    for (int i = 0; i < key->part_count; i++) {
        snprintf(hash, sizeof hash, "%016" PRIx64, key->parts[i].hash);
        cJSON_AddStringToObject(inputs, key->parts[i].name, hash);
    }
    cJSON_AddItemToObject(record, "inputs", inputs);
    char *text = cJSON_Print(record);
    cJSON_Delete(record);
    if (!text)
        return kd_fail(KD_ERR_NOMEM, "cannot format %s", record_path);
    kd_status status = kd_atomic_write_file(record_path, text, strlen(text));
    free(text);
    return status;
}
