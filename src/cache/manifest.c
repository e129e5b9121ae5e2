/* manifest.json: what made a cache, what it holds and what it measured.
 * Reading checks every value it will rely on, and names the key at fault. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cache_format.h"
#include "kd/io.h"

#define MANIFEST_FORMAT "kd-logit-cache"
#define MANIFEST_VALUE_TYPE "logprob-u12"
/* Integers kept exactly by a JSON number (a double). */
#define JSON_MAX_EXACT 9007199254740992.0

void kd_cache_encoding_default(cache_encoding *encoding)
{
    memset(encoding, 0, sizeof *encoding);
    encoding->topk = CACHE_DEFAULT_TOPK;
    encoding->zstd_level = CACHE_DEFAULT_ZSTD_LEVEL;
    encoding->shard_examples = CACHE_DEFAULT_SHARD_EXAMPLES;
}

char *kd_cache_join_path(const char *dir, const char *name)
{
    size_t length = strlen(dir) + strlen(name) + 2;
    char *path = kd_alloc(length, 1, "cache path");
    if (path)
        snprintf(path, length, "%s/%s", dir, name);
    return path;
}

uint64_t kd_cache_example_hash(const int *ids, const uint8_t *target_mask, size_t length)
{
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    for (size_t i = 0; i < length; i++) {
        uint8_t bytes[5];
        put_u32(bytes, (uint32_t)ids[i]);
        bytes[4] = target_mask[i];
        XXH3_64bits_update(&state, bytes, sizeof bytes);
    }
    return XXH3_64bits_digest(&state);
}

static void hash_u64(XXH3_state_t *state, uint64_t value)
{
    uint8_t bytes[8];
    put_u64(bytes, value);
    XXH3_64bits_update(state, bytes, sizeof bytes);
}

uint64_t kd_cache_plan_run_key(const cache_plan *plan)
{
    const cache_identity *id = &plan->identity;
    const cache_encoding *enc = &plan->encoding;
    uint64_t fraction_bits;
    memcpy(&fraction_bits, &id->validation_fraction, sizeof fraction_bits);
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
    uint64_t fields[] = {CACHE_FORMAT_VERSION, id->teacher, id->tokenizer, id->data,
                         id->template_hash, (uint64_t)id->seq_len, id->split_seed, fraction_bits,
                         (uint64_t)enc->topk, (uint64_t)enc->samples, enc->sample_seed,
                         (uint64_t)(int64_t)enc->zstd_level, (uint64_t)enc->shard_examples,
                         (uint64_t)plan->vocab_size, plan->example_count};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        hash_u64(&state, fields[i]);
    XXH3_64bits_update(&state, id->part, strnlen(id->part, sizeof id->part));
    for (size_t i = 0; i < plan->example_count; i++)
        hash_u64(&state, plan->examples[i]);
    return XXH3_64bits_digest(&state);
}

/* ---- the seal ------------------------------------------------------------------ */

#define SEAL_KEY "\"checksum\":"
enum { SEAL_DIGITS = 16 };

/* The 16 digits of the checksum field, or NULL. A JSON string cannot hold
 * the key's text unescaped, so the first match is the field. */
static char *seal_digits(char *text, size_t length)
{
    size_t key_length = strlen(SEAL_KEY);
    char *key = NULL;
    for (size_t i = 0; !key && i + key_length <= length; i++)
        if (memcmp(text + i, SEAL_KEY, key_length) == 0)
            key = text + i;
    if (!key)
        return NULL;
    char *at = key + strlen(SEAL_KEY), *end = text + length;
    while (at < end && (*at == ' ' || *at == '\t'))
        at++;
    if (end - at < SEAL_DIGITS + 2 || at[0] != '"' || at[SEAL_DIGITS + 1] != '"')
        return NULL;
    return at + 1;
}

static uint64_t seal_hash(char *text, size_t length, char *digits)
{
    memset(digits, '0', SEAL_DIGITS);
    return XXH3_64bits(text, length);
}

kd_status kd_cache_manifest_seal(char *text, size_t length)
{
    char *digits = seal_digits(text, length), hex[SEAL_DIGITS + 1];
    if (!digits)
        return kd_fail(KD_ERR_FORMAT, "manifest text without a checksum field");
    snprintf(hex, sizeof hex, "%016" PRIx64, seal_hash(text, length, digits));
    memcpy(digits, hex, SEAL_DIGITS);
    return KD_OK;
}

static kd_status check_seal(const char *path)
{
    char *text = NULL, stored[SEAL_DIGITS + 1] = {0}, computed[SEAL_DIGITS + 1];
    size_t length = 0;
    kd_status status = kd_read_file(path, KD_TEXT_FILE_MAX_BYTES, &text, &length);
    if (status != KD_OK)
        return status;
    char *digits = seal_digits(text, length);
    if (digits) {
        memcpy(stored, digits, SEAL_DIGITS);
        snprintf(computed, sizeof computed, "%016" PRIx64, seal_hash(text, length, digits));
    }
    free(text);
    if (!digits)
        return kd_fail(KD_ERR_FORMAT, "%s: no \"checksum\" field (not written by this kd, "
                       "or damaged)", path);
    if (strcmp(stored, computed) != 0)
        return kd_fail(KD_ERR_FORMAT, "%s: checksum %s does not match its contents (%s): the "
                       "manifest was changed after kd wrote it", path, stored, computed);
    return KD_OK;
}

/* ---- writing ----------------------------------------------------------------- */

static void add_hex(cJSON *object, const char *key, uint64_t value)
{
    char text[17];
    snprintf(text, sizeof text, "%016" PRIx64, value);
    cJSON_AddStringToObject(object, key, text);
}

static cJSON *identity_to_json(const cache_identity *identity)
{
    cJSON *object = cJSON_CreateObject();
    add_hex(object, "teacher", identity->teacher);
    add_hex(object, "tokenizer", identity->tokenizer);
    add_hex(object, "data", identity->data);
    add_hex(object, "template", identity->template_hash);
    kd_json_add_exact_number(object, "seq_len", identity->seq_len);
    cJSON *split = cJSON_AddObjectToObject(object, "split");
    cJSON_AddStringToObject(split, "part", identity->part);
    kd_json_add_exact_number(split, "seed", (double)identity->split_seed);
    kd_json_add_exact_number(split, "validation_fraction", identity->validation_fraction);
    return object;
}

static cJSON *encoding_to_json(const cache_manifest *manifest)
{
    const cache_encoding *encoding = &manifest->encoding;
    cJSON *object = cJSON_CreateObject();
    kd_json_add_exact_number(object, "topk", encoding->topk);
    kd_json_add_exact_number(object, "samples", encoding->samples);
    kd_json_add_exact_number(object, "sample_seed", (double)encoding->sample_seed);
    kd_json_add_exact_number(object, "zstd_level", encoding->zstd_level);
    kd_json_add_exact_number(object, "shard_examples", encoding->shard_examples);
    kd_json_add_exact_number(object, "vocab_size", manifest->vocab_size);
    cJSON_AddStringToObject(object, "id_type", manifest->vocab_size <= 65536 ? "u16" : "u32");
    cJSON_AddStringToObject(object, "value_type", MANIFEST_VALUE_TYPE);
    kd_json_add_exact_number(object, "value_step", CACHE_CODE_STEP);
    kd_json_add_exact_number(object, "value_max_error", CACHE_LOGPROB_MAX_ERROR);
    return object;
}

static cJSON *shards_to_json(const cache_manifest *manifest)
{
    cJSON *array = cJSON_CreateArray();
    for (int s = 0; s < manifest->shard_count; s++) {
        const cache_shard_info *shard = &manifest->shards[s];
        cJSON *object = cJSON_CreateObject();
        cJSON_AddStringToObject(object, "file", shard->file);
        kd_json_add_exact_number(object, "examples", shard->examples);
        kd_json_add_exact_number(object, "positions", (double)shard->positions);
        kd_json_add_exact_number(object, "bytes", (double)shard->bytes);
        kd_json_add_exact_number(object, "raw_bytes", (double)shard->raw_bytes);
        add_hex(object, "xxh3", shard->checksum);
        cJSON_AddItemToArray(array, object);
    }
    return array;
}

static cJSON *stats_to_json(const cache_stats *stats)
{
    cJSON *object = cJSON_CreateObject();
    kd_json_add_exact_number(object, "bytes_per_token", stats->bytes_per_token);
    kd_json_add_exact_number(object, "raw_bytes_per_token", stats->raw_bytes_per_token);
    kd_json_add_exact_number(object, "compression_ratio", stats->compression_ratio);
    kd_json_add_exact_number(object, "topk_mass_mean", stats->topk_mass_mean);
    kd_json_add_exact_number(object, "topk_mass_p5", stats->topk_mass_p5);
    kd_json_add_exact_number(object, "write_tokens_per_s", stats->write_tokens_per_s);
    kd_json_add_exact_number(object, "write_mb_per_s", stats->write_mb_per_s);
    kd_json_add_exact_number(object, "read_tokens_per_s", stats->read_tokens_per_s);
    kd_json_add_exact_number(object, "teacher_tokens_per_s", stats->teacher_tokens_per_s);
    kd_json_add_exact_number(object, "teacher_input_tokens_per_s",
                             stats->teacher_input_tokens_per_s);
    kd_json_add_exact_number(object, "padding_ratio", stats->padding_ratio);
    return object;
}

kd_status kd_cache_manifest_write(const char *dir, const cache_manifest *manifest)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "checksum", "0000000000000000");
    cJSON_AddStringToObject(root, "format", MANIFEST_FORMAT);
    kd_json_add_exact_number(root, "version", CACHE_FORMAT_VERSION);
    add_hex(root, "run_key", manifest->run_key);
    cJSON_AddStringToObject(root, "teacher_dir", manifest->teacher_dir);
    cJSON_AddStringToObject(root, "teacher_precision", manifest->teacher_precision);
    cJSON_AddItemToObject(root, "identity", identity_to_json(&manifest->identity));
    cJSON_AddItemToObject(root, "encoding", encoding_to_json(manifest));
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    kd_json_add_exact_number(counts, "examples", (double)manifest->examples);
    kd_json_add_exact_number(counts, "positions", (double)manifest->positions);
    kd_json_add_exact_number(counts, "shards", manifest->shard_count);
    cJSON_AddItemToObject(root, "shards", shards_to_json(manifest));
    cJSON_AddItemToObject(root, "stats", stats_to_json(&manifest->stats));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char *path = kd_cache_join_path(dir, KD_CACHE_MANIFEST_FILE);
    kd_status status = text && path ? KD_OK : kd_fail(KD_ERR_NOMEM, "%s: out of memory", dir);
    if (status == KD_OK) {
        size_t length = strlen(text);
        text[length] = '\n'; /* cJSON_Print leaves no newline; its NUL becomes one */
        status = kd_cache_manifest_seal(text, length + 1);
        if (status == KD_OK)
            status = kd_atomic_write_file(path, text, length + 1);
    }
    free(path);
    cJSON_free(text);
    return status;
}

/* ---- reading ------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const char *section; /* "encoding", or "shards[3]" */
} json_where;

static kd_status missing(const json_where *at, const char *key, const char *what)
{
    return kd_fail(KD_ERR_FORMAT, "%s: \"%s.%s\" must be %s", at->path, at->section, key, what);
}

static kd_status read_number(const json_where *at, const cJSON *object, const char *key,
                             double min, double max, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    /* cJSON reads 1e999 as infinity, which it would write back as null. */
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        !(item->valuedouble >= min && item->valuedouble <= max)) {
        char what[96];
        if (isfinite(max))
            snprintf(what, sizeof what, "a number in [%g, %g]", min, max);
        else
            snprintf(what, sizeof what, "a finite number >= %g", min);
        return missing(at, key, what);
    }
    *out = item->valuedouble;
    return KD_OK;
}

static kd_status read_integer(const json_where *at, const cJSON *object, const char *key,
                              double min, double max, uint64_t *out)
{
    double value = 0.0;
    kd_status status = read_number(at, object, key, min, max, &value);
    if (status == KD_OK && value != floor(value))
        status = missing(at, key, "an integer");
    if (status == KD_OK)
        *out = (uint64_t)(int64_t)value;
    return status;
}

static kd_status read_int(const json_where *at, const cJSON *object, const char *key, int min,
                          int max, int *out)
{
    uint64_t value;
    kd_status status = read_integer(at, object, key, min, max, &value);
    if (status == KD_OK)
        *out = (int)(int64_t)value;
    return status;
}

static kd_status read_string(const json_where *at, const cJSON *object, const char *key,
                             const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsString(item))
        return missing(at, key, "a string");
    *out = item->valuestring;
    return KD_OK;
}

static kd_status read_hex(const json_where *at, const cJSON *object, const char *key,
                          uint64_t *out)
{
    const char *text = NULL;
    kd_status status = read_string(at, object, key, &text);
    if (status != KD_OK)
        return status;
    char *end = NULL;
    *out = strtoull(text, &end, 16);
    if (strlen(text) != 16 || *end)
        return missing(at, key, "16 hexadecimal digits");
    return KD_OK;
}

static const cJSON *read_object(const json_where *at, const cJSON *root, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(item))
        kd_fail(KD_ERR_FORMAT, "%s: \"%s\" must be an object", at->path, key);
    return cJSON_IsObject(item) ? item : NULL;
}

static kd_status read_identity(const char *path, const cJSON *root, cache_identity *identity)
{
    json_where at = {path, "identity"};
    const cJSON *object = read_object(&at, root, "identity");
    if (!object)
        return KD_ERR_FORMAT;
    kd_status status = read_hex(&at, object, "teacher", &identity->teacher);
    if (status == KD_OK)
        status = read_hex(&at, object, "tokenizer", &identity->tokenizer);
    if (status == KD_OK)
        status = read_hex(&at, object, "data", &identity->data);
    if (status == KD_OK)
        status = read_hex(&at, object, "template", &identity->template_hash);
    if (status == KD_OK)
        status = read_int(&at, object, "seq_len", 1, CACHE_MAX_SEQ_LEN, &identity->seq_len);
    if (status != KD_OK)
        return status;
    json_where split_at = {path, "identity.split"};
    const cJSON *split = read_object(&split_at, object, "split");
    const char *part = NULL;
    if (!split)
        return KD_ERR_FORMAT;
    status = read_string(&split_at, split, "part", &part);
    if (status == KD_OK && strlen(part) >= sizeof identity->part)
        status = missing(&split_at, "part", "a short name such as \"train\"");
    if (status == KD_OK)
        snprintf(identity->part, sizeof identity->part, "%s", part);
    if (status == KD_OK)
        status = read_integer(&split_at, split, "seed", 0, JSON_MAX_EXACT, &identity->split_seed);
    if (status == KD_OK)
        status = read_number(&split_at, split, "validation_fraction", 0.0, 1.0,
                             &identity->validation_fraction);
    return status;
}

static kd_status read_encoding(const char *path, const cJSON *root, cache_manifest *manifest)
{
    json_where at = {path, "encoding"};
    cache_encoding *encoding = &manifest->encoding;
    const cJSON *object = read_object(&at, root, "encoding");
    const char *value_type = NULL;
    if (!object)
        return KD_ERR_FORMAT;
    kd_status status = read_int(&at, object, "vocab_size", 1, INT32_MAX, &manifest->vocab_size);
    if (status == KD_OK)
        status = read_int(&at, object, "topk", 0,
                          CACHE_MAX_TOPK < manifest->vocab_size ? CACHE_MAX_TOPK
                                                                : manifest->vocab_size,
                          &encoding->topk);
    if (status == KD_OK)
        status = read_int(&at, object, "samples", 0, CACHE_MAX_SAMPLES, &encoding->samples);
    if (status == KD_OK)
        status = read_integer(&at, object, "sample_seed", 0, JSON_MAX_EXACT,
                              &encoding->sample_seed);
    if (status == KD_OK)
        status = read_int(&at, object, "zstd_level", -(1 << 17), 22, &encoding->zstd_level);
    if (status == KD_OK)
        status = read_int(&at, object, "shard_examples", 1, KD_FILE_MAX_COUNT,
                          &encoding->shard_examples);
    if (status == KD_OK)
        status = read_string(&at, object, "value_type", &value_type);
    if (status == KD_OK && strcmp(value_type, MANIFEST_VALUE_TYPE) != 0)
        status = kd_fail(KD_ERR_UNSUPPORTED, "%s: value type \"%s\" (kd reads \"%s\")", path,
                         value_type, MANIFEST_VALUE_TYPE);
    return status;
}

static kd_status read_shard(const char *path, const cJSON *item, int index,
                            const cache_manifest *manifest, cache_shard_info *shard)
{
    char section[32];
    snprintf(section, sizeof section, "shards[%d]", index);
    json_where at = {path, section};
    const char *file = NULL;
    uint64_t examples = 0;
    kd_status status = cJSON_IsObject(item) ? read_string(&at, item, "file", &file)
                                            : kd_fail(KD_ERR_FORMAT, "%s: %s is not an object",
                                                      path, section);
    /* The name must be the expected one: a manifest never points outside its
     * directory. */
    kd_shard_file_name(shard->file, index);
    if (status == KD_OK && strcmp(file, shard->file) != 0)
        status = missing(&at, "file", shard->file);
    uint64_t limit = (uint64_t)manifest->encoding.shard_examples;
    if (status == KD_OK)
        status = read_integer(&at, item, "examples", 1, (double)limit, &examples);
    shard->examples = (uint32_t)examples;
    if (status == KD_OK)
        status = read_integer(&at, item, "positions", 0, JSON_MAX_EXACT, &shard->positions);
    if (status == KD_OK)
        status = read_integer(&at, item, "bytes", 0, JSON_MAX_EXACT, &shard->bytes);
    if (status == KD_OK)
        status = read_integer(&at, item, "raw_bytes", 0, JSON_MAX_EXACT, &shard->raw_bytes);
    if (status == KD_OK)
        status = read_hex(&at, item, "xxh3", &shard->checksum);
    return status;
}

static kd_status read_shards(const char *path, const cJSON *root, cache_manifest *manifest)
{
    json_where at = {path, "counts"};
    const cJSON *counts = read_object(&at, root, "counts");
    if (!counts)
        return KD_ERR_FORMAT;
    kd_status status = read_integer(&at, counts, "examples", 1, UINT32_MAX, &manifest->examples);
    if (status == KD_OK)
        status = read_integer(&at, counts, "positions", 0, JSON_MAX_EXACT, &manifest->positions);
    if (status == KD_OK)
        status = read_int(&at, counts, "shards", 1, KD_FILE_MAX_COUNT, &manifest->shard_count);
    if (status != KD_OK)
        return status;
    uint64_t per_shard = (uint64_t)manifest->encoding.shard_examples;
    const cJSON *array = cJSON_GetObjectItemCaseSensitive(root, "shards");
    if ((uint64_t)manifest->shard_count != (manifest->examples + per_shard - 1) / per_shard ||
        !cJSON_IsArray(array) || cJSON_GetArraySize(array) != manifest->shard_count)
        return kd_fail(KD_ERR_FORMAT, "%s: \"shards\" must list %llu shards of at most %llu "
                       "examples", path,
                       (unsigned long long)((manifest->examples + per_shard - 1) / per_shard),
                       (unsigned long long)per_shard);
    manifest->shards = kd_alloc((size_t)manifest->shard_count, sizeof(cache_shard_info),
                                "cache manifest");
    if (!manifest->shards)
        return KD_ERR_NOMEM;
    uint64_t examples = 0, positions = 0;
    for (int s = 0; s < manifest->shard_count && status == KD_OK; s++) {
        status = read_shard(path, cJSON_GetArrayItem(array, s), s, manifest, &manifest->shards[s]);
        examples += manifest->shards[s].examples;
        positions += manifest->shards[s].positions;
    }
    if (status == KD_OK && (examples != manifest->examples || positions != manifest->positions))
        status = kd_fail(KD_ERR_FORMAT, "%s: the shards hold %llu examples and %llu positions, "
                         "\"counts\" says %llu and %llu", path, (unsigned long long)examples,
                         (unsigned long long)positions, (unsigned long long)manifest->examples,
                         (unsigned long long)manifest->positions);
    return status;
}

static kd_status read_stats(const char *path, const cJSON *root, cache_stats *stats)
{
    json_where at = {path, "stats"};
    const cJSON *object = read_object(&at, root, "stats");
    if (!object)
        return KD_ERR_FORMAT;
    struct {
        const char *key;
        double *value;
        int optional; /* caches written before kd recorded it have none */
    } fields[] = {
        {"bytes_per_token", &stats->bytes_per_token, 0},
        {"raw_bytes_per_token", &stats->raw_bytes_per_token, 0},
        {"compression_ratio", &stats->compression_ratio, 0},
        {"topk_mass_mean", &stats->topk_mass_mean, 0},
        {"topk_mass_p5", &stats->topk_mass_p5, 0},
        {"write_tokens_per_s", &stats->write_tokens_per_s, 0},
        {"write_mb_per_s", &stats->write_mb_per_s, 0},
        {"read_tokens_per_s", &stats->read_tokens_per_s, 0},
        {"teacher_tokens_per_s", &stats->teacher_tokens_per_s, 0},
        {"teacher_input_tokens_per_s", &stats->teacher_input_tokens_per_s, 1},
        {"padding_ratio", &stats->padding_ratio, 1},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        *fields[i].value = 0.0;
        if (fields[i].optional && !cJSON_GetObjectItemCaseSensitive(object, fields[i].key))
            continue;
        kd_status status = read_number(&at, object, fields[i].key, 0.0, HUGE_VAL, fields[i].value);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

/* Optional: caches written before kd recorded it have none. */
static kd_status read_teacher_dir(const char *path, const cJSON *root, cache_manifest *manifest)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "teacher_dir");
    if (!item)
        return KD_OK;
    if (!cJSON_IsString(item) || strlen(item->valuestring) >= sizeof manifest->teacher_dir)
        return kd_fail(KD_ERR_FORMAT, "%s: \"teacher_dir\" must be a path of fewer than %zu "
                       "bytes", path, sizeof manifest->teacher_dir);
    snprintf(manifest->teacher_dir, sizeof manifest->teacher_dir, "%s", item->valuestring);
    return KD_OK;
}

/* Optional: caches written before kd recorded it came from fp32 products. */
static kd_status read_teacher_precision(const char *path, const cJSON *root,
                                        cache_manifest *manifest)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "teacher_precision");
    const char *value = item ? cJSON_GetStringValue(item) : "fp32";
    if (!value || (strcmp(value, "fp32") != 0 && strcmp(value, "bf16") != 0))
        return kd_fail(KD_ERR_FORMAT, "%s: \"teacher_precision\" must be \"fp32\" or \"bf16\"",
                       path);
    snprintf(manifest->teacher_precision, sizeof manifest->teacher_precision, "%s", value);
    return KD_OK;
}

static kd_status read_root(const char *path, const cJSON *root, cache_manifest *manifest)
{
    json_where at = {path, "manifest"};
    const char *format = NULL;
    kd_status status = read_string(&at, root, "format", &format);
    if (status == KD_OK && strcmp(format, MANIFEST_FORMAT) != 0)
        status = kd_fail(KD_ERR_FORMAT, "%s: not a kd logit cache manifest", path);
    if (status == KD_OK)
        status = read_int(&at, root, "version", 0, INT32_MAX, &manifest->version);
    if (status == KD_OK && manifest->version != CACHE_FORMAT_VERSION)
        status = kd_fail(KD_ERR_UNSUPPORTED, "%s: format version %d, kd reads %d", path,
                         manifest->version, CACHE_FORMAT_VERSION);
    if (status == KD_OK)
        status = read_hex(&at, root, "run_key", &manifest->run_key);
    if (status == KD_OK)
        status = read_teacher_dir(path, root, manifest);
    if (status == KD_OK)
        status = read_teacher_precision(path, root, manifest);
    if (status == KD_OK)
        status = read_identity(path, root, &manifest->identity);
    if (status == KD_OK)
        status = read_encoding(path, root, manifest);
    if (status == KD_OK)
        status = read_shards(path, root, manifest);
    if (status == KD_OK)
        status = read_stats(path, root, &manifest->stats);
    return status;
}

kd_status kd_cache_manifest_read(const char *dir, cache_manifest *manifest)
{
    memset(manifest, 0, sizeof *manifest);
    char *path = kd_cache_join_path(dir, KD_CACHE_MANIFEST_FILE);
    if (!path)
        return KD_ERR_NOMEM;
    cJSON *root = NULL;
    kd_status status = check_seal(path);
    if (status == KD_OK)
        status = kd_json_read_file(path, &root);
    if (status == KD_OK)
        status = read_root(path, root, manifest);
    cJSON_Delete(root);
    free(path);
    if (status != KD_OK)
        kd_cache_manifest_free(manifest);
    return status;
}

void kd_cache_manifest_free(cache_manifest *manifest)
{
    free(manifest->shards);
    manifest->shards = NULL;
    manifest->shard_count = 0;
}

kd_status kd_cache_manifest_copy(cache_manifest *to, const cache_manifest *from)
{
    *to = *from;
    to->shards = kd_alloc((size_t)from->shard_count, sizeof(cache_shard_info), "cache manifest");
    if (!to->shards)
        return KD_ERR_NOMEM;
    memcpy(to->shards, from->shards, (size_t)from->shard_count * sizeof(cache_shard_info));
    return KD_OK;
}

/* ---- compatibility and printing ------------------------------------------------ */

/* Appends "name" to the list of differing fields and "name: cache X,
 * expected Y" to the details. */
typedef struct {
    char names[256];
    char details[768];
    size_t names_used, details_used;
} difference_list;

static void note_difference(difference_list *list, const char *name, const char *cached,
                            const char *expected)
{
    int n = snprintf(list->names + list->names_used, sizeof list->names - list->names_used,
                     "%s%s", list->names_used ? ", " : "", name);
    int d = snprintf(list->details + list->details_used,
                     sizeof list->details - list->details_used, "%s%s: cache %s, expected %s",
                     list->details_used ? "; " : "", name, cached, expected);
    list->names_used += (size_t)n;
    list->details_used += (size_t)d;
    if (list->names_used >= sizeof list->names)
        list->names_used = sizeof list->names - 1;
    if (list->details_used >= sizeof list->details)
        list->details_used = sizeof list->details - 1;
}

static void compare_hash(difference_list *list, const char *name, uint64_t cached,
                         uint64_t expected)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%016" PRIx64, cached);
    snprintf(b, sizeof b, "%016" PRIx64, expected);
    if (cached != expected)
        note_difference(list, name, a, b);
}

kd_status kd_cache_check_compatible(const cache_manifest *manifest, const cache_identity *expected,
                                    const char *dir)
{
    const cache_identity *cached = &manifest->identity;
    difference_list list = {.names = ""};
    char a[64], b[64];
    compare_hash(&list, "teacher weights", cached->teacher, expected->teacher);
    compare_hash(&list, "tokenizer", cached->tokenizer, expected->tokenizer);
    compare_hash(&list, "data", cached->data, expected->data);
    compare_hash(&list, "template", cached->template_hash, expected->template_hash);
    if (cached->seq_len != expected->seq_len) {
        snprintf(a, sizeof a, "%d", cached->seq_len);
        snprintf(b, sizeof b, "%d", expected->seq_len);
        note_difference(&list, "sequence length", a, b);
    }
    if (cached->split_seed != expected->split_seed ||
        cached->validation_fraction != expected->validation_fraction ||
        strcmp(cached->part, expected->part) != 0) {
        snprintf(a, sizeof a, "%s part, seed %" PRIu64 ", validation %g", cached->part,
                 cached->split_seed, cached->validation_fraction);
        snprintf(b, sizeof b, "%s part, seed %" PRIu64 ", validation %g", expected->part,
                 expected->split_seed, expected->validation_fraction);
        note_difference(&list, "split", a, b);
    }
    if (!list.names[0])
        return KD_OK;
    return kd_fail(KD_ERR_INVALID, "%s: the cache was made from a different %s (%s); rebuild it "
                   "with 'kd teacher cache'", dir, list.names, list.details);
}

void kd_cache_manifest_print(const cache_manifest *m, FILE *out)
{
    const cache_identity *id = &m->identity;
    const cache_stats *st = &m->stats;
    fprintf(out, "format              kd-logit-cache v%d (run %016" PRIx64 ")\n", m->version,
            m->run_key);
    fprintf(out, "teacher             %016" PRIx64 "\n", id->teacher);
    if (m->teacher_dir[0])
        fprintf(out, "teacher directory   %s\n", m->teacher_dir);
    fprintf(out, "teacher precision   %s\n", m->teacher_precision);
    fprintf(out, "tokenizer           %016" PRIx64 "\n", id->tokenizer);
    fprintf(out, "data                %016" PRIx64 "\n", id->data);
    fprintf(out, "template            %016" PRIx64 "\n", id->template_hash);
    fprintf(out, "sequence length     %d\n", id->seq_len);
    fprintf(out, "split               %s (seed %" PRIu64 ", validation %g)\n", id->part,
            id->split_seed, id->validation_fraction);
    fprintf(out, "top-k               %d\n", m->encoding.topk);
    fprintf(out, "samples             %d (seed %" PRIu64 ")\n", m->encoding.samples,
            m->encoding.sample_seed);
    fprintf(out, "values              %s, step %g nats, max error %g nats; ids %s\n",
            MANIFEST_VALUE_TYPE, CACHE_CODE_STEP, CACHE_LOGPROB_MAX_ERROR,
            m->vocab_size <= 65536 ? "u16" : "u32");
    fprintf(out, "vocabulary          %d\n", m->vocab_size);
    fprintf(out, "zstd level          %d\n", m->encoding.zstd_level);
    fprintf(out, "examples            %" PRIu64 " in %d shards\n", m->examples, m->shard_count);
    fprintf(out, "cached tokens       %" PRIu64 "\n", m->positions);
    fprintf(out, "bytes per token     %.2f compressed, %.2f raw\n", st->bytes_per_token,
            st->raw_bytes_per_token);
    fprintf(out, "compression ratio   %.2f\n", st->compression_ratio);
    fprintf(out, "top-k mass          mean %.4f, 5th percentile %.4f\n", st->topk_mass_mean,
            st->topk_mass_p5);
    fprintf(out, "write throughput    %.0f tokens/s, %.2f MB/s\n", st->write_tokens_per_s,
            st->write_mb_per_s);
    fprintf(out, "read throughput     %.0f tokens/s (shuffled)\n", st->read_tokens_per_s);
    if (st->teacher_tokens_per_s > 0)
        fprintf(out, "teacher forward     %.0f tokens/s (reading is %.0fx faster)\n",
                st->teacher_tokens_per_s, st->read_tokens_per_s / st->teacher_tokens_per_s);
    if (st->teacher_input_tokens_per_s > 0)
        fprintf(out, "teacher input       %.0f tokens/s, padding ratio %.3f\n",
                st->teacher_input_tokens_per_s, st->padding_ratio);
}
