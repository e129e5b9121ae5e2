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

/* kd_quantize_row_q8_0 with AVX-512 (quantize_avx512.c): the same bytes. */
void kd_quantize_row_q8_0_avx512(const float *x, kd_block_q8_0 *y, size_t n);

/* The VNNI matrix-matrix product (gemm_vnni.c). Its N input rows, quantized
 * to q8_0, are first rearranged for it, one tile of KD_QGEMM_TILE rows per
 * call (the last padded with zeros: kd_qscratch's capacity allows for it);
 * then each stripe of KD_QGEMM_LANES weight rows from `first` meets all N
 * rows: out[n * matrix->rows + r] = row r . input n + bias[r] (bias may be
 * NULL). Tiles, then stripes, are independent, so threads share them out. */
enum { KD_QGEMM_TILE = 8, KD_QGEMM_LANES = 16 };
typedef struct {
    int8_t *values;       /* the q8_0 values */
    float *scales;        /* their blocks' d */
    int32_t *corrections; /* -(the weights' offset) * each block's sum */
} kd_qgemm_input;

void kd_qgemm_prepare_vnni(const kd_block_q8_0 *blocks, int N, int cols, kd_qtype weights,
                           const kd_qgemm_input *input, int tile);
void kd_qgemm_stripe_vnni(const kd_qmatrix *matrix, int first, const kd_qgemm_input *input,
                          int N, const float *bias, float *out);

/* The current kernel's functions. */
kd_dot_q8_0_fn kd_dot_q8_0_current(void);
kd_dot_q4_0_fn kd_dot_q4_0_current(void);

#endif
