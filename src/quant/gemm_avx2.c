/* The matrix-matrix product with AVX2, for prompts on CPUs without VNNI,
 * laid out as gemm_vnni.c's: eight weight rows across the eight int32
 * lanes of a register, each loaded weight register used by TILE input rows.
 * AVX2's byte product, vpmaddubsw, adds its pairs into saturating int16
 * (a q8_0 weight made unsigned, 255, times 127 twice overflows), so both
 * sides are widened to int16 instead and multiplied by vpmaddwd: two values
 * of eight weight rows against the same two values of one input row,
 * broadcast, their sum exact in each int32 lane. A block of 32 values is
 * then 16 vpmaddwd and 16 adds for 8 x 1 block dot products, and one
 * conversion and scale for all eight; the row-by-row kernel spends about
 * twelve instructions on each single one.
 *
 *   panel   a stripe of 8 weight rows over PANEL_BLOCKS blocks of their
 *           columns, widened on the fly (the weights stay in their blocks
 *           in memory) into a stack buffer that stays in L1 while every
 *           input row meets it: per block, 16 steps of 8 rows x 2 values,
 *           and the 8 rows' d as floats.
 *   tile    TILE input rows against a panel: a block's TILE int32 sums
 *           stay in registers (with the weights and the broadcast value,
 *           10 of AVX2's 16); the TILE float sums, touched once a block,
 *           may live in memory. Eight input rows ran 1.1-1.2x faster than
 *           four on the body's products (bench_qmatmul_speed). */
#if defined(__x86_64__)
#include <string.h>

#include "kernels.h"
#include "x86_blocks.h"

enum {
    LANES = 8,        /* weight rows of a panel */
    STEPS = 16,       /* 2-value steps of a block */
    TILE = 8,         /* input rows of a tile */
    PANEL_BLOCKS = 16 /* blocks of a panel: 8 KB of int16 weights */
};
_Static_assert(KD_QGEMM_MAX_TILE % TILE == 0, "kd_qscratch pads rows to whole tiles");

typedef struct {
    int16_t values[PANEL_BLOCKS][STEPS][LANES][2];
    float d[PANEL_BLOCKS][LANES];
} panel;

/* Input rows, TILE at a time, interleaved as the tile reads them: per
 * block, STEPS x (TILE rows x 2 values as int16), then TILE scales. Rows
 * past N up to a whole tile are zeros (scale 0). The weights are signed as
 * stored, so there is no offset to correct. */
static void prepare(const kd_block_q8_0 *blocks, int N, int cols, kd_qtype weights,
                    const kd_qgemm_input *input, int tile)
{
    (void)weights;
    int per_row = cols / KD_QBLOCK;
    for (int i = 0; i < TILE; i++) {
        int n = tile * TILE + i;
        for (int b = 0; b < per_row; b++) {
            size_t at = (size_t)tile * per_row + (size_t)b; /* this tile's block b */
            int16_t *values = (int16_t *)input->values + at * TILE * KD_QBLOCK;
            const kd_block_q8_0 *block = n < N ? blocks + (size_t)n * per_row + b : NULL;
            for (int j = 0; j < KD_QBLOCK; j++)
                values[(j / 2 * TILE + i) * 2 + j % 2] = block ? block->qs[j] : 0;
            input->scales[at * TILE + i] = block ? kd_float16_to_float(block->d) : 0.0f;
        }
    }
}

/* rows[r] holds eight int32 of row r; afterwards rows[c] holds the eight
 * rows' int32 c. */
KD_AVX2_TARGET static void transpose8(__m256i rows[8])
{
    __m256i pairs[8], quads[8];
    for (int r = 0; r < 8; r += 2) {
        pairs[r] = _mm256_unpacklo_epi32(rows[r], rows[r + 1]);
        pairs[r + 1] = _mm256_unpackhi_epi32(rows[r], rows[r + 1]);
    }
    for (int r = 0; r < 8; r += 4)
        for (int k = 0; k < 2; k++) {
            quads[r + 2 * k] = _mm256_unpacklo_epi64(pairs[r + k], pairs[r + 2 + k]);
            quads[r + 2 * k + 1] = _mm256_unpackhi_epi64(pairs[r + k], pairs[r + 2 + k]);
        }
    for (int c = 0; c < 4; c++) {
        rows[c] = _mm256_permute2x128_si256(quads[c], quads[c + 4], 0x20);
        rows[c + 4] = _mm256_permute2x128_si256(quads[c], quads[c + 4], 0x31);
    }
}

/* Rows first..first+count over blocks b0..b0+blocks into p; missing rows
 * are zeros with d = 0, so their lanes sum to nothing. Each row's block is
 * widened to two registers of 8 value pairs, and the eight rows' registers
 * are transposed so that a register holds one step of all eight rows. */
KD_AVX2_TARGET static void pack_panel(const kd_qmatrix *matrix, int first, int count, int b0,
                                      int blocks, panel *p)
{
    int q8 = matrix->type == KD_QTYPE_Q8_0;
    size_t block_bytes = q8 ? sizeof(kd_block_q8_0) : sizeof(kd_block_q4_0);
    for (int b = 0; b < blocks; b++) {
        __m256i low[LANES], high[LANES];
        for (int r = 0; r < LANES; r++) {
            if (r >= count) {
                low[r] = high[r] = _mm256_setzero_si256();
                p->d[b][r] = 0.0f;
                continue;
            }
            const char *block = (const char *)matrix->data +
                                (size_t)(first + r) * matrix->row_bytes +
                                (size_t)(b0 + b) * block_bytes;
            __m256i q = q8 ? kd_load_q8_0((const kd_block_q8_0 *)block)
                           : kd_load_q4_0((const kd_block_q4_0 *)block);
            low[r] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
            high[r] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
            uint16_t d;
            memcpy(&d, block, sizeof d); /* d is the block's first two bytes */
            p->d[b][r] = _cvtsh_ss(d);
        }
        transpose8(low);
        transpose8(high);
        for (int step = 0; step < STEPS / 2; step++) {
            _mm256_store_si256((__m256i *)p->values[b][step], low[step]);
            _mm256_store_si256((__m256i *)p->values[b][step + STEPS / 2], high[step]);
        }
    }
}

/* acc[i] (8 weight rows) += the panel's blocks . tile row i's, for a tile
 * of TILE input rows already at the panel's first block. */
KD_AVX2_TARGET static void tile_forward(const panel *p, int blocks, const int16_t *values,
                                        const float *scales, __m256 acc[TILE])
{
    for (int b = 0; b < blocks; b++) {
        const int16_t *x = values + (size_t)b * TILE * KD_QBLOCK;
        const float *s = scales + (size_t)b * TILE;
        __m256i sums[TILE];
        for (int i = 0; i < TILE; i++)
            sums[i] = _mm256_setzero_si256();
        for (int step = 0; step < STEPS; step++) {
            __m256i w = _mm256_load_si256((const __m256i *)p->values[b][step]);
            for (int i = 0; i < TILE; i++) {
                int32_t two;
                memcpy(&two, x + (step * TILE + i) * 2, sizeof two);
                sums[i] = _mm256_add_epi32(sums[i], _mm256_madd_epi16(w, _mm256_set1_epi32(two)));
            }
        }
        __m256 d = _mm256_load_ps(p->d[b]);
        for (int i = 0; i < TILE; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[i]),
                                     _mm256_mul_ps(d, _mm256_set1_ps(s[i])), acc[i]);
    }
}

KD_AVX2_TARGET static void stripe(const kd_qmatrix *matrix, int first,
                                  const kd_qgemm_input *input, int N, const float *bias,
                                  float *out)
{
    int rows = matrix->rows, blocks = matrix->cols / KD_QBLOCK;
    int count = rows - first < LANES ? rows - first : LANES;
    /* the stripe's rows: lanes below count */
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 start = bias ? _mm256_maskload_ps(bias + first, mask) : _mm256_setzero_ps();
    _Alignas(32) panel p;
    for (int b0 = 0; b0 < blocks; b0 += PANEL_BLOCKS) {
        int panel_blocks = blocks - b0 < PANEL_BLOCKS ? blocks - b0 : PANEL_BLOCKS;
        pack_panel(matrix, first, count, b0, panel_blocks, &p);
        for (int n0 = 0; n0 < N; n0 += TILE) {
            size_t at = (size_t)(n0 / TILE) * blocks + (size_t)b0;
            float *o = out + (size_t)n0 * rows + first;
            int tile_rows = N - n0 < TILE ? N - n0 : TILE;
            __m256 acc[TILE];
            for (int i = 0; i < TILE; i++)
                acc[i] = b0 == 0 || i >= tile_rows ? start
                                                   : _mm256_maskload_ps(o + (size_t)i * rows, mask);
            tile_forward(&p, panel_blocks,
                         (const int16_t *)input->values + at * TILE * KD_QBLOCK,
                         input->scales + at * TILE, acc);
            for (int i = 0; i < tile_rows; i++)
                _mm256_maskstore_ps(o + (size_t)i * rows, mask, acc[i]);
        }
    }
}

const kd_qgemm_kernel kd_qgemm_avx2 = {TILE, LANES, prepare, stripe};
#endif
