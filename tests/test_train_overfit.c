/* A tiny model memorises a tiny dataset: the training loss must fall far
 * below its starting value (ln 50257 = 10.8), proving that data, loss mask,
 * backward pass and AdamW work together. Also: evaluation is deterministic. */
#include "test_support.h"
#include "train_fixture.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/core.h"
#include "kd/teacher.h"
#include "kd/train.h"

/* train_loss of the last line of metrics.jsonl. */
static double last_train_loss(const char *run_dir)
{
    char *path = test_path(run_dir, "metrics.jsonl");
    size_t size = 0;
    char *text = test_read_file(path, &size);
    char *last = text, *line = text;
    while ((line = strchr(line, '\n')) && line[1]) {
        last = ++line;
    }
    cJSON *json = cJSON_Parse(last);
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(json, "train_loss");
    assert_true(cJSON_IsNumber(loss));
    double value = loss->valuedouble;
    cJSON_Delete(json);
    free(text);
    free(path);
    return value;
}

static void test_tiny_model_overfits(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    char *dir = test_make_temp_dir();
    char *config = train_fixture_write(dir, 16, 64, 120, NULL);
    char *out = test_path(dir, "run");
    teacher_train_options options = {.config_path = config, .out_dir = out, .overrides = {.seed = -1}};
    if (kd_teacher_train(&options) != KD_OK)
        fail_msg("teacher_train: %s", kd_last_error());
    double loss = last_train_loss(out);
    print_message("final training loss %.4f\n", loss);
    assert_true(loss < 0.5);

    /* samples.md answers the config's prompt before and after training. */
    char *samples_path = test_path(out, "samples.md");
    size_t samples_size = 0;
    char *samples = test_read_file(samples_path, &samples_size);
    assert_non_null(strstr(samples, "## Before training"));
    assert_non_null(strstr(samples, "## After training (best model"));
    assert_non_null(strstr(strstr(samples, "## After"), "### Tell me about owls."));
    free(samples);
    free(samples_path);

    /* The best model evaluates to the same numbers twice. */
    char *model = test_path(out, "model");
    eval_options eval = {.model_dir = model, .batch_size = 4};
    eval_result first, second;
    assert_int_equal(kd_eval_model_dir(&eval, &first), KD_OK);
    assert_int_equal(kd_eval_model_dir(&eval, &second), KD_OK);
    assert_true(first.loss == second.loss && first.accuracy == second.accuracy);
    assert_true(isfinite(first.loss) && first.tokens > 0);
    free(model);
    free(out);
    free(config);
    test_remove_temp_dir(dir);
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_model_overfits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
