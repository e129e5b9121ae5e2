/* AVX-512 dot products, two 32-value blocks per 512-bit step. Without a
 * byte sign instruction, y is negated under the mask of x's sign bits and x
 * replaced by |x|, which leaves each product unchanged and makes x unsigned:
 * AVX-512BW then multiplies with vpmaddubsw + vpmaddwd, AVX-512 VNNI with
 * one vpdpbusd (the "unsigned times signed" form it has). Both are built
 * from the one loop below for each block type; an odd last block goes to
 * the AVX2 kernel. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels.h"

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define VNNI_TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* Eight int32 sums per block of two blocks' |x| . (y * sign x). */
AVX512_TARGET static inline __m512i pair_dot_bw(__m512i ux, __m512i sy)
{
    return _mm512_madd_epi16(_mm512_maddubs_epi16(ux, sy), _mm512_set1_epi16(1));
}

VNNI_TARGET static inline __m512i pair_dot_vnni(__m512i ux, __m512i sy)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), ux, sy);
}

AVX512_TARGET static inline __m512i join(__m256i low, __m256i high)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

AVX512_TARGET static inline __m512i load_q8_0_pair(const kd_block_q8_0 *b)
{
    return join(_mm256_loadu_si256((const __m256i *)b[0].qs),
                _mm256_loadu_si256((const __m256i *)b[1].qs));
}

/* Two q4_0 blocks as signed bytes q - 8: block 0's 32 values, then block 1's. */
AVX512_TARGET static inline __m512i load_q4_0_pair(const kd_block_q4_0 *b)
{
    __m256i packed = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[1].qs),
                                      _mm_loadu_si128((const __m128i *)b[0].qs));
    __m256i mask = _mm256_set1_epi8(0x0f);
    __m256i low = _mm256_and_si256(packed, mask);
    __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask);
    /* [low0 low1 high0 high1] -> [low0 high0 low1 high1] in 128-bit lanes */
    __m512i lanes = _mm512_shuffle_i64x2(join(low, high), join(low, high), _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_sub_epi8(lanes, _mm512_set1_epi8(8));
}

AVX512_TARGET static inline __m512 pair_scale(uint16_t dx0, uint16_t dy0, uint16_t dx1,
                                              uint16_t dy1)
{
    __m256 s0 = _mm256_set1_ps(_cvtsh_ss(dx0) * _cvtsh_ss(dy0));
    __m256 s1 = _mm256_set1_ps(_cvtsh_ss(dx1) * _cvtsh_ss(dy1));
    return _mm512_insertf32x8(_mm512_castps256_ps512(s0), s1, 1);
}

/* One kernel: TARGET, its name, the block type of x, how two of x's blocks
 * load, the pair product, and the AVX2 kernel for an odd last block. */
#define DEFINE_DOT(TARGET, name, block_t, load_pair, pair_dot, single)                           \
    TARGET float name(size_t n, const block_t *x, const kd_block_q8_0 *y)                        \
    {                                                                                            \
        size_t blocks = n / KD_QBLOCK, b = 0;                                                    \
        __m512 acc = _mm512_setzero_ps();                                                        \
        for (; b + 1 < blocks; b += 2) {                                                         \
            __m512i qx = load_pair(x + b), qy = load_q8_0_pair(y + b);                           \
            __mmask64 negative = _mm512_movepi8_mask(qx);                                        \
            __m512i sy = _mm512_mask_sub_epi8(qy, negative, _mm512_setzero_si512(), qy);         \
            __m512i sums = pair_dot(_mm512_abs_epi8(qx), sy);                                    \
            __m512 scale = pair_scale(x[b].d, y[b].d, x[b + 1].d, y[b + 1].d);                   \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);                         \
        }                                                                                        \
        float sum = _mm512_reduce_add_ps(acc);                                                   \
        if (b < blocks)                                                                          \
            sum += single(KD_QBLOCK, x + b, y + b);                                              \
        return sum;                                                                              \
    }

DEFINE_DOT(AVX512_TARGET, kd_dot_q8_0_avx512, kd_block_q8_0, load_q8_0_pair, pair_dot_bw,
           kd_dot_q8_0_avx2)
DEFINE_DOT(AVX512_TARGET, kd_dot_q4_0_avx512, kd_block_q4_0, load_q4_0_pair, pair_dot_bw,
           kd_dot_q4_0_avx2)
DEFINE_DOT(VNNI_TARGET, kd_dot_q8_0_vnni, kd_block_q8_0, load_q8_0_pair, pair_dot_vnni,
           kd_dot_q8_0_avx2)
DEFINE_DOT(VNNI_TARGET, kd_dot_q4_0_vnni, kd_block_q4_0, load_q4_0_pair, pair_dot_vnni,
           kd_dot_q4_0_avx2)
#endif
