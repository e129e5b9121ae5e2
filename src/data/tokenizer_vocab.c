/* Reading vocab.json: one JSON object mapping each token, in GPT-2's byte
 * spelling, to its id. The ids must be exactly 0 .. n-1, each once, no two
 * tokens may stand for the same bytes, and every single byte needs a token
 * (encoding starts from bytes). */
#include "tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/io.h"

/* Checks each entry's id and files its spelling under that id in `by_id`. */
static kd_status collect_ids(const cJSON *root, const char *path, int count, const char **by_id)
{
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, root) {
        double value = cJSON_IsNumber(entry) ? entry->valuedouble : NAN;
        if (!(value >= 0 && value < count && value == floor(value)))
            return kd_fail(KD_ERR_INVALID, "%s: token \"%.60s\": id must be an integer in "
                           "0..%d (the number of tokens less one)", path, entry->string,
                           count - 1);
        int id = (int)value;
        if (by_id[id])
            return kd_fail(KD_ERR_INVALID, "%s: id %d is given to both \"%.60s\" and \"%.60s\"",
                           path, id, by_id[id], entry->string);
        by_id[id] = entry->string;
    }
    return KD_OK;
}

/* Lays the tokens' bytes out in id order, indexes them and hashes them. */
static kd_status store_tokens(kd_tokenizer *tokenizer, const char *path,
                              const char *const *by_id, XXH3_state_t *hash)
{
    int count = tokenizer->vocab_size;
    size_t spelled_bytes = 0;
    for (int id = 0; id < count; id++)
        spelled_bytes += strlen(by_id[id]);
    tokenizer->token_bytes = kd_alloc(spelled_bytes, 1, "token bytes");
    tokenizer->token_offsets = kd_alloc((size_t)count + 1, sizeof(size_t), "token offsets");
    if (!tokenizer->token_bytes || !tokenizer->token_offsets)
        return KD_ERR_NOMEM;
    hash_update_u32(hash, (uint32_t)count);
    for (int id = 0; id < count; id++) {
        const char *spelling = by_id[id];
        size_t start = tokenizer->token_offsets[id], length = 0;
        if (kd_byte_unicode_to_bytes(spelling, strlen(spelling), tokenizer->token_bytes + start,
                                     &length) != KD_OK)
            return kd_fail_context(KD_ERR_FORMAT, "%s: token \"%.60s\"", path, spelling);
        if (length == 0)
            return kd_fail(KD_ERR_FORMAT, "%s: id %d is the empty token", path, id);
        tokenizer->token_offsets[id + 1] = start + length;
        int previous = -1;
        if (kd_tokenizer_index_add(tokenizer, id, &previous) != KD_OK)
            return kd_fail(KD_ERR_INVALID, "%s: \"%.60s\" (id %d) and \"%.60s\" (id %d) are the "
                           "same token", path, by_id[previous], previous, spelling, id);
        if (length == 1)
            tokenizer->byte_tokens[tokenizer->token_bytes[start]] = id;
        hash_update_u32(hash, (uint32_t)length);
        XXH3_64bits_update(hash, tokenizer->token_bytes + start, length);
    }
    return KD_OK;
}

kd_status kd_vocab_store(kd_tokenizer *tokenizer, const char *source, const char *const *tokens,
                         int count, XXH3_state_t *hash)
{
    if (count < 256 || count > KD_FILE_MAX_COUNT)
        return kd_fail(KD_ERR_INVALID, "%s: %d tokens; a byte-level vocabulary has 256 to %d",
                       source, count, KD_FILE_MAX_COUNT);
    tokenizer->vocab_size = count;
    for (int byte = 0; byte < 256; byte++)
        tokenizer->byte_tokens[byte] = -1;
    kd_status status = kd_token_index_create(&tokenizer->index, count);
    if (status == KD_OK)
        status = store_tokens(tokenizer, source, tokens, hash);
    for (int byte = 0; status == KD_OK && byte < 256; byte++) {
        if (tokenizer->byte_tokens[byte] < 0)
            status = kd_fail(KD_ERR_INVALID, "%s: no token for the single byte 0x%02X", source,
                             byte);
    }
    return status;
}

kd_status kd_vocab_parse(kd_tokenizer *tokenizer, const char *path, XXH3_state_t *hash)
{
    cJSON *root = NULL;
    kd_status status = kd_json_read_file(path, &root);
    if (status != KD_OK)
        return status;
    const char **by_id = NULL;
    int count = cJSON_GetArraySize(root);
    if (!cJSON_IsObject(root))
        status = kd_fail(KD_ERR_FORMAT, "%s: expected a JSON object mapping tokens to ids", path);
    else if (count < 256 || count > KD_FILE_MAX_COUNT)
        status = kd_fail(KD_ERR_INVALID, "%s: %d tokens; a byte-level vocabulary has 256 to %d",
                         path, count, KD_FILE_MAX_COUNT);
    else if (!(by_id = kd_alloc((size_t)count, sizeof *by_id, "vocabulary")))
        status = KD_ERR_NOMEM;
    if (status == KD_OK)
        status = collect_ids(root, path, count, by_id);
    if (status == KD_OK)
        status = kd_vocab_store(tokenizer, path, by_id, count, hash);
    free(by_id);
    cJSON_Delete(root);
    return status;
}
