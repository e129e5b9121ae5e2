/* q8_0 and q4_0 blocks against bytes worked out by hand from ggml's
 * reference quantizers: the scale, the rounding of each value (ties away
 * from zero for q8_0, truncation after + 8.5 for q4_0), the nibble order and
 * q4_0's cap at 15. */
#include "test_support.h"

#include "kd/quant.h"

#include <math.h>
#include <string.h>

static void test_q8_0_block_by_hand(void **state)
{
    (void)state;
    /* amax 63.5 makes d = 0.5 exactly (fp16 0x3800), so q = round(2x); 2x of
     * the largest float below 0.25 is just under a tie, and rounds down. */
    float x[KD_QBLOCK] = {63.5f, -0.25f, 0.25f, 0.74f, -10.0f, nextafterf(0.25f, 0.0f)};
    for (int j = 6; j < KD_QBLOCK; j++)
        x[j] = 0.5f * (float)j;
    kd_block_q8_0 block;
    kd_quantize_row_q8_0(x, &block, KD_QBLOCK);
    assert_int_equal(block.d, 0x3800);
    int8_t expected[KD_QBLOCK] = {127, -1, 1, 1, -20, 0};
    for (int j = 6; j < KD_QBLOCK; j++)
        expected[j] = (int8_t)j;
    assert_memory_equal(block.qs, expected, sizeof expected);

    float back[KD_QBLOCK];
    kd_dequantize_row_q8_0(&block, back, KD_QBLOCK);
    assert_true(back[0] == 63.5f && back[1] == -0.5f && back[4] == -10.0f && back[31] == 15.5f);
}

static void test_q4_0_blocks_by_hand(void **state)
{
    (void)state;
    /* Block 0: the largest magnitude is -8, so d = 1 (0x3c00) and q = x + 8.5
     * truncated. Block 1: it is +4, so d = -0.5 (0xb800): +4 maps to 0 and
     * -4 to 16.5, capped at 15. */
    float x[2 * KD_QBLOCK] = {-8.0f, 7.0f, 7.4f, -0.5f, -0.6f, 0.49f};
    x[16] = 3.0f;
    x[17] = -3.2f;
    x[KD_QBLOCK + 0] = 4.0f;
    x[KD_QBLOCK + 1] = -4.0f;
    x[KD_QBLOCK + 16] = 1.0f;
    kd_block_q4_0 blocks[2];
    kd_quantize_row_q4_0(x, blocks, 2 * KD_QBLOCK);
    assert_int_equal(blocks[0].d, 0x3c00);
    assert_int_equal(blocks[1].d, 0xb800);
    uint8_t expected0[16] = {0xb0, 0x5f, 0x8f, 0x88, 0x87};
    uint8_t expected1[16] = {0x60, 0x8f};
    memset(expected0 + 5, 0x88, 11);
    memset(expected1 + 2, 0x88, 14);
    assert_memory_equal(blocks[0].qs, expected0, 16);
    assert_memory_equal(blocks[1].qs, expected1, 16);

    float back[2 * KD_QBLOCK];
    kd_dequantize_row_q4_0(blocks, back, 2 * KD_QBLOCK);
    assert_true(back[0] == -8.0f && back[1] == 7.0f && back[16] == 3.0f && back[17] == -3.0f);
    assert_true(back[KD_QBLOCK] == 4.0f && back[KD_QBLOCK + 1] == -3.5f &&
                back[KD_QBLOCK + 16] == 1.0f && back[KD_QBLOCK + 2] == 0.0f);
}

static void test_zero_blocks(void **state)
{
    (void)state;
    float x[KD_QBLOCK] = {0};
    kd_block_q8_0 q8;
    kd_block_q4_0 q4;
    kd_quantize_row_q8_0(x, &q8, KD_QBLOCK);
    kd_quantize_row_q4_0(x, &q4, KD_QBLOCK);
    int8_t zeros[KD_QBLOCK] = {0};
    uint8_t eights[16];
    memset(eights, 0x88, sizeof eights);
    assert_int_equal(q8.d, 0);
    assert_int_equal(q4.d, 0x8000); /* 0 / -8 is -0, as in ggml */
    assert_memory_equal(q8.qs, zeros, sizeof zeros);
    assert_memory_equal(q4.qs, eights, sizeof eights);
}

/* Every value comes back within about half a step (q8_0; the scale is
 * rounded to fp16 after the values were divided by the exact one, which
 * moves the extreme codes by up to 127 * 2^-11 steps) or one step (q4_0,
 * which truncates) of where it was. */
static void test_round_trip_error(void **state)
{
    (void)state;
    enum { N = 64 * KD_QBLOCK };
    static float x[N], back[N];
    static kd_block_q8_0 q8[N / KD_QBLOCK];
    static kd_block_q4_0 q4[N / KD_QBLOCK];
    kd_rng rng;
    kd_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++)
        x[i] = kd_rng_normal(&rng) * (float)(1 + i / KD_QBLOCK);
    kd_quantize_row_q8_0(x, q8, N);
    kd_dequantize_row_q8_0(q8, back, N);
    for (int i = 0; i < N; i++)
        assert_true(fabsf(back[i] - x[i]) <= 0.57f * fabsf(kd_float16_to_float(q8[i / 32].d)));
    kd_quantize_row_q4_0(x, q4, N);
    kd_dequantize_row_q4_0(q4, back, N);
    for (int i = 0; i < N; i++)
        assert_true(fabsf(back[i] - x[i]) <= fabsf(kd_float16_to_float(q4[i / 32].d)) * 1.01f);
}

static void test_type_names(void **state)
{
    (void)state;
    kd_qtype type;
    assert_int_equal(kd_qtype_parse("q4_0", &type), KD_OK);
    assert_int_equal(type, KD_QTYPE_Q4_0);
    assert_int_equal(kd_qtype_parse("q8_0", &type), KD_OK);
    assert_string_equal(kd_qtype_name(type), "q8_0");
    assert_int_equal(kd_qtype_parse("q5_1", &type), KD_ERR_INVALID);
    assert_int_equal(kd_qtype_row_bytes(KD_QTYPE_Q8_0, 768), 24 * 34);
    assert_int_equal(kd_qtype_row_bytes(KD_QTYPE_Q4_0, 768), 24 * 18);
    assert_int_equal(kd_qtype_row_bytes(KD_QTYPE_F32, 768), 768 * 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0_block_by_hand), cmocka_unit_test(test_q4_0_blocks_by_hand),
        cmocka_unit_test(test_zero_blocks),        cmocka_unit_test(test_round_trip_error),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
