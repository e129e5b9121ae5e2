/* Fuzz target: the token ids `kd tokenize --decode` reads, decoded with a
 * small byte-level tokenizer; decoded text that is valid UTF-8 must encode
 * to ids that decode back to the same bytes.
 * Input: the ids text (whitespace-separated decimal numbers). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"

static void check_round_trip(const kd_tokenizer *tokenizer, const char *text, size_t length)
{
    kd_token_buffer ids = {0};
    kd_status status = tokenizer_encode(tokenizer, text, length, &ids);
    if (status == KD_OK) {
        char *again = NULL;
        size_t again_length = 0;
        FUZZ_CHECK(tokenizer_decode(tokenizer, ids.ids, ids.count, &again, &again_length) ==
                   KD_OK);
        FUZZ_CHECK(again_length == length && memcmp(again, text, length) == 0);
        free(again);
    } else {
        fuzz_check_refusal(status); /* decoded bytes need not be UTF-8 */
    }
    token_buffer_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const kd_tokenizer *tokenizer = fuzz_tiny_tokenizer();
    kd_token_buffer ids = {0};
    kd_status status = token_ids_parse((const char *)data, size, &ids);
    char *text = NULL;
    size_t length = 0;
    if (status == KD_OK)
        status = tokenizer_decode(tokenizer, ids.ids, ids.count, &text, &length);
    if (status == KD_OK)
        check_round_trip(tokenizer, text, length);
    else
        fuzz_check_refusal(status);
    free(text);
    token_buffer_free(&ids);
    return 0;
}
