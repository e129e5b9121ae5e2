/* Fuzz target: the token ids `kd tokenize --decode` reads, decoded with a
 * small byte-level tokenizer; decoded text that is valid UTF-8 must encode
 * to ids that decode back to the same bytes.
 * Input: the ids text (whitespace-separated decimal numbers). */
#include "fuzz.h"

#include <stdlib.h>

#include "kd/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const kd_tokenizer *tokenizer = fuzz_tiny_tokenizer();
    kd_token_buffer ids = {0};
    kd_status status = kd_token_ids_parse((const char *)data, size, &ids);
    char *text = NULL;
    size_t length = 0;
    if (status == KD_OK)
        status = kd_tokenizer_decode(tokenizer, ids.ids, ids.count, &text, &length);
    if (status == KD_OK)
        fuzz_check_round_trip(tokenizer, text, length);
    else
        fuzz_check_refusal(status);
    free(text);
    kd_token_buffer_free(&ids);
    return 0;
}
