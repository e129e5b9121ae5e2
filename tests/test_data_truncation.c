/* Fitting to the sequence length: the context shrinks from its end first,
 * then the response loses its tail, and an example that still does not fit
 * with one response token is dropped. */
#include "test_support.h"

#include "kd/data.h"

enum { P = ROLE_PROMPT, C = ROLE_CONTEXT, R = ROLE_RESPONSE };

/* 3 prompt, 4 context, 2 prompt, 3 response (the last one <|endoftext|>). */
static const int ids[] = {1, 2, 3, 40, 41, 42, 43, 4, 5, 70, 71, 99};
static const uint8_t roles[] = {P, P, P, C, C, C, C, P, P, R, R, R};
enum { COUNT = sizeof ids / sizeof ids[0], ROOM = COUNT + 1 };

typedef struct {
    fit_result fit;
    int ids[ROOM];
    uint8_t mask[ROOM];
    size_t length;
} fitted;

static fitted fit_to(size_t seq_len)
{
    fitted out;
    out.fit = kd_example_fit(ids, roles, COUNT, seq_len, LOSS_RESPONSE, out.ids, out.mask, &out.length);
    return out;
}

static void test_exact_fit_is_kept(void **state)
{
    (void)state;
    fitted out = fit_to(COUNT - 1); /* T + 1 = 12 ids */
    assert_int_equal(out.fit.outcome, FIT_KEPT);
    assert_int_equal(out.length, COUNT);
    assert_int_equal(out.fit.context_cut + out.fit.response_cut, 0);
}

static void test_context_shrinks_from_its_end(void **state)
{
    (void)state;
    fitted out = fit_to(9);
    assert_int_equal(out.fit.outcome, FIT_SHORTENED);
    assert_int_equal(out.fit.context_cut, 2);
    assert_int_equal(out.fit.response_cut, 0);
    const int expected[] = {1, 2, 3, 40, 41, 4, 5, 70, 71, 99};
    assert_int_equal(out.length, 10);
    assert_memory_equal(out.ids, expected, sizeof expected);
    const uint8_t mask[] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 0};
    assert_memory_equal(out.mask, mask, sizeof mask);
}

static void test_then_the_response_tail(void **state)
{
    (void)state;
    fitted out = fit_to(5);
    assert_int_equal(out.fit.outcome, FIT_SHORTENED);
    assert_int_equal(out.fit.context_cut, 4);
    assert_int_equal(out.fit.response_cut, 2);
    /* The context is gone, the response keeps its first token; the cut
     * answer has no <|endoftext|>. */
    const int expected[] = {1, 2, 3, 4, 5, 70};
    assert_int_equal(out.length, 6);
    assert_memory_equal(out.ids, expected, sizeof expected);
    const uint8_t mask[] = {0, 0, 0, 0, 1, 0};
    assert_memory_equal(out.mask, mask, sizeof mask);
}

static void test_too_long_prompt_is_dropped(void **state)
{
    (void)state;
    fitted out = fit_to(4); /* 5 prompt tokens leave no room for a response token */
    assert_int_equal(out.fit.outcome, FIT_DROPPED);
    assert_int_equal(out.length, 0);
    assert_int_equal(out.fit.context_cut + out.fit.response_cut, 0);
    out = fit_to(1);
    assert_int_equal(out.fit.outcome, FIT_DROPPED);
}

static void test_every_length_fits_or_drops(void **state)
{
    (void)state;
    for (size_t seq_len = 1; seq_len < 2 * COUNT; seq_len++) {
        fitted out = fit_to(seq_len);
        if (out.fit.outcome == FIT_DROPPED)
            continue;
        assert_true(out.length <= seq_len + 1);
        assert_int_equal(out.length + out.fit.context_cut + out.fit.response_cut, COUNT);
        assert_int_equal(out.fit.outcome == FIT_SHORTENED, COUNT > seq_len + 1);
        assert_int_equal(out.mask[out.length - 1], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_fit_is_kept),
        cmocka_unit_test(test_context_shrinks_from_its_end),
        cmocka_unit_test(test_then_the_response_tail),
        cmocka_unit_test(test_too_long_prompt_is_dropped),
        cmocka_unit_test(test_every_length_fits_or_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
