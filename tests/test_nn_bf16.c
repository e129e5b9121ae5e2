/* bf16 mixed precision against the fp32 engine.
 *
 * Tolerances come from bf16's 8-bit significand: rounding to nearest makes
 * a relative error of at most u = 2^-9 per input, so one product term a*b
 * is off by at most (2u + u^2)|a||b| and a whole product element by
 * 2^-8 * sum_k |a_ik||b_kj| (plus fp32 accumulation, far smaller). The
 * whole model compounds that over its layers, so its logits, loss and
 * gradients are held to a few times 2^-8 (stated at each check and in
 * docs/precision.md).
 *
 * On a CPU where oneDNN cannot multiply bf16 at all (AVX2 only), each test
 * checks instead that bf16 is refused there and that auto picks fp32. Where
 * oneDNN only emulates bf16 (AVX-512 without BF16) the numbers are checked
 * as on a native machine: the emulation rounds the same way. */
#include "test_support.h"

#include <math.h>
#include <string.h>

#include "../src/nn/bf16_gemm.h"
#include "kd/nn.h"

static const double unit_roundoff = 1.0 / 512.0; /* 2^-9 */

static int bf16_runs(void)
{
    return kd_bf16_support() != BF16_NONE;
}

/* Where bf16 cannot run: it is refused, in both ways of asking. */
static void check_bf16_refused(void)
{
    kd_precision chosen;
    assert_int_equal(kd_precision_resolve(KD_PRECISION_BF16, &chosen), KD_ERR_UNSUPPORTED);
    assert_non_null(strstr(kd_last_error(), "auto or fp32 will run"));
    assert_int_equal(kd_precision_resolve(KD_PRECISION_AUTO, &chosen), KD_OK);
    assert_int_equal(chosen, KD_PRECISION_FP32);
}

static void test_rounding(void **state)
{
    (void)state;
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even 1;
     * 1 + 3 * 2^-8 halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6. */
    const float in[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 1e-40f, INFINITY, NAN,
                        3.4e38f};
    const float want[] = {1.0f, 1.0f, 1.0f + 0x1p-6f, -2.5f, 0.0f, INFINITY, NAN, INFINITY};
    bf16 out[8];
    kd_bf16_from_float(out, in, 8);
    for (int i = 0; i < 8; i++) {
        float got = kd_bf16_to_float(out[i]);
        if (isnan(want[i]))
            assert_true(isnan(got));
        else if (i == 4)
            assert_true(fabsf(got - in[i]) <= 0x1p-134f); /* half a subnormal bf16 step */
        else
            assert_true(got == want[i]);
    }
}

enum { M = 37, K = 300, NN = 45 };

/* C = op(A) op(B) [+ bias] [+ C] in double, with |op(A)||op(B)| beside it. */
static void reference_gemm(const bf16_gemm_shape *s, const float *A, const float *B,
                           const float *bias, const float *C0, double *C, double *bound)
{
    for (int i = 0; i < s->M; i++)
        for (int j = 0; j < s->N; j++) {
            double sum = 0.0, magnitude = 0.0;
            for (int k = 0; k < s->K; k++) {
                double a = s->trans_a ? A[k * s->lda + i] : A[i * s->lda + k];
                double b = s->trans_b ? B[j * s->ldb + k] : B[k * s->ldb + j];
                sum += a * b;
                magnitude += fabs(a * b);
            }
            if (s->has_bias)
                sum += bias[j];
            if (s->accumulate)
                sum += C0[i * s->ldc + j];
            C[i * s->N + j] = sum;
            bound[i * s->N + j] = magnitude;
        }
}

static void fill(float *x, int n, int seed)
{
    for (int i = 0; i < n; i++)
        x[i] = sinf(0.37f * (float)(i + 1) * (float)seed) * (1.0f + 0.1f * (float)(i % 7));
}

/* Every layout the engine uses: plain, B transposed (dinp, the head's
 * logits), A transposed and accumulated (weight gradients), with a bias. */
static void test_gemm_against_fp32(void **state)
{
    (void)state;
    if (!bf16_runs()) {
        check_bf16_refused();
        return;
    }
    static float A[K * NN > M * K ? K * NN : M * K], B[K * NN], C[M * NN], bias[NN];
    static bf16 A16[K * NN], B16[K * NN];
    static double want[M * NN], bound[M * NN];
    const bf16_gemm_shape shapes[] = {
        {M, NN, K, 0, 0, K, NN, NN, 0, 0},
        {M, NN, K, 0, 1, K, K, NN, 1, 0},
        {M, NN, K, 1, 0, M, NN, NN, 0, 1},
    };
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const bf16_gemm_shape *s = &shapes[t];
        fill(A, M * K, 3 + (int)t);
        fill(B, K * NN, 5 + (int)t);
        fill(bias, NN, 7);
        fill(C, M * NN, 11);
        reference_gemm(s, A, B, bias, C, want, bound);
        kd_bf16_from_float(A16, A, M * K);
        kd_bf16_from_float(B16, B, K * NN);
        kd_bf16_gemm(s, A16, B16, bias, C);
        double worst = 0.0;
        for (int i = 0; i < M * NN; i++) {
            /* 2^-8 sum |a||b| from the rounding, 1e-5 of it for fp32 sums */
            double tolerance = (2 * unit_roundoff + unit_roundoff * unit_roundoff + 1e-5) *
                               bound[i];
            double error = fabs(C[i] - want[i]);
            assert_true(error <= tolerance);
            worst = fmax(worst, error / bound[i]);
        }
        /* The product is really rounded, not fp32 in disguise. */
        assert_true(worst > 1e-5);
    }
}

static const gpt2_config small = {
    .n_layer = 2, .n_head = 4, .n_embd = 64, .n_positions = 32, .vocab_size = 211,
    .layer_norm_epsilon = 1e-5f,
};
enum { B_ = 2, T_ = 24, N_ = B_ * T_, V_ = 211 };

typedef struct {
    gpt2_model model;
    int tokens[N_], targets[N_];
    float weights[N_];
} model_fixture;

static void fixture_make(model_fixture *f, kd_precision precision, int training)
{
    assert_int_equal(kd_gpt2_create(&f->model, &small), KD_OK);
    kd_gpt2_init_random(&f->model, 17);
    assert_int_equal(kd_gpt2_prepare(&f->model, B_, T_, training), KD_OK);
    assert_int_equal(kd_gpt2_set_precision(&f->model, precision), KD_OK);
    for (int n = 0; n < N_; n++) {
        f->tokens[n] = (n * 37 + 11) % V_;
        f->targets[n] = (n * 53 + 5) % V_;
        f->weights[n] = n % T_ < 6 ? 0.0f : 1.0f; /* a masked prompt */
    }
}

/* The same model in fp32 and in bf16; where bf16 cannot run, checks that it
 * is refused and returns 0. */
static int pair_make(model_fixture *f32, model_fixture *f16, int training)
{
    if (!bf16_runs()) {
        check_bf16_refused();
        return 0;
    }
    fixture_make(f32, KD_PRECISION_FP32, training);
    fixture_make(f16, KD_PRECISION_BF16, training);
    return 1;
}

/* The (N_, V_) logits of the fixture's tokens. */
static void logits_of(model_fixture *f, float *logits)
{
    kd_gpt2_forward(&f->model, f->tokens, B_, T_);
    kd_gpt2_head_logits(&f->model, 0, N_, logits);
}

static double rms(const float *x, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return sqrt(sum / (double)n);
}

static double relative_l2(const float *got, const float *want, size_t n)
{
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        norm += (double)want[i] * want[i];
    }
    return sqrt(diff / norm);
}

/* Logits and loss of a bf16 forward pass against fp32's. Three products
 * deep per layer, two layers and the head compound the per-product 2^-8:
 * the worst logit is held within 2^-5 of the logits' rms (measured 1.3%).
 * The loss averages the rows' errors out: within 2^-13 relative (measured
 * 4.5e-6). */
static void test_forward_against_fp32(void **state)
{
    (void)state;
    static model_fixture f32, f16;
    static float logits32[N_ * V_], logits16[N_ * V_];
    if (!pair_make(&f32, &f16, 0))
        return;
    logits_of(&f32, logits32);
    logits_of(&f16, logits16);
    double scale = rms(logits32, N_ * V_), worst = 0.0;
    for (int i = 0; i < N_ * V_; i++)
        worst = fmax(worst, fabs((double)logits16[i] - logits32[i]));
    print_message("logits: worst error %.2e of their rms %.2e\n", worst, scale);
    assert_true(worst <= 16 * unit_roundoff * scale);
    assert_true(worst > 0.0);
    double loss32 = kd_gpt2_head_cross_entropy(&f32.model, f32.targets, f32.weights, 0.0f);
    double loss16 = kd_gpt2_head_cross_entropy(&f16.model, f16.targets, f16.weights, 0.0f);
    print_message("loss: %.6f against %.6f\n", loss16, loss32);
    assert_true(fabs(loss16 - loss32) <= unit_roundoff / 16 * fabs(loss32));
    kd_gpt2_free(&f32.model);
    kd_gpt2_free(&f16.model);
}

/* Every parameter gradient of a bf16 backward pass against fp32's, as the
 * relative L2 error of the tensor: within 2^-6 (four times the per-product
 * 2^-8, for the products of the forward and backward passes compounding over
 * two layers and the head); measured at most 4.5e-3. */
static void test_backward_against_fp32(void **state)
{
    (void)state;
    static model_fixture f32, f16;
    if (!pair_make(&f32, &f16, 1))
        return;
    model_fixture *both[2] = {&f32, &f16};
    for (int i = 0; i < 2; i++) {
        gpt2_model *m = &both[i]->model;
        kd_gpt2_zero_grad(m);
        kd_gpt2_forward(m, both[i]->tokens, B_, T_);
        kd_gpt2_head_cross_entropy(m, both[i]->targets, both[i]->weights, 1.0f / 36.0f);
        kd_gpt2_backward(m);
    }
    int count = kd_gpt2_tensor_count(&small);
    double worst = 0.0;
    for (int t = 0; t < count; t++) {
        gpt2_tensor want, got;
        kd_gpt2_tensor_at(&small, &f32.model.grads, t, &want);
        kd_gpt2_tensor_at(&small, &f16.model.grads, t, &got);
        size_t n = (size_t)want.shape[0] * (size_t)(want.ndim == 2 ? want.shape[1] : 1);
        if (rms(want.data, n) == 0.0)
            continue; /* wpe rows past T, unused */
        double error = relative_l2(got.data, want.data, n);
        print_message("%-24s %.2e\n", want.name, error);
        assert_true(error <= 4 * 2 * unit_roundoff);
        worst = fmax(worst, error);
    }
    assert_true(worst > 0.0);
    kd_gpt2_free(&f32.model);
    kd_gpt2_free(&f16.model);
}

/* Mixed precision keeps fp32 master weights: after bf16 steps the weights
 * are not bf16 values, the bf16 copy follows each update, and the loss
 * falls as it does in fp32. */
static void test_training_keeps_fp32_master(void **state)
{
    (void)state;
    static model_fixture f32, f16;
    if (!pair_make(&f32, &f16, 1))
        return;
    gpt2_step_config config = {{1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0}, 1e-2f, 1.0f, NULL, 0};
    double first[2] = {0}, last[2] = {0};
    model_fixture *both[2] = {&f32, &f16};
    for (int i = 0; i < 2; i++) {
        gpt2_batch batch = {both[i]->tokens, both[i]->targets, both[i]->weights, B_, T_};
        for (int step = 1; step <= 20; step++) {
            gpt2_step_result result;
            assert_int_equal(kd_gpt2_train_step(&both[i]->model, &batch, 1, &config, step,
                                                &result),
                             KD_OK);
            if (step == 1)
                first[i] = result.loss;
            last[i] = result.loss;
        }
    }
    assert_true(last[1] < 0.5 * first[1]);
    assert_true(fabs(last[1] - last[0]) <= 0.05 * last[0]);
    size_t not_bf16 = 0;
    for (size_t i = 0; i < f16.model.num_params; i++) {
        bf16 rounded;
        kd_bf16_from_float(&rounded, &f16.model.params_memory[i], 1);
        not_bf16 += kd_bf16_to_float(rounded) != f16.model.params_memory[i];
    }
    assert_true(not_bf16 > f16.model.num_params / 2);
    /* The next forward pass uses the updated weights: the same logits as a
     * fresh bf16 model given those weights. */
    static model_fixture fresh;
    fixture_make(&fresh, KD_PRECISION_BF16, 0);
    memcpy(fresh.model.params_memory, f16.model.params_memory,
           f16.model.num_params * sizeof(float));
    kd_gpt2_weights_changed(&fresh.model);
    static float a[N_ * V_], b[N_ * V_];
    logits_of(&f16, a);
    logits_of(&fresh, b);
    assert_memory_equal(a, b, sizeof a);
    kd_gpt2_free(&f32.model);
    kd_gpt2_free(&f16.model);
    kd_gpt2_free(&fresh.model);
}

/* auto is bf16 exactly where native bf16 outruns fp32; bf16 runs wherever
 * it is native and is refused elsewhere with the line the CLI prints. */
static void test_precision_choice(void **state)
{
    (void)state;
    kd_precision parsed, chosen;
    assert_int_equal(kd_precision_parse("bf16", &parsed), KD_OK);
    assert_int_equal(parsed, KD_PRECISION_BF16);
    assert_int_equal(kd_precision_parse("fp16", &parsed), KD_ERR_INVALID);
    assert_int_equal(kd_precision_resolve(KD_PRECISION_FP32, &chosen), KD_OK);
    assert_int_equal(chosen, KD_PRECISION_FP32);
    int native = kd_bf16_support() >= BF16_NATIVE, fast = kd_bf16_support() == BF16_FAST;
    assert_int_equal(kd_precision_resolve(KD_PRECISION_AUTO, &chosen), KD_OK);
    assert_int_equal(chosen, fast ? KD_PRECISION_BF16 : KD_PRECISION_FP32);
    if (native) {
        assert_int_equal(kd_precision_resolve(KD_PRECISION_BF16, &chosen), KD_OK);
        assert_int_equal(chosen, KD_PRECISION_BF16);
    } else {
        check_bf16_refused();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_gemm_against_fp32),
        cmocka_unit_test(test_forward_against_fp32),
        cmocka_unit_test(test_backward_against_fp32),
        cmocka_unit_test(test_training_keeps_fp32_master),
        cmocka_unit_test(test_precision_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
