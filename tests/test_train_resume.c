/* --stop-after then --resume ends bit-identical to an uninterrupted run with
 * the same seed and threads: weights, AdamW moments and the best model.
 * --resume before any checkpoint is a fresh run; a fresh run over a started
 * one is refused. A checkpoint save cut short by a crash is completed by the
 * resume, even when no step is left to train. Every number of state.json
 * reads back exactly. */
#include "test_support.h"
#include "train_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kd/core.h"
#include "kd/teacher.h"
#include "kd/train.h"

static kd_status try_train(const char *config, const char *out, int stop_after,
                           run_dir_start start)
{
    teacher_train_options options = {
        .config_path = config, .out_dir = out, .stop_after = stop_after, .start = start,
        .overrides = {.seed = -1},
    };
    return kd_teacher_train(&options);
}

static void train(const char *config, const char *out, int stop_after, run_dir_start start)
{
    if (try_train(config, out, stop_after, start) != KD_OK)
        fail_msg("teacher_train: %s", kd_last_error());
}

static void assert_same_file(const char *dir_a, const char *dir_b, const char *name)
{
    char *path_a = test_path(dir_a, name), *path_b = test_path(dir_b, name);
    size_t size_a = 0, size_b = 0;
    void *a = test_read_file(path_a, &size_a), *b = test_read_file(path_b, &size_b);
    assert_int_equal(size_a, size_b);
    if (memcmp(a, b, size_a) != 0)
        fail_msg("%s differs between the two runs", name);
    free(a);
    free(b);
    free(path_a);
    free(path_b);
}

/* A run stopped after step 5 and resumed ends with the same files as one
 * that ran straight through. */
static void check_resume_is_bit_identical(const char *extra_settings)
{
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 12, extra_settings);
    char *straight = test_path(dir, "straight"), *resumed = test_path(dir, "resumed");
    train(config, straight, 0, RUN_DIR_NEW);
    train(config, resumed, 5, RUN_DIR_NEW);    /* interrupted after step 5 ... */
    assert_int_equal(try_train(config, resumed, 0, RUN_DIR_NEW), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "--resume"));
    train(config, resumed, 0, RUN_DIR_RESUME); /* ... and continued */
    assert_same_file(straight, resumed, "last/model.safetensors");
    assert_same_file(straight, resumed, "last/optimizer.safetensors");
    assert_same_file(straight, resumed, "model/model.safetensors");
    free(straight);
    free(resumed);
    free(config);
    test_remove_temp_dir(dir);
}

static void test_resume_is_bit_identical(void **state)
{
    (void)state;
    check_resume_is_bit_identical("\"precision\": \"fp32\"");
}

/* The same within bf16, where the CPU has it natively; elsewhere a bf16 run
 * is refused before it starts. */
static void test_resume_is_bit_identical_in_bf16(void **state)
{
    (void)state;
    kd_precision chosen;
    if (kd_precision_resolve(KD_PRECISION_BF16, &chosen) == KD_OK) {
        check_resume_is_bit_identical("\"precision\": \"bf16\"");
        return;
    }
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 12, "\"precision\": \"bf16\"");
    char *out = test_path(dir, "refused");
    assert_int_equal(try_train(config, out, 0, RUN_DIR_NEW), KD_ERR_UNSUPPORTED);
    free(out);
    free(config);
    test_remove_temp_dir(dir);
}

static void test_resume_without_checkpoint_starts_afresh(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 4, NULL);
    char *fresh = test_path(dir, "fresh"), *resumed = test_path(dir, "never-started");
    train(config, fresh, 0, RUN_DIR_NEW);
    train(config, resumed, 0, RUN_DIR_RESUME);
    assert_same_file(fresh, resumed, "last/model.safetensors");
    assert_same_file(fresh, resumed, "last/optimizer.safetensors");
    assert_same_file(fresh, resumed, "model/model.safetensors");
    free(fresh);
    free(resumed);
    free(config);
    test_remove_temp_dir(dir);
}

static int exists(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    struct stat st;
    int found = stat(path, &st) == 0;
    free(path);
    return found;
}

/* A half-written "<dir>.new" and a half-removed or whole "<dir>.old", as
 * kill -9 leaves them at each point of kd_checkpoint_save. */
static void leave_interrupted_save(const char *out, int between_renames)
{
    char *last = test_path(out, "last"), *old = test_path(out, "last.old");
    char *fresh = test_path(out, "last.new");
    if (between_renames)
        assert_int_equal(rename(last, old), 0);
    else
        assert_int_equal(mkdir(old, 0755), 0);
    assert_int_equal(mkdir(fresh, 0755), 0);
    char *partial = test_path(fresh, "model.safetensors");
    test_write_file(partial, "half", 4);
    free(partial);
    free(fresh);
    free(old);
    free(last);
}

static void test_resume_completes_an_interrupted_save(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 4, NULL);
    char *straight = test_path(dir, "straight"), *resumed = test_path(dir, "resumed");
    train(config, straight, 0, RUN_DIR_NEW);
    for (int between_renames = 0; between_renames < 2; between_renames++) {
        train(config, resumed, 0, between_renames ? RUN_DIR_RESUME : RUN_DIR_NEW);
        leave_interrupted_save(resumed, between_renames);
        train(config, resumed, 0, RUN_DIR_RESUME);
        assert_false(exists(resumed, "last.old"));
        assert_false(exists(resumed, "last.new"));
        assert_same_file(straight, resumed, "last/model.safetensors");
        assert_same_file(straight, resumed, "last/optimizer.safetensors");
    }
    free(straight);
    free(resumed);
    free(config);
    test_remove_temp_dir(dir);
}

/* Sums whose shortest exact decimal needs 16 or 17 digits: 0.1 + 0.2 is
 * 0.30000000000000004, which cJSON alone prints as 0.3 (it reads back
 * within an epsilon, and cJSON settles for that). A resumed run's metrics
 * rows are means of these sums. */
static void test_state_numbers_read_back_exactly(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir(), *last = test_path(dir, "last");
    char *tokenizer = test_path(KD_ASSETS_DIR, "gpt2");
    gpt2_config config = {1, 2, 32, 16, 50257, 1e-5f};
    gpt2_model model = {0};
    assert_int_equal(kd_gpt2_create(&model, &config), KD_OK);
    kd_gpt2_init_random(&model, 1);
    assert_int_equal(kd_gpt2_prepare(&model, 1, 16, 1), KD_OK);
    train_state saved = {.step = 7, .total_steps = 9, .best_val_loss = 10.0 / 3.0,
                         .best_step = 5, .elapsed_s = 0.1 + 0.2, .epoch_loss_sum = 2.0 / 3.0,
                         .epoch_loss_count = 7, .epoch_elapsed_s = 1.1 + 2.2, .world_size = 1};
    saved.eval_window = (train_window){2, 0.1 + 0.2, 0.7 + 0.1, 1.0 / 7.0, 100, 128};
    saved.log_window = (train_window){1, 9.352571586336966, 9.35257158633697, 0, 50, 64};
    assert_int_equal(kd_checkpoint_save(last, &model, &saved, tokenizer), KD_OK);
    train_state loaded = {0};
    assert_int_equal(kd_checkpoint_load(last, &model, &loaded), KD_OK);
    assert_memory_equal(&loaded.eval_window, &saved.eval_window, sizeof saved.eval_window);
    assert_memory_equal(&loaded.log_window, &saved.log_window, sizeof saved.log_window);
    const double *pairs[][2] = {{&loaded.best_val_loss, &saved.best_val_loss},
                                {&loaded.elapsed_s, &saved.elapsed_s},
                                {&loaded.epoch_loss_sum, &saved.epoch_loss_sum},
                                {&loaded.epoch_elapsed_s, &saved.epoch_elapsed_s}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        assert_memory_equal(pairs[i][0], pairs[i][1], sizeof(double));
    kd_gpt2_free(&model);
    free(tokenizer);
    free(last);
    test_remove_temp_dir(dir);
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_resume_is_bit_identical_in_bf16),
        cmocka_unit_test(test_resume_without_checkpoint_starts_afresh),
        cmocka_unit_test(test_resume_completes_an_interrupted_save),
        cmocka_unit_test(test_state_numbers_read_back_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
