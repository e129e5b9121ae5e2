/* q8_0 and q4_0 blocks exactly as ggml's reference quantizers make them
 * (quantize_row_q8_0_ref, quantize_row_q4_0_ref), so that a file kd writes
 * holds the bytes llama.cpp would have written for the same floats. */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* roundf (ties away from zero) in a form the compiler vectorizes: roundf
 * and fmaxf are library calls, and every prompt row of every product goes
 * through here. |v| <= 127, so v - truncf(v) is exact. */
static inline float round_away(float v)
{
    float t = truncf(v);
    return fabsf(v - t) >= 0.5f ? t + copysignf(1.0f, v) : t;
}

void kd_quantize_row_q8_0(const float *x, kd_block_q8_0 *y, size_t n)
{
#if defined(__x86_64__)
    kd_qkernel kernel = kd_qkernel_current();
    if (kernel >= KD_QKERNEL_AVX512) {
        kd_quantize_row_q8_0_avx512(x, y, n);
        return;
    }
    if (kernel == KD_QKERNEL_AVX2) {
        kd_quantize_row_q8_0_avx2(x, y, n);
        return;
    }
#endif
    for (size_t b = 0; b < n / KD_QBLOCK; b++, x += KD_QBLOCK) {
        /* fmaxf(amax, |x|) without the call; NaNs are skipped alike */
        float amax = 0.0f;
        for (int j = 0; j < KD_QBLOCK; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = kd_float_to_float16(d);
        for (int j = 0; j < KD_QBLOCK; j++)
            y[b].qs[j] = (int8_t)round_away(x[j] * id);
    }
}

void kd_dequantize_row_q8_0(const kd_block_q8_0 *x, float *y, size_t n)
{
    for (size_t b = 0; b < n / KD_QBLOCK; b++, y += KD_QBLOCK) {
        float d = kd_float16_to_float(x[b].d);
        for (int j = 0; j < KD_QBLOCK; j++)
            y[j] = x[b].qs[j] * d;
    }
}

/* The 4-bit code of x * id: 8.5 shifts to unsigned and rounds, the int8 cast
 * truncates as ggml's does, and 15 caps the one value (+max) that lands on 16. */
static uint8_t q4_code(float x, float id)
{
    int8_t q = (int8_t)(x * id + 8.5f);
    return (uint8_t)(q < 15 ? q : 15);
}

void kd_quantize_row_q4_0(const float *x, kd_block_q4_0 *y, size_t n)
{
    enum { HALF = KD_QBLOCK / 2 };
    for (size_t b = 0; b < n / KD_QBLOCK; b++, x += KD_QBLOCK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < KD_QBLOCK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = kd_float_to_float16(d);
        for (int j = 0; j < HALF; j++)
            y[b].qs[j] = (uint8_t)(q4_code(x[j], id) | q4_code(x[j + HALF], id) << 4);
    }
}

void kd_dequantize_row_q4_0(const kd_block_q4_0 *x, float *y, size_t n)
{
    enum { HALF = KD_QBLOCK / 2 };
    for (size_t b = 0; b < n / KD_QBLOCK; b++, y += KD_QBLOCK) {
        float d = kd_float16_to_float(x[b].d);
        for (int j = 0; j < HALF; j++) {
            y[j] = ((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + HALF] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

static const char *const type_names[] = {"f32", "q8_0", "q4_0"};

const char *kd_qtype_name(kd_qtype type)
{
    return type_names[type];
}

kd_status kd_qtype_parse(const char *name, kd_qtype *type)
{
    for (int t = 0; t < (int)KD_COUNTOF(type_names); t++)
        if (strcmp(name, type_names[t]) == 0) {
            *type = (kd_qtype)t;
            return KD_OK;
        }
    return kd_fail(KD_ERR_INVALID, "unknown weight type \"%s\" (f32, q8_0 or q4_0)", name);
}

size_t kd_qtype_row_bytes(kd_qtype type, size_t n)
{
    switch (type) {
    case KD_QTYPE_Q8_0:
        return n / KD_QBLOCK * sizeof(kd_block_q8_0);
    case KD_QTYPE_Q4_0:
        return n / KD_QBLOCK * sizeof(kd_block_q4_0);
    default:
        return n * sizeof(float);
    }
}
