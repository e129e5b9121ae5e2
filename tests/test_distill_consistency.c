/* The distillation losses against each other and against CE: cached rows
 * holding the whole vocabulary (k = V) give the live teacher's loss and
 * gradients; alpha = 1 gives plain cross-entropy, in the head and through a
 * whole training step; the sampled tail is unbiased (its mean over many
 * draws is the exact forward KL, loss and gradient); bad rows are refused
 * before any parameter moves. */
#include "test_support.h"
#include "distill_fixture.h"
#include "reference_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/distill.h"

static int setup(void **state)
{
    distill_models *models = calloc(1, sizeof *models);
    assert_non_null(models);
    distill_models_create(models);
    *state = models;
    return 0;
}

static int teardown(void **state)
{
    distill_models_free(*state);
    free(*state);
    return 0;
}

/* Loss, parts and the head's two gradients (dlnf, dwte) of one evaluation. */
typedef struct {
    double loss;
    distill_parts parts;
    float dlnf[N * C];
    float dwte[V * C];
} head_result;

static void run_live(distill_models *m, const distill_config *config, head_result *out)
{
    kd_gpt2_zero_grad(&m->student);
    kd_gpt2_forward(&m->student, tokens, B, T);
    out->loss = kd_gpt2_head_distill_live(&m->student, &m->teacher, targets, weights, config, 1.0f,
                                          &out->parts);
    memcpy(out->dlnf, m->student.acts.dlnf, sizeof out->dlnf);
    memcpy(out->dwte, m->student.grads.wte, sizeof out->dwte);
}

static void run_cached(distill_models *m, const teacher_rows *rows, const distill_config *config,
                       head_result *out)
{
    assert_int_equal(kd_distill_check_rows(rows->rows, rows->count, V, config), KD_OK);
    kd_gpt2_zero_grad(&m->student);
    kd_gpt2_forward(&m->student, tokens, B, T);
    out->loss = kd_gpt2_head_distill_cached(&m->student, rows->rows, targets, weights, config, 1.0f,
                                            &out->parts);
    memcpy(out->dlnf, m->student.acts.dlnf, sizeof out->dlnf);
    memcpy(out->dwte, m->student.grads.wte, sizeof out->dwte);
}

/* Relative to the live result's size; measured at most 3e-7. */
static void expect_same(const char *label, const head_result *got, const head_result *want,
                        double tolerance)
{
    char what[128];
    snprintf(what, sizeof what, "%s loss", label);
    expect_within(what, fabs(got->loss - want->loss) / fabs(want->loss), tolerance);
    snprintf(what, sizeof what, "%s divergence part", label);
    expect_within(what, fabs(got->parts.divergence - want->parts.divergence) /
                            fabs(want->parts.divergence), tolerance);
    snprintf(what, sizeof what, "%s dlnf", label);
    expect_within(what, max_abs_difference(got->dlnf, want->dlnf, N * C), tolerance);
    snprintf(what, sizeof what, "%s dwte", label);
    expect_within(what, max_abs_difference(got->dwte, want->dwte, V * C), tolerance);
}

static void test_cached_full_vocabulary_equals_live(void **state)
{
    distill_models *m = *state;
    teacher_rows rows;
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    teacher_rows_build(&rows, m->teacher_logits, weights, N, V, V, 0, &rng);
    head_result *live = malloc(sizeof *live), *cached = malloc(sizeof *cached);
    assert_true(live && cached);
    static const float temperatures[] = {1.0f, 2.0f};
    for (int kind = 0; kind < 3; kind++)
        for (int t = 0; t < 2; t++) {
            distill_config config = {0.5f, temperatures[t], 0.3f, (divergence_kind)kind};
            run_live(m, &config, live);
            run_cached(m, &rows, &config, cached);
            char label[64];
            snprintf(label, sizeof label, "k = V %s T %.0f", kd_divergence_name(config.divergence),
                     (double)config.temperature);
            expect_same(label, cached, live, 2e-6);
        }
    free(cached);
    free(live);
    teacher_rows_free(&rows);
}

static void test_alpha_one_is_cross_entropy(void **state)
{
    distill_models *m = *state;
    teacher_rows rows;
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    teacher_rows_build(&rows, m->teacher_logits, weights, N, V, 3, 0, &rng);
    head_result *ce = malloc(sizeof *ce), *got = malloc(sizeof *got);
    assert_true(ce && got);
    kd_gpt2_zero_grad(&m->student);
    kd_gpt2_forward(&m->student, tokens, B, T);
    ce->loss = kd_gpt2_head_cross_entropy(&m->student, targets, weights, 1.0f);
    memcpy(ce->dlnf, m->student.acts.dlnf, sizeof ce->dlnf);
    for (int kind = 0; kind < 3; kind++) {
        distill_config config = {1.0f, 2.0f, 0.5f, (divergence_kind)kind};
        char label[64];
        run_live(m, &config, got);
        snprintf(label, sizeof label, "alpha 1 live %s", kd_divergence_name(config.divergence));
        expect_within(label, fabs(got->loss - ce->loss) / ce->loss, 1e-6);
        expect_within(label, max_abs_difference(got->dlnf, ce->dlnf, N * C), 1e-6);
        expect_within(label, fabs(got->parts.cross_entropy - ce->loss) / ce->loss, 1e-6);
        run_cached(m, &rows, &config, got);
        snprintf(label, sizeof label, "alpha 1 cached %s", kd_divergence_name(config.divergence));
        expect_within(label, fabs(got->loss - ce->loss) / ce->loss, 1e-6);
        expect_within(label, max_abs_difference(got->dlnf, ce->dlnf, N * C), 1e-6);
    }
    free(got);
    free(ce);
    teacher_rows_free(&rows);
}

/* Two AdamW steps: the distillation step at alpha = 1 must see the loss and
 * (clipped) gradients kd_gpt2_train_step sees; they share everything but the
 * head. Parameters are not compared: AdamW turns float noise in gradients
 * that are truly zero (c_attn's key bias) into steps of up to lr. */
static void test_alpha_one_step_is_train_step(void **state)
{
    distill_models *m = *state;
    gpt2_model plain;
    init_model(&plain, &student_config, 42, 0.3f);
    assert_int_equal(kd_gpt2_prepare(&plain, B, T, 1), KD_OK);
    float *start = malloc(plain.num_params * sizeof(float));
    assert_non_null(start);
    memcpy(start, m->student.params_memory, plain.num_params * sizeof(float));
    memcpy(plain.params_memory, start, plain.num_params * sizeof(float));
    memset(plain.adam_m, 0, plain.num_params * sizeof(float));
    memset(plain.adam_v, 0, plain.num_params * sizeof(float));
    memset(m->student.adam_m, 0, plain.num_params * sizeof(float));
    memset(m->student.adam_v, 0, plain.num_params * sizeof(float));
    gpt2_step_config step = {{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0}, 1e-2f, 1.0f, NULL, 0};
    distill_config config = {1.0f, 2.0f, 0.5f, DIVERGENCE_FORWARD_KL};
    gpt2_batch batch = {tokens, targets, weights, B, T};
    distill_batch micro = {batch, NULL, 0};
    for (int s = 1; s <= 2; s++) {
        gpt2_step_result want;
        distill_step_result got;
        assert_int_equal(kd_gpt2_train_step(&plain, &batch, 1, &step, s, &want), KD_OK);
        assert_int_equal(kd_gpt2_distill_train_step(&m->student, &m->teacher, &micro, 1, &config,
                                                    &step, s, &got),
                         KD_OK);
        expect_within("alpha 1 step loss", fabs(got.step.loss - want.loss), 1e-6);
        expect_within("alpha 1 step mean CE", fabs(got.cross_entropy - want.loss), 1e-6);
        /* Step 2 starts from parameters AdamW's noise (above) set apart. */
        double tolerance = s == 1 ? 1e-6 : 1e-4;
        expect_within("alpha 1 step gradient norm, relative",
                      fabs(got.step.grad_norm - want.grad_norm) / want.grad_norm, tolerance);
        expect_within("alpha 1 step clipped gradients",
                      max_abs_difference(m->student.grads_memory, plain.grads_memory,
                                         plain.num_params),
                      tolerance);
        assert_true(got.divergence > 0.0);
    }
    memcpy(m->student.params_memory, start, plain.num_params * sizeof(float));
    free(start);
    kd_gpt2_free(&plain);
}

/* Means over many independent draws of the sampled rows against the exact
 * forward KL at T = 1 (the live teacher), loss and gradient: each must lie
 * within 5 standard errors of the mean (plus float rounding). Weights of
 * tail_mass / (n + 1) instead of / n, for one, miss the loss by 90 errors. */
static void test_sampled_tail_is_unbiased(void **state)
{
    enum { DRAWS = 4000, TOP = 2, SAMPLES = 3 };
    distill_models *m = *state;
    distill_config config = {0.0f, 1.0f, 0.5f, DIVERGENCE_FORWARD_KL};
    head_result *exact = malloc(sizeof *exact), *draw = malloc(sizeof *draw);
    double *sum = calloc(N * C + 1, sizeof *sum), *squares = calloc(N * C + 1, sizeof *squares);
    assert_true(exact && draw && sum && squares);
    run_live(m, &config, exact);
    kd_rng rng;
    kd_rng_seed(&rng, 2024);
    for (int d = 0; d < DRAWS; d++) {
        teacher_rows rows;
        teacher_rows_build(&rows, m->teacher_logits, weights, N, V, TOP, SAMPLES, &rng);
        run_cached(m, &rows, &config, draw);
        teacher_rows_free(&rows);
        for (int i = 0; i <= N * C; i++) {
            double x = i < N * C ? draw->dlnf[i] : draw->loss;
            sum[i] += x;
            squares[i] += x * x;
        }
    }
    double worst = 0.0;
    for (int i = 0; i <= N * C; i++) {
        double mean = sum[i] / DRAWS, variance = squares[i] / DRAWS - mean * mean;
        double standard_error = sqrt(fmax(variance, 0.0) / DRAWS);
        double want = i < N * C ? exact->dlnf[i] : exact->loss;
        double errors = fabs(mean - want) / (standard_error + 1e-6);
        if (i == N * C)
            print_message("sampled loss: mean %.6f exact %.6f (%.2f standard errors)\n", mean,
                          want, errors);
        worst = fmax(worst, errors);
    }
    expect_within("sampled tail, worst |mean - exact| in std errors", worst, 5.0);
    free(squares);
    free(sum);
    free(draw);
    free(exact);
}

static void test_bad_rows_are_refused(void **state)
{
    distill_models *m = *state;
    teacher_rows rows;
    kd_rng rng;
    kd_rng_seed(&rng, 3);
    teacher_rows_build(&rows, m->teacher_logits, weights, N, V, 3, 2, &rng);
    distill_config forward = kd_distill_config_default(), reverse = forward;
    reverse.divergence = DIVERGENCE_REVERSE_KL;
    assert_int_equal(kd_distill_check_rows(rows.rows, rows.count, V, &forward), KD_OK);
    assert_int_equal(kd_distill_check_rows(rows.rows, rows.count, V, &reverse), KD_ERR_UNSUPPORTED);
    forward.temperature = 2.0f;
    assert_int_equal(kd_distill_check_rows(rows.rows, rows.count, V, &forward), KD_ERR_UNSUPPORTED);
    forward.temperature = 1.0f;
    struct { int *where; int value; } bad_ids[] = {
        {&rows.ids[0], V}, {&rows.ids[0], -1}, {&rows.ids[1], rows.ids[0]},
        {&rows.sample_ids[0], rows.ids[0]}, {&rows.sample_ids[0], V},
    };
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        int saved = *bad_ids[i].where;
        *bad_ids[i].where = bad_ids[i].value;
        assert_int_equal(kd_distill_check_rows(rows.rows, rows.count, V, &forward), KD_ERR_INVALID);
        print_message("refused: %s\n", kd_last_error());
        *bad_ids[i].where = saved;
    }
    rows.rows[1].tail_mass += 0.1f;
    assert_int_equal(kd_distill_check_rows(rows.rows, rows.count, V, &forward), KD_ERR_INVALID);
    rows.rows[1].tail_mass -= 0.1f;

    /* The step refuses a row count that does not match the counted tokens,
     * and the parameters stay as they were. */
    float *before = malloc(m->student.num_params * sizeof(float));
    assert_non_null(before);
    memcpy(before, m->student.params_memory, m->student.num_params * sizeof(float));
    gpt2_step_config step = {{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0}, 1e-2f, 1.0f, NULL, 0};
    distill_batch micro = {{tokens, targets, weights, B, T}, rows.rows, rows.count - 1};
    distill_step_result result;
    assert_int_equal(kd_gpt2_distill_train_step(&m->student, NULL, &micro, 1, &forward, &step, 1,
                                                &result),
                     KD_ERR_INVALID);
    print_message("refused: %s\n", kd_last_error());
    assert_memory_equal(before, m->student.params_memory, m->student.num_params * sizeof(float));
    free(before);
    teacher_rows_free(&rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_full_vocabulary_equals_live),
        cmocka_unit_test(test_alpha_one_is_cross_entropy),
        cmocka_unit_test(test_alpha_one_step_is_train_step),
        cmocka_unit_test(test_sampled_tail_is_unbiased),
        cmocka_unit_test(test_bad_rows_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
