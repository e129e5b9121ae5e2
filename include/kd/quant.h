/* kd quant: ggml's q8_0 and q4_0 weight blocks, bit for bit, and the integer
 * dot products that run on them.
 *
 *   blocks      32 values share one IEEE fp16 scale d
 *               q8_0: int8 q, value q * d                 34 bytes, 0.266x f32
 *               q4_0: 4-bit q, value (q - 8) * d          18 bytes, 0.141x f32
 *   kernels     q8_0 . q8_0 and q4_0 . q8_0 dot products: the weights stay
 *               in their blocks and the activations are quantized to q8_0
 *               once per row, as ggml does. Portable C, AVX2, AVX-512BW and
 *               AVX-512 VNNI versions, the best the CPU has chosen at run time
 *               (the environment variable KD_QKERNEL=portable|avx2|avx512|vnni
 *               picks one instead).
 *   matrices    a weight matrix in llama.cpp's row order, out-features rows
 *               of in-features values, quantized or f32, and its multithreaded
 *               matrix-vector and matrix-matrix products.
 *
 * Rows are quantized along their length, so a row's length must be a
 * multiple of 32 (KD_QBLOCK); a matrix whose rows are not stays f32. */
#ifndef KD_QUANT_H
#define KD_QUANT_H

#include "kd/core.h"

#include <stddef.h>
#include <stdint.h>

enum { KD_QBLOCK = 32 };

/* ggml's block_q8_0: value j of the block is qs[j] * d, d = amax / 127 and
 * qs[j] = round(x[j] / d) (ties away from zero). */
typedef struct {
    uint16_t d; /* fp16 scale */
    int8_t qs[KD_QBLOCK];
} kd_block_q8_0;

/* ggml's block_q4_0: value j (j < 16) is in the low nibble of qs[j], value
 * j + 16 in its high nibble, each (q - 8) * d. d = max / -8 where max is the
 * signed value of largest magnitude (so it maps to q = 0 exactly) and
 * q = min(15, (int8_t)(x / d + 8.5)). */
typedef struct {
    uint16_t d; /* fp16 scale */
    uint8_t qs[KD_QBLOCK / 2];
} kd_block_q4_0;

_Static_assert(sizeof(kd_block_q8_0) == 34, "q8_0 blocks are 34 bytes, as in ggml");
_Static_assert(sizeof(kd_block_q4_0) == 18, "q4_0 blocks are 18 bytes, as in ggml");

/* n, the number of floats, is a multiple of KD_QBLOCK; y holds n / 32 blocks. */
void kd_quantize_row_q8_0(const float *x, kd_block_q8_0 *y, size_t n);
void kd_dequantize_row_q8_0(const kd_block_q8_0 *x, float *y, size_t n);
void kd_quantize_row_q4_0(const float *x, kd_block_q4_0 *y, size_t n);
void kd_dequantize_row_q4_0(const kd_block_q4_0 *x, float *y, size_t n);

/* How a weight matrix is stored. */
typedef enum { KD_QTYPE_F32 = 0, KD_QTYPE_Q8_0, KD_QTYPE_Q4_0 } kd_qtype;

/* "f32", "q8_0", "q4_0". */
const char *kd_qtype_name(kd_qtype type);
/* The type named `name`; KD_ERR_INVALID naming the choices otherwise. */
kd_status kd_qtype_parse(const char *name, kd_qtype *type);
/* Bytes of one row of n values (n a multiple of 32 unless f32). */
size_t kd_qtype_row_bytes(kd_qtype type, size_t n);

#endif
