/* The merge loop: GPT-2's order of merges on small handmade tokenizers, and
 * 100k-character words, which a quadratic loop would not finish. */
#include "test_support.h"

#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"

static kd_tokenizer *load_small(const char *const *tokens, int token_count, const char *merges)
{
    char *dir = test_make_temp_dir();
    test_write_tokenizer(dir, tokens, token_count, merges);
    kd_tokenizer *tokenizer = NULL;
    if (kd_tokenizer_load(dir, &tokenizer) != KD_OK)
        fail_msg("%s", kd_last_error());
    test_remove_temp_dir(dir);
    return tokenizer;
}

static void expect_encoding(const kd_tokenizer *tokenizer, const char *text, const int *expected,
                            size_t count)
{
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, text, strlen(text), &ids), KD_OK);
    assert_int_equal(ids.count, count);
    assert_memory_equal(ids.ids, expected, count * sizeof *expected);
    kd_token_buffer_free(&ids);
}

/* Overlapping occurrences of one merge go left to right. */
static void test_overlaps_merge_left_to_right(void **state)
{
    (void)state;
    kd_tokenizer *tokenizer = load_small((const char *const[]){"aa"}, 1, "a a\n");
    expect_encoding(tokenizer, "aaa", (const int[]){256, 'a'}, 2);
    expect_encoding(tokenizer, "aaaa", (const int[]){256, 256}, 2);
    expect_encoding(tokenizer, "aaaaa", (const int[]){256, 256, 'a'}, 3);
    kd_tokenizer_free(tokenizer);
}

/* The lowest rank wins wherever it is in the word. */
static void test_lowest_rank_first(void **state)
{
    (void)state;
    /* "bc" (rank 0) beats "ab" (rank 1) in "abc": a + bc, and no "abc" via "ab". */
    kd_tokenizer *tokenizer = load_small((const char *const[]){"bc", "ab", "abc"}, 3,
                                         "b c\na b\nab c\n");
    expect_encoding(tokenizer, "abc", (const int[]){'a', 256}, 2);
    expect_encoding(tokenizer, "abab", (const int[]){257, 257}, 2);
    expect_encoding(tokenizer, "abx", (const int[]){257, 'x'}, 2);
    kd_tokenizer_free(tokenizer);
}

/* A merge may be listed before the merge that makes one of its halves
 * ("pq p" before "p q"). GPT-2 finishes every "p q" before looking again,
 * so "pqpq" is pq + pq, not pqp + q. */
static void test_every_occurrence_of_a_rank_before_the_next(void **state)
{
    (void)state;
    kd_tokenizer *tokenizer = load_small((const char *const[]){"pq", "pqp"}, 2, "pq p\np q\n");
    expect_encoding(tokenizer, "pqpq", (const int[]){256, 256}, 2);
    expect_encoding(tokenizer, "pqp", (const int[]){257}, 1);
    kd_tokenizer_free(tokenizer);
}

static void expect_round_trip(const kd_tokenizer *tokenizer, const char *text, size_t length,
                              size_t max_ids)
{
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, text, length, &ids), KD_OK);
    assert_true(ids.count > 0 && ids.count <= max_ids);
    char *decoded = NULL;
    size_t decoded_length = 0;
    assert_int_equal(kd_tokenizer_decode(tokenizer, ids.ids, ids.count, &decoded, &decoded_length),
                     KD_OK);
    assert_int_equal(decoded_length, length);
    assert_memory_equal(decoded, text, length);
    free(decoded);
    kd_token_buffer_free(&ids);
}

enum { LONG_WORD = 100000 };

static void test_long_words_with_gpt2(void **state)
{
    (void)state;
    kd_tokenizer *tokenizer = test_gpt2_tokenizer();
    char *word = malloc(LONG_WORD);
    assert_non_null(word);
    /* One letter repeated: GPT-2 has tokens of up to 16 a's... */
    memset(word, 'a', LONG_WORD);
    expect_round_trip(tokenizer, word, LONG_WORD, LONG_WORD / 4);
    /* ...letters in a pseudo-random order (one piece, few merges apply)... */
    kd_rng rng;
    kd_rng_seed(&rng, 7);
    for (size_t i = 0; i < LONG_WORD; i++)
        word[i] = (char)('a' + kd_rng_below(&rng, 26));
    expect_round_trip(tokenizer, word, LONG_WORD, LONG_WORD);
    /* ...and a run of one two-byte letter ("é" * 50000). */
    for (size_t i = 0; i < LONG_WORD; i += 2)
        memcpy(word + i, "\xc3\xa9", 2);
    expect_round_trip(tokenizer, word, LONG_WORD, LONG_WORD);
    free(word);
    kd_tokenizer_free(tokenizer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlaps_merge_left_to_right),
        cmocka_unit_test(test_lowest_rank_first),
        cmocka_unit_test(test_every_occurrence_of_a_rank_before_the_next),
        cmocka_unit_test(test_long_words_with_gpt2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
