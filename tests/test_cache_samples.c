/* The sampled tail is an unbiased estimate: over many seeds, the mean of
 * sum_i tail * c_i / N * f(x_i) matches the exact sum over the tokens
 * outside the top-K of p(v) f(v), for a fixed f; and the draws respect the
 * support (never a top-K token, never a token of probability zero). */
#include <math.h>
#include <stdlib.h>

#include "cache_fixture.h"
#include "test_support.h"

#include "../src/cache/cache_format.h"

enum { VOCAB = 2000, DRAWS = 12, TRIALS = 20000 };

static double test_function(int v)
{
    return sin(0.37 * v) + 0.001 * v; /* any fixed function of the token */
}

/* Checks one logit row for a given K: returns nothing, asserts. */
static void check_unbiased(const float *logits, int K)
{
    row_scratch scratch;
    assert_int_equal(kd_row_scratch_create(&scratch, VOCAB, K, DRAWS), KD_OK);
    int32_t ids[CACHE_MAX_TOPK], sample_ids[DRAWS];
    float logprobs[CACHE_MAX_TOPK];
    uint8_t counts[DRAWS];
    row_summary summary = {.topk_ids = ids, .topk_logprobs = logprobs, .sample_ids = sample_ids,
                           .sample_counts = counts};
    /* The exact tail expectation, from the top-K the summary selects. */
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    assert_int_equal(kd_row_summarise(logits, VOCAB, K, DRAWS, &rng, &scratch, &summary), KD_OK);
    double max = -INFINITY, sum = 0.0, exact = 0.0;
    for (int v = 0; v < VOCAB; v++)
        max = logits[v] > max ? logits[v] : max;
    for (int v = 0; v < VOCAB; v++)
        sum += exp(logits[v] - max);
    char *in_topk = calloc(VOCAB, 1);
    assert_non_null(in_topk);
    for (int k = 0; k < K; k++)
        in_topk[ids[k]] = 1;
    for (int v = 0; v < VOCAB; v++)
        if (!in_topk[v])
            exact += exp(logits[v] - max) / sum * test_function(v);

    double mean = 0.0, square = 0.0;
    for (int trial = 0; trial < TRIALS; trial++) {
        kd_rng_seed(&rng, 1000 + (uint64_t)trial);
        assert_int_equal(kd_row_summarise(logits, VOCAB, K, DRAWS, &rng, &scratch, &summary), KD_OK);
        double estimate = 0.0;
        int drawn = 0;
        for (int j = 0; j < summary.sample_unique; j++) {
            assert_false(in_topk[sample_ids[j]]);
            assert_true(logits[sample_ids[j]] > -1e30f);
            assert_true(j == 0 || sample_ids[j] > sample_ids[j - 1]);
            drawn += counts[j];
            estimate += summary.tail_mass * counts[j] / DRAWS * test_function(sample_ids[j]);
        }
        assert_int_equal(drawn, DRAWS);
        mean += estimate;
        square += estimate * estimate;
    }
    mean /= TRIALS;
    double stderr_of_mean = sqrt((square / TRIALS - mean * mean) / TRIALS);
    /* Five standard errors: a biased estimator of this size would fail,
     * an unbiased one fails about once in 1.7 million runs. */
    assert_true(fabs(mean - exact) < 5.0 * stderr_of_mean + 1e-9);
    free(in_topk);
    kd_row_scratch_free(&scratch);
}

static void fill_logits(float *logits, float scale)
{
    kd_rng rng;
    kd_rng_seed(&rng, 99);
    for (int v = 0; v < VOCAB; v++)
        logits[v] = scale * kd_rng_normal(&rng);
    /* Tokens the teacher rules out entirely must never be drawn. */
    for (int v = 0; v < VOCAB; v += 10)
        logits[v] = -1e38f;
}

static void test_tail_estimate_is_unbiased_after_topk(void **state)
{
    (void)state;
    float logits[VOCAB];
    fill_logits(logits, 3.0f);
    check_unbiased(logits, 8);
}

static void test_full_distribution_estimate_is_unbiased_without_topk(void **state)
{
    (void)state;
    float logits[VOCAB];
    fill_logits(logits, 1.0f);
    check_unbiased(logits, 0);
}

static void test_same_seed_same_draws(void **state)
{
    (void)state;
    float logits[VOCAB];
    fill_logits(logits, 2.0f);
    row_scratch scratch;
    assert_int_equal(kd_row_scratch_create(&scratch, VOCAB, 4, DRAWS), KD_OK);
    int32_t ids[4], first[DRAWS], second[DRAWS];
    float logprobs[4];
    uint8_t counts[DRAWS];
    row_summary a = {.topk_ids = ids, .topk_logprobs = logprobs, .sample_ids = first,
                     .sample_counts = counts};
    row_summary b = a;
    b.sample_ids = second;
    kd_rng rng;
    kd_rng_seed(&rng, 5);
    assert_int_equal(kd_row_summarise(logits, VOCAB, 4, DRAWS, &rng, &scratch, &a), KD_OK);
    kd_rng_seed(&rng, 5);
    assert_int_equal(kd_row_summarise(logits, VOCAB, 4, DRAWS, &rng, &scratch, &b), KD_OK);
    assert_int_equal(a.sample_unique, b.sample_unique);
    assert_memory_equal(first, second, (size_t)a.sample_unique * sizeof(int32_t));
    kd_row_scratch_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_estimate_is_unbiased_after_topk),
        cmocka_unit_test(test_full_distribution_estimate_is_unbiased_without_topk),
        cmocka_unit_test(test_same_seed_same_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
