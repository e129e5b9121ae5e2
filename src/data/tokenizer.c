/* Loading and freeing the tokenizer, decoding, and the small queries. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills a new tokenizer's vocabulary and merges from `input`, feeding them to `hash`. */
typedef kd_status (*tokenizer_fill)(kd_tokenizer *tokenizer, const void *input,
                                    XXH3_state_t *hash);

/* What every tokenizer needs beyond its vocabulary and merges, whatever they come from. */
static kd_status tokenizer_create(tokenizer_fill fill, const void *input, kd_tokenizer **out)
{
    *out = NULL;
    kd_tokenizer *tokenizer = kd_alloc(1, sizeof *tokenizer, "tokenizer");
    XXH3_state_t *hash = XXH3_createState();
    if (!tokenizer || !hash) {
        free(tokenizer);
        XXH3_freeState(hash);
        return kd_fail(KD_ERR_NOMEM, "cannot allocate a tokenizer");
    }
    XXH3_64bits_reset(hash);
    kd_status status = fill(tokenizer, input, hash);
    if (status == KD_OK)
        status = kd_bpe_find_whole_tokens(tokenizer);
    if (status == KD_OK)
        status = kd_pretokenizer_compile(&tokenizer->pretokenizer);
    tokenizer->hash = XXH3_64bits_digest(hash);
    XXH3_freeState(hash);
    if (status != KD_OK) {
        kd_tokenizer_free(tokenizer);
        return status;
    }
    *out = tokenizer;
    return KD_OK;
}

typedef struct {
    const char *vocab_path, *merges_path;
} tokenizer_files;

static kd_status fill_from_files(kd_tokenizer *tokenizer, const void *input, XXH3_state_t *hash)
{
    const tokenizer_files *files = input;
    kd_status status = kd_vocab_parse(tokenizer, files->vocab_path, hash);
    if (status == KD_OK)
        status = kd_merges_parse(tokenizer, files->merges_path, hash);
    return status;
}

kd_status kd_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                                  kd_tokenizer **out)
{
    tokenizer_files files = {vocab_path, merges_path};
    return tokenizer_create(fill_from_files, &files, out);
}

static kd_status fill_from_spelling(kd_tokenizer *tokenizer, const void *input,
                                    XXH3_state_t *hash)
{
    const tokenizer_spelling *spelling = input;
    kd_status status = kd_vocab_store(tokenizer, spelling->source,
                                      (const char *const *)spelling->tokens,
                                      spelling->token_count, hash);
    if (status == KD_OK)
        status = kd_merges_store(tokenizer, spelling->source,
                                 (const char *const *)spelling->merges, spelling->merge_count,
                                 hash);
    return status;
}

kd_status kd_tokenizer_from_spelling(const tokenizer_spelling *spelling, kd_tokenizer **out)
{
    return tokenizer_create(fill_from_spelling, spelling, out);
}

kd_status kd_tokenizer_load(const char *dir, kd_tokenizer **out)
{
    /* Room for "dir/" and either name. */
    size_t length =
        strlen(dir) + sizeof "/" KD_TOKENIZER_VOCAB_FILE + sizeof KD_TOKENIZER_MERGES_FILE;
    char *vocab_path = kd_alloc(length, 1, "path");
    char *merges_path = kd_alloc(length, 1, "path");
    kd_status status = KD_ERR_NOMEM;
    if (vocab_path && merges_path) {
        snprintf(vocab_path, length, "%s/" KD_TOKENIZER_VOCAB_FILE, dir);
        snprintf(merges_path, length, "%s/" KD_TOKENIZER_MERGES_FILE, dir);
        status = kd_tokenizer_load_files(vocab_path, merges_path, out);
    }
    free(vocab_path);
    free(merges_path);
    return status;
}

void kd_tokenizer_free(kd_tokenizer *tokenizer)
{
    if (!tokenizer)
        return;
    free(tokenizer->token_bytes);
    free(tokenizer->token_offsets);
    free(tokenizer->encodes_to_itself);
    kd_token_index_free(&tokenizer->index);
    kd_merge_table_free(&tokenizer->merges);
    pcre2_code_free(tokenizer->pretokenizer);
    free(tokenizer);
}

kd_status kd_tokenizer_decode(const kd_tokenizer *tokenizer, const int *ids, size_t count,
                              char **text, size_t *length)
{
    *text = NULL;
    *length = 0;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= tokenizer->vocab_size)
            return kd_fail(KD_ERR_INVALID, "token id %d (at position %zu) is outside the "
                           "vocabulary 0..%d", ids[i], i, tokenizer->vocab_size - 1);
        total += tokenizer->token_offsets[ids[i] + 1] - tokenizer->token_offsets[ids[i]];
    }
    char *decoded = kd_alloc(total + 1, 1, "decoded text");
    if (!decoded)
        return KD_ERR_NOMEM;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        size_t start = tokenizer->token_offsets[ids[i]];
        size_t bytes = tokenizer->token_offsets[ids[i] + 1] - start;
        memcpy(decoded + used, tokenizer->token_bytes + start, bytes);
        used += bytes;
    }
    decoded[used] = '\0';
    *text = decoded;
    *length = used;
    return KD_OK;
}

int kd_tokenizer_vocab_size(const kd_tokenizer *tokenizer)
{
    return tokenizer->vocab_size;
}

int kd_tokenizer_token_id(const kd_tokenizer *tokenizer, const char *token)
{
    return kd_tokenizer_find_bytes(tokenizer, (const uint8_t *)token, strlen(token));
}

uint64_t kd_tokenizer_hash(const kd_tokenizer *tokenizer)
{
    return tokenizer->hash;
}
