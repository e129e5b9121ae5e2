/* Matrix products with bf16 inputs and fp32 accumulation and output, through
 * oneDNN's matmul (internal to nn). Built without oneDNN, every product
 * fails and kd_bf16_support reports BF16_NONE, so only fp32 is ever chosen. */
#ifndef KD_NN_BF16_GEMM_H
#define KD_NN_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kd/core.h"

/* bf16 is the upper half of an fp32: 8 exponent bits, 8 significand bits
 * (7 stored). */
typedef uint16_t bf16;

/* Rounds n floats to the nearest bf16 (ties to even; NaN stays NaN). */
void kd_bf16_from_float(bf16 *out, const float *in, size_t n);
/* Rounds `rows` rows of `cols` floats, `in` rows `in_stride` apart, into
 * dense (rows, cols). */
void kd_bf16_from_float_rows(bf16 *out, const float *in, int rows, int cols, size_t in_stride);
float kd_bf16_to_float(bf16 value);

/* C (M, N) = op(A) (M, K) . op(B) (K, N) [+ bias (N)] [+ C], row-major with
 * leading dimensions lda, ldb, ldc; op(X) = X^T when trans_x. */
typedef struct {
    int M, N, K;
    int trans_a, trans_b;
    int lda, ldb, ldc;
    int has_bias;
    int accumulate; /* add to C instead of overwriting it */
} bf16_gemm_shape;

/* Runs one product. Each shape's oneDNN primitive is created on first use
 * and kept. A failure here is a oneDNN failure on a shape it accepted
 * before (the precision check ran one product), so it ends the process
 * with its message rather than returning into the void layers. */
void kd_bf16_gemm(const bf16_gemm_shape *shape, const bf16 *A, const bf16 *B, const float *bias,
                  float *C);

typedef enum {
    BF16_NONE = 0,     /* no bf16 product on this CPU (or no oneDNN) */
    BF16_EMULATED = 1, /* oneDNN runs bf16 products, but through fp32 arithmetic */
    BF16_NATIVE = 2,   /* the CPU multiplies bf16 itself, at no more FLOPs than fp32 */
    BF16_FAST = 3,     /* natively and faster than fp32: AMX tiles, or AVX512-BF16 on
                          AMD */
} bf16_support;

/* What this CPU and build offer, asked of oneDNN once. */
bf16_support kd_bf16_support(void);
/* oneDNN's name for the instruction set it dispatches to ("none" without oneDNN). */
const char *kd_bf16_isa_name(void);

#endif
