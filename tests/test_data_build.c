/* kd_dataset_build end to end over a byte-level tokenizer (one token per
 * byte, so every count below follows from the text): templating, fitting
 * and its counts, errors, and the cache's hit, miss, stale and damaged
 * cases. */
#include "test_support.h"

#include "kd/data.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { END_OF_TEXT = 256 };

static const char *const special_tokens[] = {"<|endoftext|>"};

/* "I:ab R:" is 7 prompt tokens; r1 has 10 tokens in all; r2 has 8 context
 * tokens and 21 in all; r3's prompt alone is 37 tokens. */
static const char *const records =
    "{\"instruction\": \"ab\", \"context\": \"\", \"response\": \"cd\"}\n"
    "{\"instruction\": \"ab\", \"context\": \"xxxxxxxx\", \"response\": \"cd\"}\n"
    "{\"instruction\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"context\": \"\", \"response\": \"c\"}\n";

typedef struct {
    char *dir;
    char *data_path;
    char *cache_dir;
    const char *paths[1];
    kd_tokenizer *tokenizer;
    dataset_options options;
} build_fixture;

static int setup(void **state)
{
    build_fixture *fixture = calloc(1, sizeof *fixture);
    fixture->dir = test_make_temp_dir();
    test_write_tokenizer(fixture->dir, special_tokens, 1, "");
    assert_int_equal(kd_tokenizer_load(fixture->dir, &fixture->tokenizer), KD_OK);
    fixture->data_path = test_path(fixture->dir, "data.jsonl");
    fixture->cache_dir = test_path(fixture->dir, "cache");
    test_write_file(fixture->data_path, records, strlen(records));
    fixture->paths[0] = fixture->data_path;
    kd_dataset_options_default(&fixture->options);
    fixture->options.paths = fixture->paths;
    fixture->options.path_count = 1;
    fixture->options.prompt.with_context = "I:{instruction} C:{context} R:{response}<|endoftext|>";
    fixture->options.prompt.without_context = "I:{instruction} R:{response}<|endoftext|>";
    fixture->options.seq_len = 15;
    fixture->options.validation_fraction = 0.0;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    build_fixture *fixture = *state;
    kd_tokenizer_free(fixture->tokenizer);
    free(fixture->data_path);
    free(fixture->cache_dir);
    test_remove_temp_dir(fixture->dir);
    free(fixture);
    return 0;
}

static void expect_text(const kd_tokenizer *tokenizer, const kd_example *example, const char *text)
{
    char *decoded;
    size_t length;
    assert_int_equal(kd_tokenizer_decode(tokenizer, example->ids, example->length, &decoded, &length),
                     KD_OK);
    assert_string_equal(decoded, text);
    free(decoded);
}

static void test_build_fits_and_counts(void **state)
{
    build_fixture *fixture = *state;
    dataset *data;
    dataset_report report;
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, &report), KD_OK);
    assert_int_equal(report.counts.records, 3);
    assert_int_equal(report.counts.kept, 1);
    assert_int_equal(report.counts.shortened, 1);
    assert_int_equal(report.counts.dropped, 1);
    assert_int_equal(report.counts.context_tokens_cut, 5);
    assert_int_equal(report.counts.response_tokens_cut, 0);
    assert_int_equal(report.examples, 2);
    assert_int_equal(report.tokens, 10 + 16);
    assert_int_equal(report.loss_tokens, 3 + 3); /* c, d, <|endoftext|> twice */
    assert_int_equal(report.train_examples, 2);
    assert_int_equal(report.cache, CACHE_UNUSED);
    kd_example first = kd_dataset_example(data, 0);
    expect_text(fixture->tokenizer, &first, "I:ab R:cd<|endoftext|>");
    assert_int_equal(first.ids[first.length - 1], END_OF_TEXT);
    const uint8_t mask[10] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 0};
    assert_memory_equal(first.target_mask, mask, sizeof mask);
    kd_example second = kd_dataset_example(data, 1);
    expect_text(fixture->tokenizer, &second, "I:ab C:xxx R:cd<|endoftext|>");
    kd_dataset_free(data);
}

static void test_prompt_encoding_matches_the_examples(void **state)
{
    build_fixture *fixture = *state;
    kd_token_buffer prompt = {0};
    assert_int_equal(kd_template_encode_prompt(fixture->tokenizer, &fixture->options.prompt, "ab", "",
                                               &prompt),
                     KD_OK);
    dataset *data;
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, NULL), KD_OK);
    kd_example first = kd_dataset_example(data, 0);
    assert_int_equal(prompt.count, 7);
    assert_memory_equal(prompt.ids, first.ids, prompt.count * sizeof(int));
    assert_int_equal(first.target_mask[prompt.count - 1], 1); /* the first answer token */
    kd_token_buffer_free(&prompt);
    kd_dataset_free(data);
}

static void test_errors(void **state)
{
    build_fixture *fixture = *state;
    dataset *data;
    fixture->options.seq_len = 5;
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, NULL),
                     KD_ERR_INVALID);
    assert_string_equal(kd_last_error(), "dataset: none of the 3 records fits sequence length 5");
    assert_null(data);
    fixture->options.seq_len = 15;
    const char *bad = "{\"instruction\": \"ab\", \"context\": \"\", \"response\": \"cd\"}\n"
                      "{\"instruction\": \"ab\", \"context\": \"\"}\n";
    test_write_file(fixture->data_path, bad, strlen(bad));
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, NULL),
                     KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "data.jsonl:2: field \"response\" is missing"));
    fixture->options.skip_bad = 1;
    dataset_report report;
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, &report), KD_OK);
    assert_int_equal(report.counts.skipped, 1);
    assert_int_equal(report.examples, 1);
    kd_dataset_free(data);
    fixture->options.prompt.with_context = "{instruction}<|nosuchtoken|>{response}";
    test_write_file(fixture->data_path, records, strlen(records));
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, NULL),
                     KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(),
                           "data.jsonl:2: template: the vocabulary has no special token <|nosuchtoken|>"));
}

static dataset_cache_state build_cached(build_fixture *fixture, dataset_report *report)
{
    dataset *data;
    assert_int_equal(kd_dataset_build(&fixture->options, fixture->tokenizer, &data, report), KD_OK);
    assert_int_equal(report->examples, 2);
    assert_int_equal(report->counts.dropped, 1); /* the counts survive the cache */
    kd_example second = kd_dataset_example(data, 1);
    expect_text(fixture->tokenizer, &second, "I:ab C:xxx R:cd<|endoftext|>");
    kd_dataset_free(data);
    return report->cache;
}

static void test_cache_states(void **state)
{
    build_fixture *fixture = *state;
    fixture->options.cache_dir = fixture->cache_dir;
    dataset_report report;
    assert_int_equal(build_cached(fixture, &report), CACHE_MISS);
    assert_int_equal(access(report.cache_path, R_OK), 0);
    assert_int_equal(build_cached(fixture, &report), CACHE_HIT);
    char first_path[sizeof report.cache_path];
    strcpy(first_path, report.cache_path);

    /* Damaged: one flipped byte is caught and the file rebuilt. */
    size_t size;
    unsigned char *bytes = test_read_file(first_path, &size);
    bytes[size / 2] ^= 1;
    test_write_file(first_path, bytes, size);
    assert_int_equal(build_cached(fixture, &report), CACHE_DAMAGED);
    assert_int_equal(build_cached(fixture, &report), CACHE_HIT);

    /* Other data: another key, so another file. */
    const char *changed = "{\"instruction\": \"ab\", \"context\": \"\", \"response\": \"cd\"}\n"
                          "{\"instruction\": \"ab\", \"context\": \"xxxxxxxx\", \"response\": \"cd\"}\n"
                          "{\"instruction\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"context\": \"\", "
                          "\"response\": \"c\"}\n";
    test_write_file(fixture->data_path, changed, strlen(changed));
    assert_int_equal(build_cached(fixture, &report), CACHE_MISS);
    assert_string_not_equal(report.cache_path, first_path);

    /* Stale: a file under this key's name that was made under another. */
    free(bytes);
    bytes = test_read_file(first_path, &size);
    test_write_file(report.cache_path, bytes, size);
    free(bytes);
    assert_int_equal(build_cached(fixture, &report), CACHE_STALE);
    assert_int_equal(build_cached(fixture, &report), CACHE_HIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_fits_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_encoding_matches_the_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_states, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
