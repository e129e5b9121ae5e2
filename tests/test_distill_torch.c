/* The live-teacher distillation loss against PyTorch.
 * tests/gen_torch_distill_fixture.py computed, in float64, the loss at T = 2
 * and alpha = 0.5 for each divergence (forward KL, reverse KL, JSD with beta
 * 0.5) of a random student (2 layers, C 32) against a random teacher (3
 * layers, C 48) on three right-padded sequences, its CE and divergence
 * parts, and the gradient of every student parameter; kd computes the same
 * in float32 through its fused head and must agree within the tolerances.
 *
 * Tolerances are about 10x the worst error measured (1 and 2 threads):
 *   loss and parts   relative                                    measured 2.9e-7
 *   gradients        per tensor, max |error| / max |gradient|     measured 8.4e-7 */
#include "test_support.h"
#include "reference_fixture.h"

#include <string.h>

#include "kd/distill.h"

#define FIXTURE KD_FIXTURES_DIR "/torch/distill_reference.safetensors"

static const double loss_tolerance = 3e-6;
static const double gradient_tolerance = 1e-5;

typedef struct {
    reference_fixture ref;
    gpt2_model student, teacher;
    distill_config config;
    reference_batch input;
} fixture;

static void read_config(const reference_fixture *ref, const char *prefix, gpt2_config *config)
{
    char key[64];
    int *fields[] = {&config->n_layer, &config->n_head, &config->n_embd, &config->n_positions,
                     &config->vocab_size};
    const char *names[] = {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"};
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "%s_%s", prefix, names[i]);
        *fields[i] = (int)reference_number(ref, key);
    }
    snprintf(key, sizeof key, "%s_layer_norm_epsilon", prefix);
    config->layer_norm_epsilon = (float)reference_number(ref, key);
    assert_int_equal(kd_gpt2_config_validate(config), KD_OK);
}

/* A model holding the fixture's "<prefix>.<HF name>" tensors, each checked
 * against kd's shape, prepared for the fixture's batch. */
static void load_model(fixture *f, const char *prefix, gpt2_model *model, int training)
{
    gpt2_config config;
    read_config(&f->ref, prefix, &config);
    reference_model_load(&f->ref, prefix, &config, model);
    assert_int_equal(kd_gpt2_prepare(model, f->input.batch, f->input.seq, training), KD_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    reference_open(&f->ref, FIXTURE);
    gpt2_config student;
    read_config(&f->ref, "student", &student);
    reference_batch_read(&f->ref, &student, &f->input);
    assert_true(f->input.batch <= 64 && f->input.seq <= 64);
    load_model(f, "student", &f->student, 1);
    load_model(f, "teacher", &f->teacher, 0);
    assert_int_equal(f->student.config.vocab_size, f->teacher.config.vocab_size);
    f->config.alpha = (float)reference_number(&f->ref, "alpha");
    f->config.temperature = (float)reference_number(&f->ref, "temperature");
    f->config.jsd_beta = (float)reference_number(&f->ref, "jsd_beta");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kd_gpt2_free(&f->student);
    kd_gpt2_free(&f->teacher);
    kd_safetensors_close(&f->ref.file);
    reference_batch_free(&f->input);
    free(f);
    return 0;
}

static void check_divergence(fixture *f, divergence_kind kind)
{
    const char *name = kd_divergence_name(kind);
    distill_config config = f->config;
    config.divergence = kind;
    assert_int_equal(kd_distill_config_validate(&config), KD_OK);
    double counted = reference_batch_weight_sum(&f->input);

    kd_gpt2_zero_grad(&f->student);
    kd_gpt2_forward(&f->student, f->input.tokens, f->input.batch, f->input.seq);
    kd_gpt2_forward(&f->teacher, f->input.tokens, f->input.batch, f->input.seq);
    assert_int_equal(kd_distill_check_live(&f->student, &f->teacher), KD_OK);
    distill_parts parts;
    double loss = kd_gpt2_head_distill_live(&f->student, &f->teacher, f->input.targets,
                                            f->input.weights, &config, (float)(1.0 / counted),
                                            &parts) / counted;
    kd_gpt2_backward(&f->student);

    char what[96];
    const struct { const char *suffix; double value; } sums[] = {
        {"loss", loss},
        {"cross_entropy", parts.cross_entropy / counted},
        {"divergence", parts.divergence / counted},
    };
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s.%s", name, sums[i].suffix);
        double want = reference_scalar(&f->ref, what);
        expect_within(what, fabs(sums[i].value - want) / fabs(want), loss_tolerance);
    }
    for (int i = 0; i < kd_gpt2_tensor_count(&f->student.config); i++) {
        gpt2_tensor grad;
        kd_gpt2_tensor_at(&f->student.config, &f->student.grads, i, &grad);
        size_t count = (size_t)grad.shape[0] * (size_t)(grad.ndim == 2 ? grad.shape[1] : 1);
        float *want = malloc(count * sizeof *want);
        assert_non_null(want);
        snprintf(what, sizeof what, "%s.grad.%s", name, grad.name);
        reference_floats_into(&f->ref, what, want, count);
        double scale = max_abs(want, count);
        assert_true(scale > 0.0);
        expect_within(what, max_abs_difference(grad.data, want, count) / scale,
                      gradient_tolerance);
        free(want);
    }
}

static void test_forward_kl_matches_torch(void **state)
{
    check_divergence(*state, DIVERGENCE_FORWARD_KL);
}

static void test_reverse_kl_matches_torch(void **state)
{
    check_divergence(*state, DIVERGENCE_REVERSE_KL);
}

static void test_jsd_matches_torch(void **state)
{
    check_divergence(*state, DIVERGENCE_JSD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_kl_matches_torch),
        cmocka_unit_test(test_reverse_kl_matches_torch),
        cmocka_unit_test(test_jsd_matches_torch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
