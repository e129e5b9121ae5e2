/* AVX2 dot products, one 32-value block per step. vpmaddubsw multiplies
 * unsigned by signed bytes, so each pair is rewritten as |x| * (y * sign x),
 * which leaves the product unchanged; the 16-bit pair sums (at most
 * 2 * 128 * 127) cannot saturate. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline float half_to_float(uint16_t half)
{
    return _cvtsh_ss(half);
}

/* x . y of 32 signed bytes as eight int32 partial sums in float. */
AVX2_TARGET static inline __m256 block_dot(__m256i x, __m256i y)
{
    __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(products, _mm256_set1_epi16(1)));
}

/* The 32 values of a q4_0 block as signed bytes q - 8, in element order. */
AVX2_TARGET static inline __m256i unpack_q4_0(const uint8_t *qs)
{
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m256i nibbles = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    nibbles = _mm256_and_si256(nibbles, _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
}

AVX2_TARGET static inline float sum_lanes(__m256 v)
{
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
}

AVX2_TARGET float kd_dot_q8_0_avx2(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / KD_QBLOCK; b++) {
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 scale = _mm256_set1_ps(half_to_float(x[b].d) * half_to_float(y[b].d));
        acc = _mm256_fmadd_ps(block_dot(qx, qy), scale, acc);
    }
    return sum_lanes(acc);
}

AVX2_TARGET float kd_dot_q4_0_avx2(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / KD_QBLOCK; b++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 scale = _mm256_set1_ps(half_to_float(x[b].d) * half_to_float(y[b].d));
        acc = _mm256_fmadd_ps(block_dot(unpack_q4_0(x[b].qs), qy), scale, acc);
    }
    return sum_lanes(acc);
}
#endif
