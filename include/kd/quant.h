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

/* ---- dot-product kernels ------------------------------------------------ */

typedef enum {
    KD_QKERNEL_PORTABLE = 0,
    KD_QKERNEL_AVX2,
    KD_QKERNEL_AVX512, /* AVX-512F + BW */
    KD_QKERNEL_VNNI,   /* AVX-512 VNNI: vpdpbusd */
    KD_QKERNEL_COUNT
} kd_qkernel;

/* "portable", "avx2", "avx512", "vnni". */
const char *kd_qkernel_name(kd_qkernel kernel);
/* Whether this CPU can run `kernel`. */
int kd_qkernel_supported(kd_qkernel kernel);
/* The fastest kernel this CPU runs. */
kd_qkernel kd_qkernel_best(void);
/* Makes every following product use `kernel`; KD_ERR_UNSUPPORTED when the
 * CPU lacks its instructions. Not to be called while products run. */
kd_status kd_qkernel_use(kd_qkernel kernel);
/* Chooses the kernel from KD_QKERNEL when set (failing on an unknown name or
 * one the CPU cannot run), else the best. Until it or kd_qkernel_use is
 * called, the products use the best. */
kd_status kd_qkernel_use_env(void);
kd_qkernel kd_qkernel_current(void);

/* Dot products of n values (n a multiple of 32) with the current kernel: the
 * integer products of each block pair are exact; the per-block sums are
 * scaled by both blocks' d and added in float. */
float kd_vec_dot_q8_0_q8_0(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y);
float kd_vec_dot_q4_0_q8_0(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y);

/* ---- matrices ------------------------------------------------------------ */

/* rows x cols weights in llama.cpp's (and PyTorch nn.Linear's) order: row r
 * holds the cols inputs of output feature r. An HF Conv1D weight, [in, out],
 * is the transpose. data is rows * row_bytes bytes: floats for f32, else
 * cols / 32 blocks per row. */
typedef struct {
    kd_qtype type;
    int rows;
    int cols;
    size_t row_bytes;
    void *data;
    int owned; /* data is freed by kd_qmatrix_free */
} kd_qmatrix;

/* Fails with KD_ERR_INVALID when `type` is quantized and cols is not a
 * multiple of 32. */
kd_status kd_qmatrix_check(kd_qtype type, int rows, int cols);
/* A new matrix of `type` from f32 weights. transposed = 0: weights is
 * (rows, cols) in llama.cpp's order; transposed = 1: weights is (cols, rows),
 * HF Conv1D's [in, out]. */
kd_status kd_qmatrix_quantize(kd_qmatrix *matrix, kd_qtype type, const float *weights, int rows,
                              int cols, int transposed);
/* A view of rows already in `type`'s layout (e.g. a GGUF tensor's data,
 * which must outlive the matrix); nothing is copied or converted. */
kd_status kd_qmatrix_wrap(kd_qmatrix *matrix, kd_qtype type, const void *data, int rows,
                          int cols);
void kd_qmatrix_free(kd_qmatrix *matrix);
size_t kd_qmatrix_bytes(const kd_qmatrix *matrix);
/* Row r as floats (cols of them). */
void kd_qmatrix_row(const kd_qmatrix *matrix, int r, float *out);

/* Scratch for the activations of up to max_rows input rows of up to
 * max_cols values, quantized to q8_0 (and, for the matrix-matrix products,
 * rearranged for them, with room for their padding rows). */
typedef struct {
    kd_block_q8_0 *blocks;
    void *values;
    float *scales;
    int32_t *corrections;
    size_t capacity; /* blocks */
} kd_qscratch;

kd_status kd_qscratch_create(kd_qscratch *scratch, int max_rows, int max_cols);
void kd_qscratch_free(kd_qscratch *scratch);

/* out (N, rows) = inp (N, cols) . matrix^T + bias (rows); bias may be NULL.
 * Each input row is quantized to q8_0 once into scratch and reused by every
 * output row; the work is split over output rows between the OpenMP
 * threads. N = 1 is the matrix-vector product of decoding. */
void kd_qmatrix_forward(float *out, const float *inp, const kd_qmatrix *matrix,
                        const float *bias, int N, kd_qscratch *scratch);

/* ---- NF4 (QLoRA, arXiv 2305.14314) ---------------------------------------
 *
 * 4-bit NormalFloat: each block of 64 values is divided by its absmax and
 * each quotient rounded to the nearest of 16 levels, the quantiles of a
 * normal distribution scaled to [-1, 1] with an exact zero (the codebook of
 * the paper and of bitsandbytes). The absmax scales are double-quantized as
 * in the paper: their mean is subtracted, and what remains is stored as int8
 * in blocks of 256 scales, each with an fp32 scale-of-scales. A weight costs
 * 4 + 8/64 bits + 32/(64*256) bits: 0.516 bytes against fp32's 4. */
enum { KD_NF4_BLOCK = 64, KD_NF4_SCALE_BLOCK = 256 };

/* Level k of the 16 codes, ascending: -1, ..., 0 (code 7), ..., 1 (code 15). */
extern const float kd_nf4_codebook[16];

typedef struct {
    size_t count;          /* values; the last block may be shorter than 64 */
    uint8_t *codes;        /* (count + 1) / 2 bytes: value 2i in the high nibble */
    int8_t *scales;        /* per block: round(127 (absmax - offset) / scale_of_its_group) */
    float *scale_scales;   /* per 256 blocks: max |absmax - offset| over them */
    float offset;          /* mean absmax of the blocks */
    void *memory;          /* codes, scales and scale_scales in one allocation */
} kd_nf4_tensor;

/* Quantizes count floats into a new tensor; kd_nf4_free releases it. */
kd_status kd_nf4_quantize(kd_nf4_tensor *tensor, const float *x, size_t count);
/* out (count) = the values the tensor stands for (OpenMP over blocks). */
void kd_nf4_dequantize(const kd_nf4_tensor *tensor, float *out);
/* The scale block b is dequantized with: offset + scale_of_scales * q / 127. */
float kd_nf4_block_scale(const kd_nf4_tensor *tensor, size_t block);
void kd_nf4_free(kd_nf4_tensor *tensor);
/* Bytes a tensor of count values holds. */
size_t kd_nf4_bytes(size_t count);

#endif
