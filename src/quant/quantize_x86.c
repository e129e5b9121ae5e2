/* q8_0 quantization of activation rows with AVX-512 and with AVX2: every
 * input row of every product goes through it, and the reference loop in
 * blocks.c (a maximum, a division and roundf per value) does not vectorize.
 * The bytes are the reference's for every finite input: the same maximum,
 * the same d and 1 / d in scalar float, the same products, and roundf's
 * ties away from zero as truncation plus a step where the remainder is at
 * least a half (exact, as |x / d| <= 127). */
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

/* roundf of each lane. */
KD_AVX2_TARGET static inline __m256 round_away8(__m256 v)
{
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 half = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)),
                                _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(half, step));
}

KD_AVX2_TARGET static inline __m256i quantize8(__m256 v, __m256 id)
{
    return _mm256_cvttps_epi32(round_away8(_mm256_mul_ps(v, id)));
}

KD_AVX2_TARGET void kd_quantize_row_q8_0_avx2(const float *x, kd_block_q8_0 *y, size_t n)
{
    __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < n / KD_QBLOCK; b++, x += KD_QBLOCK) {
        __m256 v[4], top = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            top = _mm256_max_ps(top, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        float d = _mm_cvtss_f32(m) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = kd_float_to_float16(d);
        __m256 ids = _mm256_set1_ps(id);
        /* packing works within 128-bit halves: values 0-3, 8-11, 16-19,
         * 24-27, then 4-7, ...; the permutation puts them back in order */
        __m256i low = _mm256_packs_epi32(quantize8(v[0], ids), quantize8(v[1], ids));
        __m256i high = _mm256_packs_epi32(quantize8(v[2], ids), quantize8(v[3], ids));
        __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high),
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, bytes);
    }
}
#endif
