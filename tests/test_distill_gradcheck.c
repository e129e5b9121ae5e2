/* Finite-difference checks of the distillation losses: for every divergence,
 * alpha in {0, 0.5, 1} and T in {1, 2}, with a live teacher and with cached
 * top-K rows (and sampled tails for forward KL at T = 1), the analytic
 * gradient must match central differences
 *   - of the head alone, per counted row along a random direction of the
 *     row's hidden state; with C > V (distill_fixture.h) this checks
 *     d(loss)/d(logits);
 *   - through the whole student, per parameter tensor along a random direction
 *     (as tests/test_nn_gradcheck.c does for CE). */
#include "test_support.h"
#include "distill_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/distill.h"

enum { TOP_K = 4, SAMPLED_K = 3, SAMPLES = 5 };

typedef enum { FORM_LIVE, FORM_CACHED, FORM_SAMPLED } teacher_form;
static const char *const form_names[] = {"live", "cached", "sampled"};

typedef struct {
    distill_models models;
    teacher_rows cached, sampled;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    distill_models_create(&f->models);
    kd_rng rng;
    kd_rng_seed(&rng, 5);
    teacher_rows_build(&f->cached, f->models.teacher_logits, weights, N, V, TOP_K, 0, &rng);
    teacher_rows_build(&f->sampled, f->models.teacher_logits, weights, N, V, SAMPLED_K, SAMPLES,
                       &rng);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    teacher_rows_free(&f->cached);
    teacher_rows_free(&f->sampled);
    distill_models_free(&f->models);
    free(f);
    return 0;
}

static double head_loss(fixture *f, teacher_form form, const distill_config *config,
                        float grad_scale)
{
    gpt2_model *student = &f->models.student;
    if (form == FORM_LIVE)
        return kd_gpt2_head_distill_live(student, &f->models.teacher, targets, weights, config,
                                         grad_scale, NULL);
    const teacher_rows *rows = form == FORM_CACHED ? &f->cached : &f->sampled;
    assert_int_equal(kd_distill_check_rows(rows->rows, rows->count, V, config), KD_OK);
    return kd_gpt2_head_distill_cached(student, rows->rows, targets, weights, config, grad_scale,
                                       NULL);
}

static void random_unit(float *direction, size_t n, kd_rng *rng)
{
    double norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        direction[i] = kd_rng_normal(rng);
        norm += (double)direction[i] * direction[i];
    }
    for (size_t i = 0; i < n; i++)
        direction[i] /= (float)sqrt(norm);
}

/* The head's loss is a few float roundings from its inputs, so differences
 * at h = 1e-2 resolve its derivative to about 1e-5; the whole student's loss
 * goes through every layer in float, which leaves about 3e-4 of noise in a
 * derivative (as much as CE alone shows), so its bound is looser. */
static const double head_tolerance = 2e-4, student_tolerance = 1e-3;

static void expect_close(const char *what, double analytic, double numeric, double absolute)
{
    double tolerance = absolute + 1e-2 * fabs(analytic);
    if (!(fabs(numeric - analytic) <= tolerance))
        fail_msg("%s: analytic %+.7f numeric %+.7f (tolerance %.1e)", what, analytic, numeric,
                 tolerance);
}

/* Per counted row of the head: dlnf . u against the central difference. */
static double check_head(fixture *f, teacher_form form, const distill_config *config,
                         const char *label)
{
    const double h = 1e-2;
    kd_gpt2_forward(&f->models.student, tokens, B, T);
    head_loss(f, form, config, 1.0f);
    float dlnf[N * C], saved[C], direction[C];
    memcpy(dlnf, f->models.student.acts.dlnf, sizeof dlnf);
    kd_rng rng;
    kd_rng_seed(&rng, 11);
    double worst = 0.0;
    for (int n = 0; n < N; n++) {
        float *row = f->models.student.acts.lnf + (size_t)n * C;
        random_unit(direction, C, &rng);
        double analytic = 0.0, loss[2];
        for (int c = 0; c < C; c++)
            analytic += (double)direction[c] * dlnf[n * C + c];
        memcpy(saved, row, sizeof saved);
        for (int side = 0; side < 2; side++) {
            for (int c = 0; c < C; c++)
                row[c] = saved[c] + (side == 0 ? 1.0f : -1.0f) * (float)h * direction[c];
            loss[side] = head_loss(f, form, config, 0.0f);
        }
        memcpy(row, saved, sizeof saved);
        double numeric = (loss[0] - loss[1]) / (2 * h);
        char what[160];
        snprintf(what, sizeof what, "%s head row %d", label, n);
        expect_close(what, analytic, numeric, head_tolerance);
        if (weights[n] == 0.0f)
            assert_true(analytic == 0.0);
        worst = fmax(worst, fabs(numeric - analytic));
    }
    return worst;
}

/* The directional derivative of the whole loss along `direction` of tensor
 * [offset, offset + size): central differences at h and h/2 combined by
 * Richardson extrapolation, which cancels the h^2 error term that large
 * test weights make visible at a step float rounding still allows. */
static double student_directional(fixture *f, teacher_form form, const distill_config *config,
                                  const float *saved, const float *direction, size_t offset,
                                  size_t size)
{
    gpt2_model *model = &f->models.student;
    const double h = 1e-2;
    double difference[2];
    for (int half = 0; half < 2; half++) {
        double step = half ? h / 2 : h, loss[2];
        for (int side = 0; side < 2; side++) {
            float sign = side == 0 ? 1.0f : -1.0f;
            for (size_t i = 0; i < size; i++)
                model->params_memory[offset + i] =
                    saved[offset + i] + sign * (float)step * direction[i];
            kd_gpt2_forward(model, tokens, B, T);
            loss[side] = head_loss(f, form, config, 0.0f);
        }
        difference[half] = (loss[0] - loss[1]) / (2 * step);
    }
    memcpy(model->params_memory + offset, saved + offset, size * sizeof(float));
    return (4 * difference[1] - difference[0]) / 3;
}

/* Per parameter tensor of the student: grad . u against the loss's change. */
static double check_student(fixture *f, teacher_form form, const distill_config *config,
                            const char *label)
{
    gpt2_model *model = &f->models.student;
    kd_gpt2_zero_grad(model);
    kd_gpt2_forward(model, tokens, B, T);
    head_loss(f, form, config, 1.0f);
    kd_gpt2_backward(model);
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&student_config, sizes);
    float *saved = malloc(model->num_params * sizeof(float));
    float *direction = malloc(model->num_params * sizeof(float));
    assert_true(saved && direction);
    memcpy(saved, model->params_memory, model->num_params * sizeof(float));
    kd_rng rng;
    kd_rng_seed(&rng, 7);
    double worst = 0.0;
    size_t offset = 0;
    for (int t = 0; t < GPT2_NUM_PARAM_TENSORS; t++) {
        random_unit(direction, sizes[t], &rng);
        double analytic = 0.0;
        for (size_t i = 0; i < sizes[t]; i++)
            analytic += (double)direction[i] * model->grads_memory[offset + i];
        double numeric =
            student_directional(f, form, config, saved, direction, offset, sizes[t]);
        char what[160];
        snprintf(what, sizeof what, "%s tensor %d", label, t);
        expect_close(what, analytic, numeric, student_tolerance);
        worst = fmax(worst, fabs(numeric - analytic));
        offset += sizes[t];
    }
    free(direction);
    free(saved);
    return worst;
}

static void check_form(fixture *f, teacher_form form, const distill_config *config)
{
    char label[96];
    snprintf(label, sizeof label, "%-7s %-10s alpha %.1f T %.0f", form_names[form],
             kd_divergence_name(config->divergence), (double)config->alpha,
             (double)config->temperature);
    double head = check_head(f, form, config, label);
    double student = check_student(f, form, config, label);
    print_message("%s: worst |error| head %.1e, student %.1e\n", label, head, student);
}

static void check_all_settings(fixture *f, teacher_form form)
{
    static const float alphas[] = {0.0f, 0.5f, 1.0f};
    static const float temperatures[] = {1.0f, 2.0f};
    for (int kind = 0; kind < 3; kind++)
        for (int a = 0; a < 3; a++)
            for (int t = 0; t < 2; t++) {
                distill_config config = {alphas[a], temperatures[t], 0.3f,
                                         (divergence_kind)kind};
                check_form(f, form, &config);
            }
}

static void test_live_teacher_gradients(void **state)
{
    check_all_settings(*state, FORM_LIVE);
}

static void test_cached_top_k_gradients(void **state)
{
    check_all_settings(*state, FORM_CACHED);
}

/* Sampled tails: forward KL at T = 1 (the only setting they support). */
static void test_sampled_tail_gradients(void **state)
{
    static const float alphas[] = {0.0f, 0.5f, 1.0f};
    for (int a = 0; a < 3; a++) {
        distill_config config = {alphas[a], 1.0f, 0.5f, DIVERGENCE_FORWARD_KL};
        check_form(*state, FORM_SAMPLED, &config);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_teacher_gradients),
        cmocka_unit_test(test_cached_top_k_gradients),
        cmocka_unit_test(test_sampled_tail_gradients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
