/* q8_0 quantization of activation rows with AVX-512: every input row of
 * every product goes through it, and the reference loop in blocks.c (a
 * maximum, a division and roundf per value) does not vectorize. The bytes
 * are the reference's for every finite input: the same maximum, the same
 * d and 1 / d in scalar float, the same products, and roundf's ties away
 * from zero as truncation plus a step where the remainder is at least a
 * half (exact, as |x / d| <= 127). */
#if defined(__x86_64__)
#include "kernels.h"
#include "x86_blocks.h"

/* roundf of each lane. */
KD_AVX512_TARGET static inline __m512 round_away(__m512 v)
{
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 half = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)),
                                        _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 step = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)),
        _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    return _mm512_mask_add_ps(t, half, t, step);
}

KD_AVX512_TARGET static inline void store_q(__m512 v, __m512 id, int8_t *q)
{
    __m128i bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(_mm512_mul_ps(v, id))));
    _mm_storeu_si128((__m128i *)q, bytes);
}

KD_AVX512_TARGET void kd_quantize_row_q8_0_avx512(const float *x, kd_block_q8_0 *y, size_t n)
{
    for (size_t b = 0; b < n / KD_QBLOCK; b++, x += KD_QBLOCK) {
        __m512 low = _mm512_loadu_ps(x), high = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(low), _mm512_abs_ps(high)));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = kd_float_to_float16(d);
        store_q(low, _mm512_set1_ps(id), y[b].qs);
        store_q(high, _mm512_set1_ps(id), y[b].qs + 16);
    }
}
#endif
