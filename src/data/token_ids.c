/* Token ids as text: what `kd tokenize` prints and `kd tokenize --decode`
 * reads back. The text comes from users and files, so it is parsed with
 * explicit bounds (no NUL terminator assumed) and every word is checked. */
#include "kd/tokenizer.h"

#include <stdint.h>

enum { QUOTE_MAX = 40 };

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The id spelled by text[0 .. length): decimal digits only, at most
 * INT32_MAX; -1 for anything else. */
static int64_t parse_id(const char *text, size_t length)
{
    int64_t id = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        id = id * 10 + (text[i] - '0');
        if (id > INT32_MAX)
            return -1;
    }
    return id;
}

kd_status kd_token_ids_parse(const char *text, size_t length, kd_token_buffer *ids)
{
    size_t count_before = ids->count;
    const char *cursor = text, *end = text + length;
    for (size_t word = 1;; word++) {
        while (cursor < end && is_space(*cursor))
            cursor++;
        if (cursor == end)
            return KD_OK;
        const char *word_end = cursor;
        while (word_end < end && !is_space(*word_end) && *word_end != '\0')
            word_end++;
        if (word_end < end && *word_end == '\0') {
            ids->count = count_before;
            return kd_fail(KD_ERR_INVALID, "a NUL byte (byte %td) among the token ids",
                           word_end - text);
        }
        size_t word_length = (size_t)(word_end - cursor);
        int64_t id = parse_id(cursor, word_length);
        if (id < 0) {
            ids->count = count_before;
            return kd_fail(KD_ERR_INVALID, "'%.*s' (word %zu) is not a token id",
                           (int)(word_length > QUOTE_MAX ? QUOTE_MAX : word_length), cursor, word);
        }
        kd_status status = kd_token_buffer_push(ids, (int)id);
        if (status != KD_OK) {
            ids->count = count_before;
            return status;
        }
        cursor = word_end;
    }
}
