/* kd report diff on two fixture reports (tests/fixtures/report-diff): B
 * lowers tiny-kd's alpha and its cache's K, adds tail samples and a model.
 * The diff lists exactly those settings, every result with its difference,
 * calls tiny-kd's loss change beyond the noise and the baseline's not, and
 * names the model only B has. Bad input (another schema version, no model
 * in common, truncated JSON) is refused with a message naming the file. */
#include "test_support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/report.h"

#define FIXTURE(name) KD_FIXTURES_DIR "/report-diff/" name

static cJSON *read_json(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    size_t size = 0;
    char *text = test_read_file(path, &size);
    cJSON *json = cJSON_ParseWithLength(text, size);
    assert_non_null(json);
    free(text);
    free(path);
    return json;
}

static const cJSON *find_row(const cJSON *rows, const char *model, const char *key)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        if (strcmp(cJSON_GetObjectItem(row, "model")->valuestring, model) == 0 &&
            strcmp(cJSON_GetObjectItem(row, "key")->valuestring, key) == 0)
            return row;
    }
    fail_msg("no row for %s %s", model, key);
    return NULL;
}

static void test_diff_of_two_fixtures(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    assert_int_equal(kd_report_diff(FIXTURE("a.json"), FIXTURE("b.json"), dir, NULL), KD_OK);
    cJSON *diff = read_json(dir, "diff.json");
    const cJSON *settings = cJSON_GetObjectItem(diff, "settings");
    assert_int_equal(cJSON_GetArraySize(settings), 3); /* alpha, top-K, samples: nothing else */
    const cJSON *alpha = find_row(settings, "tiny-kd", "alpha");
    assert_string_equal(cJSON_GetObjectItem(alpha, "a")->valuestring, "0.5");
    assert_string_equal(cJSON_GetObjectItem(alpha, "b")->valuestring, "0.2");
    find_row(settings, "tiny-kd", "topk");
    find_row(settings, "tiny-kd", "samples");

    const cJSON *results = cJSON_GetObjectItem(diff, "results");
    assert_int_equal(cJSON_GetArraySize(results), 3 * 11); /* three models in common */
    const cJSON *kd_loss = find_row(results, "tiny-kd", "val_loss");
    assert_true(fabs(cJSON_GetObjectItem(kd_loss, "difference")->valuedouble + 0.0599) < 1e-9);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(kd_loss, "beyond_noise")));
    const cJSON *base_loss = find_row(results, "tiny-baseline", "val_loss");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(base_loss, "beyond_noise")));
    const cJSON *speed = find_row(results, "tiny-kd", "gen_tokens_per_s");
    assert_true(fabs(cJSON_GetObjectItem(speed, "ratio")->valuedouble - 1175.0 / 1187.2) < 1e-12);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(speed, "beyond_noise")));
    cJSON_Delete(diff);

    char *md_path = test_path(dir, "diff.md"), *html_path = test_path(dir, "diff.html");
    size_t size = 0;
    char *md = test_read_file(md_path, &size), *html = test_read_file(html_path, &size);
    assert_non_null(strstr(md, "| tiny-kd | student | alpha | 0.5 | 0.2 |"));
    assert_non_null(strstr(md, "Only in B: tiny-sampled (student)."));
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "<td class=\"better\">yes"));
    assert_null(strstr(html, "<td class=\"worse\">"));
    free(md);
    free(html);
    free(md_path);
    free(html_path);
    test_remove_temp_dir(dir);
}

/* Writes `text` to dir/name and returns the path. */
static char *write_text(const char *dir, const char *name, const char *text)
{
    char *path = test_path(dir, name);
    test_write_file(path, text, strlen(text));
    return path;
}

static void assert_refused(const char *a, const char *b, const char *named, const char *problem)
{
    kd_status status = kd_report_diff(a, b, NULL, NULL);
    assert_true(status == KD_ERR_FORMAT || status == KD_ERR_INVALID);
    const char *message = kd_last_error();
    if (!strstr(message, named) || !strstr(message, problem) || strchr(message, '\n'))
        fail_msg("message \"%s\" should name %s and say \"%s\"", message, named, problem);
}

static void test_bad_input(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size = 0;
    char *a = test_read_file(FIXTURE("a.json"), &size);

    /* a report of the first version, which had no schema_version */
    char *old_text = strdup(a);
    char *version = strstr(old_text, "\"schema_version\"");
    assert_non_null(version);
    memcpy(version, "\"schema_versioX\"", 16);
    char *old = write_text(dir, "old.json", old_text);
    assert_refused(FIXTURE("a.json"), old, old, "schema version 1, but");

    /* the same models under other names */
    char *renamed_text = strdup(a);
    for (char *at = strstr(renamed_text, "\"name\": \""); at; at = strstr(at + 1, "\"name\": \""))
        at[9] = 'X';
    char *renamed = write_text(dir, "renamed.json", renamed_text);
    assert_refused(FIXTURE("a.json"), renamed, renamed, "no model in common");

    /* cut short, as a copy interrupted midway leaves it */
    a[size / 2] = '\0';
    char *truncated = write_text(dir, "truncated.json", a);
    assert_refused(truncated, FIXTURE("b.json"), truncated, "malformed JSON");
    char *empty = write_text(dir, "empty.json", "");
    assert_refused(FIXTURE("a.json"), empty, empty, "malformed JSON");
    char *array = write_text(dir, "array.json", "[1, 2]");
    assert_refused(array, FIXTURE("b.json"), array, "not a JSON object");
    char *nameless = write_text(dir, "nameless.json",
                                "{\"schema_version\": 2, \"models\": [{\"role\": \"student\"}]}");
    assert_refused(nameless, FIXTURE("b.json"), nameless, "no \"name\" or \"role\"");
    char *future = write_text(dir, "future.json", "{\"schema_version\": 3, \"models\": []}");
    assert_refused(future, future, future, "this kd compares version 2");

    free(a);
    free(old_text);
    free(renamed_text);
    free(old);
    free(renamed);
    free(truncated);
    free(empty);
    free(array);
    free(nameless);
    free(future);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_of_two_fixtures),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
