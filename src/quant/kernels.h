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

/* The VNNI matrix-matrix product (gemm_vnni.c): first each quantized input
 * row's values as unsigned bytes q + 128 and its scales as floats; then one
 * weight row against N such rows: out[n * matrix->rows] = row . input n + bias. */
void kd_qgemm_prepare_vnni(const kd_block_q8_0 *blocks, size_t count, uint8_t *u,
                           float *scales);
void kd_qgemm_row_vnni(const kd_qmatrix *matrix, const void *row, const uint8_t *u,
                       const float *scales, int N, float bias, float *out);

/* The current kernel's functions. */
kd_dot_q8_0_fn kd_dot_q8_0_current(void);
kd_dot_q4_0_fn kd_dot_q4_0_current(void);

#endif
