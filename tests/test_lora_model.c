/* LoRA adapters on a tiny GPT-2: finite differences of every adapter tensor
 * and bias with dropout on, PEFT's initialisation (so a new adapter leaves
 * the model's output bit-identical), dropout's masks, the frozen base's
 * memory, and the settings refused with the field named. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/lora.h"

static const gpt2_config tiny = {
    .n_layer = 2, .n_head = 2, .n_embd = 8, .n_positions = 8, .vocab_size = 11,
    .layer_norm_epsilon = 1e-5f,
};
enum { B = 2, T = 5 };
static const int tokens[B * T] = {1, 4, 2, 9, 3, 7, 7, 0, 5, 10};
static const int targets[B * T] = {4, 2, 9, 3, 6, 7, 0, 5, 10, 1};
static const float weights[B * T] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 0};

static double max_difference(const float *a, const float *b, size_t n)
{
    double max = 0.0;
    for (size_t i = 0; i < n; i++)
        max = fmax(max, fabs((double)a[i] - b[i]));
    return max;
}

static double loss_of(gpt2_model *model)
{
    kd_gpt2_forward(model, tokens, B, T);
    return kd_gpt2_head_cross_entropy(model, targets, weights, 0.0f);
}

/* A random tiny model (weights large enough that every path carries
 * signal) with adapters on every target; B made nonzero unless fresh. */
static void make_model(gpt2_model *model, const gpt2_lora_config *lora, int fresh)
{
    assert_int_equal(kd_gpt2_create(model, &tiny), KD_OK);
    kd_gpt2_init_random(model, 42);
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += 0.3f * sinf((float)i);
    assert_int_equal(kd_gpt2_lora_attach(model, lora, 5), KD_OK);
    for (size_t i = 0; !fresh && i < model->lora->num_params; i++)
        model->lora->params_memory[i] += 0.3f * cosf((float)i);
    assert_int_equal(kd_gpt2_prepare(model, B, T, 1), KD_OK);
}

static gpt2_lora_config all_targets(int rank, float dropout, int train_biases)
{
    gpt2_lora_config config;
    kd_gpt2_lora_config_default(&config);
    config.rank = rank;
    config.alpha = 3.0f;
    config.dropout = dropout;
    config.targets = (1u << GPT2_LORA_TARGETS) - 1;
    config.train_biases = train_biases;
    return config;
}

/* The directional derivative along a random unit direction over `count`
 * floats at `param` (gradient `grad`) against central differences. */
static void check_direction(gpt2_model *model, const char *what, float *param, const float *grad,
                            size_t count, kd_rng *rng)
{
    float *saved = malloc(count * sizeof *saved), *direction = malloc(count * sizeof *direction);
    assert_true(saved && direction);
    memcpy(saved, param, count * sizeof *saved);
    double norm = 0.0, analytic = 0.0;
    for (size_t i = 0; i < count; i++) {
        direction[i] = kd_rng_normal(rng);
        norm += (double)direction[i] * direction[i];
    }
    for (size_t i = 0; i < count; i++) {
        direction[i] /= (float)sqrt(norm);
        analytic += (double)direction[i] * grad[i];
    }
    const double h = 1e-2;
    double loss[2];
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < count; i++)
            param[i] = saved[i] + (side ? -1.0f : 1.0f) * (float)h * direction[i];
        loss[side] = loss_of(model);
    }
    memcpy(param, saved, count * sizeof *saved);
    double numeric = (loss[0] - loss[1]) / (2 * h);
    print_message("%-36s analytic %+.6f numeric %+.6f\n", what, analytic, numeric);
    assert_true(fabs(analytic) > 1e-4);
    assert_true(fabs(numeric - analytic) <= 1e-3 + 1e-2 * fabs(analytic));
    free(direction);
    free(saved);
}

/* The gradient of an adapter tensor: the model's gradient buffer holds the
 * trainable base tensors first, then the adapters in their own layout. */
static const float *adapter_grad(const gpt2_model *model, const gpt2_tensor *param)
{
    size_t base = model->num_trainable - model->lora->num_params;
    return model->grads_memory + base + (size_t)(param->data - model->lora->params_memory);
}

/* Dropout stays on, with one key, for every pass: the loss is then a fixed
 * function of the parameters, whose derivatives the backward pass computes. */
static void test_gradients_match_finite_differences(void **state)
{
    (void)state;
    gpt2_model model;
    gpt2_lora_config config = all_targets(2, 0.3f, 1);
    make_model(&model, &config, 0);
    kd_gpt2_lora_dropout_begin(&model, 3, 1);
    kd_gpt2_zero_grad(&model);
    kd_gpt2_forward(&model, tokens, B, T);
    kd_gpt2_head_cross_entropy(&model, targets, weights, 1.0f);
    kd_gpt2_backward(&model);
    kd_rng rng;
    kd_rng_seed(&rng, 11);
    for (int i = 0; i < kd_gpt2_lora_tensor_count(model.lora, &tiny); i++) {
        gpt2_tensor param;
        kd_gpt2_lora_tensor_at(model.lora, &tiny, i, &param);
        check_direction(&model, param.name, param.data, adapter_grad(&model, &param),
                        (size_t)(param.shape[0] * param.shape[1]), &rng);
    }
    for (int i = 0; i < kd_gpt2_tensor_count(&tiny); i++) {
        gpt2_tensor param, grad;
        kd_gpt2_tensor_at(&tiny, &model.params, i, &param);
        kd_gpt2_tensor_at(&tiny, &model.grads, i, &grad);
        if (grad.data)
            check_direction(&model, param.name, param.data, grad.data, (size_t)param.shape[0],
                            &rng);
    }
    kd_gpt2_lora_dropout_end(&model);
    kd_gpt2_free(&model);
}

/* A (r, in) from U(-1/sqrt in, 1/sqrt in), B zero: a new adapter changes
 * nothing, to the bit. */
static void test_fresh_adapters_change_nothing(void **state)
{
    (void)state;
    gpt2_model base, adapted;
    gpt2_lora_config config = all_targets(4, 0.0f, 0);
    assert_int_equal(kd_gpt2_create(&base, &tiny), KD_OK);
    kd_gpt2_init_random(&base, 42);
    for (size_t i = 0; i < base.num_params; i++)
        base.params_memory[i] += 0.3f * sinf((float)i);
    assert_int_equal(kd_gpt2_prepare(&base, B, T, 0), KD_OK);
    make_model(&adapted, &config, 1);
    assert_true(loss_of(&base) == loss_of(&adapted));
    for (int i = 0; i < kd_gpt2_lora_tensor_count(adapted.lora, &tiny); i++) {
        gpt2_tensor t;
        kd_gpt2_lora_tensor_at(adapted.lora, &tiny, i, &t);
        size_t count = (size_t)(t.shape[0] * t.shape[1]);
        int is_a = strstr(t.name, "lora_A") != NULL;
        double bound = is_a ? 1.0 / sqrt((double)t.shape[1]) : 0.0, largest = 0.0;
        for (size_t j = 0; j < count; j++)
            largest = fmax(largest, fabs(t.data[j]));
        assert_true(largest <= bound);
        assert_true(!is_a || largest > 0.8 * bound);
    }
    kd_gpt2_free(&adapted);
    kd_gpt2_free(&base);
}

/* Masks depend on (seed, step, micro-batch) alone, drop about p of the
 * inputs, and are off outside training. */
static void test_dropout_masks(void **state)
{
    (void)state;
    gpt2_model model;
    gpt2_lora_config config = all_targets(2, 0.5f, 0);
    make_model(&model, &config, 0);
    double off = loss_of(&model);
    kd_gpt2_lora_dropout_begin(&model, 1, 0);
    double first = loss_of(&model), again = loss_of(&model);
    kd_gpt2_lora_dropout_begin(&model, 2, 0);
    double other_step = loss_of(&model);
    kd_gpt2_lora_dropout_end(&model);
    assert_true(first == again);
    assert_true(first != off && other_step != first);
    assert_true(loss_of(&model) == off);
    kd_gpt2_free(&model);
}

/* Nothing of the base is allocated for training: gradients and moments
 * are the adapters' size. */
static void test_base_is_frozen(void **state)
{
    (void)state;
    gpt2_model model;
    gpt2_lora_config config = all_targets(2, 0.0f, 0);
    make_model(&model, &config, 0);
    assert_int_equal(model.num_trainable, kd_gpt2_lora_num_params(&config, &tiny));
    assert_int_equal(model.num_trainable, (size_t)2 * 2 * (8 + 24 + 8 + 8 + 8 + 32 + 32 + 8));
    assert_null(model.grads.wte);
    assert_null(model.grads.qkvw);
    assert_null(model.grads.lnfb);
    kd_gpt2_free(&model);
}

/* Decoding with the KV cache runs the adapters too: its logits equal a
 * full forward pass's at every position. */
static void test_decoding_uses_the_adapters(void **state)
{
    (void)state;
    gpt2_model model;
    gpt2_lora_config config = all_targets(2, 0.0f, 0);
    make_model(&model, &config, 0);
    enum { LENGTH = T, PROMPT = 2 };
    const int *sequence = tokens;
    int V = tiny.vocab_size;
    float full[LENGTH * 11];
    kd_gpt2_forward(&model, sequence, 1, LENGTH);
    kd_gpt2_head_logits(&model, 0, LENGTH, full);
    gpt2_kv_cache cache;
    assert_int_equal(kd_gpt2_kv_cache_create(&cache, &tiny, LENGTH), KD_OK);
    assert_int_equal(kd_gpt2_prefill(&model, &cache, sequence, PROMPT), KD_OK);
    double error = max_difference(cache.logits, full + (PROMPT - 1) * V, (size_t)V);
    for (int t = PROMPT; t < LENGTH; t++) {
        assert_int_equal(kd_gpt2_decode_step(&model, &cache, sequence[t]), KD_OK);
        error = fmax(error, max_difference(cache.logits, full + t * V, (size_t)V));
    }
    print_message("decode vs forward: %.2e\n", error);
    assert_true(error < 1e-5);
    kd_gpt2_kv_cache_free(&cache);
    kd_gpt2_free(&model);
}

static void expect_refused(gpt2_lora_config config, const char *fragment)
{
    assert_int_equal(kd_gpt2_lora_config_validate(&config, &tiny), KD_ERR_INVALID);
    if (!strstr(kd_last_error(), fragment))
        fail_msg("error \"%s\" does not name \"%s\"", kd_last_error(), fragment);
}

static void test_bad_settings_are_refused(void **state)
{
    (void)state;
    gpt2_lora_config good = all_targets(8, 0.1f, 0);
    assert_int_equal(kd_gpt2_lora_config_validate(&good, &tiny), KD_OK);
    gpt2_lora_config c = good;
    c.rank = 0;
    expect_refused(c, "lora rank must be positive");
    c.rank = 9;
    expect_refused(c, "lora rank 9 is larger than attn.c_attn's dimensions 8 x 24");
    c = good;
    c.targets = 0;
    expect_refused(c, "lora targets");
    c = good;
    c.dropout = 1.0f;
    expect_refused(c, "lora dropout");
    c = good;
    c.alpha = 0.0f;
    expect_refused(c, "lora alpha");
    gpt2_lora_target target;
    assert_int_equal(kd_gpt2_lora_target_parse("mlp.c_fc", &target), KD_OK);
    assert_int_equal(target, GPT2_LORA_MLP_C_FC);
    assert_int_equal(kd_gpt2_lora_target_parse("c_attn", &target), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "valid: attn.c_attn, attn.c_proj, mlp.c_fc"));
    c = good;
    c.rslora = 1;
    assert_true(fabsf(kd_gpt2_lora_scale(&c) - 3.0f / sqrtf(8.0f)) < 1e-7f);
    assert_true(fabsf(kd_gpt2_lora_scale(&good) - 3.0f / 8.0f) < 1e-7f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_fresh_adapters_change_nothing),
        cmocka_unit_test(test_dropout_masks),
        cmocka_unit_test(test_base_is_frozen),
        cmocka_unit_test(test_decoding_uses_the_adapters),
        cmocka_unit_test(test_bad_settings_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
