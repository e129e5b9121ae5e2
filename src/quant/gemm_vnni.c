/* The matrix-matrix product with AVX-512 VNNI, for prompts, laid out as
 * llama.cpp's repacked GEMMs are: sixteen weight rows across the sixteen
 * int32 lanes of a register, so one vpdpbusd takes four values of each of
 * sixteen weight rows against the same four values of one input row,
 * broadcast. A block of 32 values is then 8 vpdpbusd for 16 x 1 block dot
 * products, whose int32 sums come out one per lane, ready to be scaled by
 * the sixteen rows' d at once; the row-by-row kernels spend a conversion,
 * a scale and an add on every 64 products instead.
 *
 *   panel   a stripe of 16 weight rows over PANEL_BLOCKS blocks of their
 *           columns, repacked on the fly (the weights stay in their blocks
 *           in memory) into a stack buffer that stays in L1 while every
 *           input row meets it: per block, 8 steps of 16 rows x 4 bytes,
 *           and the 16 rows' d as floats.
 *   tile    TILE input rows against a panel; 16 x TILE float sums in
 *           registers, each loaded weight register used TILE times.
 *
 * vpdpbusd multiplies unsigned by signed bytes, and its memory broadcast is
 * on the signed side, so the input rows stay signed q8_0 and the weights
 * go unsigned: q8_0 as q + 128, q4_0 as its nibble q as stored (value
 * q - 8). Each lane's sum is then exact once offset * (the input block's sum)
 * is taken away (offset 128 or 8), which prepare works out
 * once per input block and the tile starts its integer sums from. */
#if defined(__x86_64__)
#include <string.h>

#include "kernels.h"
#include "x86_blocks.h"

enum {
    LANES = 16, /* weight rows of a panel */
    STEPS = 8,  /* 4-value steps of a block */
    TILE = 8,   /* input rows of a tile */
    PANEL_BLOCKS = 16 /* blocks of a panel: 8 KB of weights, with the input rows in L1 */
};
_Static_assert(KD_QGEMM_MAX_TILE % TILE == 0, "kd_qscratch pads rows to whole tiles");

typedef struct {
    uint8_t values[PANEL_BLOCKS][STEPS][LANES][4];
    float d[PANEL_BLOCKS][LANES];
} panel;

static int weight_offset(kd_qtype type)
{
    return type == KD_QTYPE_Q8_0 ? 128 : 8;
}

/* Input rows, TILE at a time, interleaved as the tile reads them: per
 * block, STEPS x (TILE rows x 4 values), then TILE scales and TILE
 * corrections. Rows past N up to a whole tile are zeros (scale 0). */
static void prepare(const kd_block_q8_0 *blocks, int N, int cols, kd_qtype weights,
                    const kd_qgemm_input *input, int tile)
{
    int offset = weight_offset(weights), per_row = cols / KD_QBLOCK;
    for (int i = 0; i < TILE; i++) {
        int n = tile * TILE + i;
        for (int b = 0; b < per_row; b++) {
            size_t at = (size_t)tile * per_row + (size_t)b; /* this tile's block b */
            int8_t *values = (int8_t *)input->values + at * TILE * KD_QBLOCK;
            if (n >= N) {
                for (int step = 0; step < STEPS; step++)
                    memset(values + (step * TILE + i) * 4, 0, 4);
                input->scales[at * TILE + i] = 0.0f;
                input->corrections[at * TILE + i] = 0;
                continue;
            }
            const kd_block_q8_0 *block = blocks + (size_t)n * per_row + b;
            int32_t sum = 0;
            for (int j = 0; j < KD_QBLOCK; j++)
                sum += block->qs[j];
            for (int step = 0; step < STEPS; step++)
                memcpy(values + (step * TILE + i) * 4, block->qs + 4 * step, 4);
            input->scales[at * TILE + i] = kd_float16_to_float(block->d);
            input->corrections[at * TILE + i] = -offset * sum;
        }
    }
}

/* The four bytes at `offset` of one block in each of the panel's rows
 * (lanes past `valid` read as zeros): row lane is stride bytes after row 0. */
KD_VNNI_TARGET static inline __m512i gather_rows(const char *block, __m512i stride,
                                                 __mmask16 valid, int offset)
{
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, stride, block + offset, 1);
}

/* Rows first.. (the lanes of `valid`) over blocks b0..b0+blocks into p;
 * missing rows are zeros with d = 0, so their lanes sum to nothing. Each
 * step is one gather of four bytes from each of the sixteen rows. */
KD_VNNI_TARGET static void pack_panel(const kd_qmatrix *matrix, int first, __mmask16 valid,
                                      int b0, int blocks, panel *p)
{
    const char *row0 = (const char *)matrix->data + (size_t)first * matrix->row_bytes;
    __m512i stride = _mm512_mullo_epi32(_mm512_set1_epi32((int)matrix->row_bytes),
                                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                          11, 12, 13, 14, 15));
    int q8 = matrix->type == KD_QTYPE_Q8_0;
    size_t block_bytes = q8 ? sizeof(kd_block_q8_0) : sizeof(kd_block_q4_0);
    __m512i low = _mm512_set1_epi8(0x0f), flip = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < blocks; b++) {
        const char *block = row0 + (size_t)(b0 + b) * block_bytes;
        /* d is the block's first two bytes */
        __m512i d = gather_rows(block, stride, valid, 0);
        _mm512_store_ps(p->d[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
        if (q8) {
            for (int step = 0; step < STEPS; step++) {
                __m512i q = gather_rows(block, stride, valid, 2 + 4 * step);
                /* q + 128; missing rows stay 0 */
                _mm512_store_si512(p->values[b][step], _mm512_maskz_xor_epi32(valid, q, flip));
            }
            continue;
        }
        /* q4_0: byte j holds value j (low nibble) and value j + 16 (high) */
        for (int step = 0; step < STEPS / 2; step++) {
            __m512i q = gather_rows(block, stride, valid, 2 + 4 * step);
            _mm512_store_si512(p->values[b][step], _mm512_and_si512(q, low));
            _mm512_store_si512(p->values[b][step + STEPS / 2],
                               _mm512_and_si512(_mm512_srli_epi16(q, 4), low));
        }
    }
}

/* acc[i] (16 weight rows) += the panel's blocks . tile row i's, for a tile
 * of TILE input rows already at the panel's first block. */
KD_VNNI_TARGET static void tile_forward(const panel *p, int blocks, const int8_t *values,
                                        const float *scales, const int32_t *corrections,
                                        __m512 acc[TILE])
{
    for (int b = 0; b < blocks; b++) {
        const int8_t *x = values + (size_t)b * TILE * KD_QBLOCK;
        const float *s = scales + (size_t)b * TILE;
        const int32_t *c = corrections + (size_t)b * TILE;
        __m512i sums[TILE];
        for (int i = 0; i < TILE; i++)
            sums[i] = _mm512_set1_epi32(c[i]);
        for (int step = 0; step < STEPS; step++) {
            __m512i w = _mm512_load_si512(p->values[b][step]);
            for (int i = 0; i < TILE; i++) {
                int32_t four;
                memcpy(&four, x + (step * TILE + i) * 4, sizeof four);
                sums[i] = _mm512_dpbusd_epi32(sums[i], w, _mm512_set1_epi32(four));
            }
        }
        __m512 d = _mm512_load_ps(p->d[b]);
        for (int i = 0; i < TILE; i++)
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[i]),
                                     _mm512_mul_ps(d, _mm512_set1_ps(s[i])), acc[i]);
    }
}

KD_VNNI_TARGET static void stripe(const kd_qmatrix *matrix, int first,
                                  const kd_qgemm_input *input, int N, const float *bias,
                                  float *out)
{
    int rows = matrix->rows, blocks = matrix->cols / KD_QBLOCK;
    int count = rows - first < LANES ? rows - first : LANES;
    __mmask16 mask = (__mmask16)((1u << count) - 1);  /* the stripe's rows */
    __m512 start = bias ? _mm512_maskz_loadu_ps(mask, bias + first) : _mm512_setzero_ps();
    _Alignas(64) panel p;
    for (int b0 = 0; b0 < blocks; b0 += PANEL_BLOCKS) {
        int panel_blocks = blocks - b0 < PANEL_BLOCKS ? blocks - b0 : PANEL_BLOCKS;
        pack_panel(matrix, first, mask, b0, panel_blocks, &p);
        for (int n0 = 0; n0 < N; n0 += TILE) {
            size_t at = (size_t)(n0 / TILE) * blocks + (size_t)b0;
            float *o = out + (size_t)n0 * rows + first;
            int tile_rows = N - n0 < TILE ? N - n0 : TILE;
            __m512 acc[TILE];
            for (int i = 0; i < TILE; i++)
                acc[i] = b0 == 0 || i >= tile_rows
                             ? start
                             : _mm512_maskz_loadu_ps(mask, o + (size_t)i * rows);
            tile_forward(&p, panel_blocks, (const int8_t *)input->values + at * TILE * KD_QBLOCK,
                         input->scales + at * TILE, input->corrections + at * TILE, acc);
            for (int i = 0; i < tile_rows; i++)
                _mm512_mask_storeu_ps(o + (size_t)i * rows, mask, acc[i]);
        }
    }
}

const kd_qgemm_kernel kd_qgemm_vnni = {TILE, LANES, prepare, stripe};
#endif
