/* The KV-cache path must compute what the full forward pass computes: at
 * every position, the logits of prefill + decode steps equal those of
 * kd_gpt2_forward over the whole sequence followed by kd_gpt2_head_logits. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/nn.h"

static const gpt2_config small = {
    .n_layer = 3, .n_head = 4, .n_embd = 64, .n_positions = 64, .vocab_size = 101,
    .layer_norm_epsilon = 1e-5f,
};
enum { SEQ = 40 };

/* GPT-2's initialisation plus a deterministic perturbation, so that the
 * attention is far from uniform and every weight matters to the logits. */
static void make_model(gpt2_model *model, int batch, int seq)
{
    assert_int_equal(kd_gpt2_create(model, &small), KD_OK);
    kd_gpt2_init_random(model, 3);
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += 0.2f * sinf(0.7f * (float)i);
    assert_int_equal(kd_gpt2_prepare(model, batch, seq, 0), KD_OK);
}

static void make_tokens(int *tokens, int count, uint64_t seed)
{
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    for (int t = 0; t < count; t++)
        tokens[t] = (int)kd_rng_below(&rng, (uint64_t)small.vocab_size);
}

/* Largest |a - b| over V logits, relative to the row's largest |b| (at
 * least 1): float rounding grows with the size of the activations. */
static double max_difference(const float *a, const float *b, int V)
{
    double scale = 1.0, worst = 0.0;
    for (int v = 0; v < V; v++)
        scale = fabs((double)b[v]) > scale ? fabs((double)b[v]) : scale;
    for (int v = 0; v < V; v++) {
        double difference = fabs((double)a[v] - (double)b[v]) / scale;
        worst = difference > worst ? difference : worst;
    }
    return worst;
}

static void test_cached_logits_match_full_forward(void **state)
{
    (void)state;
    enum { V = 101 };
    gpt2_model model;
    /* Prepared for a larger (B, T) than the sequence: prefill must take any
     * prepared shape that is large enough, as a training run's model is. */
    make_model(&model, 2, SEQ + 8);
    int tokens[SEQ];
    make_tokens(tokens, SEQ, 11);
    float *full = malloc((size_t)SEQ * V * sizeof(float));
    kd_gpt2_forward(&model, tokens, 1, SEQ);
    kd_gpt2_head_logits(&model, 0, SEQ, full);

    gpt2_kv_cache cache;
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, SEQ), KD_OK);
    const int prefill_lengths[] = {1, 7, SEQ};
    for (size_t i = 0; i < sizeof prefill_lengths / sizeof *prefill_lengths; i++) {
        int prefill = prefill_lengths[i];
        double worst = 0.0;
        assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, prefill), KD_OK);
        assert_int_equal(cache.length, prefill);
        double difference = max_difference(cache.logits, full + (size_t)(prefill - 1) * V, V);
        worst = difference > worst ? difference : worst;
        for (int t = prefill; t < SEQ; t++) {
            assert_int_equal(kd_gpt2_decode_step(&model, &cache, tokens[t]), KD_OK);
            difference = max_difference(cache.logits, full + (size_t)t * V, V);
            worst = difference > worst ? difference : worst;
        }
        print_message("prefill %2d: largest logit difference %.2e\n", prefill, worst);
        assert_true(worst < 1e-4);
    }
    kd_gpt2_kv_cache_free(&cache);
    free(full);
    kd_gpt2_free(&model);
}

static void test_bad_requests_are_refused(void **state)
{
    (void)state;
    gpt2_model model;
    make_model(&model, 1, 8);
    int tokens[SEQ];
    make_tokens(tokens, SEQ, 5);
    gpt2_kv_cache cache;

    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, 0), KD_ERR_INVALID);
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, small.n_positions + 1), KD_ERR_INVALID);
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, 12), KD_OK);

    /* Longer than the model was prepared for, longer than the cache. */
    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 9), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "prepared for sequences of up to 8"));
    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 0), KD_ERR_INVALID);

    tokens[2] = small.vocab_size;
    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 4), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "token 101 at position 2"));
    tokens[2] = 0;

    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 8), KD_OK);
    assert_int_equal(kd_gpt2_decode_step(&model, &cache, -1), KD_ERR_INVALID);
    for (int t = 8; t < 12; t++)
        assert_int_equal(kd_gpt2_decode_step(&model, &cache, tokens[t]), KD_OK);
    assert_int_equal(kd_gpt2_decode_step(&model, &cache, tokens[12]), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "full"));
    kd_gpt2_kv_cache_free(&cache);

    /* A cache made for another shape. */
    gpt2_config other = small;
    other.n_embd = 32;
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &other, 12), KD_OK);
    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 4), KD_ERR_INVALID);
    assert_int_equal(kd_gpt2_decode_step(&model, &cache, tokens[0]), KD_ERR_INVALID);
    kd_gpt2_kv_cache_free(&cache);
    kd_gpt2_free(&model);
}

static void test_unprepared_model_is_refused(void **state)
{
    (void)state;
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &small), KD_OK);
    gpt2_kv_cache cache;
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, 8), KD_OK);
    int tokens[2] = {1, 2};
    assert_int_equal(kd_gpt2_prefill(&model, &cache, tokens, 2), KD_ERR_INVALID);
    kd_gpt2_kv_cache_free(&cache);
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_logits_match_full_forward),
        cmocka_unit_test(test_bad_requests_are_refused),
        cmocka_unit_test(test_unprepared_model_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
