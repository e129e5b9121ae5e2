/* kd_gpt2_generate_tokens: greedy decoding equals argmax over full forward
 * passes, seeded sampling repeats itself, top-k 1 and a tiny top-p are
 * greedy, and generation stops where it must and refuses what it cannot do. */
#include "test_support.h"

#include <math.h>
#include <string.h>

#include "kd/nn.h"

static const gpt2_config small = {
    .n_layer = 2, .n_head = 2, .n_embd = 32, .n_positions = 32, .vocab_size = 53,
    .layer_norm_epsilon = 1e-5f,
};
enum { PROMPT = 5, NEW = 12 };
static const int prompt[PROMPT] = {7, 1, 30, 12, 44};

typedef struct {
    gpt2_model model;
    gpt2_kv_cache cache;
} fixture;

static int setup(void **state)
{
    fixture *f = test_malloc(sizeof *f);
    assert_int_equal(kd_gpt2_create(&f->model, &small), KD_OK);
    kd_gpt2_init_random(&f->model, 5);
    /* Larger weights give peaked, input-dependent distributions. */
    for (size_t i = 0; i < f->model.num_params; i++)
        f->model.params_memory[i] += 0.3f * sinf(1.3f * (float)i);
    assert_int_equal(kd_gpt2_prepare(&f->model, 1, small.n_positions, 0), KD_OK);
    assert_int_equal(kd_gpt2_kv_cache_create(&f->cache, &small, small.n_positions), KD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kd_gpt2_kv_cache_free(&f->cache);
    kd_gpt2_free(&f->model);
    test_free(f);
    return 0;
}

static gpt2_sampling sampling_with(float temperature, int top_k, float top_p)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    sampling.temperature = temperature;
    sampling.top_k = top_k;
    sampling.top_p = top_p;
    sampling.max_new_tokens = NEW;
    return sampling;
}

/* Runs generation with `seed`; returns how many tokens came out. */
static int generate(fixture *f, const gpt2_sampling *sampling, uint64_t seed, int *out)
{
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    gpt2_generate_stats stats;
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, sampling, &rng,
                                             out, NULL, NULL, &stats),
                     KD_OK);
    assert_int_equal(stats.prompt_tokens, PROMPT);
    return stats.new_tokens;
}

static void test_greedy_equals_argmax_of_full_forward(void **state)
{
    fixture *f = *state;
    gpt2_sampling greedy = sampling_with(0.0f, 50, 1.0f);
    int out[NEW];
    assert_int_equal(generate(f, &greedy, 1, out), NEW);

    /* The slow way: the whole sequence through kd_gpt2_forward for every token. */
    int sequence[PROMPT + NEW];
    float logits[53];
    memcpy(sequence, prompt, sizeof prompt);
    for (int n = 0; n < NEW; n++) {
        int length = PROMPT + n;
        kd_gpt2_forward(&f->model, sequence, 1, length);
        kd_gpt2_head_logits(&f->model, length - 1, 1, logits);
        int best = 0;
        for (int v = 1; v < small.vocab_size; v++)
            best = logits[v] > logits[best] ? v : best;
        sequence[length] = best;
    }
    assert_memory_equal(out, sequence + PROMPT, sizeof out);

    int again[NEW];
    assert_int_equal(generate(f, &greedy, 99, again), NEW);
    assert_memory_equal(out, again, sizeof out);
}

static void test_seeded_sampling_is_repeatable(void **state)
{
    fixture *f = *state;
    gpt2_sampling sampling = sampling_with(1.0f, 0, 1.0f);
    int a[NEW], b[NEW], c[NEW];
    assert_int_equal(generate(f, &sampling, 17, a), NEW);
    assert_int_equal(generate(f, &sampling, 17, b), NEW);
    assert_int_equal(generate(f, &sampling, 18, c), NEW);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

static void test_top_k_one_and_tiny_top_p_are_greedy(void **state)
{
    fixture *f = *state;
    int greedy[NEW], top_k[NEW], top_p[NEW];
    gpt2_sampling sampling = sampling_with(0.0f, 50, 1.0f);
    generate(f, &sampling, 1, greedy);
    sampling = sampling_with(1.5f, 1, 1.0f);
    generate(f, &sampling, 2, top_k);
    sampling = sampling_with(1.5f, 0, 1e-6f);
    generate(f, &sampling, 3, top_p);
    assert_memory_equal(greedy, top_k, sizeof greedy);
    assert_memory_equal(greedy, top_p, sizeof greedy);
}

static void test_stops_at_the_stop_token(void **state)
{
    fixture *f = *state;
    gpt2_sampling sampling = sampling_with(0.0f, 50, 1.0f);
    int out[NEW], stopped[NEW];
    generate(f, &sampling, 1, out);
    /* Stop at the first token that differs from the very first one. */
    int at = 1;
    while (at < NEW && out[at] == out[0])
        at++;
    assert_true(at < NEW);
    sampling.stop_token = out[at];
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    gpt2_generate_stats stats;
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             stopped, NULL, NULL, &stats),
                     KD_OK);
    assert_int_equal(stats.new_tokens, at);
    assert_int_equal(stats.stopped, 1);
    assert_int_equal(stats.decode_steps, at);
    assert_memory_equal(stopped, out, (size_t)at * sizeof(int));
}

typedef struct {
    int tokens[NEW];
    int count;
    int stop_after; /* the callback fails on this token */
} collected;

static kd_status collect(int token, void *context)
{
    collected *c = context;
    c->tokens[c->count++] = token;
    return c->count < c->stop_after ? KD_OK : kd_fail(KD_ERR_IO, "collector full");
}

static void test_lengths_are_bounded_and_streamed(void **state)
{
    fixture *f = *state;
    gpt2_sampling sampling = sampling_with(0.8f, 10, 0.9f);
    kd_rng rng;
    kd_rng_seed(&rng, 4);
    gpt2_generate_stats stats;
    collected seen = {{0}, 0, NEW + 1};
    int out[NEW];
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             out, collect, &seen, &stats),
                     KD_OK);
    assert_int_equal(stats.new_tokens, NEW);
    assert_int_equal(stats.decode_steps, NEW - 1);
    assert_int_equal(seen.count, NEW);
    assert_memory_equal(seen.tokens, out, sizeof out);

    /* A failing callback ends generation with its status. */
    seen = (collected){{0}, 0, 4};
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             out, collect, &seen, &stats),
                     KD_ERR_IO);
    assert_int_equal(seen.count, 4);

    /* A cache of PROMPT + 3 positions holds three new tokens, whatever is asked. */
    gpt2_kv_cache short_cache;
    assert_int_equal(kd_gpt2_kv_cache_create(&short_cache, &small, PROMPT + 3), KD_OK);
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &short_cache, prompt, PROMPT, &sampling,
                                             &rng, out, NULL, NULL, &stats),
                     KD_OK);
    assert_int_equal(stats.new_tokens, 3);
    kd_gpt2_kv_cache_free(&short_cache);

    /* max_new_tokens 0 runs the prompt and emits nothing. */
    sampling.max_new_tokens = 0;
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             NULL, NULL, NULL, &stats),
                     KD_OK);
    assert_int_equal(stats.new_tokens, 0);
    assert_int_equal(f->cache.length, PROMPT);
}

static void test_bad_prompts_and_models_are_refused(void **state)
{
    fixture *f = *state;
    gpt2_sampling sampling = sampling_with(0.0f, 50, 1.0f);
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    gpt2_generate_stats stats;
    int out[NEW];
    int too_long[32] = {0};

    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, too_long, 32, &sampling, &rng,
                                             out, NULL, NULL, &stats),
                     KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "n_positions = 32"));
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, 0, &sampling, &rng, out,
                                             NULL, NULL, &stats),
                     KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "empty"));

    sampling.top_p = 0.0f;
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             out, NULL, NULL, &stats),
                     KD_ERR_INVALID);
    sampling.top_p = 1.0f;

    /* A broken model must not produce tokens silently. */
    f->model.params.lnfb[0] = NAN;
    assert_int_equal(kd_gpt2_generate_tokens(&f->model, &f->cache, prompt, PROMPT, &sampling, &rng,
                                             out, NULL, NULL, &stats),
                     KD_ERR_NUMERIC);
    assert_int_equal(stats.new_tokens, 0);
    f->model.params.lnfb[0] = 0.0f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_greedy_equals_argmax_of_full_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seeded_sampling_is_repeatable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_top_k_one_and_tiny_top_p_are_greedy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stops_at_the_stop_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lengths_are_bounded_and_streamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_prompts_and_models_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
