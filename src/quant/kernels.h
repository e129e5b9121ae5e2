/* The dot-product kernels of each instruction set (internal to quant). Each
 * x86 one is compiled for its instructions by function attributes, so one
 * binary holds them all and kernel_select.c calls only what the CPU runs. */
#ifndef KD_QUANT_KERNELS_H
#define KD_QUANT_KERNELS_H

#include "kd/quant.h"

typedef float (*kd_dot_q8_0_fn)(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
typedef float (*kd_dot_q4_0_fn)(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);

float kd_dot_q8_0_portable(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
float kd_dot_q4_0_portable(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);
float kd_dot_q8_0_avx2(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
float kd_dot_q4_0_avx2(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);
float kd_dot_q8_0_avx512(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
float kd_dot_q4_0_avx512(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);
float kd_dot_q8_0_vnni(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
float kd_dot_q4_0_vnni(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);

/* kd_quantize_row_q8_0 with AVX-512 and with AVX2 (quantize_x86.c): the
 * same bytes. */
void kd_quantize_row_q8_0_avx512(const float *x, kd_block_q8_0 *y, size_t n);
void kd_quantize_row_q8_0_avx2(const float *x, kd_block_q8_0 *y, size_t n);

/* A matrix-matrix product for prompts (gemm_vnni.c, gemm_avx2.c). Its N
 * input rows, quantized to q8_0, are first rearranged for it by prepare,
 * one tile of `tile` rows per call (the last padded with zeros: kd_qscratch
 * allows for tiles of up to KD_QGEMM_MAX_TILE rows and values of up to
 * KD_QGEMM_MAX_VALUE_BYTES bytes); then stripe takes the `lanes` weight rows
 * from `first` against all N rows: out[n * matrix->rows + r] = row r .
 * input n + bias[r] (bias may be NULL). Tiles, then stripes, are
 * independent, so threads share them out. */
enum { KD_QGEMM_MAX_TILE = 8, KD_QGEMM_MAX_VALUE_BYTES = 2 };
typedef struct {
    void *values;         /* the q8_0 values, as the kernel lays them out */
    float *scales;        /* their blocks' d */
    int32_t *corrections; /* VNNI: -(the weights' offset) * each block's sum */
} kd_qgemm_input;

typedef struct {
    int tile, lanes;
    void (*prepare)(const kd_block_q8_0 *blocks, int N, int cols, kd_qtype weights,
                    const kd_qgemm_input *input, int tile);
    void (*stripe)(const kd_qmatrix *matrix, int first, const kd_qgemm_input *input, int N,
                   const float *bias, float *out);
} kd_qgemm_kernel;

extern const kd_qgemm_kernel kd_qgemm_vnni; /* 16 weight rows x 8 input rows */
extern const kd_qgemm_kernel kd_qgemm_avx2; /* 8 weight rows x 8 input rows */

/* The current kernel's product for several input rows, or NULL where it
 * has none (the rows then go one by one through its dot products). */
const kd_qgemm_kernel *kd_qgemm_current(void);

/* The current kernel's functions. */
kd_dot_q8_0_fn kd_dot_q8_0_current(void);
kd_dot_q4_0_fn kd_dot_q4_0_current(void);

#endif
