/* The loss-mask convention: target_mask[t] says whether predicting
 * ids[t + 1] counts; with LOSS_RESPONSE exactly the response tokens and
 * the <|endoftext|> after them count. */
#include "test_support.h"

#include "kd/data.h"

enum { P = ROLE_PROMPT, C = ROLE_CONTEXT, R = ROLE_RESPONSE };

static const int ids[] = {10, 11, 12, 20, 21, 13, 30, 31, 99};
static const uint8_t roles[] = {P, P, P, C, C, P, R, R, R};
enum { COUNT = sizeof ids / sizeof ids[0], SEQ_LEN = 64 };

static void test_response_only(void **state)
{
    (void)state;
    int out_ids[SEQ_LEN + 1];
    uint8_t mask[SEQ_LEN + 1];
    size_t length;
    fit_result fit = kd_example_fit(ids, roles, COUNT, SEQ_LEN, LOSS_RESPONSE, out_ids, mask, &length);
    assert_int_equal(fit.outcome, FIT_KEPT);
    assert_int_equal(length, COUNT);
    assert_memory_equal(out_ids, ids, sizeof ids);
    /* Input 5 (13, the last prompt token) predicts 30, the first response
     * token; input 7 predicts 99, the end of text. */
    const uint8_t expected[COUNT] = {0, 0, 0, 0, 0, 1, 1, 1, 0};
    assert_memory_equal(mask, expected, COUNT);
}

static void test_all_tokens(void **state)
{
    (void)state;
    int out_ids[SEQ_LEN + 1];
    uint8_t mask[SEQ_LEN + 1];
    size_t length;
    fit_result fit = kd_example_fit(ids, roles, COUNT, SEQ_LEN, LOSS_ALL, out_ids, mask, &length);
    assert_int_equal(fit.outcome, FIT_KEPT);
    const uint8_t expected[COUNT] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
    assert_memory_equal(mask, expected, COUNT);
}

static void test_nothing_to_learn_is_dropped(void **state)
{
    (void)state;
    int out_ids[SEQ_LEN + 1];
    uint8_t mask[SEQ_LEN + 1];
    size_t length = 7;
    /* No response token: nothing counts under LOSS_RESPONSE. */
    fit_result fit = kd_example_fit(ids, roles, 6, SEQ_LEN, LOSS_RESPONSE, out_ids, mask, &length);
    assert_int_equal(fit.outcome, FIT_DROPPED);
    assert_int_equal(length, 0);
    fit = kd_example_fit(ids, roles, 6, SEQ_LEN, LOSS_ALL, out_ids, mask, &length);
    assert_int_equal(fit.outcome, FIT_KEPT);
    assert_int_equal(length, 6);
    /* A single token has no target at all. */
    fit = kd_example_fit(ids + 8, roles + 8, 1, SEQ_LEN, LOSS_ALL, out_ids, mask, &length);
    assert_int_equal(fit.outcome, FIT_DROPPED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_only),
        cmocka_unit_test(test_all_tokens),
        cmocka_unit_test(test_nothing_to_learn_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
