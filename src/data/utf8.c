/* UTF-8 checking for the data readers. */
#include "data_internal.h"

#include <stdint.h>

/* Length of the UTF-8 sequence starting at text[0] (at most `left` bytes),
 * or 0 when it is not a valid one. */
static size_t utf8_sequence_length(const unsigned char *text, size_t left)
{
    unsigned char lead = text[0];
    if (lead < 0x80)
        return 1;
    size_t length;
    unsigned char low = 0x80, high = 0xBF; /* allowed range of the 2nd byte */
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0; /* overlong */
        if (lead == 0xED)
            high = 0x9F; /* UTF-16 surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90; /* overlong */
        if (lead == 0xF4)
            high = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (left < length || text[1] < low || text[1] > high)
        return 0;
    for (size_t i = 2; i < length; i++)
        if ((text[i] & 0xC0) != 0x80)
            return 0;
    return length;
}

size_t kd_utf8_invalid_offset(const char *text, size_t length)
{
    const unsigned char *bytes = (const unsigned char *)text;
    size_t at = 0;
    while (at < length) {
        size_t step = utf8_sequence_length(bytes + at, length - at);
        if (step == 0)
            return at;
        at += step;
    }
    return length;
}
