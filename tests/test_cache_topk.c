/* One position's summary against a brute-force reference: the top-K by a
 * full sort (ties to the lower id), log-probabilities, masses and entropy
 * computed in double over the whole vocabulary. */
#include <math.h>
#include <stdlib.h>

#include "cache_fixture.h"
#include "test_support.h"

#include "../src/cache/cache_format.h"

static void check_row(const float *logits, int V, int K)
{
    row_scratch scratch;
    assert_int_equal(kd_row_scratch_create(&scratch, V, K, 0), KD_OK);
    int32_t ids[CACHE_MAX_TOPK];
    float logprobs[CACHE_MAX_TOPK];
    row_summary summary = {.topk_ids = ids, .topk_logprobs = logprobs};
    assert_int_equal(kd_row_summarise(logits, V, K, 0, NULL, &scratch, &summary), KD_OK);

    reference_row reference;
    reference_row_compute(&reference, logits, V);
    const int *order = reference.order;
    double lse = reference.log_sum_exp, top = 0.0;
    for (int k = 0; k < K; k++) {
        assert_int_equal(ids[k], order[k]);
        assert_true(fabs(logprobs[k] - (logits[order[k]] - lse)) < 1e-4);
        top += exp(logits[order[k]] - lse);
    }
    assert_true(fabs(summary.topk_mass - top) < 1e-5);
    assert_true(fabs(summary.tail_mass - (1.0 - top)) < 1e-5);
    assert_true(fabs(summary.topk_mass + summary.tail_mass - 1.0) < 1e-12);
    assert_true(fabs(summary.entropy - reference.entropy) < 1e-4);
    reference_row_free(&reference);
    kd_row_scratch_free(&scratch);
}

static void test_topk_matches_a_full_sort(void **state)
{
    (void)state;
    int V = 5003;
    float *logits = malloc((size_t)V * sizeof(float));
    assert_non_null(logits);
    int sizes[] = {1, 2, 8, 32, 100, 256};
    for (uint32_t row = 0; row < 12; row++) {
        cache_fixture_logits(logits, V, row, (int)row);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            check_row(logits, V, sizes[i]);
    }
    free(logits);
}

static void test_ties_keep_the_lower_id(void **state)
{
    (void)state;
    float logits[64];
    for (int v = 0; v < 64; v++)
        logits[v] = v % 4 == 3 ? 2.0f : 0.0f; /* 16 tied maxima, 48 tied minima */
    check_row(logits, 64, 20);
    check_row(logits, 64, 64); /* the whole vocabulary: the tail is empty */
}

static void test_non_finite_logits_are_refused(void **state)
{
    (void)state;
    float logits[16] = {0};
    row_scratch scratch;
    assert_int_equal(kd_row_scratch_create(&scratch, 16, 4, 0), KD_OK);
    int32_t ids[4];
    float logprobs[4];
    row_summary summary = {.topk_ids = ids, .topk_logprobs = logprobs};
    logits[9] = NAN;
    assert_int_equal(kd_row_summarise(logits, 16, 4, 0, NULL, &scratch, &summary), KD_ERR_NUMERIC);
    logits[9] = INFINITY;
    assert_int_equal(kd_row_summarise(logits, 16, 4, 0, NULL, &scratch, &summary), KD_ERR_NUMERIC);
    kd_row_scratch_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_matches_a_full_sort),
        cmocka_unit_test(test_ties_keep_the_lower_id),
        cmocka_unit_test(test_non_finite_logits_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
