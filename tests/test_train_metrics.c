/* metrics.jsonl: a training row every log_every steps and at every
 * evaluation, an evaluation row per evaluation, and after --stop-after and
 * --resume (or a crash that left rows past the checkpoint) the same rows,
 * clock figures aside, as an uninterrupted run's: no step twice, none
 * missing. */
#include "test_support.h"
#include "train_fixture.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/core.h"
#include "kd/teacher.h"

enum { MAX_ROWS = 64 };

static void train(const char *config, const char *out, int stop_after, run_dir_start start)
{
    teacher_train_options options = {
        .config_path = config, .out_dir = out, .stop_after = stop_after, .start = start,
        .overrides = {.seed = -1},
    };
    if (kd_teacher_train(&options) != KD_OK)
        fail_msg("teacher_train: %s", kd_last_error());
}

/* The rows of out/metrics.jsonl without their wall-clock fields, printed
 * back; returns how many. */
static int read_rows(const char *out, char **rows)
{
    char *path = test_path(out, "metrics.jsonl");
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[4096];
    int count = 0;
    while (fgets(line, sizeof line, file)) {
        assert_true(count < MAX_ROWS);
        cJSON *row = cJSON_Parse(line);
        assert_non_null(row);
        cJSON_DeleteItemFromObjectCaseSensitive(row, "elapsed_s");
        cJSON_DeleteItemFromObjectCaseSensitive(row, "tokens_per_s");
        rows[count++] = cJSON_PrintUnformatted(row);
        cJSON_Delete(row);
    }
    fclose(file);
    free(path);
    return count;
}

static double number(const char *row, const char *key)
{
    cJSON *json = cJSON_Parse(row);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
    double value = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    cJSON_Delete(json);
    return value;
}

static int is_evaluation(const char *row)
{
    return strstr(row, "\"type\":\"eval\"") != NULL;
}

static void free_rows(char **rows, int count)
{
    for (int i = 0; i < count; i++)
        free(rows[i]);
}

/* 10 steps of 6 an epoch, log_every 3, eval_interval 4: evaluations at 4,
 * 6 (the epoch's end), 8 and 10 (the last step); training rows at 3, 9 and
 * at each evaluation. Tokens only grow; losses are finite. */
static void test_rows_every_log_interval(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 10, "\"log_every\": 3");
    char *out = test_path(dir, "run");
    train(config, out, 0, RUN_DIR_NEW);
    char *rows[MAX_ROWS];
    int count = read_rows(out, rows);
    const int train_steps[] = {3, 4, 6, 8, 9, 10}, eval_steps[] = {4, 6, 8, 10};
    int trains = 0, evals = 0;
    double last_tokens = 0.0;
    for (int i = 0; i < count; i++) {
        int step = (int)number(rows[i], "step");
        double tokens = number(rows[i], "tokens");
        assert_true(tokens >= last_tokens && tokens > 0);
        last_tokens = tokens;
        assert_true(isfinite(number(rows[i], "train_ce")));
        assert_true(isfinite(number(rows[i], "grad_norm")));
        if (is_evaluation(rows[i])) {
            assert_true(evals < 4);
            assert_int_equal(step, eval_steps[evals++]);
            assert_true(isfinite(number(rows[i], "val_loss")));
        } else {
            assert_true(trains < 6);
            assert_int_equal(step, train_steps[trains++]);
            assert_true(isnan(number(rows[i], "val_loss")));
            /* a teacher's objective is its cross-entropy */
            assert_true(number(rows[i], "train_loss") == number(rows[i], "train_ce"));
        }
    }
    assert_int_equal(trains, 6);
    assert_int_equal(evals, 4);
    free_rows(rows, count);
    free(out);
    free(config);
    test_remove_temp_dir(dir);
}

static void assert_same_rows(const char *straight, const char *resumed)
{
    char *a[MAX_ROWS], *b[MAX_ROWS];
    int count_a = read_rows(straight, a), count_b = read_rows(resumed, b);
    assert_int_equal(count_a, count_b);
    for (int i = 0; i < count_a; i++)
        assert_string_equal(a[i], b[i]);
    free_rows(a, count_a);
    free_rows(b, count_b);
}

/* Stopped after step 5 (inside an open training row), then resumed: the
 * open row's sums come back from the checkpoint. A row past the
 * checkpoint, as a crash leaves it, is dropped. */
static void test_resume_keeps_rows_consistent(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 24, 32, 10, "\"log_every\": 3");
    char *straight = test_path(dir, "straight"), *resumed = test_path(dir, "resumed");
    train(config, straight, 0, RUN_DIR_NEW);
    train(config, resumed, 5, RUN_DIR_NEW);
    char *metrics = test_path(resumed, "metrics.jsonl");
    FILE *file = fopen(metrics, "a");
    assert_non_null(file);
    fprintf(file, "{\"type\":\"train\",\"step\":6,\"tokens\":1,\"train_loss\":1}\n");
    fclose(file);
    train(config, resumed, 0, RUN_DIR_RESUME);
    assert_same_rows(straight, resumed);
    free(metrics);
    free(straight);
    free(resumed);
    free(config);
    test_remove_temp_dir(dir);
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_every_log_interval),
        cmocka_unit_test(test_resume_keeps_rows_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
