/* Loading q8_0 and q4_0 blocks into x86 vector registers (internal to
 * quant), shared by the AVX2, AVX-512 and VNNI kernels. Each helper carries
 * the smallest instruction set it needs, so it inlines into any kernel whose
 * set includes it. */
#ifndef KD_QUANT_X86_BLOCKS_H
#define KD_QUANT_X86_BLOCKS_H

#include <immintrin.h>

#include "kd/quant.h"

#define KD_AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define KD_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KD_VNNI_TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

KD_AVX2_TARGET static inline __m256i kd_load_q8_0(const kd_block_q8_0 *block)
{
    return _mm256_loadu_si256((const __m256i *)block->qs);
}

/* The 32 values of a q4_0 block as signed bytes q - 8, in element order. */
KD_AVX2_TARGET static inline __m256i kd_load_q4_0(const kd_block_q4_0 *block)
{
    __m128i packed = _mm_loadu_si128((const __m128i *)block->qs);
    __m256i nibbles = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    nibbles = _mm256_and_si256(nibbles, _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
}

KD_AVX2_TARGET static inline float kd_sum_lanes256(__m256 v)
{
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
}

KD_AVX512_TARGET static inline __m512i kd_join256(__m256i low, __m256i high)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

/* Two consecutive blocks: block 0's 32 values, then block 1's. */
KD_AVX512_TARGET static inline __m512i kd_load_q8_0_pair(const kd_block_q8_0 *blocks)
{
    return kd_join256(kd_load_q8_0(blocks), kd_load_q8_0(blocks + 1));
}

KD_AVX512_TARGET static inline __m512i kd_load_q4_0_pair(const kd_block_q4_0 *blocks)
{
    return kd_join256(kd_load_q4_0(blocks), kd_load_q4_0(blocks + 1));
}

/* Lanes 0-7 get block 0's d, lanes 8-15 block 1's. */
KD_AVX512_TARGET static inline __m512 kd_pair_d(uint16_t d0, uint16_t d1)
{
    /* insertf32x8 would need AVX512DQ; the 64-bit insert is AVX512F's */
    __m512d low = _mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(d0)));
    __m256d high = _mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(d1)));
    return _mm512_castpd_ps(_mm512_insertf64x4(low, high, 1));
}

#endif
