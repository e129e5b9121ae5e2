/* Reading merges.txt: an optional "#version" first line, then one merge per
 * line, "left right" in GPT-2's byte spelling, highest priority first. Both
 * halves and their concatenation must be vocabulary tokens, so a merge can
 * always be applied, and no merge may appear twice. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

enum { QUOTE_MAX = 60 };

typedef struct {
    const char *path;
    int line;           /* 1-based, for messages */
    int first_line;     /* the line of the merge with rank 0 */
    uint8_t *scratch;   /* left's bytes then right's: together, the merged token */
} merges_reader;

/* The id of one half of a merge, converted into reader->scratch + offset. */
static kd_status find_half(const kd_tokenizer *tokenizer, merges_reader *reader,
                           const char *spelling, size_t length, size_t offset, int *id,
                           size_t *byte_length)
{
    int quote = length < QUOTE_MAX ? (int)length : QUOTE_MAX;
    if (length == 0)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: empty token (expected \"left right\")",
                       reader->path, reader->line);
    if (kd_byte_unicode_to_bytes(spelling, length, reader->scratch + offset, byte_length) != KD_OK)
        return kd_fail_context(KD_ERR_FORMAT, "%s:%d: token \"%.*s\"", reader->path,
                               reader->line, quote, spelling);
    *id = kd_tokenizer_find_bytes(tokenizer, reader->scratch + offset, *byte_length);
    if (*id < 0)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: token \"%.*s\" is not in the vocabulary",
                       reader->path, reader->line, quote, spelling);
    return KD_OK;
}

static kd_status add_merge(kd_tokenizer *tokenizer, merges_reader *reader, const char *line,
                           size_t length, XXH3_state_t *hash)
{
    const char *space = memchr(line, ' ', length);
    if (!space)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: one token where a merge needs two (\"left right\")",
                       reader->path, reader->line);
    size_t left_length = (size_t)(space - line), right_length = length - left_length - 1;
    if (memchr(space + 1, ' ', right_length))
        return kd_fail(KD_ERR_FORMAT, "%s:%d: more than one space (expected \"left right\")",
                       reader->path, reader->line);
    int left = -1, right = -1;
    size_t left_bytes = 0, right_bytes = 0;
    kd_status status = find_half(tokenizer, reader, line, left_length, 0, &left, &left_bytes);
    if (status == KD_OK)
        status = find_half(tokenizer, reader, space + 1, right_length, left_bytes, &right,
                           &right_bytes);
    if (status != KD_OK)
        return status;
    int merged = kd_tokenizer_find_bytes(tokenizer, reader->scratch, left_bytes + right_bytes);
    int quote = length < QUOTE_MAX ? (int)length : QUOTE_MAX;
    if (merged < 0)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: \"%.*s\" makes a token that is not in the "
                       "vocabulary", reader->path, reader->line, quote, line);
    uint64_t pair = merge_pair_key(left, right);
    merge_entry *entry = merge_table_slot(&tokenizer->merges, pair);
    if (entry->pair == pair)
        return kd_fail(KD_ERR_FORMAT, "%s:%d: \"%.*s\" repeats the merge on line %d",
                       reader->path, reader->line, quote, line,
                       entry->rank + reader->first_line);
    *entry = (merge_entry){.pair = pair, .rank = tokenizer->merge_count++, .merged = merged};
    hash_update_u32(hash, (uint32_t)left);
    hash_update_u32(hash, (uint32_t)right);
    return KD_OK;
}

static kd_status read_lines(kd_tokenizer *tokenizer, merges_reader *reader, const char *text,
                            size_t size, XXH3_state_t *hash)
{
    const char *end = text + size;
    for (const char *line = text; line < end; reader->line++) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = newline ? newline : end;
        const char *next = newline ? newline + 1 : end;
        size_t length = (size_t)(line_end - line);
        if (length > 0 && line[length - 1] == '\r')
            length--;
        if (reader->line == 1 && length >= 8 && memcmp(line, "#version", 8) == 0) {
            reader->first_line = 2;
        } else if (length == 0) {
            /* Only the newline that ends the last line may leave one empty. */
            if (next != end)
                return kd_fail(KD_ERR_FORMAT, "%s:%d: empty line", reader->path, reader->line);
        } else {
            kd_status status = add_merge(tokenizer, reader, line, length, hash);
            if (status != KD_OK)
                return status;
        }
        line = next;
    }
    return KD_OK;
}

kd_status kd_merges_parse(kd_tokenizer *tokenizer, const char *path, XXH3_state_t *hash)
{
    char *text = NULL;
    size_t size = 0;
    kd_status status = kd_read_file(path, KD_TEXT_FILE_MAX_BYTES, &text, &size);
    if (status != KD_OK)
        return status;
    size_t line_count = 1;
    for (size_t i = 0; i < size; i++)
        line_count += text[i] == '\n';
    merges_reader reader = {.path = path, .line = 1, .first_line = 1};
    status = kd_merge_table_create(&tokenizer->merges, line_count);
    if (status == KD_OK && !(reader.scratch = kd_alloc(size, 1, "merge line")))
        status = KD_ERR_NOMEM;
    if (status == KD_OK) {
        hash_update_u32(hash, UINT32_MAX); /* separates the merges from the tokens */
        status = read_lines(tokenizer, &reader, text, size, hash);
    }
    free(reader.scratch);
    free(text);
    return status;
}

kd_status kd_merges_store(kd_tokenizer *tokenizer, const char *source, const char *const *merges,
                          int count, XXH3_state_t *hash)
{
    size_t longest = 1;
    for (int i = 0; i < count; i++) {
        size_t length = strlen(merges[i]);
        longest = length > longest ? length : longest;
    }
    /* Messages number the merges from 1, as lines of merges.txt. */
    merges_reader reader = {.path = source, .line = 1, .first_line = 1};
    kd_status status = kd_merge_table_create(&tokenizer->merges, (size_t)count + 1);
    if (status == KD_OK && !(reader.scratch = kd_alloc(longest, 1, "merge")))
        status = KD_ERR_NOMEM;
    if (status == KD_OK)
        hash_update_u32(hash, UINT32_MAX);
    for (int i = 0; i < count && status == KD_OK; i++, reader.line++) {
        size_t length = strlen(merges[i]);
        status = length ? add_merge(tokenizer, &reader, merges[i], length, hash)
                        : kd_fail(KD_ERR_FORMAT, "%s:%d: empty merge", source, reader.line);
    }
    free(reader.scratch);
    return status;
}
