/* kd's LoRA adapters against PyTorch. tests/gen_torch_lora_fixture.py
 * computed, in float64, one adapted Conv1D layer (output, input gradient,
 * adapter gradients) and the small GPT-2 of test_nn_torch with rank-4
 * adapters (alpha 8) on all four targets: logits, loss, the gradients of
 * the adapters and of every bias, and three clipped AdamW steps on the
 * adapters alone. kd computes the same in float32 with the base frozen. */
#include "test_support.h"
#include "reference_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/nn/ops.h"
#include "kd/lora.h"

#define FIXTURE KD_FIXTURES_DIR "/torch/lora_reference.safetensors"

/* About 10x the worst error measured (see docs/lora.md), as in test_nn_torch. */
static const double layer_tolerance = 1e-5;
static const double logits_tolerance = 5e-6;
static const double loss_tolerance = 1e-6;
static const double gradient_tolerance = 1e-5;
static const double step_tolerance = 2e-6;
static const double adamw_tolerance = 5e-6;

typedef struct {
    reference_fixture fixture;
    gpt2_config config;
    gpt2_lora_config lora;
    gpt2_step_config step;
    int steps;
    reference_batch input;
} reference;

static void read_settings(reference *ref)
{
    const reference_fixture *f = &ref->fixture;
    reference_gpt2_config(f, &ref->config);
    kd_gpt2_lora_config_default(&ref->lora);
    ref->lora.rank = (int)reference_number(f, "rank");
    ref->lora.alpha = (float)reference_number(f, "alpha");
    ref->lora.targets = (1u << GPT2_LORA_TARGETS) - 1;
    ref->steps = reference_step_config(f, &ref->step);
}

static int load_reference(void **state)
{
    reference *ref = calloc(1, sizeof *ref);
    assert_non_null(ref);
    reference_open(&ref->fixture, FIXTURE);
    read_settings(ref);
    reference_batch_read(&ref->fixture, &ref->config, &ref->input);
    *state = ref;
    return 0;
}

static int free_reference(void **state)
{
    reference *ref = *state;
    reference_batch_free(&ref->input);
    kd_safetensors_close(&ref->fixture.file);
    free(ref);
    return 0;
}

/* The fixture's base with its adapters, prepared for training on (B, T). */
static void load_model(const reference *ref, int train_biases, gpt2_model *model)
{
    reference_model_load(&ref->fixture, "param", &ref->config, model);
    gpt2_lora_config lora = ref->lora;
    lora.train_biases = train_biases;
    assert_int_equal(kd_gpt2_lora_attach(model, &lora, 7), KD_OK);
    for (int i = 0; i < kd_gpt2_lora_tensor_count(model->lora, &ref->config); i++) {
        gpt2_tensor tensor;
        kd_gpt2_lora_tensor_at(model->lora, &ref->config, i, &tensor);
        reference_like_into(&ref->fixture, "lora", &tensor, tensor.data);
    }
    assert_int_equal(kd_gpt2_prepare(model, ref->input.batch, ref->input.seq, 1), KD_OK);
}

static void expect_floats(const char *what, const float *got, const float *want, size_t count,
                          double tolerance)
{
    double scale = max_abs(want, count);
    assert_true(scale > 0.0);
    expect_within(what, max_abs_difference(got, want, count) / scale, tolerance);
}

/* One layer through kd_lora_forward / kd_lora_backward beside the frozen
 * matrix's own product, as the model runs them. */
static void test_layer_matches_torch(void **state)
{
    const reference *ref = *state;
    int C = ref->config.n_embd, N = 6, IN = C, OUT = 3 * C, r = ref->lora.rank;
    float scale = kd_gpt2_lora_scale(&ref->lora);
    float *x = reference_floats(&ref->fixture, "layer.x", (size_t)N * IN);
    float *W = reference_floats(&ref->fixture, "layer.W", (size_t)IN * OUT);
    float *b = reference_floats(&ref->fixture, "layer.b", (size_t)OUT);
    float *A = reference_floats(&ref->fixture, "layer.A", (size_t)r * IN);
    float *B = reference_floats(&ref->fixture, "layer.B", (size_t)OUT * r);
    float *dout = reference_floats(&ref->fixture, "layer.dout", (size_t)N * OUT);
    float *out = calloc((size_t)N * OUT, sizeof *out), *u = calloc((size_t)N * r, sizeof *u);
    float *dx = calloc((size_t)N * IN, sizeof *dx), *du = calloc((size_t)N * r, sizeof *du);
    float *dA = calloc((size_t)r * IN, sizeof *dA), *dB = calloc((size_t)OUT * r, sizeof *dB);
    assert_true(out && u && dx && du && dA && dB);
    lora_dropout none = {0.0f, 0};
    const gpt2_model fp32_products = {0}; /* the base product in fp32, as the fixture's */
    kd_matmul_forward(&fp32_products, out, x, W, b, N, IN, OUT);
    kd_lora_forward(out, u, NULL, x, A, B, scale, none, N, IN, OUT, r);
    kd_matmul_backward(&fp32_products, dx, NULL, NULL, dout, x, W, N, IN, OUT);
    kd_lora_backward(dx, dA, dB, du, NULL, dout, x, u, A, B, scale, none, N, IN, OUT, r);
    const struct { const char *name; const float *got; size_t count; } checks[] = {
        {"layer.out", out, (size_t)N * OUT}, {"layer.dx", dx, (size_t)N * IN},
        {"layer.dA", dA, (size_t)r * IN}, {"layer.dB", dB, (size_t)OUT * r}};
    for (size_t i = 0; i < KD_COUNTOF(checks); i++) {
        float *want = reference_floats(&ref->fixture, checks[i].name, checks[i].count);
        expect_floats(checks[i].name, checks[i].got, want, checks[i].count, layer_tolerance);
        free(want);
    }
    free(x), free(W), free(b), free(A), free(B), free(dout);
    free(out), free(u), free(dx), free(du), free(dA), free(dB);
}

static void test_logits_and_loss_match_torch(void **state)
{
    const reference *ref = *state;
    gpt2_model model;
    load_model(ref, 0, &model);
    int rows = ref->input.batch * ref->input.seq, V = ref->config.vocab_size;
    float *logits = malloc((size_t)rows * V * sizeof *logits);
    assert_non_null(logits);
    kd_gpt2_forward(&model, ref->input.tokens, ref->input.batch, ref->input.seq);
    kd_gpt2_head_logits(&model, 0, rows, logits);
    float *want = reference_floats(&ref->fixture, "output.logits", (size_t)rows * V);
    expect_floats("logits", logits, want, (size_t)rows * V, logits_tolerance);
    double loss = kd_gpt2_head_cross_entropy(&model, ref->input.targets, ref->input.weights, 0.0f) /
                  reference_batch_weight_sum(&ref->input);
    double want_loss = reference_scalar(&ref->fixture, "output.loss");
    expect_within("loss", fabs(loss - want_loss) / want_loss, loss_tolerance);
    free(want);
    free(logits);
    kd_gpt2_free(&model);
}

static void expect_gradient(const reference *ref, const gpt2_tensor *grad)
{
    float *want = malloc(reference_tensor_elements(grad) * sizeof *want);
    assert_non_null(want);
    reference_like_into(&ref->fixture, "grad", grad, want);
    char name[128];
    snprintf(name, sizeof name, "grad.%s", grad->name);
    expect_floats(name, grad->data, want, reference_tensor_elements(grad), gradient_tolerance);
    free(want);
}

/* With train_biases, PEFT's bias "all": the biases get gradients too, and
 * still no other base tensor has one. */
static void check_gradients(const reference *ref, int train_biases)
{
    gpt2_model model;
    load_model(ref, train_biases, &model);
    kd_gpt2_zero_grad(&model);
    kd_gpt2_forward(&model, ref->input.tokens, ref->input.batch, ref->input.seq);
    kd_gpt2_head_cross_entropy(&model, ref->input.targets, ref->input.weights,
                               (float)(1.0 / reference_batch_weight_sum(&ref->input)));
    kd_gpt2_backward(&model);
    size_t trainable = model.lora->num_params;
    for (int i = 0; i < kd_gpt2_lora_tensor_count(model.lora, &ref->config); i++) {
        gpt2_tensor param, grad;
        kd_gpt2_lora_tensor_at(model.lora, &ref->config, i, &param);
        grad = param;
        grad.data = model.grads_memory + (model.num_trainable - trainable) +
                    (size_t)(param.data - model.lora->params_memory);
        expect_gradient(ref, &grad);
    }
    int biases = 0;
    for (int i = 0; i < kd_gpt2_tensor_count(&ref->config); i++) {
        gpt2_tensor grad;
        kd_gpt2_tensor_at(&ref->config, &model.grads, i, &grad);
        int is_bias = strstr(grad.name, ".bias") != NULL;
        if (!train_biases || !is_bias) {
            assert_null(grad.data);
            continue;
        }
        expect_gradient(ref, &grad);
        biases++;
    }
    assert_int_equal(biases, train_biases ? 6 * ref->config.n_layer + 1 : 0);
    assert_int_equal(model.num_trainable, kd_gpt2_lora_num_trainable(&model.lora->config,
                                                                     &ref->config));
    kd_gpt2_free(&model);
}

static void test_adapter_gradients_match_torch(void **state)
{
    check_gradients(*state, 0);
}

static void test_bias_gradients_match_torch(void **state)
{
    check_gradients(*state, 1);
}

/* Three steps on the adapters alone: the losses, norms and adapters follow
 * torch's AdamW, and the base does not move by a single bit. */
static void test_adamw_steps_match_torch(void **state)
{
    const reference *ref = *state;
    gpt2_model model;
    load_model(ref, 0, &model);
    float *base = malloc(model.num_params * sizeof *base);
    assert_non_null(base);
    memcpy(base, model.params_memory, model.num_params * sizeof *base);
    const reference_batch *in = &ref->input;
    gpt2_batch batch = {in->tokens, in->targets, in->weights, in->batch, in->seq};
    float *losses = reference_floats(&ref->fixture, "step.loss", (size_t)ref->steps);
    float *norms = reference_floats(&ref->fixture, "step.grad_norm", (size_t)ref->steps);
    for (int step = 1; step <= ref->steps; step++) {
        gpt2_step_result result;
        assert_int_equal(kd_gpt2_train_step(&model, &batch, 1, &ref->step, step, &result), KD_OK);
        expect_within("step loss", fabs(result.loss - losses[step - 1]) / losses[step - 1],
                      step_tolerance);
        expect_within("step gradient norm",
                      fabs(result.grad_norm - norms[step - 1]) / norms[step - 1], step_tolerance);
    }
    for (int i = 0; i < kd_gpt2_lora_tensor_count(model.lora, &ref->config); i++) {
        gpt2_tensor param;
        kd_gpt2_lora_tensor_at(model.lora, &ref->config, i, &param);
        float *want = malloc(reference_tensor_elements(&param) * sizeof *want);
        assert_non_null(want);
        reference_like_into(&ref->fixture, "after3", &param, want);
        char name[128];
        snprintf(name, sizeof name, "after3.%s", param.name);
        expect_within(name, max_abs_difference(param.data, want, reference_tensor_elements(&param)),
                      adamw_tolerance);
        free(want);
    }
    assert_memory_equal(base, model.params_memory, model.num_params * sizeof *base);
    free(norms);
    free(losses);
    free(base);
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_matches_torch),
        cmocka_unit_test(test_logits_and_loss_match_torch),
        cmocka_unit_test(test_adapter_gradients_match_torch),
        cmocka_unit_test(test_bias_gradients_match_torch),
        cmocka_unit_test(test_adamw_steps_match_torch),
    };
    return cmocka_run_group_tests(tests, load_reference, free_reference);
}
