/* Fuzz target: a tokenizer's vocab.json and merges.txt, then encoding a
 * text with what loaded: whatever the vocabulary and merges, valid UTF-8
 * must encode to ids that decode to the same bytes.
 * Input: vocab.json, a NUL byte, merges.txt, a NUL byte, the text (the
 * files cannot hold a NUL byte, so the cut is unambiguous). */
#include "fuzz.h"

#include <stdlib.h>

#include "kd/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *parts[3];
    size_t sizes[3];
    if (fuzz_split(data, size, '\0', parts, sizes, 3) != 3)
        return 0;
    fuzz_write_temp("vocab.json", parts[0], sizes[0]);
    fuzz_write_temp("merges.txt", parts[1], sizes[1]);
    kd_tokenizer *tokenizer = NULL;
    kd_status status = kd_tokenizer_load(fuzz_temp_dir(), &tokenizer);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    fuzz_check_round_trip(tokenizer, (const char *)parts[2], sizes[2]);
    int end_of_text = kd_tokenizer_token_id(tokenizer, "<|endoftext|>");
    FUZZ_CHECK(end_of_text >= -1 && end_of_text < kd_tokenizer_vocab_size(tokenizer));
    kd_tokenizer_free(tokenizer);
    return 0;
}
