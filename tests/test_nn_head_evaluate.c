/* kd_gpt2_head_evaluate against the plain definitions on full logits: the loss
 * sum equals the cross-entropy head's, and a token is correct exactly when
 * the first largest logit of its row is the target. Reference values come
 * from the full logits in double precision. */
#include "test_support.h"

#include <math.h>

#include "kd/nn.h"

static const gpt2_config tiny = {
    .n_layer = 1, .n_head = 2, .n_embd = 8, .n_positions = 8, .vocab_size = 13,
    .layer_norm_epsilon = 1e-5f,
};
enum { B = 2, T = 6, N = B * T, V = 13 };
static const int tokens[N] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
static const float weights[N] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};

static int first_argmax(const float *row)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        best = row[v] > row[best] ? v : best;
    return best;
}

static void test_evaluate_matches_full_logits(void **state)
{
    (void)state;
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &tiny), KD_OK);
    kd_gpt2_init_random(&model, 5);
    for (size_t i = 0; i < model.num_params; i++)
        model.params_memory[i] += 0.5f * sinf(0.7f * (float)i);
    assert_int_equal(kd_gpt2_prepare(&model, B, T, 0), KD_OK);
    kd_gpt2_forward(&model, tokens, B, T);

    float logits[N * V];
    kd_gpt2_head_logits(&model, 0, N, logits);
    /* Targets: half the rows hit their argmax, the others miss it. */
    int targets[N];
    for (int n = 0; n < N; n++) {
        int best = first_argmax(logits + n * V);
        targets[n] = n % 2 ? best : (best + 1) % V;
    }
    gpt2_eval_sums sums = {0};
    kd_gpt2_head_evaluate(&model, targets, weights, &sums);
    double want_correct = 0.0, want_counted = 0.0, want_loss = 0.0;
    for (int n = 0; n < N; n++) {
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += exp((double)logits[n * V + v]);
        want_loss += weights[n] * (log(sum) - logits[n * V + targets[n]]);
        want_counted += weights[n];
        want_correct += n % 2 ? weights[n] : 0.0;
    }
    assert_true(sums.counted == want_counted);
    assert_true(sums.correct == want_correct);
    assert_true(fabs(sums.loss_sum - want_loss) <= 1e-5 * fabs(want_loss));
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_matches_full_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
