/* The cache's value grid: the stated error bound, clamping, and the 12-bit
 * packing. */
#include <math.h>
#include <stdlib.h>

#include "test_support.h"

#include "../src/cache/cache_format.h"

static void test_logprob_error_is_within_the_stated_bound(void **state)
{
    (void)state;
    float worst = 0.0f;
    for (int i = 0; i <= 400000; i++) {
        float logprob = -31.98f * (float)i / 400000.0f;
        float error = fabsf(kd_code_to_logprob(kd_logprob_to_code(logprob)) - logprob);
        worst = error > worst ? error : worst;
    }
    assert_true(worst <= CACHE_LOGPROB_MAX_ERROR * (1.0f + 1e-5f));
    /* The bound is tight: half a step is reached. */
    assert_true(worst > CACHE_LOGPROB_MAX_ERROR * 0.99f);
}

static void test_entropy_error_is_within_the_stated_bound(void **state)
{
    (void)state;
    for (int i = 0; i <= 100000; i++) {
        float nats = 11.0f * (float)i / 100000.0f;
        assert_true(fabsf(kd_code_to_nats(kd_nats_to_code(nats)) - nats) <= CACHE_LOGPROB_MAX_ERROR);
    }
}

static void test_values_outside_the_grid_are_clamped(void **state)
{
    (void)state;
    assert_int_equal(kd_logprob_to_code(0.0f), 0);
    assert_int_equal(kd_logprob_to_code(1e-7f), 0);            /* rounding above zero */
    assert_int_equal(kd_logprob_to_code(-40.0f), CACHE_CODE_MAX);
    assert_int_equal(kd_logprob_to_code(-INFINITY), CACHE_CODE_MAX);
    assert_int_equal(kd_logprob_to_code(NAN), CACHE_CODE_MAX);
    assert_int_equal(kd_nats_to_code(-1e-6f), 0);
    assert_true(kd_code_to_logprob(CACHE_CODE_MAX) < -31.9f);
}

static void test_codes_pack_and_unpack(void **state)
{
    (void)state;
    for (size_t count = 0; count < 9; count++) {
        uint16_t codes[9], back[9];
        uint8_t packed[16];
        for (size_t i = 0; i < count; i++)
            codes[i] = (uint16_t)((i * 1237u + 4000u) & CACHE_CODE_MAX);
        assert_int_equal(kd_codes_packed_bytes(count), (count + 1) / 2 * 3);
        kd_codes_pack(codes, count, packed);
        kd_codes_unpack(packed, count, back);
        for (size_t i = 0; i < count; i++)
            assert_int_equal(back[i], codes[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logprob_error_is_within_the_stated_bound),
        cmocka_unit_test(test_entropy_error_is_within_the_stated_bound),
        cmocka_unit_test(test_values_outside_the_grid_are_clamped),
        cmocka_unit_test(test_codes_pack_and_unpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
