/* F16 and BF16 conversions: exhaustive round trips and hand-picked rounding
 * cases (ties to even, subnormals, overflow, infinities, NaN). */
#include "test_support.h"

#include "kd/core.h"

#include <math.h>
#include <string.h>

static uint32_t bits_of(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static void test_every_half_round_trips(void **state)
{
    (void)state;
    for (uint32_t half = 0; half < 0x10000u; half++) {
        float value = kd_float16_to_float((uint16_t)half);
        int is_nan = (half & 0x7c00u) == 0x7c00u && (half & 0x3ffu);
        if (is_nan) {
            assert_true(isnan(value));
            assert_true(isnan(kd_float16_to_float(kd_float_to_float16(value))));
        } else {
            assert_int_equal(kd_float_to_float16(value), half);
        }
    }
}

static void test_half_decodes_known_values(void **state)
{
    (void)state;
    assert_true(kd_float16_to_float(0x3c00) == 1.0f);
    assert_true(kd_float16_to_float(0xc000) == -2.0f);
    assert_true(kd_float16_to_float(0x7bff) == 65504.0f);
    assert_true(kd_float16_to_float(0x0001) == 0x1p-24f);          /* smallest subnormal */
    assert_true(kd_float16_to_float(0x03ff) == 1023 * 0x1p-24f);   /* largest subnormal */
    assert_true(kd_float16_to_float(0x0400) == 0x1p-14f);          /* smallest normal */
    assert_int_equal(bits_of(kd_float16_to_float(0x8000)), 0x80000000u); /* -0 */
    assert_true(isinf(kd_float16_to_float(0x7c00)) && kd_float16_to_float(0x7c00) > 0);
    assert_true(isinf(kd_float16_to_float(0xfc00)) && kd_float16_to_float(0xfc00) < 0);
    assert_true(isnan(kd_float16_to_float(0x7e00)));
}

static void test_float_to_half_rounds_to_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(kd_float_to_float16(1.0f + 0x1p-11f), 0x3c00);      /* tie, down to even */
    assert_int_equal(kd_float_to_float16(1.0f + 3 * 0x1p-11f), 0x3c02);  /* tie, up to even */
    assert_int_equal(kd_float_to_float16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above tie */
    assert_int_equal(kd_float_to_float16(65519.0f), 0x7bff);  /* below the overflow tie */
    assert_int_equal(kd_float_to_float16(65520.0f), 0x7c00);  /* tie rounds to inf */
    assert_int_equal(kd_float_to_float16(1e10f), 0x7c00);
    assert_int_equal(kd_float_to_float16(-1e10f), 0xfc00);
    assert_int_equal(kd_float_to_float16(0x1p-25f), 0x0000);  /* half the smallest: tie to 0 */
    assert_int_equal(kd_float_to_float16(nextafterf(0x1p-25f, 1.0f)), 0x0001);
    assert_int_equal(kd_float_to_float16(3 * 0x1p-26f), 0x0001); /* 0.75 ulp: up to 1 */
    assert_int_equal(kd_float_to_float16(3 * 0x1p-25f), 0x0002); /* 1.5 ulp: tie to even 2 */
    assert_int_equal(kd_float_to_float16(0x1p-14f - 0x1p-25f), 0x0400); /* subnormal -> normal */
    assert_int_equal(kd_float_to_float16(1e-30f), 0x0000);
    assert_int_equal(kd_float_to_float16(-1e-30f), 0x8000);
    assert_int_equal(kd_float_to_float16(INFINITY), 0x7c00);
    assert_int_equal(kd_float_to_float16(-INFINITY), 0xfc00);
    uint16_t nan = kd_float_to_float16(NAN);
    assert_int_equal(nan & 0x7c00, 0x7c00);
    assert_true((nan & 0x3ff) != 0);
}

static void test_bfloat16_decodes_known_values(void **state)
{
    (void)state;
    assert_true(kd_bfloat16_to_float(0x3f80) == 1.0f);
    assert_true(kd_bfloat16_to_float(0x4049) == 3.140625f);
    assert_true(kd_bfloat16_to_float(0xc2f7) == -123.5f);
    assert_true(kd_bfloat16_to_float(0x0001) == 0x1p-133f); /* smallest subnormal */
    assert_true(isinf(kd_bfloat16_to_float(0xff80)) && kd_bfloat16_to_float(0xff80) < 0);
    assert_true(isnan(kd_bfloat16_to_float(0x7fc0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_half_round_trips),
        cmocka_unit_test(test_half_decodes_known_values),
        cmocka_unit_test(test_float_to_half_rounds_to_nearest_even),
        cmocka_unit_test(test_bfloat16_decodes_known_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
