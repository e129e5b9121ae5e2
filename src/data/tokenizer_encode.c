/* Encoding: GPT-2's regex cuts the text into pieces, and each piece is
 * byte-pair merged on its own.
 *
 * GPT-2 ran its pattern through Python's `regex` module, where \s is the
 * Unicode White_Space property. PCRE2's \s (with PCRE2_UCP) also takes
 * U+180E MONGOLIAN VOWEL SEPARATOR, which stopped being a space in Unicode
 * 6.3, so the pattern below spells \s as \p{White_Space} and \S as
 * \P{White_Space}; with no \s, \w or \b left, PCRE2_UCP would change nothing.
 * \p{L} and \p{N} follow the Unicode tables of the PCRE2 in use. */
#include "tokenizer_internal.h"

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+"
    "|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

kd_status kd_pretokenizer_compile(pcre2_code **out)
{
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    *out = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &error,
                         &error_offset, NULL);
    if (!*out) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        return kd_fail(KD_ERR_UNSUPPORTED, "PCRE2 cannot compile GPT-2's pattern at %zu: %s",
                       (size_t)error_offset, (const char *)message);
    }
    /* Without JIT support (some platforms, some builds) PCRE2 interprets the
     * pattern: slower, same pieces. */
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
    return KD_OK;
}

static kd_status match_failure(int code, pcre2_match_data *match, size_t offset)
{
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(code, message, sizeof message);
    if (code <= PCRE2_ERROR_UTF8_ERR1 && code >= PCRE2_ERROR_UTF8_ERR21)
        return kd_fail(KD_ERR_FORMAT, "invalid UTF-8 at byte offset %zu: %s",
                       (size_t)pcre2_get_startchar(match), (const char *)message);
    return kd_fail(KD_ERR_UNSUPPORTED, "pre-tokenizer failed at byte offset %zu: %s", offset,
                   (const char *)message);
}

kd_status kd_tokenizer_encode(const kd_tokenizer *tokenizer, const char *text, size_t length,
                              kd_token_buffer *out)
{
    pcre2_match_data *match = pcre2_match_data_create(1, NULL);
    if (!match)
        return kd_fail(KD_ERR_NOMEM, "cannot allocate PCRE2 match data");
    bpe_workspace workspace = {0};
    kd_status status = KD_OK;
    size_t first_id = out->count; /* on failure `out` is left as it was */
    /* The first match checks that the whole text is UTF-8; the rest skip it. */
    uint32_t options = 0;
    for (size_t offset = 0; offset < length && status == KD_OK;) {
        int found = pcre2_match(tokenizer->pretokenizer, (PCRE2_SPTR)text, length, offset,
                                options, match, NULL);
        if (found < 0) { /* NOMATCH too: the pattern matches every character */
            status = match_failure(found, match, offset);
            break;
        }
        options = PCRE2_NO_UTF_CHECK;
        const PCRE2_SIZE *piece = pcre2_get_ovector_pointer(match);
        status = kd_bpe_encode_piece(tokenizer, &workspace, (const uint8_t *)text + piece[0],
                                     piece[1] - piece[0], out);
        offset = piece[1];
    }
    if (status != KD_OK)
        out->count = first_id;
    kd_bpe_workspace_free(&workspace);
    pcre2_match_data_free(match);
    return status;
}
