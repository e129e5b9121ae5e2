/* Every dot-product kernel this CPU runs against the portable one, the
 * choice of kernel (KD_QKERNEL), and the matrix products against sums over
 * the dequantized values. */
#include "test_support.h"

#include "kd/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void random_floats(float *x, size_t n, kd_rng *rng, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = kd_rng_normal(rng) * scale;
}

/* The dot product of the dequantized values in double, and the sum of the
 * products' magnitudes, which bounds the float rounding of any order. */
static double reference_dot(const float *a, const float *b, size_t n, double *magnitude)
{
    double sum = 0.0;
    *magnitude = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)a[i] * b[i];
        *magnitude += fabs((double)a[i] * b[i]);
    }
    return sum;
}

/* Block counts that cover one block, the odd tail of the two-block loops
 * and a row of GPT-2's widths. */
static const size_t block_counts[] = {1, 2, 3, 24, 97};

static void check_kernel(kd_qkernel kernel, kd_rng *rng)
{
    enum { MAX = 97 * KD_QBLOCK };
    static float x[MAX], y[MAX], xd[MAX], yd[MAX];
    static kd_block_q8_0 x8[MAX / KD_QBLOCK], y8[MAX / KD_QBLOCK];
    static kd_block_q4_0 x4[MAX / KD_QBLOCK];
    for (size_t c = 0; c < KD_COUNTOF(block_counts); c++) {
        size_t n = block_counts[c] * KD_QBLOCK;
        random_floats(x, n, rng, 0.1f);
        random_floats(y, n, rng, 3.0f);
        kd_quantize_row_q8_0(x, x8, n);
        kd_quantize_row_q4_0(x, x4, n);
        kd_quantize_row_q8_0(y, y8, n);
        kd_dequantize_row_q8_0(y8, yd, n);
        double magnitude;

        kd_dequantize_row_q8_0(x8, xd, n);
        double expected = reference_dot(xd, yd, n, &magnitude);
        assert_int_equal(kd_qkernel_use(kernel), KD_OK);
        float got = kd_vec_dot_q8_0_q8_0(n, x8, y8);
        assert_true(fabs(got - expected) <= 1e-5 * magnitude);

        kd_dequantize_row_q4_0(x4, xd, n);
        expected = reference_dot(xd, yd, n, &magnitude);
        got = kd_vec_dot_q4_0_q8_0(n, x4, y8);
        assert_true(fabs(got - expected) <= 1e-5 * magnitude);
    }
}

/* The extremes of each code: q8_0 at +-127, q4_0 at 0 and 15 (-8 and 7),
 * where a kernel that saturated its 16-bit sums would show it. */
static void check_extremes(kd_qkernel kernel)
{
    enum { N = 4 * KD_QBLOCK };
    kd_block_q8_0 a[N / KD_QBLOCK], b[N / KD_QBLOCK];
    kd_block_q4_0 c[N / KD_QBLOCK];
    for (int k = 0; k < N / KD_QBLOCK; k++) {
        a[k].d = b[k].d = c[k].d = 0x3c00; /* 1.0 */
        memset(a[k].qs, k % 2 ? 127 : -127, KD_QBLOCK);
        memset(b[k].qs, -127, KD_QBLOCK);
        memset(c[k].qs, k % 2 ? 0xff : 0x00, KD_QBLOCK / 2);
    }
    assert_int_equal(kd_qkernel_use(kernel), KD_OK);
    /* blocks alternate +-127 * -127 * 32 */
    assert_true(kd_vec_dot_q8_0_q8_0(N, a, b) == 0.0f);
    assert_true(kd_vec_dot_q8_0_q8_0(KD_QBLOCK, a, b) == 127.0f * 127.0f * 32.0f);
    /* block 0: -8 * -127 * 32; block 1: 7 * -127 * 32 */
    assert_true(kd_vec_dot_q4_0_q8_0(2 * KD_QBLOCK, c, b) == 127.0f * 32.0f);
}

static void test_every_supported_kernel_matches(void **state)
{
    (void)state;
    kd_rng rng;
    kd_rng_seed(&rng, 11);
    int tested = 0;
    for (int k = 0; k < KD_QKERNEL_COUNT; k++) {
        if (!kd_qkernel_supported((kd_qkernel)k)) {
            assert_int_equal(kd_qkernel_use((kd_qkernel)k), KD_ERR_UNSUPPORTED);
            continue;
        }
        check_kernel((kd_qkernel)k, &rng);
        check_extremes((kd_qkernel)k);
        print_message("kernel %s matches\n", kd_qkernel_name((kd_qkernel)k));
        tested++;
    }
    /* portable and, on any x86-64 CI machine, AVX2 */
    assert_true(tested >= 2);
    assert_true(kd_qkernel_supported(kd_qkernel_best()));
}

/* Kernels differ from the portable sum only in the order of float additions. */
static void test_kernels_agree_with_portable(void **state)
{
    (void)state;
    enum { N = 48 * KD_QBLOCK };
    static float x[N], y[N];
    static kd_block_q8_0 x8[N / KD_QBLOCK], y8[N / KD_QBLOCK];
    static kd_block_q4_0 x4[N / KD_QBLOCK];
    kd_rng rng;
    kd_rng_seed(&rng, 5);
    random_floats(x, N, &rng, 1.0f);
    random_floats(y, N, &rng, 1.0f);
    kd_quantize_row_q8_0(x, x8, N);
    kd_quantize_row_q4_0(x, x4, N);
    kd_quantize_row_q8_0(y, y8, N);
    assert_int_equal(kd_qkernel_use(KD_QKERNEL_PORTABLE), KD_OK);
    float q8 = kd_vec_dot_q8_0_q8_0(N, x8, y8), q4 = kd_vec_dot_q4_0_q8_0(N, x4, y8);
    for (int k = 1; k < KD_QKERNEL_COUNT; k++) {
        if (!kd_qkernel_supported((kd_qkernel)k))
            continue;
        assert_int_equal(kd_qkernel_use((kd_qkernel)k), KD_OK);
        assert_float_equal(kd_vec_dot_q8_0_q8_0(N, x8, y8), q8, 1e-3f);
        assert_float_equal(kd_vec_dot_q4_0_q8_0(N, x4, y8), q4, 1e-3f);
    }
}

/* kd_quantize_row_q8_0 follows the kernel (an AVX-512 version from
 * avx512 up): every one gives the portable bytes, ties included. */
static void test_quantizers_agree(void **state)
{
    (void)state;
    enum { N = 40 * KD_QBLOCK };
    static float x[N];
    static kd_block_q8_0 portable[N / KD_QBLOCK], other[N / KD_QBLOCK];
    kd_rng rng;
    kd_rng_seed(&rng, 11);
    for (int i = 0; i < N; i++) {
        int block = i / KD_QBLOCK, j = i % KD_QBLOCK;
        if (block % 2 == 0) /* d = 0.5: quarters land on ties, below and above them */
            x[i] = j == 0 ? 63.5f : 0.25f * (float)(j - 16) + (block % 4 ? 1e-6f : 0.0f);
        else
            x[i] = kd_rng_normal(&rng) * (float)block;
    }
    assert_int_equal(kd_qkernel_use(KD_QKERNEL_PORTABLE), KD_OK);
    kd_quantize_row_q8_0(x, portable, N);
    for (int k = 1; k < KD_QKERNEL_COUNT; k++) {
        if (!kd_qkernel_supported((kd_qkernel)k))
            continue;
        assert_int_equal(kd_qkernel_use((kd_qkernel)k), KD_OK);
        kd_quantize_row_q8_0(x, other, N);
        assert_memory_equal(other, portable, sizeof portable);
    }
    assert_int_equal(kd_qkernel_use(kd_qkernel_best()), KD_OK);
}

static void test_kernel_from_environment(void **state)
{
    (void)state;
    setenv("KD_QKERNEL", "portable", 1);
    assert_int_equal(kd_qkernel_use_env(), KD_OK);
    assert_int_equal(kd_qkernel_current(), KD_QKERNEL_PORTABLE);
    setenv("KD_QKERNEL", "avx2", 1);
    assert_int_equal(kd_qkernel_use_env(), KD_OK);
    assert_int_equal(kd_qkernel_current(), KD_QKERNEL_AVX2);
    setenv("KD_QKERNEL", "sse9", 1);
    assert_int_equal(kd_qkernel_use_env(), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "sse9"));
    unsetenv("KD_QKERNEL");
    assert_int_equal(kd_qkernel_use_env(), KD_OK);
    assert_int_equal(kd_qkernel_current(), kd_qkernel_best());
}

/* out = inp . W^T + bias against double sums over W's dequantized rows and
 * the input rows as quantized to q8_0, for each type and kernel. */
static void check_matrix(kd_qtype type, int N, int rows, int cols, kd_rng *rng)
{
    float *w = malloc((size_t)rows * cols * sizeof(float));
    float *wt = malloc((size_t)rows * cols * sizeof(float));
    float *inp = malloc((size_t)N * cols * sizeof(float));
    float *row = malloc((size_t)cols * sizeof(float)), *xq = malloc((size_t)cols * sizeof(float));
    float *bias = malloc((size_t)rows * sizeof(float));
    float *out = malloc((size_t)N * rows * sizeof(float));
    float *one = malloc((size_t)rows * sizeof(float));
    kd_block_q8_0 *blocks = malloc((size_t)cols / KD_QBLOCK * sizeof *blocks + sizeof *blocks);
    random_floats(w, (size_t)rows * cols, rng, 0.05f);
    random_floats(inp, (size_t)N * cols, rng, 1.0f);
    random_floats(bias, (size_t)rows, rng, 1.0f);
    for (int r = 0; r < rows; r++) /* the HF Conv1D layout [in, out] */
        for (int c = 0; c < cols; c++)
            wt[(size_t)c * rows + r] = w[(size_t)r * cols + c];

    kd_qmatrix matrix, from_transposed;
    kd_qscratch scratch;
    assert_int_equal(kd_qmatrix_quantize(&matrix, type, w, rows, cols, 0), KD_OK);
    assert_int_equal(kd_qmatrix_quantize(&from_transposed, type, wt, rows, cols, 1), KD_OK);
    assert_int_equal(from_transposed.rows, rows);
    assert_memory_equal(matrix.data, from_transposed.data, kd_qmatrix_bytes(&matrix));
    assert_int_equal(kd_qscratch_create(&scratch, N, cols), KD_OK);
    kd_qmatrix_forward(out, inp, &matrix, bias, N, &scratch);
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * cols;
        if (type == KD_QTYPE_F32) {
            memcpy(xq, x, (size_t)cols * sizeof(float));
        } else {
            kd_quantize_row_q8_0(x, blocks, (size_t)cols);
            kd_dequantize_row_q8_0(blocks, xq, (size_t)cols);
        }
        kd_qmatrix_forward(one, x, &matrix, bias, 1, &scratch);
        for (int r = 0; r < rows; r++) {
            kd_qmatrix_row(&matrix, r, row);
            double magnitude, expected = reference_dot(row, xq, (size_t)cols, &magnitude);
            float got = out[(size_t)n * rows + r];
            assert_true(fabs(got - bias[r] - expected) <= 1e-5 * magnitude + 1e-6);
            /* one row alone gives the same result as within a batch */
            assert_true(fabs(one[r] - got) <= 1e-5 * magnitude + 1e-6);
        }
    }
    kd_qscratch_free(&scratch);
    kd_qmatrix_free(&matrix);
    kd_qmatrix_free(&from_transposed);
    free(w), free(wt), free(inp), free(row), free(xq), free(bias), free(out), free(one);
    free(blocks);
}

static void test_matrix_products(void **state)
{
    (void)state;
    kd_rng rng;
    kd_rng_seed(&rng, 3);
    for (int k = 0; k < KD_QKERNEL_COUNT; k++) {
        if (!kd_qkernel_supported((kd_qkernel)k))
            continue;
        assert_int_equal(kd_qkernel_use((kd_qkernel)k), KD_OK);
        check_matrix(KD_QTYPE_Q8_0, 5, 67, 96, &rng);
        check_matrix(KD_QTYPE_Q4_0, 3, 40, 160, &rng);
        check_matrix(KD_QTYPE_Q8_0, 1, 33, 64, &rng);
        /* tiles of input rows and their tail, panels of blocks and theirs */
        check_matrix(KD_QTYPE_Q8_0, 19, 50, 40 * KD_QBLOCK, &rng);
        check_matrix(KD_QTYPE_Q4_0, 17, 35, 17 * KD_QBLOCK, &rng);
    }
    check_matrix(KD_QTYPE_F32, 4, 21, 50, &rng);
    check_matrix(KD_QTYPE_F32, 1, 21, 50, &rng);
    assert_int_equal(kd_qkernel_use(kd_qkernel_best()), KD_OK);
}

static void test_matrix_shapes(void **state)
{
    (void)state;
    kd_qmatrix matrix;
    float w[40] = {0};
    assert_int_equal(kd_qmatrix_quantize(&matrix, KD_QTYPE_Q8_0, w, 1, 40, 0), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "multiple of 32"));
    assert_int_equal(kd_qmatrix_wrap(&matrix, KD_QTYPE_Q4_0, w, 0, 32), KD_ERR_INVALID);
    assert_int_equal(kd_qmatrix_wrap(&matrix, KD_QTYPE_Q4_0, w, 2, 32), KD_OK);
    assert_int_equal(kd_qmatrix_bytes(&matrix), 2 * 18);
    kd_qmatrix_free(&matrix); /* a view: frees nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_supported_kernel_matches),
        cmocka_unit_test(test_kernels_agree_with_portable),
        cmocka_unit_test(test_quantizers_agree),
        cmocka_unit_test(test_kernel_from_environment),
        cmocka_unit_test(test_matrix_products),
        cmocka_unit_test(test_matrix_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
