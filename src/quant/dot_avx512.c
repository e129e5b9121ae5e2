/* AVX-512 dot products, two 32-value blocks per 512-bit step. Without a
 * byte sign instruction, y is negated under the mask of x's sign bits and x
 * replaced by |x|, which leaves each product unchanged and makes x unsigned:
 * AVX-512BW then multiplies with vpmaddubsw + vpmaddwd, AVX-512 VNNI with
 * one vpdpbusd (the "unsigned times signed" form it has). Both are built
 * from the one loop below for each block type; an odd last block goes to
 * the AVX2 kernel. */
#if defined(__x86_64__)
#include "kernels.h"
#include "x86_blocks.h"

/* Eight int32 sums per block of two blocks' |x| . (y * sign x). */
KD_AVX512_TARGET static inline __m512i pair_dot_bw(__m512i ux, __m512i sy)
{
    return _mm512_madd_epi16(_mm512_maddubs_epi16(ux, sy), _mm512_set1_epi16(1));
}

KD_VNNI_TARGET static inline __m512i pair_dot_vnni(__m512i ux, __m512i sy)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), ux, sy);
}

/* One kernel: TARGET, its name, the block type of x, how two of x's blocks
 * load, the pair product, and the AVX2 kernel for an odd last block. */
#define DEFINE_DOT(TARGET, name, block_t, load_pair, pair_dot, single)                           \
    TARGET float name(size_t n, const block_t *x, const kd_block_q8_0 *y)                        \
    {                                                                                            \
        size_t blocks = n / KD_QBLOCK, b = 0;                                                    \
        __m512 acc = _mm512_setzero_ps();                                                        \
        for (; b + 1 < blocks; b += 2) {                                                         \
            __m512i qx = load_pair(x + b), qy = kd_load_q8_0_pair(y + b);                           \
            __mmask64 negative = _mm512_movepi8_mask(qx);                                        \
            __m512i sy = _mm512_mask_sub_epi8(qy, negative, _mm512_setzero_si512(), qy);         \
            __m512i sums = pair_dot(_mm512_abs_epi8(qx), sy);                                    \
            __m512 scale = _mm512_mul_ps(kd_pair_d(x[b].d, x[b + 1].d),                          \
                                         kd_pair_d(y[b].d, y[b + 1].d));                         \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);                         \
        }                                                                                        \
        float sum = _mm512_reduce_add_ps(acc);                                                   \
        if (b < blocks)                                                                          \
            sum += single(KD_QBLOCK, x + b, y + b);                                              \
        return sum;                                                                              \
    }

DEFINE_DOT(KD_AVX512_TARGET, kd_dot_q8_0_avx512, kd_block_q8_0, kd_load_q8_0_pair, pair_dot_bw,
           kd_dot_q8_0_avx2)
DEFINE_DOT(KD_AVX512_TARGET, kd_dot_q4_0_avx512, kd_block_q4_0, kd_load_q4_0_pair, pair_dot_bw,
           kd_dot_q4_0_avx2)
DEFINE_DOT(KD_VNNI_TARGET, kd_dot_q8_0_vnni, kd_block_q8_0, kd_load_q8_0_pair, pair_dot_vnni,
           kd_dot_q8_0_avx2)
DEFINE_DOT(KD_VNNI_TARGET, kd_dot_q4_0_vnni, kd_block_q4_0, kd_load_q4_0_pair, pair_dot_vnni,
           kd_dot_q4_0_avx2)
#endif
