/* GPT-2's byte alphabet. vocab.json and merges.txt cannot hold raw bytes, so
 * GPT-2 spells each byte as a printable character: the printable Latin-1
 * bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) as themselves, and the
 * other 68 bytes, in increasing order, as U+0100..U+0143 (so ' ' is 'Ġ',
 * U+0120, and '\n' is 'Ċ', U+010A). This is bytes_to_unicode() of OpenAI's
 * encoder.py, inverted. */
#include "tokenizer_internal.h"

int kd_byte_unicode_decode(uint32_t codepoint)
{
    if ((codepoint >= 0x21 && codepoint <= 0x7E) || (codepoint >= 0xA1 && codepoint <= 0xAC) ||
        (codepoint >= 0xAE && codepoint <= 0xFF))
        return (int)codepoint;
    if (codepoint >= 0x100 && codepoint <= 0x120)   /* bytes 0x00..0x20 */
        return (int)(codepoint - 0x100);
    if (codepoint >= 0x121 && codepoint <= 0x142)   /* bytes 0x7F..0xA0 */
        return (int)(codepoint - 0x121 + 0x7F);
    if (codepoint == 0x143)                         /* byte 0xAD, the soft hyphen */
        return 0xAD;
    return -1;
}

/* Decodes one UTF-8 character (for the alphabet check and its message);
 * returns its length, or 0 when the bytes are not UTF-8. */
static int decode_utf8(const uint8_t *text, size_t length, uint32_t *codepoint)
{
    int width = text[0] < 0x80 ? 1 : (text[0] & 0xE0) == 0xC0 ? 2
              : (text[0] & 0xF0) == 0xE0 ? 3 : (text[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (width == 0 || (size_t)width > length)
        return 0;
    *codepoint = width == 1 ? text[0] : text[0] & (0x7Fu >> width);
    for (int i = 1; i < width; i++) {
        if ((text[i] & 0xC0) != 0x80)
            return 0;
        *codepoint = *codepoint << 6 | (text[i] & 0x3Fu);
    }
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000}; /* no overlong forms */
    return *codepoint >= smallest[width] ? width : 0;
}

kd_status kd_byte_unicode_to_bytes(const char *spelling, size_t length, uint8_t *out,
                                   size_t *out_length)
{
    const uint8_t *text = (const uint8_t *)spelling;
    size_t used = 0;
    for (size_t i = 0; i < length;) {
        uint32_t codepoint = 0;
        int width = decode_utf8(text + i, length - i, &codepoint);
        int byte = width ? kd_byte_unicode_decode(codepoint) : -1;
        if (byte < 0) {
            if (width)
                return kd_fail(KD_ERR_FORMAT, "character U+%04X at byte %zu is not one of "
                               "GPT-2's byte characters", (unsigned)codepoint, i);
            return kd_fail(KD_ERR_FORMAT, "byte 0x%02X at byte %zu is not UTF-8", text[i], i);
        }
        out[used++] = (uint8_t)byte;
        i += (size_t)width;
    }
    *out_length = used;
    return KD_OK;
}

uint32_t kd_byte_unicode_encode(int byte)
{
    if ((byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE)
        return (uint32_t)byte;
    if (byte <= 0x20)
        return 0x100u + (uint32_t)byte;
    if (byte <= 0xA0)
        return 0x121u + (uint32_t)(byte - 0x7F);
    return 0x143;  /* 0xAD */
}
