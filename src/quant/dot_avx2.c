/* AVX2 dot products, one 32-value block per step. vpmaddubsw multiplies
 * unsigned by signed bytes, so each pair is rewritten as |x| * (y * sign x),
 * which leaves the product unchanged; the 16-bit pair sums (at most
 * 2 * 128 * 127) cannot saturate. */
#if defined(__x86_64__)
#include "kernels.h"
#include "x86_blocks.h"

/* x . y of 32 signed bytes as eight int32 partial sums in float. */
KD_AVX2_TARGET static inline __m256 block_dot(__m256i x, __m256i y)
{
    __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(products, _mm256_set1_epi16(1)));
}

KD_AVX2_TARGET static inline __m256 block_scale(uint16_t dx, uint16_t dy)
{
    return _mm256_set1_ps(_cvtsh_ss(dx) * _cvtsh_ss(dy));
}

/* One kernel: its name, the block type of x and how one of its blocks loads. */
#define DEFINE_DOT(name, block_t, load)                                                          \
    KD_AVX2_TARGET float name(size_t n, const block_t *x, const kd_block_q8_0 *y)                \
    {                                                                                            \
        __m256 acc = _mm256_setzero_ps();                                                        \
        for (size_t b = 0; b < n / KD_QBLOCK; b++)                                               \
            acc = _mm256_fmadd_ps(block_dot(load(x + b), kd_load_q8_0(y + b)),                  \
                                  block_scale(x[b].d, y[b].d), acc);                             \
        return kd_sum_lanes256(acc);                                                             \
    }

DEFINE_DOT(kd_dot_q8_0_avx2, kd_block_q8_0, kd_load_q8_0)
DEFINE_DOT(kd_dot_q4_0_avx2, kd_block_q4_0, kd_load_q4_0)
#endif
