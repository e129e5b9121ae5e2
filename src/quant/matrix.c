/* Weight matrices in llama.cpp's row order and their products. The weights
 * stay in their blocks: a product quantizes each input row to q8_0 once and
 * runs the integer dot product of every weight row against it, the threads
 * taking disjoint ranges of weight rows (a row's result never depends on the
 * thread count). A product of several input rows goes instead to the
 * kernel's matrix-matrix product (gemm_vnni.c, gemm_avx2.c): stripes of
 * weight rows against tiles of input rows. f32 matrices, those whose rows
 * are not a multiple of 32, go through OpenBLAS. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

kd_status kd_qmatrix_check(kd_qtype type, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return kd_fail(KD_ERR_INVALID, "a %d x %d weight matrix is empty", rows, cols);
    if (type != KD_QTYPE_F32 && cols % KD_QBLOCK != 0)
        return kd_fail(KD_ERR_INVALID, "rows of %d values cannot be %s (not a multiple of %d)",
                       cols, kd_qtype_name(type), KD_QBLOCK);
    return KD_OK;
}

static void set_shape(kd_qmatrix *matrix, kd_qtype type, int rows, int cols)
{
    memset(matrix, 0, sizeof *matrix);
    matrix->type = type;
    matrix->rows = rows;
    matrix->cols = cols;
    matrix->row_bytes = kd_qtype_row_bytes(type, (size_t)cols);
}

/* Quantizes (or copies) one row of cols floats into dst. */
static void store_row(const kd_qmatrix *matrix, const float *row, void *dst)
{
    size_t n = (size_t)matrix->cols;
    if (matrix->type == KD_QTYPE_Q8_0)
        kd_quantize_row_q8_0(row, dst, n);
    else if (matrix->type == KD_QTYPE_Q4_0)
        kd_quantize_row_q4_0(row, dst, n);
    else
        memcpy(dst, row, n * sizeof(float));
}

kd_status kd_qmatrix_quantize(kd_qmatrix *matrix, kd_qtype type, const float *weights, int rows,
                              int cols, int transposed)
{
    kd_status status = kd_qmatrix_check(type, rows, cols);
    if (status != KD_OK)
        return status;
    set_shape(matrix, type, rows, cols);
    matrix->data = kd_alloc((size_t)rows, matrix->row_bytes, "quantized weights");
    if (!matrix->data)
        return KD_ERR_NOMEM;
    matrix->owned = 1;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        /* A transposed row is gathered from a column first. */
        float *column = transposed ? malloc((size_t)cols * sizeof(float)) : NULL;
        failed = transposed && !column;
#pragma omp for
        for (int r = 0; r < rows; r++) {
            if (failed)
                continue;
            const float *row = weights + (size_t)r * cols;
            if (transposed) {
                for (int c = 0; c < cols; c++)
                    column[c] = weights[(size_t)c * rows + r];
                row = column;
            }
            store_row(matrix, row, (char *)matrix->data + (size_t)r * matrix->row_bytes);
        }
        free(column);
    }
    if (failed) {
        kd_qmatrix_free(matrix);
        return kd_fail(KD_ERR_NOMEM, "out of memory transposing a %d x %d matrix", cols, rows);
    }
    return KD_OK;
}

kd_status kd_qmatrix_wrap(kd_qmatrix *matrix, kd_qtype type, const void *data, int rows, int cols)
{
    kd_status status = kd_qmatrix_check(type, rows, cols);
    if (status != KD_OK)
        return status;
    set_shape(matrix, type, rows, cols);
    matrix->data = (void *)data;
    return KD_OK;
}

void kd_qmatrix_free(kd_qmatrix *matrix)
{
    if (matrix->owned)
        free(matrix->data);
    memset(matrix, 0, sizeof *matrix);
}

size_t kd_qmatrix_bytes(const kd_qmatrix *matrix)
{
    return (size_t)matrix->rows * matrix->row_bytes;
}

void kd_qmatrix_row(const kd_qmatrix *matrix, int r, float *out)
{
    const void *row = (const char *)matrix->data + (size_t)r * matrix->row_bytes;
    size_t n = (size_t)matrix->cols;
    if (matrix->type == KD_QTYPE_Q8_0)
        kd_dequantize_row_q8_0(row, out, n);
    else if (matrix->type == KD_QTYPE_Q4_0)
        kd_dequantize_row_q4_0(row, out, n);
    else
        memcpy(out, row, n * sizeof(float));
}

kd_status kd_qscratch_create(kd_qscratch *scratch, int max_rows, int max_cols)
{
    memset(scratch, 0, sizeof *scratch);
    size_t rows = (size_t)(max_rows + KD_QGEMM_MAX_TILE - 1) / KD_QGEMM_MAX_TILE *
                  KD_QGEMM_MAX_TILE;
    scratch->capacity = rows * (size_t)((max_cols + KD_QBLOCK - 1) / KD_QBLOCK);
    scratch->blocks = kd_alloc(scratch->capacity, sizeof(kd_block_q8_0), "quantized activations");
    scratch->values = kd_alloc(scratch->capacity, KD_QBLOCK * KD_QGEMM_MAX_VALUE_BYTES,
                               "quantized activations");
    scratch->scales = kd_alloc(scratch->capacity, sizeof(float), "activation scales");
    scratch->corrections = kd_alloc(scratch->capacity, sizeof(int32_t), "activation sums");
    if (scratch->blocks && scratch->values && scratch->scales && scratch->corrections)
        return KD_OK;
    kd_qscratch_free(scratch);
    return KD_ERR_NOMEM;
}

void kd_qscratch_free(kd_qscratch *scratch)
{
    free(scratch->blocks);
    free(scratch->values);
    free(scratch->scales);
    free(scratch->corrections);
    memset(scratch, 0, sizeof *scratch);
}

/* out (N, rows) = inp (N, cols) . W^T + bias through sgemm (sgemv for one row). */
static void f32_forward(float *out, const float *inp, const kd_qmatrix *matrix,
                        const float *bias, int N)
{
    int rows = matrix->rows, cols = matrix->cols;
    float beta = 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * rows, bias, (size_t)rows * sizeof(float));
        beta = 1.0f;
    }
    if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, matrix->data, cols, inp, 1,
                    beta, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, rows, cols, 1.0f, inp, cols,
                    matrix->data, cols, beta, out, rows);
}

/* The tiled product of N > 1 rows, in one parallel region (a prompt's
 * products are short, and on a busy machine every region start waits for
 * the other threads): the threads quantize and rearrange tiles of input
 * rows, then share out stripes of weight rows. */
static void gemm_tiled(float *out, const float *inp, const kd_qmatrix *matrix, const float *bias,
                       int N, kd_qscratch *scratch, const kd_qgemm_kernel *gemm)
{
    int cols = matrix->cols, per_row = cols / KD_QBLOCK;
    kd_qgemm_input input = {scratch->values, scratch->scales, scratch->corrections};
    int tiles = (N + gemm->tile - 1) / gemm->tile;
    int stripes = (matrix->rows + gemm->lanes - 1) / gemm->lanes;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int tile = 0; tile < tiles; tile++) {
            int end = (tile + 1) * gemm->tile < N ? (tile + 1) * gemm->tile : N;
            for (int n = tile * gemm->tile; n < end; n++)
                kd_quantize_row_q8_0(inp + (size_t)n * cols,
                                     scratch->blocks + (size_t)n * per_row, (size_t)cols);
            gemm->prepare(scratch->blocks, N, cols, matrix->type, &input, tile);
        }
#pragma omp for schedule(static)
        for (int stripe = 0; stripe < stripes; stripe++)
            gemm->stripe(matrix, stripe * gemm->lanes, &input, N, bias, out);
    }
}

/* Weights (times input rows) below which a product is not shared out. At
 * 2 threads on distilgpt2's shape (768 x 768 = 589,824 and up) sharing
 * pays; on a 4 x 256 model's (65,536 to 262,144) it made q8_0 decoding
 * slower on 2 threads than on 1. */
enum { QMATVEC_PARALLEL_MIN_WEIGHTS = 1 << 19 };

void kd_qmatrix_forward(float *out, const float *inp, const kd_qmatrix *matrix,
                        const float *bias, int N, kd_qscratch *scratch)
{
    if (matrix->type == KD_QTYPE_F32) {
        f32_forward(out, inp, matrix, bias, N);
        return;
    }
    const kd_qgemm_kernel *gemm = kd_qgemm_current();
    if (N > 1 && gemm) {
        gemm_tiled(out, inp, matrix, bias, N, scratch, gemm);
        return;
    }
    int rows = matrix->rows, cols = matrix->cols;
    size_t per_row = (size_t)cols / KD_QBLOCK;
    kd_block_q8_0 *act = scratch->blocks;
#pragma omp parallel for if (N > 1)
    for (int n = 0; n < N; n++)
        kd_quantize_row_q8_0(inp + (size_t)n * cols, act + (size_t)n * per_row, (size_t)cols);
    kd_dot_q8_0_fn dot_q8_0 = kd_dot_q8_0_current();
    kd_dot_q4_0_fn dot_q4_0 = kd_dot_q4_0_current();
    const char *weights = matrix->data;
    int q8 = matrix->type == KD_QTYPE_Q8_0;
    /* Weight rows outside, input rows inside: a weight row is read from
     * memory once and stays in L1 while every input row meets it. A small
     * product runs on one thread: it ends before others would have woken. */
    int parallel = (size_t)rows * (size_t)cols * (size_t)N >= QMATVEC_PARALLEL_MIN_WEIGHTS;
#pragma omp parallel for schedule(static) if (parallel)
    for (int r = 0; r < rows; r++) {
        const void *row = weights + (size_t)r * matrix->row_bytes;
        float b = bias ? bias[r] : 0.0f;
        for (int n = 0; n < N; n++) {
            const kd_block_q8_0 *x = act + (size_t)n * per_row;
            float dot = q8 ? dot_q8_0((size_t)cols, row, x) : dot_q4_0((size_t)cols, row, x);
            out[(size_t)n * rows + r] = dot + b;
        }
    }
}
