/* The dataset cache key changes with everything the examples depend on
 * and with nothing else. */
#include "test_support.h"

#include "kd/data.h"

#include <stdlib.h>
#include <string.h>

static const char *record_line = "{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}\n";

typedef struct {
    char *dir;
    char *paths[2];
    dataset_options options;
} key_fixture;

static int setup(void **state)
{
    key_fixture *fixture = calloc(1, sizeof *fixture);
    fixture->dir = test_make_temp_dir();
    fixture->paths[0] = test_path(fixture->dir, "a.jsonl");
    fixture->paths[1] = test_path(fixture->dir, "b.jsonl");
    test_write_file(fixture->paths[0], record_line, strlen(record_line));
    test_write_file(fixture->paths[1], record_line, strlen(record_line));
    kd_dataset_options_default(&fixture->options);
    fixture->options.paths = (const char *const *)fixture->paths;
    fixture->options.path_count = 2;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    key_fixture *fixture = *state;
    free(fixture->paths[0]);
    free(fixture->paths[1]);
    test_remove_temp_dir(fixture->dir);
    free(fixture);
    return 0;
}

static uint64_t key_of(const dataset_options *options, uint64_t kd_tokenizer_hash)
{
    uint64_t key;
    assert_int_equal(kd_dataset_options_key(options, kd_tokenizer_hash, &key), KD_OK);
    return key;
}

static void test_settings_change_the_key(void **state)
{
    key_fixture *fixture = *state;
    const dataset_options base = fixture->options;
    uint64_t key = key_of(&base, 5);
    assert_int_equal(key_of(&base, 5), key);
    assert_true(key_of(&base, 6) != key);
    dataset_options changed = base;
    changed.seq_len = 512;
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.loss = LOSS_ALL;
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.skip_bad = 1;
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.prompt.without_context = "{instruction}{response}";
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.fields.context = "input";
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.fields.category = NULL;
    assert_true(key_of(&changed, 5) != key);
    changed = base;
    changed.path_count = 1;
    assert_true(key_of(&changed, 5) != key);
    /* The split is recomputed on load, so it is not part of the key. */
    changed = base;
    changed.validation_fraction = 0.5;
    changed.split_seed = 99;
    changed.cache_dir = "elsewhere";
    assert_int_equal(key_of(&changed, 5), key);
}

static void test_file_contents_change_the_key(void **state)
{
    key_fixture *fixture = *state;
    uint64_t key = key_of(&fixture->options, 5);
    /* The same bytes split differently between the files are other data. */
    test_write_file(fixture->paths[0], record_line, strlen(record_line) - 1);
    test_write_file(fixture->paths[1], "\n", 1);
    uint64_t moved = key_of(&fixture->options, 5);
    assert_true(moved != key);
    char *renamed = test_path(fixture->dir, "c.jsonl");
    assert_int_equal(rename(fixture->paths[1], renamed), 0);
    free(fixture->paths[1]);
    fixture->paths[1] = renamed;
    assert_int_equal(key_of(&fixture->options, 5), moved); /* names do not matter */
    assert_int_equal(remove(renamed), 0);
    uint64_t unused;
    assert_int_equal(kd_dataset_options_key(&fixture->options, 5, &unused), KD_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings_change_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_contents_change_the_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
