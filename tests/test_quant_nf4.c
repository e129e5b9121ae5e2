/* NF4 with double-quantized scales against tests/gen_nf4_fixture.py: the
 * 16 levels against the normal quantiles PyTorch computes, the codes of
 * blocks quantized by the fixture's independent nearest-level rule, the
 * round trip's error bounds (per value, and below 16 evenly spaced levels
 * on normal data), the second level of the scales, short last blocks and
 * all-zero blocks. */
#include "test_support.h"

#include "kd/quant.h"
#include "reference_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE KD_FIXTURES_DIR "/torch/nf4_reference.safetensors"

/* The largest half-gap between neighbouring levels: (1 - 0.6961928) / 2,
 * at the negative end, which has one level fewer. */
static const float half_gap = 0.15191f;

static int code_at(const kd_nf4_tensor *tensor, size_t i)
{
    return i % 2 ? tensor->codes[i / 2] & 0x0f : tensor->codes[i / 2] >> 4;
}

static void normal_values(float *x, size_t n, uint64_t seed)
{
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = kd_rng_normal(&rng);
}

static void test_codebook_is_the_normal_quantiles(void **state)
{
    (void)state;
    reference_fixture ref;
    reference_open(&ref, FIXTURE);
    float quantiles[16];
    reference_floats_into(&ref, "nf4.codebook", quantiles, 16);
    for (int k = 0; k < 16; k++)
        expect_within("NF4 level", fabs((double)kd_nf4_codebook[k] - quantiles[k]), 1e-6);
    /* An exact zero, both ends exact, 8 levels above zero and 7 below. */
    assert_true(kd_nf4_codebook[7] == 0.0f && kd_nf4_codebook[0] == -1.0f &&
                kd_nf4_codebook[15] == 1.0f);
    for (int k = 0; k < 15; k++)
        assert_true(kd_nf4_codebook[k] < kd_nf4_codebook[k + 1]);
    kd_safetensors_close(&ref.file);
}

static void test_codes_match_the_reference(void **state)
{
    (void)state;
    reference_fixture ref;
    reference_open(&ref, FIXTURE);
    enum { N = 4 * KD_NF4_BLOCK };
    float x[N], absmax[4];
    reference_floats_into(&ref, "block.x", x, N);
    reference_floats_into(&ref, "block.absmax", absmax, 4);
    /* codes are read as "token ids" below 16: integers checked on the way */
    int *expected = reference_token_ids(&ref, "block.codes", N, 16);
    kd_nf4_tensor tensor;
    assert_int_equal(kd_nf4_quantize(&tensor, x, N), KD_OK);
    int differ = 0;
    for (size_t i = 0; i < N; i++)
        differ += code_at(&tensor, i) != expected[i];
    assert_int_equal(differ, 0);
    /* The double-quantized scales stand for the blocks' absmax: four scales
     * in one group, so their error is at most a step of the int8 grid. */
    float values[N];
    kd_nf4_dequantize(&tensor, values);
    for (size_t b = 0; b < 4; b++) {
        double step = tensor.scale_scales[0] / 127.0;
        expect_within("block scale", fabs(kd_nf4_block_scale(&tensor, b) - absmax[b]),
                      0.5 * step + 1e-6);
        for (size_t i = b * KD_NF4_BLOCK; i < (b + 1) * KD_NF4_BLOCK; i++)
            assert_true(values[i] ==
                        kd_nf4_codebook[expected[i]] * kd_nf4_block_scale(&tensor, b));
    }
    kd_nf4_free(&tensor);
    free(expected);
    kd_safetensors_close(&ref.file);
}

/* x - dequantize(quantize(x)) per value: at most half the widest gap of the
 * block's absmax plus the scale's own error. */
static void test_round_trip_error_bounds(void **state)
{
    (void)state;
    enum { N = KD_NF4_BLOCK * KD_NF4_SCALE_BLOCK * 3 + 37 }; /* 3 groups and a short block */
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    assert_non_null(x);
    assert_non_null(back);
    normal_values(x, N, 11);
    for (size_t i = 0; i < N; i++)
        x[i] *= 0.02f * (1.0f + (float)(i / 4096)); /* scales that differ between blocks */
    kd_nf4_tensor tensor;
    assert_int_equal(kd_nf4_quantize(&tensor, x, N), KD_OK);
    kd_nf4_dequantize(&tensor, back);
    size_t blocks = (N + KD_NF4_BLOCK - 1) / KD_NF4_BLOCK;
    double worst_ratio = 0.0, nf4_sq = 0.0, even_sq = 0.0;
    for (size_t b = 0; b < blocks; b++) {
        size_t begin = b * KD_NF4_BLOCK, end = begin + KD_NF4_BLOCK < N ? begin + KD_NF4_BLOCK : N;
        float absmax = 0.0f;
        for (size_t i = begin; i < end; i++)
            absmax = fmaxf(absmax, fabsf(x[i]));
        double scale_error = fabs(kd_nf4_block_scale(&tensor, b) - absmax);
        double group_step = tensor.scale_scales[b / KD_NF4_SCALE_BLOCK] / 127.0;
        assert_true(scale_error <= 0.5 * group_step * (1 + 1e-5) + 1e-9);
        for (size_t i = begin; i < end; i++) {
            double error = fabs((double)x[i] - back[i]);
            worst_ratio = fmax(worst_ratio, (error - scale_error) / absmax);
            nf4_sq += error * error;
            /* 16 evenly spaced levels over [-absmax, absmax], the same scale */
            double level = round(((double)x[i] / absmax + 1.0) * 7.5) / 7.5 - 1.0;
            even_sq += pow((double)x[i] - level * absmax, 2);
        }
    }
    printf("worst error %.6g x absmax beyond the scale's\n", worst_ratio);
    assert_true(worst_ratio <= half_gap);
    /* The point of NF4: on normal weights it beats evenly spaced levels. */
    printf("NF4's squared error: %.3f x that of 16 even levels\n", nf4_sq / even_sq);
    assert_true(nf4_sq < 0.9 * even_sq);
    assert_int_equal(tensor.count, N);
    kd_nf4_free(&tensor);
    free(x);
    free(back);
}

static void test_storage_and_edges(void **state)
{
    (void)state;
    /* 4 bits a value, one int8 per 64, one float per 64 * 256 */
    size_t n = (size_t)KD_NF4_BLOCK * KD_NF4_SCALE_BLOCK * 2;
    assert_int_equal(kd_nf4_bytes(n), n / 2 + n / 64 + 2 * sizeof(float));
    assert_int_equal(kd_nf4_bytes(65), 33 + 2 + sizeof(float));

    /* A zero block stays exactly zero; one value of a short block too. */
    float x[KD_NF4_BLOCK + 1] = {0}, back[KD_NF4_BLOCK + 1];
    x[KD_NF4_BLOCK] = -3.0f;
    kd_nf4_tensor tensor;
    assert_int_equal(kd_nf4_quantize(&tensor, x, KD_NF4_BLOCK + 1), KD_OK);
    kd_nf4_dequantize(&tensor, back);
    for (int i = 0; i < KD_NF4_BLOCK; i++)
        assert_true(back[i] == 0.0f);
    assert_true(fabsf(back[KD_NF4_BLOCK] + 3.0f) <= 3.0f / 254.0f);
    assert_int_equal(code_at(&tensor, KD_NF4_BLOCK), 0);
    kd_nf4_free(&tensor);

    /* Equal block scales need no second level: exact round trip of levels. */
    float levels[2 * KD_NF4_BLOCK];
    for (int i = 0; i < 2 * KD_NF4_BLOCK; i++)
        levels[i] = 0.5f * kd_nf4_codebook[i % 16];
    assert_int_equal(kd_nf4_quantize(&tensor, levels, 2 * KD_NF4_BLOCK), KD_OK);
    float exact[2 * KD_NF4_BLOCK];
    kd_nf4_dequantize(&tensor, exact);
    assert_memory_equal(exact, levels, sizeof levels);
    kd_nf4_free(&tensor);

    assert_int_equal(kd_nf4_quantize(&tensor, x, 0), KD_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codebook_is_the_normal_quantiles),
        cmocka_unit_test(test_codes_match_the_reference),
        cmocka_unit_test(test_round_trip_error_bounds),
        cmocka_unit_test(test_storage_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
