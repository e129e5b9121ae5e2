/* The sampler on hand-made logits: greedy, top-k, top-p, temperature, the
 * distribution it draws from, determinism, and option checks. */
#include "test_support.h"

#include <math.h>
#include <string.h>

#include "kd/nn.h"

enum { V = 6, DRAWS = 20000 };
/* Probabilities 0.4, 0.25, 0.15, 0.1, 0.06, 0.04 in a shuffled order. */
static const float probabilities[V] = {0.1f, 0.4f, 0.04f, 0.25f, 0.06f, 0.15f};

static void logits_of(const float *p, float *logits)
{
    for (int v = 0; v < V; v++)
        logits[v] = logf(p[v]) + 3.0f; /* any shift: softmax ignores it */
}

static gpt2_sampling plain_sampling(void)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = 1.0f;
    sampling.top_k = 0;
    sampling.top_p = 1.0f;
    return sampling;
}

/* counts[v] = how often v is drawn in DRAWS draws with seed 1. */
static void draw_counts(const float *logits, const gpt2_sampling *sampling, int counts[V])
{
    gpt2_candidate scratch[V];
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    memset(counts, 0, V * sizeof(int));
    for (int i = 0; i < DRAWS; i++) {
        int token = kd_gpt2_sample_token(logits, V, sampling, scratch, &rng);
        assert_in_range(token, 0, V - 1);
        counts[token]++;
    }
}

static void test_greedy_is_argmax_with_lowest_id_on_ties(void **state)
{
    (void)state;
    float logits[V] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 0.0f};
    gpt2_sampling sampling = plain_sampling();
    gpt2_candidate scratch[V];
    kd_rng rng, untouched;
    kd_rng_seed(&rng, 9);
    untouched = rng;
    sampling.temperature = 0.0f;
    assert_int_equal(kd_gpt2_sample_token(logits, V, &sampling, scratch, &rng), 1);
    sampling.temperature = 1.0f;
    sampling.top_k = 1;
    assert_int_equal(kd_gpt2_sample_token(logits, V, &sampling, scratch, &rng), 1);
    /* Greedy choices draw nothing, so they do not shift a seeded stream. */
    assert_memory_equal(&rng, &untouched, sizeof rng);
}

static void test_draws_follow_the_softmax(void **state)
{
    (void)state;
    float logits[V];
    logits_of(probabilities, logits);
    gpt2_sampling sampling = plain_sampling();
    int counts[V];
    draw_counts(logits, &sampling, counts);
    for (int v = 0; v < V; v++) {
        double frequency = (double)counts[v] / DRAWS;
        print_message("token %d: p %.3f drawn %.3f\n", v, (double)probabilities[v], frequency);
        /* 0.015 is over four standard deviations at 20000 draws. */
        assert_true(fabs(frequency - probabilities[v]) < 0.015);
    }
}

static void test_top_k_keeps_only_the_k_best(void **state)
{
    (void)state;
    float logits[V];
    logits_of(probabilities, logits);
    gpt2_sampling sampling = plain_sampling();
    sampling.top_k = 2;
    int counts[V];
    draw_counts(logits, &sampling, counts);
    /* Tokens 1 (0.4) and 3 (0.25), renormalised to 0.615 / 0.385. */
    assert_int_equal(counts[1] + counts[3], DRAWS);
    assert_true(fabs((double)counts[1] / DRAWS - 0.4 / 0.65) < 0.015);

    sampling.top_k = 100; /* more than V: no limit */
    draw_counts(logits, &sampling, counts);
    for (int v = 0; v < V; v++)
        assert_true(counts[v] > 0);
}

static void test_top_p_keeps_the_smallest_nucleus(void **state)
{
    (void)state;
    float logits[V];
    logits_of(probabilities, logits);
    gpt2_sampling sampling = plain_sampling();
    int counts[V];
    /* 0.4 + 0.25 = 0.65 < 0.7, so the nucleus is the three best. */
    sampling.top_p = 0.7f;
    draw_counts(logits, &sampling, counts);
    assert_int_equal(counts[1] + counts[3] + counts[5], DRAWS);
    assert_true(counts[1] > 0 && counts[3] > 0 && counts[5] > 0);
    /* A tiny nucleus is the best token alone: greedy. */
    sampling.top_p = 1e-6f;
    draw_counts(logits, &sampling, counts);
    assert_int_equal(counts[1], DRAWS);
}

static void test_temperature_sharpens_and_flattens(void **state)
{
    (void)state;
    float logits[V];
    logits_of(probabilities, logits);
    gpt2_sampling sampling = plain_sampling();
    int counts[V];
    sampling.temperature = 1e-30f; /* 1/T overflows: must still be greedy */
    draw_counts(logits, &sampling, counts);
    assert_int_equal(counts[1], DRAWS);
    sampling.temperature = 100.0f; /* nearly uniform */
    draw_counts(logits, &sampling, counts);
    for (int v = 0; v < V; v++)
        assert_true(fabs((double)counts[v] / DRAWS - 1.0 / V) < 0.02);
}

static void test_same_seed_same_draws(void **state)
{
    (void)state;
    float logits[V];
    logits_of(probabilities, logits);
    gpt2_sampling sampling = plain_sampling();
    gpt2_candidate scratch[V];
    kd_rng a, b, c;
    kd_rng_seed(&a, 42);
    kd_rng_seed(&b, 42);
    kd_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int x = kd_gpt2_sample_token(logits, V, &sampling, scratch, &a);
        assert_int_equal(x, kd_gpt2_sample_token(logits, V, &sampling, scratch, &b));
        differ += x != kd_gpt2_sample_token(logits, V, &sampling, scratch, &c);
    }
    assert_true(differ > 0);
}

static void test_bad_options_are_refused(void **state)
{
    (void)state;
    gpt2_sampling good;
    kd_gpt2_sampling_default(&good);
    assert_int_equal(kd_gpt2_sampling_validate(&good), KD_OK);
    struct {
        float temperature, top_p;
        int top_k, max_new_tokens;
        const char *message;
    } cases[] = {
        {-0.5f, 1.0f, 0, 1, "temperature"}, {NAN, 1.0f, 0, 1, "temperature"},
        {INFINITY, 1.0f, 0, 1, "temperature"}, {1.0f, 0.0f, 0, 1, "top-p"},
        {1.0f, 1.5f, 0, 1, "top-p"},         {1.0f, NAN, 0, 1, "top-p"},
        {1.0f, 1.0f, -1, 1, "top-k"},        {1.0f, 1.0f, 0, -1, "max-new-tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gpt2_sampling bad = good;
        bad.temperature = cases[i].temperature;
        bad.top_p = cases[i].top_p;
        bad.top_k = cases[i].top_k;
        bad.max_new_tokens = cases[i].max_new_tokens;
        assert_int_equal(kd_gpt2_sampling_validate(&bad), KD_ERR_INVALID);
        assert_non_null(strstr(kd_last_error(), cases[i].message));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_is_argmax_with_lowest_id_on_ties),
        cmocka_unit_test(test_draws_follow_the_softmax),
        cmocka_unit_test(test_top_k_keeps_only_the_k_best),
        cmocka_unit_test(test_top_p_keeps_the_smallest_nucleus),
        cmocka_unit_test(test_temperature_sharpens_and_flattens),
        cmocka_unit_test(test_same_seed_same_draws),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
