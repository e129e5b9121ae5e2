/* Loading vocab.json + merges.txt: small tokenizers written by the test, each
 * malformed file failing with a message that names the file (and line), the
 * canonical hash, and the real GPT-2 files. */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/tokenizer.h"

static const char *const TOKENS[] = {"ab", "abc"};
static const char MERGES[] = "a b\nab c\n";

/* Loads `dir`, expecting `status` and, on failure, `message` in the error. */
static void expect_load(const char *dir, kd_status status, const char *message)
{
    kd_tokenizer *tokenizer = NULL;
    assert_int_equal(kd_tokenizer_load(dir, &tokenizer), status);
    if (status == KD_OK) {
        assert_non_null(tokenizer);
        kd_tokenizer_free(tokenizer);
        return;
    }
    assert_null(tokenizer);
    if (!strstr(kd_last_error(), message))
        fail_msg("expected \"%s\" in the error \"%s\"", message, kd_last_error());
}

/* Writes the small tokenizer with `from` in vocab.json replaced by `to`. */
static void write_edited_vocab(const char *dir, const char *from, const char *to)
{
    test_write_tokenizer(dir, TOKENS, 2, MERGES);
    char *path = test_path(dir, "vocab.json");
    size_t size = 0;
    char *text = test_read_file(path, &size);
    char *found = strstr(text, from);
    assert_non_null(found);
    size_t length = size - strlen(from) + strlen(to);
    char *edited = malloc(length + 1);
    assert_non_null(edited);
    snprintf(edited, length + 1, "%.*s%s%s", (int)(found - text), text, to, found + strlen(from));
    test_write_file(path, edited, length);
    free(edited);
    free(text);
    free(path);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = test_path(dir, name);
    test_write_file(path, text, strlen(text));
    free(path);
}

static void test_small_tokenizer_loads_and_merges(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    test_write_tokenizer(dir, TOKENS, 2, MERGES);
    kd_tokenizer *tokenizer = NULL;
    assert_int_equal(kd_tokenizer_load(dir, &tokenizer), KD_OK);
    assert_int_equal(kd_tokenizer_vocab_size(tokenizer), 258);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, "ab"), 256);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, "abc"), 257);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, "abd"), -1);
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, "abc abd", 7, &ids), KD_OK);
    int expected[] = {257, ' ', 256, 'd'}; /* " abd" is one piece: " ", "ab", "d" */
    assert_int_equal(ids.count, 4);
    assert_memory_equal(ids.ids, expected, sizeof expected);
    kd_token_buffer_free(&ids);
    kd_tokenizer_free(tokenizer);
    test_remove_temp_dir(dir);
}

static void test_missing_files(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    expect_load(dir, KD_ERR_IO, "vocab.json: cannot open");
    test_write_tokenizer(dir, TOKENS, 2, MERGES);
    char *merges = test_path(dir, "merges.txt");
    assert_int_equal(unlink(merges), 0);
    free(merges);
    expect_load(dir, KD_ERR_IO, "merges.txt: cannot open");
    test_remove_temp_dir(dir);
}

static void test_malformed_vocab(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    test_write_tokenizer(dir, TOKENS, 2, MERGES);
    write_text(dir, "vocab.json", "{\n  \"a\": 0,\n  \"b\" 1\n}\n");
    expect_load(dir, KD_ERR_FORMAT, "vocab.json:3:7: malformed JSON");
    write_text(dir, "vocab.json", "[1, 2, 3]");
    expect_load(dir, KD_ERR_FORMAT, "expected a JSON object");
    write_text(dir, "vocab.json", "{\"a\": 0}");
    expect_load(dir, KD_ERR_INVALID, "1 tokens; a byte-level vocabulary has 256");

    const struct {
        const char *from, *to;
        kd_status status;
        const char *message;
    } edits[] = {
        {"\"abc\": 257", "\"abc\": 256.5", KD_ERR_INVALID, "\"abc\": id must be an integer"},
        {"\"abc\": 257", "\"abc\": \"257\"", KD_ERR_INVALID, "\"abc\": id must be an integer"},
        {"\"abc\": 257", "\"abc\": 258", KD_ERR_INVALID, "in 0..257"},
        {"\"abc\": 257", "\"abc\": -1", KD_ERR_INVALID, "in 0..257"},
        {"\"abc\": 257", "\"abc\": 256", KD_ERR_INVALID, "id 256 is given to both \"ab\" and \"abc\""},
        {"\"abc\": 257", "\"a\": 257", KD_ERR_INVALID, "\"a\" (id 97) and \"a\" (id 257) are the same"},
        {"\"abc\": 257", "\"\": 257", KD_ERR_FORMAT, "id 257 is the empty token"},
        {"\"abc\": 257", "\"\\u20ac\": 257", KD_ERR_FORMAT, "U+20AC at byte 0 is not one of GPT-2's"},
        {"\"a\": 97", "\"aa\": 97", KD_ERR_INVALID, "no token for the single byte 0x61"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        write_edited_vocab(dir, edits[i].from, edits[i].to);
        expect_load(dir, edits[i].status, edits[i].message);
    }
    test_remove_temp_dir(dir);
}

static void test_malformed_merges(void **state)
{
    (void)state;
    const struct {
        const char *merges;
        const char *message;
    } cases[] = {
        {"a b\nab\n", "merges.txt:3: one token where a merge needs two"},
        {"a b\nab c d\n", "merges.txt:3: more than one space"},
        {" a\n", "merges.txt:2: empty token"},
        {"a b\nxyz c\n", "merges.txt:3: token \"xyz\" is not in the vocabulary"},
        {"a b\nab d\n", "merges.txt:3: \"ab d\" makes a token that is not in the vocabulary"},
        {"a b\nab c\na b\n", "merges.txt:4: \"a b\" repeats the merge on line 2"},
        {"a b\n\nab c\n", "merges.txt:3: empty line"},
        {"a \xe2\x82\xac\n", "merges.txt:2: token \"\xe2\x82\xac\": character U+20AC"},
    };
    char *dir = test_make_temp_dir();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_write_tokenizer(dir, TOKENS, 2, cases[i].merges);
        expect_load(dir, KD_ERR_FORMAT, cases[i].message);
    }
    /* Windows line endings and a missing final newline are fine. */
    test_write_tokenizer(dir, TOKENS, 2, "a b\r\nab c");
    expect_load(dir, KD_OK, NULL);
    test_remove_temp_dir(dir);
}

static uint64_t load_hash(const char *dir)
{
    kd_tokenizer *tokenizer = NULL;
    assert_int_equal(kd_tokenizer_load(dir, &tokenizer), KD_OK);
    uint64_t hash = kd_tokenizer_hash(tokenizer);
    kd_tokenizer_free(tokenizer);
    return hash;
}

static void test_hash_covers_content_not_layout(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    test_write_tokenizer(dir, TOKENS, 2, MERGES);
    uint64_t hash = load_hash(dir);
    assert_true(hash == load_hash(dir));
    write_edited_vocab(dir, "\"ab\": 256, \"abc\": 257", "\n  \"abc\": 257,\n  \"ab\": 256\n");
    assert_true(hash == load_hash(dir));
    test_write_tokenizer(dir, (const char *const[]){"abc", "ab"}, 2, MERGES);
    assert_true(hash != load_hash(dir));
    test_write_tokenizer(dir, TOKENS, 2, "a b\n");
    assert_true(hash != load_hash(dir));
    test_remove_temp_dir(dir);
}

static void test_gpt2_files(void **state)
{
    (void)state;
    char *dir = test_path(KD_ASSETS_DIR, "gpt2");
    kd_tokenizer *tokenizer = NULL;
    assert_int_equal(kd_tokenizer_load(dir, &tokenizer), KD_OK);
    assert_int_equal(kd_tokenizer_vocab_size(tokenizer), 50257);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, "<|endoftext|>"), GPT2_END_OF_TEXT);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, " the"), 262);
    assert_int_equal(kd_tokenizer_token_id(tokenizer, "\xc4\xa0the"), -1); /* the file's spelling */
    kd_tokenizer *again = NULL;
    assert_int_equal(kd_tokenizer_load(dir, &again), KD_OK);
    assert_true(kd_tokenizer_hash(tokenizer) == kd_tokenizer_hash(again));
    kd_tokenizer_free(again);
    kd_tokenizer_free(tokenizer);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_tokenizer_loads_and_merges),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_malformed_merges),
        cmocka_unit_test(test_hash_covers_content_not_layout),
        cmocka_unit_test(test_gpt2_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
