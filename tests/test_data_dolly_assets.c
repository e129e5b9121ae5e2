/* The real thing: both dolly files of the assets folder through the GPT-2
 * tokenizer with the default template, split 80/20, then again from the
 * cache. */
#include "test_support.h"

#include "kd/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { OPEN_QA_RECORDS = 3742, MIXED_RECORDS = 151, SEQ_LEN = 512 };

static char *asset(const char *name)
{
    return test_path(KD_ASSETS_DIR, name);
}

/* Decodes an example and says whether its text contains `needle`. */
static int example_contains(const kd_tokenizer *tokenizer, const kd_example *example,
                            const char *needle)
{
    char *text;
    size_t length;
    assert_int_equal(kd_tokenizer_decode(tokenizer, example->ids, example->length, &text, &length),
                     KD_OK);
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void check_examples(const dataset *data, const kd_tokenizer *tokenizer)
{
    size_t with_context = 0;
    for (size_t i = 0; i < kd_dataset_size(data); i++) {
        kd_example example = kd_dataset_example(data, i);
        assert_true(example.length >= 2 && example.length <= SEQ_LEN + 1);
        /* Loss starts right after "### Response:\n" and never comes back
         * to the prompt: one contiguous counted stretch. */
        size_t first = 0;
        while (!example.target_mask[first])
            first++;
        for (size_t t = first; t + 1 < example.length; t++)
            assert_int_equal(example.target_mask[t], 1);
        assert_true(first + 1 < example.length);
        if (i < 20) {
            kd_example prompt = example;
            prompt.length = first + 1;
            assert_true(example_contains(tokenizer, &prompt, "### Response:\n"));
        }
        with_context += example_contains(tokenizer, &example, "\n\n### Context:\n");
    }
    assert_true(with_context > 0 && with_context <= MIXED_RECORDS);
}

static void test_dolly_assets(void **state)
{
    (void)state;
    test_need_asset("gpt2/vocab.json");
    test_need_asset("dolly/dolly-open_qa.jsonl");
    test_need_asset("dolly/dolly-mixed.jsonl");
    char *vocab_dir = asset("gpt2");
    char *open_qa = asset("dolly/dolly-open_qa.jsonl");
    char *mixed = asset("dolly/dolly-mixed.jsonl");
    char *cache_dir = test_make_temp_dir();
    kd_tokenizer *tokenizer;
    assert_int_equal(kd_tokenizer_load(vocab_dir, &tokenizer), KD_OK);
    const char *paths[] = {open_qa, mixed};
    dataset_options options;
    kd_dataset_options_default(&options);
    options.paths = paths;
    options.path_count = 2;
    options.seq_len = SEQ_LEN;
    options.cache_dir = cache_dir;

    dataset *data;
    dataset_report report;
    assert_int_equal(kd_dataset_build(&options, tokenizer, &data, &report), KD_OK);
    kd_dataset_report_print(&report, stderr);
    assert_int_equal(report.cache, CACHE_MISS);
    assert_int_equal(report.counts.records, OPEN_QA_RECORDS + MIXED_RECORDS);
    assert_int_equal(report.counts.skipped, 0);
    assert_int_equal(report.counts.kept + report.counts.shortened, report.examples);
    assert_int_equal(report.examples + report.counts.dropped, report.counts.records);
    assert_int_equal(report.train_examples + report.validation_examples, report.examples);
    double fraction = (double)report.validation_examples / (double)report.examples;
    assert_true(fabs(fraction - 0.2) < 0.02); /* sd 0.0064 for 3893 draws */
    check_examples(data, tokenizer);

    dataset *cached;
    dataset_report again;
    assert_int_equal(kd_dataset_build(&options, tokenizer, &cached, &again), KD_OK);
    assert_int_equal(again.cache, CACHE_HIT);
    assert_int_equal(again.tokens, report.tokens);
    assert_int_equal(again.validation_examples, report.validation_examples);
    assert_memory_equal(&again.counts, &report.counts, sizeof report.counts);
    kd_example a = kd_dataset_example(data, report.examples - 1);
    kd_example b = kd_dataset_example(cached, report.examples - 1);
    assert_int_equal(a.length, b.length);
    assert_memory_equal(a.ids, b.ids, a.length * sizeof *a.ids);

    kd_dataset_free(data);
    kd_dataset_free(cached);
    kd_tokenizer_free(tokenizer);
    test_remove_temp_dir(cache_dir);
    free(vocab_dir);
    free(open_qa);
    free(mixed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dolly_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
