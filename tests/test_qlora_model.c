/* QLoRA on a small GPT-2: the base's four Conv1D matrices quantized to NF4
 * and released; training (loss, gradient norm, adapters and biases after
 * AdamW steps with dropout) and KV-cache decoding equal those of a LoRA
 * model on the dequantized base; the base is close to the fp32 one within
 * NF4's bound; its bytes; bf16 refused. n_embd 12 makes c_attn's 432
 * values per layer end in a short block. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/lora.h"

static const gpt2_config small = {
    .n_layer = 2, .n_head = 2, .n_embd = 12, .n_positions = 8, .vocab_size = 13,
    .layer_norm_epsilon = 1e-5f,
};
enum { B = 2, T = 6 };
static const int tokens[B * T] = {1, 4, 2, 9, 3, 12, 7, 7, 0, 5, 10, 11};
static const int targets[B * T] = {4, 2, 9, 3, 6, 1, 7, 0, 5, 10, 1, 8};

static gpt2_lora_config qlora_config(void)
{
    gpt2_lora_config config;
    kd_gpt2_lora_config_default(&config);
    config.rank = 3;
    config.alpha = 6.0f;
    config.dropout = 0.2f;
    config.targets = (1u << GPT2_LORA_TARGETS) - 1;
    config.train_biases = 1;
    config.qlora = 1;
    return config;
}

static void random_base(gpt2_model *model)
{
    assert_int_equal(kd_gpt2_create(model, &small), KD_OK);
    kd_gpt2_init_random(model, 42);
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += 0.3f * sinf((float)i);
}

/* B made nonzero (PEFT starts it at zero, which hides A's gradient). */
static void attach(gpt2_model *model, const gpt2_lora_config *config)
{
    assert_int_equal(kd_gpt2_lora_attach(model, config, 5), KD_OK);
    for (size_t i = 0; i < model->lora->num_params; i++)
        model->lora->params_memory[i] += 0.2f * cosf((float)i);
    assert_int_equal(kd_gpt2_prepare(model, B, T, 1), KD_OK);
}

/* quantized: the QLoRA model; reference: LoRA on its dequantized base. */
static void make_pair(gpt2_model *quantized, gpt2_model *reference)
{
    gpt2_lora_config config = qlora_config();
    random_base(quantized);
    attach(quantized, &config);
    assert_int_equal(kd_gpt2_base_copy(quantized, reference), KD_OK);
    config.qlora = 0;
    attach(reference, &config);
}

static void train_steps(gpt2_model *model, double losses[3], float norms[3])
{
    gpt2_batch micro = {tokens, targets, NULL, B, T};
    gpt2_step_config step = {{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0}, 1e-2f, 1.0f, NULL, 0};
    for (int s = 1; s <= 3; s++) {
        gpt2_step_result result;
        kd_gpt2_lora_dropout_begin(model, s, 0);
        assert_int_equal(kd_gpt2_train_step(model, &micro, 1, &step, s, &result), KD_OK);
        kd_gpt2_lora_dropout_end(model);
        losses[s - 1] = result.loss;
        norms[s - 1] = result.grad_norm;
    }
}

static void test_training_equals_lora_on_the_dequantized_base(void **state)
{
    (void)state;
    gpt2_model quantized, reference;
    make_pair(&quantized, &reference);
    double losses[2][3];
    float norms[2][3];
    train_steps(&quantized, losses[0], norms[0]);
    train_steps(&reference, losses[1], norms[1]);
    for (int s = 0; s < 3; s++) {
        print_message("step %d: loss %.7f / %.7f, gradient norm %.6f / %.6f\n", s + 1,
                      losses[0][s], losses[1][s], norms[0][s], norms[1][s]);
        assert_true(losses[0][s] == losses[1][s] && norms[0][s] == norms[1][s]);
    }
    assert_true(losses[0][2] < losses[0][0]);
    /* The same products on the same values: adapters and biases to the bit. */
    assert_memory_equal(quantized.lora->params_memory, reference.lora->params_memory,
                        quantized.lora->num_params * sizeof(float));
    for (int i = 0; i < kd_gpt2_tensor_count(&small); i++) {
        gpt2_tensor q, r;
        kd_gpt2_tensor_at(&small, &quantized.params, i, &q);
        kd_gpt2_tensor_at(&small, &reference.params, i, &r);
        size_t count = (size_t)q.shape[0] * (size_t)(q.ndim == 2 ? q.shape[1] : 1);
        if (q.data)
            assert_memory_equal(q.data, r.data, count * sizeof(float));
        else
            assert_true(strstr(q.name, ".weight") && q.ndim == 2);
    }
    kd_gpt2_free(&quantized);
    kd_gpt2_free(&reference);
}

/* The matrices' fp32 copies are gone; what replaced them is NF4 within its
 * bound (half the widest gap of a block's absmax, plus the scale's error). */
static void test_base_is_quantized(void **state)
{
    (void)state;
    gpt2_model original, quantized, restored;
    random_base(&original);
    random_base(&quantized);
    gpt2_lora_config config = qlora_config();
    assert_int_equal(kd_gpt2_lora_attach(&quantized, &config, 5), KD_OK);
    assert_int_equal(kd_gpt2_base_copy(&quantized, &restored), KD_OK);
    assert_null(quantized.params.qkvw);
    assert_null(quantized.params.attprojw);
    assert_null(quantized.params.fcw);
    assert_null(quantized.params.fcprojw);
    size_t C = (size_t)small.n_embd, matrices = 12 * C * C * (size_t)small.n_layer;
    assert_int_equal(quantized.num_params, kd_gpt2_num_params(&small) - matrices);
    const float *before[] = {original.params.qkvw, original.params.attprojw, original.params.fcw,
                             original.params.fcprojw};
    const float *after[] = {restored.params.qkvw, restored.params.attprojw, restored.params.fcw,
                            restored.params.fcprojw};
    size_t sizes[] = {3 * C * C, C * C, 4 * C * C, 4 * C * C};
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        double largest = 0.0, error = 0.0;
        for (size_t i = 0; i < sizes[t] * (size_t)small.n_layer; i++) {
            largest = fmax(largest, fabs(before[t][i]));
            error = fmax(error, fabs((double)before[t][i] - after[t][i]));
        }
        print_message("%s: largest %.4f, NF4 error %.4f\n",
                      kd_gpt2_lora_target_name((gpt2_lora_target)t), largest, error);
        assert_true(error > 0.0 && error <= 0.16 * largest);
    }
    /* Everything else is the base's, to the bit. */
    assert_memory_equal(restored.params.wte, original.params.wte,
                        (size_t)small.vocab_size * C * sizeof(float));
    assert_memory_equal(restored.params.fcb, original.params.fcb,
                        4 * C * (size_t)small.n_layer * sizeof(float));
    assert_memory_equal(restored.params.lnfw, original.params.lnfw, 2 * C * sizeof(float));
    kd_gpt2_free(&original);
    kd_gpt2_free(&quantized);
    kd_gpt2_free(&restored);
}

/* Decoding dequantizes the matrices too: the same logits, to the bit, as the
 * LoRA model on the dequantized base, position after position. */
static void test_decoding_equals_lora_on_the_dequantized_base(void **state)
{
    (void)state;
    gpt2_model models[2];
    make_pair(&models[0], &models[1]);
    float logits[2][T * 13];
    for (int m = 0; m < 2; m++) {
        gpt2_kv_cache cache;
        assert_int_equal(kd_gpt2_kv_cache_create(&cache, &small, T), KD_OK);
        assert_int_equal(kd_gpt2_prefill(&models[m], &cache, tokens, 1), KD_OK);
        memcpy(logits[m], cache.logits, 13 * sizeof(float));
        for (int t = 1; t < T; t++) {
            assert_int_equal(kd_gpt2_decode_step(&models[m], &cache, tokens[t]), KD_OK);
            memcpy(logits[m] + t * 13, cache.logits, 13 * sizeof(float));
        }
        kd_gpt2_kv_cache_free(&cache);
    }
    assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
    kd_gpt2_free(&models[0]);
    kd_gpt2_free(&models[1]);
}

/* 4.127 bits a matrix weight and one dequantized matrix beside the fp32
 * embeddings, norms and biases; on distilgpt2's shape the base shrinks from
 * 328 MB to 189 MB, 158 MB of it the embeddings. */
static void test_base_bytes(void **state)
{
    (void)state;
    gpt2_config distil = {6, 12, 768, 1024, 50257, 1e-5f};
    gpt2_lora_config config = qlora_config();
    double fp32 = (double)kd_gpt2_lora_base_bytes(&distil, NULL);
    double nf4 = (double)kd_gpt2_lora_base_bytes(&distil, &config);
    double C = 768, matrices = 12 * C * C * 6, vectors = kd_gpt2_num_params(&distil) - matrices;
    assert_true(fp32 == 4.0 * (double)kd_gpt2_num_params(&distil));
    double expected = 4.0 * (vectors + 4 * C * C) + matrices * (0.5 + 1.0 / 64 + 4.0 / (64 * 256));
    print_message("base: fp32 %.1f MB, QLoRA %.1f MB\n", fp32 / 1e6, nf4 / 1e6);
    assert_true(fabs(nf4 - expected) < 1e-6 * expected);
    config.qlora = 0;
    assert_true(kd_gpt2_lora_base_bytes(&distil, &config) == fp32);
}

static void test_bf16_is_refused(void **state)
{
    (void)state;
    gpt2_model model;
    gpt2_lora_config config = qlora_config();
    random_base(&model);
    attach(&model, &config);
    assert_int_equal(kd_gpt2_set_precision(&model, KD_PRECISION_BF16), KD_ERR_UNSUPPORTED);
    assert_non_null(strstr(kd_last_error(), "QLoRA"));
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_equals_lora_on_the_dequantized_base),
        cmocka_unit_test(test_base_is_quantized),
        cmocka_unit_test(test_decoding_equals_lora_on_the_dequantized_base),
        cmocka_unit_test(test_base_bytes),
        cmocka_unit_test(test_bf16_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
