/* A loaded tokenizer back in GPT-2's spelling, for files that store the
 * vocabulary and merges as text (GGUF): each token's bytes spelled with
 * GPT-2's byte characters, the merges rebuilt in rank order from the table. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* Every spelled byte takes at most two UTF-8 bytes (code points < 0x800). */
static size_t spell_bytes(const uint8_t *bytes, size_t length, char *out)
{
    size_t used = 0;
    for (size_t i = 0; i < length; i++) {
        uint32_t codepoint = kd_byte_unicode_encode(bytes[i]);
        if (codepoint < 0x80) {
            out[used++] = (char)codepoint;
        } else {
            out[used++] = (char)(0xC0 | codepoint >> 6);
            out[used++] = (char)(0x80 | (codepoint & 0x3F));
        }
    }
    return used;
}

static size_t token_length(const kd_tokenizer *tokenizer, int id)
{
    return tokenizer->token_offsets[id + 1] - tokenizer->token_offsets[id];
}

static size_t spell_token(const kd_tokenizer *tokenizer, int id, char *out)
{
    return spell_bytes(tokenizer->token_bytes + tokenizer->token_offsets[id],
                       token_length(tokenizer, id), out);
}

/* The pointers then the strings, in one allocation. */
static char **string_block(int count, size_t text_bytes)
{
    return kd_alloc((size_t)count * sizeof(char *) + text_bytes, 1, "spelled tokens");
}

static kd_status spell_tokens(const kd_tokenizer *tokenizer, tokenizer_spelling *spelling)
{
    int count = tokenizer->vocab_size;
    size_t text_bytes = 2 * tokenizer->token_offsets[count] + (size_t)count;
    char **tokens = string_block(count, text_bytes);
    if (!tokens)
        return KD_ERR_NOMEM;
    char *text = (char *)(tokens + count);
    for (int id = 0; id < count; id++) {
        tokens[id] = text;
        text += spell_token(tokenizer, id, text);
        *text++ = '\0';
    }
    spelling->tokens = tokens;
    spelling->token_count = count;
    return KD_OK;
}

static kd_status spell_merges(const kd_tokenizer *tokenizer, tokenizer_spelling *spelling)
{
    int count = tokenizer->merge_count;
    const merge_entry **by_rank = kd_alloc((size_t)count + 1, sizeof *by_rank, "merge order");
    if (!by_rank)
        return KD_ERR_NOMEM;
    size_t text_bytes = 0;
    for (size_t slot = 0; slot <= tokenizer->merges.mask; slot++) {
        const merge_entry *entry = &tokenizer->merges.entries[slot];
        if (entry->pair == MERGE_EMPTY)
            continue;
        by_rank[entry->rank] = entry;
        text_bytes += 2 * (token_length(tokenizer, (int)(entry->pair >> 32)) +
                           token_length(tokenizer, (int)(uint32_t)entry->pair)) + 2;
    }
    char **merges = string_block(count, text_bytes);
    if (!merges) {
        free(by_rank);
        return KD_ERR_NOMEM;
    }
    char *text = (char *)(merges + count);
    for (int rank = 0; rank < count; rank++) {
        merges[rank] = text;
        text += spell_token(tokenizer, (int)(by_rank[rank]->pair >> 32), text);
        *text++ = ' ';
        text += spell_token(tokenizer, (int)(uint32_t)by_rank[rank]->pair, text);
        *text++ = '\0';
    }
    free(by_rank);
    spelling->merges = merges;
    spelling->merge_count = count;
    return KD_OK;
}

kd_status kd_tokenizer_spell(const kd_tokenizer *tokenizer, tokenizer_spelling *spelling)
{
    memset(spelling, 0, sizeof *spelling);
    kd_status status = spell_tokens(tokenizer, spelling);
    if (status == KD_OK)
        status = spell_merges(tokenizer, spelling);
    if (status != KD_OK)
        kd_tokenizer_spelling_free(spelling);
    return status;
}

void kd_tokenizer_spelling_free(tokenizer_spelling *spelling)
{
    free(spelling->tokens);
    free(spelling->merges);
    memset(spelling, 0, sizeof *spelling);
}
