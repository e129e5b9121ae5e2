/* ROUGE-L against rouge_score's own results (RougeScorer(["rougeL"]),
 * use_stemmer=False): its README example, its consecutive and
 * non-consecutive test cases, and how it splits words. */
#include "test_support.h"

#include "kd/report.h"

static void expect_rouge(const char *candidate, const char *reference, double precision,
                         double recall, double f_measure)
{
    rouge_score score;
    assert_int_equal(kd_rouge_l(candidate, reference, &score), KD_OK);
    assert_float_equal(score.precision, precision, 1e-12);
    assert_float_equal(score.recall, recall, 1e-12);
    assert_float_equal(score.f_measure, f_measure, 1e-12);
}

/* rouge_score README: score(target, prediction) gives
 * Score(precision=0.625, recall=0.5555555555555556, fmeasure=0.5882352941176471). */
static void test_readme_example(void **state)
{
    (void)state;
    expect_rouge("The quick brown dog jumps on the log.",
                 "The quick brown fox jumps over the lazy dog", 0.625, 5.0 / 9.0,
                 0.5882352941176471);
}

/* rouge_scorer_test.py: testRougeLConsecutive / NonConsecutive and the
 * one-word prediction of its basic test. */
static void test_subsequences(void **state)
{
    (void)state;
    expect_rouge("testing one", "testing one two", 1.0, 2.0 / 3.0, 0.8);
    expect_rouge("testing two", "testing one two", 1.0, 2.0 / 3.0, 0.8);
    expect_rouge("testing", "testing one two", 1.0, 1.0 / 3.0, 0.5);
    expect_rouge("a x c y e", "a b c d e", 0.6, 0.6, 0.6);
    expect_rouge("three two one", "one two three", 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0);
}

/* Lower-cased, and every run of characters other than a-z0-9 separates
 * words: punctuation, white space, and the bytes of non-ASCII letters
 * ("café" is the word "caf"). */
static void test_word_splitting(void **state)
{
    (void)state;
    expect_rouge("Hello, WORLD!", "hello world", 1.0, 1.0, 1.0);
    expect_rouge("it's 42", "it s\n42", 1.0, 1.0, 1.0);
    expect_rouge("café au lait", "caf au lait", 1.0, 1.0, 1.0);
    expect_rouge("don't", "dont", 0.0, 0.0, 0.0);
}

/* Either side without a word scores 0, as rouge_score returns. */
static void test_empty_texts(void **state)
{
    (void)state;
    expect_rouge("", "reference words", 0.0, 0.0, 0.0);
    expect_rouge("candidate words", "", 0.0, 0.0, 0.0);
    expect_rouge("?!", "... --", 0.0, 0.0, 0.0);
    expect_rouge("no overlap here", "entirely different", 0.0, 0.0, 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_example),
        cmocka_unit_test(test_subsequences),
        cmocka_unit_test(test_word_splitting),
        cmocka_unit_test(test_empty_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
