/* The student's objective end to end: a tiny teacher writes a cache of its
 * whole vocabulary (K = V) for a dataset, and one training step from the
 * cache then matches one step with the same teacher live, up to the cache's
 * quantisation; the hard-label part is identical. Records that do not
 * belong to the examples being trained on are refused. */
#include "test_support.h"
#include "cache_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/student.h"

enum { V = 64, SEQ = 16, BATCH = 4, EXAMPLES = 8 };

typedef struct {
    char *dir;
    cache_fixture fixture;       /* examples at dataset indices 3e + 1 */
    dataset *data;
    gpt2_model teacher;
    cache_reader *reader;
} objective_fixture;

static void make_dataset(objective_fixture *f)
{
    assert_int_equal(kd_dataset_create(SEQ, &f->data), KD_OK);
    int filler[2] = {1, 2};
    uint8_t filler_mask[2] = {1, 0};
    for (size_t e = 0; e < EXAMPLES; e++) {
        /* indices 3e and 3e + 2 hold other examples, so a wrong index shows */
        assert_int_equal(kd_dataset_append(f->data, filler, filler_mask, 2, 0), KD_OK);
        assert_int_equal(kd_dataset_append(f->data, f->fixture.ids[e], f->fixture.masks[e],
                                           f->fixture.lengths[e], e),
                         KD_OK);
        assert_int_equal(kd_dataset_append(f->data, filler, filler_mask, 2, 0), KD_OK);
    }
}

/* What kd teacher cache does, for these examples: the teacher's logits at
 * every counted position. */
static void write_cache(objective_fixture *f)
{
    cache_plan plan;
    cache_fixture_plan(&plan, &f->fixture, V, 0, 3);
    cache_writer *writer;
    assert_int_equal(kd_cache_writer_open(f->dir, &plan, &writer), KD_OK);
    static float logits[SEQ * V];
    for (size_t e = 0; e < EXAMPLES; e++) {
        const int *ids = f->fixture.ids[e];
        const uint8_t *mask = f->fixture.masks[e];
        int n = (int)f->fixture.lengths[e] - 1;
        kd_gpt2_forward(&f->teacher, ids, 1, n);
        assert_int_equal(kd_cache_writer_begin(writer, e, ids, mask, (size_t)n + 1), KD_OK);
        for (int t = 0; t < n; t++) {
            if (!mask[t])
                continue;
            kd_gpt2_head_logits(&f->teacher, t, 1, logits);
            assert_int_equal(kd_cache_writer_add_rows(writer, logits, 1), KD_OK);
        }
        assert_int_equal(kd_cache_writer_end(writer), KD_OK);
    }
    assert_int_equal(kd_cache_writer_finish(writer, NULL), KD_OK);
    kd_cache_writer_close(writer);
}

static int setup(void **state)
{
    objective_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = test_make_temp_dir();
    cache_fixture_create(&f->fixture, EXAMPLES, SEQ, V, 5);
    make_dataset(f);
    gpt2_config config = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = SEQ,
                          .vocab_size = V, .layer_norm_epsilon = 1e-5f};
    assert_int_equal(kd_gpt2_create(&f->teacher, &config), KD_OK);
    kd_gpt2_init_random(&f->teacher, 3);
    for (size_t i = 0; i < f->teacher.num_params; i++)
        f->teacher.params_memory[i] *= 20.0f; /* a teacher with opinions */
    assert_int_equal(kd_gpt2_prepare(&f->teacher, BATCH, SEQ, 0), KD_OK);
    write_cache(f);
    assert_int_equal(kd_cache_open(f->dir, &f->reader), KD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    objective_fixture *f = *state;
    kd_cache_close(f->reader);
    kd_gpt2_free(&f->teacher);
    kd_dataset_free(f->data);
    cache_fixture_free(&f->fixture);
    test_remove_temp_dir(f->dir);
    free(f);
    return 0;
}

/* Two micro-batches of fixture examples, padded to SEQ. */
typedef struct {
    int tokens[2][BATCH * SEQ];
    int targets[2][BATCH * SEQ];
    float weights[2][BATCH * SEQ];
    size_t examples[2 * BATCH];
    gpt2_batch micro[2];
} step_batches;

static void make_batches(const objective_fixture *f, step_batches *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 2; i++) {
        int rows = i == 0 ? BATCH : BATCH - 1; /* a short last micro-batch */
        for (int r = 0; r < rows; r++) {
            size_t e = (size_t)(i * BATCH + r) % EXAMPLES;
            b->examples[i * BATCH + r] = 3 * e + 1;
            kd_example ex = kd_dataset_example(f->data, 3 * e + 1);
            for (size_t t = 0; t + 1 < ex.length; t++) {
                b->tokens[i][r * SEQ + t] = ex.ids[t];
                b->targets[i][r * SEQ + t] = ex.ids[t + 1];
                b->weights[i][r * SEQ + t] = ex.target_mask[t];
            }
        }
        b->micro[i] = (gpt2_batch){b->tokens[i], b->targets[i], b->weights[i], rows, SEQ};
    }
}

static void make_student(gpt2_model *student)
{
    gpt2_config config = {.n_layer = 1, .n_head = 2, .n_embd = 8, .n_positions = SEQ,
                          .vocab_size = V, .layer_norm_epsilon = 1e-5f};
    assert_int_equal(kd_gpt2_create(student, &config), KD_OK);
    kd_gpt2_init_random(student, 9);
    assert_int_equal(kd_gpt2_prepare(student, BATCH, SEQ, 1), KD_OK);
}

static kd_status one_step(objective_fixture *f, cache_reader *reader, gpt2_model *teacher,
                          const step_batches *b, gpt2_model *student, train_step_report *report)
{
    distill_config config = kd_distill_config_default();
    config.alpha = 0.3f;
    distill_objective *objective;
    assert_int_equal(kd_distill_objective_create(reader, teacher, f->data, &config, BATCH, SEQ, 2,
                                                 &objective),
                     KD_OK);
    train_objective train = kd_distill_objective_as_train(objective);
    gpt2_step_config step = {.adamw = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0},
                             .learning_rate = 1e-3f, .grad_clip = 0.0f};
    kd_status status = train.step(train.context, student, b->micro, b->examples, 2, &step, 1,
                                  report);
    kd_distill_objective_free(objective);
    return status;
}

static void test_cached_step_matches_live(void **state)
{
    objective_fixture *f = *state;
    static step_batches b;
    make_batches(f, &b);
    gpt2_model cached, live;
    make_student(&cached);
    make_student(&live);
    train_step_report from_cache, from_teacher;
    assert_int_equal(one_step(f, f->reader, NULL, &b, &cached, &from_cache), KD_OK);
    assert_int_equal(one_step(f, NULL, &f->teacher, &b, &live, &from_teacher), KD_OK);
    assert_true(from_cache.has_parts && from_teacher.has_parts);
    /* The hard labels do not go through the cache at all. */
    assert_true(from_cache.cross_entropy == from_teacher.cross_entropy);
    assert_true(from_teacher.divergence > 0.05); /* the comparison means something */
    /* Each stored log-probability is within 2^-8 nats. */
    assert_true(fabs(from_cache.divergence - from_teacher.divergence) < 0.01);
    assert_true(fabs(from_cache.step.loss - from_teacher.step.loss) < 0.01);
    double worst = 0.0, largest = 0.0;
    for (size_t i = 0; i < cached.num_params; i++) {
        worst = fmax(worst, fabs(cached.grads_memory[i] - live.grads_memory[i]));
        largest = fmax(largest, fabs(live.grads_memory[i]));
    }
    assert_true(worst < 0.02 * largest);
    kd_gpt2_free(&cached);
    kd_gpt2_free(&live);
}

static void test_foreign_record_is_refused(void **state)
{
    objective_fixture *f = *state;
    static step_batches b;
    make_batches(f, &b);
    b.examples[2] = 3 * 2 + 2; /* a row claims the filler example next to its own */
    gpt2_model student;
    make_student(&student);
    train_step_report report;
    assert_int_equal(one_step(f, f->reader, NULL, &b, &student, &report), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "step 1"));
    b.examples[2] = 3 * 2 + 1;
    /* The dataset changed under the cache: example 4's tokens differ. */
    kd_example ex = kd_dataset_example(f->data, 3 * 4 + 1);
    ((int *)ex.ids)[0] = (ex.ids[0] + 1) % V;
    assert_int_equal(one_step(f, f->reader, NULL, &b, &student, &report), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "other tokens"));
    ((int *)ex.ids)[0] = (ex.ids[0] + V - 1) % V;
    kd_gpt2_free(&student);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_step_matches_live),
        cmocka_unit_test(test_foreign_record_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
