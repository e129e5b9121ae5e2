/* The matrix-matrix product with AVX-512 VNNI, for prompts: eight input rows
 * at a time meet each pair of weight blocks, so a weight pair is loaded,
 * unpacked and scaled once for eight rows.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The input rows are stored
 * once as u = q + 128 (unsigned) and the weights stay signed, so each lane
 * sums (q + 128) * w; starting the sum from -128 * w (one vpdpbusd of the
 * weights with 128s, per weight pair) leaves exactly q * w. That is one
 * instruction per 64 products, where the sign trick of the row kernels takes
 * three. The per-block scales of the input rows are floats, converted once. */
#if defined(__x86_64__)
#include <string.h>

#include "kernels.h"
#include "x86_blocks.h"

enum { TILE = 8 };

void kd_qgemm_prepare_vnni(const kd_block_q8_0 *blocks, size_t count, uint8_t *u,
                           float *scales)
{
    for (size_t b = 0; b < count; b++) {
        scales[b] = kd_float16_to_float(blocks[b].d);
        for (int j = 0; j < KD_QBLOCK; j++)
            u[b * KD_QBLOCK + j] = (uint8_t)(blocks[b].qs[j] + 128);
    }
}

/* Lanes 0-7 get scales[0], lanes 8-15 scales[1]. */
KD_VNNI_TARGET static inline __m512 pair_scales(const float *scales)
{
    double both;
    memcpy(&both, scales, sizeof both);
    __m512i index = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(index, _mm512_castpd_ps(_mm512_set1_pd(both)));
}

/* One weight row against TILE prepared input rows (u: TILE pointers to
 * rows of n unsigned bytes, s: to their block scales); the dot products go
 * to out[i]. */
#define DEFINE_ROW_TILE(name, block_t, load_pair, load_one)                                     \
    KD_VNNI_TARGET static void name(size_t n, const block_t *w, const uint8_t *const *u,            \
                                 const float *const *s, float *out)                              \
    {                                                                                            \
        size_t blocks = n / KD_QBLOCK, b = 0;                                                    \
        __m512 acc[TILE];                                                                        \
        for (int i = 0; i < TILE; i++)                                                           \
            acc[i] = _mm512_setzero_ps();                                                        \
        __m512i offset = _mm512_set1_epi8((char)0x80);                                           \
        for (; b + 1 < blocks; b += 2) {                                                         \
            __m512i qw = load_pair(w + b);                                                       \
            __m512i start = _mm512_sub_epi32(                                                    \
                _mm512_setzero_si512(),                                                          \
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, qw));                        \
            __m512 dw = kd_pair_d(w[b].d, w[b + 1].d);                                           \
            for (int i = 0; i < TILE; i++) {                                                     \
                __m512i qu = _mm512_loadu_si512(u[i] + b * KD_QBLOCK);                           \
                __m512i sums = _mm512_dpbusd_epi32(start, qu, qw);                               \
                __m512 scale = _mm512_mul_ps(dw, pair_scales(s[i] + b));                         \
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[i]);               \
            }                                                                                    \
        }                                                                                        \
        for (int i = 0; i < TILE; i++)                                                           \
            out[i] = _mm512_reduce_add_ps(acc[i]);                                               \
        if (b == blocks)                                                                         \
            return;                                                                              \
        __m256i qw = load_one(w + b);                                                            \
        __m256i start = _mm256_sub_epi32(                                                        \
            _mm256_setzero_si256(),                                                              \
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), qw));      \
        for (int i = 0; i < TILE; i++) {                                                         \
            __m256i qu = _mm256_loadu_si256((const __m256i *)(u[i] + b * KD_QBLOCK));            \
            __m256 sums = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(start, qu, qw));                \
            out[i] += kd_sum_lanes256(sums) * _cvtsh_ss(w[b].d) * s[i][b];                                \
        }                                                                                        \
    }

DEFINE_ROW_TILE(row_tile_q8_0, kd_block_q8_0, kd_load_q8_0_pair, kd_load_q8_0)
DEFINE_ROW_TILE(row_tile_q4_0, kd_block_q4_0, kd_load_q4_0_pair, kd_load_q4_0)

void kd_qgemm_row_vnni(const kd_qmatrix *matrix, const void *row, const uint8_t *u,
                       const float *scales, int N, float bias, float *out)
{
    size_t cols = (size_t)matrix->cols, blocks = cols / KD_QBLOCK;
    for (int first = 0; first < N; first += TILE) {
        /* A short last tile repeats its first row in the unused slots. */
        const uint8_t *tile_u[TILE];
        const float *tile_s[TILE];
        int count = N - first < TILE ? N - first : TILE;
        for (int i = 0; i < TILE; i++) {
            int n = first + (i < count ? i : 0);
            tile_u[i] = u + (size_t)n * cols;
            tile_s[i] = scales + (size_t)n * blocks;
        }
        float dots[TILE];
        if (matrix->type == KD_QTYPE_Q8_0)
            row_tile_q8_0(cols, row, tile_u, tile_s, dots);
        else
            row_tile_q4_0(cols, row, tile_u, tile_s, dots);
        for (int i = 0; i < count; i++)
            out[(size_t)(first + i) * matrix->rows] = dots[i] + bias;
    }
}
#endif
