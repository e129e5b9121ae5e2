/* The cache's value grid: 12-bit codes of step 2^-7 nats, and their packing
 * two codes to three bytes. A uniform grid in log space gives every
 * probability the same relative error (at most 2^-8 nats, 0.39 %), which is
 * what a KL divergence is sensitive to. */
#include <math.h>

#include "cache_format.h"

static uint16_t grid_code(float magnitude)
{
    /* NaN fails both comparisons and lands on the largest code. */
    if (magnitude <= 0.0f)
        return 0;
    if (!(magnitude < (float)CACHE_CODE_MAX * CACHE_CODE_STEP))
        return CACHE_CODE_MAX;
    return (uint16_t)lrintf(magnitude / CACHE_CODE_STEP);
}

uint16_t kd_logprob_to_code(float logprob)
{
    return grid_code(-logprob);
}

float kd_code_to_logprob(uint32_t code)
{
    return -(float)code * CACHE_CODE_STEP;
}

uint16_t kd_nats_to_code(float nats)
{
    return grid_code(nats);
}

float kd_code_to_nats(uint32_t code)
{
    return (float)code * CACHE_CODE_STEP;
}

size_t kd_codes_packed_bytes(size_t count)
{
    return (count + 1) / 2 * 3;
}

void kd_codes_pack(const uint16_t *codes, size_t count, uint8_t *out)
{
    for (size_t i = 0; i < count; i += 2) {
        uint32_t a = codes[i] & CACHE_CODE_MAX;
        uint32_t b = i + 1 < count ? codes[i + 1] & CACHE_CODE_MAX : 0;
        *out++ = (uint8_t)a;
        *out++ = (uint8_t)(a >> 8 | b << 4);
        *out++ = (uint8_t)(b >> 4);
    }
}

void kd_codes_unpack(const uint8_t *in, size_t count, uint16_t *codes)
{
    for (size_t i = 0; i < count; i += 2, in += 3) {
        codes[i] = (uint16_t)(in[0] | (in[1] & 0x0F) << 8);
        if (i + 1 < count)
            codes[i + 1] = (uint16_t)(in[1] >> 4 | in[2] << 4);
    }
}
