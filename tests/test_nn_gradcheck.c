/* Finite-difference check of every parameter gradient on a tiny GPT-2:
 * the analytic gradient of the fused head + backward pass must match central
 * differences of the loss computed in double-checked float arithmetic. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/nn.h"

static const gpt2_config tiny = {
    .n_layer = 2, .n_head = 2, .n_embd = 8, .n_positions = 8, .vocab_size = 11,
    .layer_norm_epsilon = 1e-5f,
};
enum { B = 2, T = 5 };
static const int tokens[B * T] = {1, 4, 2, 9, 3, 7, 7, 0, 5, 10};
static const int targets[B * T] = {4, 2, 9, 3, 6, 7, 0, 5, 10, 1};
/* The second row is a shorter, right-padded sequence with a prompt token. */
static const float weights[B * T] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 0};

static double loss_of(gpt2_model *model)
{
    kd_gpt2_forward(model, tokens, B, T);
    return kd_gpt2_head_cross_entropy(model, targets, weights, 0.0f);
}

/* Per parameter tensor, the derivative along a random unit direction u:
 * (L(p + h u) - L(p - h u)) / 2h must equal grad . u. A direction sums the
 * signal of every element, so float rounding in L stays far below it, which
 * an element-by-element check on a float model cannot promise. */
static void test_gradients_match_finite_differences(void **state)
{
    (void)state;
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &tiny), KD_OK);
    kd_gpt2_init_random(&model, 42);
    /* Larger weights than GPT-2's 0.02 make every path carry signal. */
    for (size_t i = 0; i < model.num_params; i++)
        model.params_memory[i] += 0.3f * sinf((float)i);
    assert_int_equal(kd_gpt2_prepare(&model, B, T, 1), KD_OK);

    kd_gpt2_zero_grad(&model);
    kd_gpt2_forward(&model, tokens, B, T);
    kd_gpt2_head_cross_entropy(&model, targets, weights, 1.0f);
    kd_gpt2_backward(&model);

    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&tiny, sizes);
    float *saved = malloc(model.num_params * sizeof(float));
    memcpy(saved, model.params_memory, model.num_params * sizeof(float));
    float *direction = calloc(model.num_params, sizeof(float));
    kd_rng rng;
    kd_rng_seed(&rng, 7);
    const double h = 1e-2;
    size_t offset = 0;
    for (int t = 0; t < GPT2_NUM_PARAM_TENSORS; t++) {
        double norm = 0.0, analytic = 0.0;
        for (size_t i = 0; i < sizes[t]; i++) {
            direction[i] = kd_rng_normal(&rng);
            norm += (double)direction[i] * direction[i];
        }
        for (size_t i = 0; i < sizes[t]; i++) {
            direction[i] /= (float)sqrt(norm);
            analytic += (double)direction[i] * model.grads_memory[offset + i];
        }
        double loss[2];
        for (int side = 0; side < 2; side++) {
            float sign = side == 0 ? 1.0f : -1.0f;
            for (size_t i = 0; i < sizes[t]; i++)
                model.params_memory[offset + i] = saved[offset + i] + sign * (float)h * direction[i];
            loss[side] = loss_of(&model);
        }
        memcpy(model.params_memory, saved, model.num_params * sizeof(float));
        double numeric = (loss[0] - loss[1]) / (2 * h);
        print_message("tensor %2d: analytic %+.6f numeric %+.6f\n", t, analytic, numeric);
        assert_true(fabs(numeric - analytic) <= 1e-3 + 1e-2 * fabs(analytic));
        offset += sizes[t];
    }
    free(direction);
    free(saved);
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
