/* Encoding and decoding with the real GPT-2 files: the hand-picked hard
 * texts of fixtures/tokenizer/cases.jsonl must give exactly the reference
 * encoder's ids (see make_expected.js there) and decode back to themselves;
 * invalid UTF-8 and unknown ids fail with messages that say where. */
#include "test_support.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"

static int load_gpt2(void **state)
{
    char *dir = test_path(KD_ASSETS_DIR, "gpt2");
    kd_tokenizer *tokenizer = NULL;
    if (kd_tokenizer_load(dir, &tokenizer) != KD_OK)
        fail_msg("%s", kd_last_error());
    free(dir);
    *state = tokenizer;
    return 0;
}

static int free_gpt2(void **state)
{
    kd_tokenizer_free(*state);
    return 0;
}

static void expect_round_trip(const kd_tokenizer *tokenizer, const kd_token_buffer *ids,
                              const char *text, size_t length, const char *name)
{
    char *decoded = NULL;
    size_t decoded_length = 0;
    assert_int_equal(kd_tokenizer_decode(tokenizer, ids->ids, ids->count, &decoded, &decoded_length),
                     KD_OK);
    if (decoded_length != length || memcmp(decoded, text, length) != 0)
        fail_msg("%s: decode(encode(text)) differs from the text", name);
    assert_int_equal(decoded[decoded_length], '\0');
    free(decoded);
}

static void expect_ids(const kd_token_buffer *ids, const cJSON *expected, const char *name)
{
    size_t count = (size_t)cJSON_GetArraySize(expected);
    for (size_t i = 0; i < count && i < ids->count; i++) {
        int id = cJSON_GetArrayItem(expected, (int)i)->valueint;
        if (ids->ids[i] != id)
            fail_msg("%s: id %zu is %d, expected %d", name, i, ids->ids[i], id);
    }
    if (ids->count != count)
        fail_msg("%s: %zu ids, expected %zu", name, ids->count, count);
}

/* The case's text: its JSON string, or its bytes when it holds a NUL. */
static char *case_text(const cJSON *record, size_t *length)
{
    const cJSON *hex = cJSON_GetObjectItem(record, "utf8_hex");
    const char *source = hex ? hex->valuestring : cJSON_GetObjectItem(record, "text")->valuestring;
    *length = hex ? strlen(source) / 2 : strlen(source);
    char *text = malloc(*length + 1);
    assert_non_null(text);
    for (size_t i = 0; i < *length; i++) {
        unsigned byte = 0;
        if (hex)
            assert_int_equal(sscanf(source + 2 * i, "%2x", &byte), 1);
        text[i] = hex ? (char)byte : source[i];
    }
    text[*length] = '\0';
    return text;
}

static void test_reference_cases(void **state)
{
    const kd_tokenizer *tokenizer = *state;
    size_t size = 0;
    char *lines = test_read_file(KD_FIXTURES_DIR "/tokenizer/cases.jsonl", &size);
    kd_token_buffer ids = {0};
    int cases = 0;
    for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n"), cases++) {
        cJSON *record = cJSON_Parse(line);
        assert_non_null(record);
        const char *name = cJSON_GetObjectItem(record, "name")->valuestring;
        size_t length = 0;
        char *text = case_text(record, &length);
        kd_token_buffer_clear(&ids);
        if (kd_tokenizer_encode(tokenizer, text, length, &ids) != KD_OK)
            fail_msg("%s: %s", name, kd_last_error());
        expect_ids(&ids, cJSON_GetObjectItem(record, "ids"), name);
        expect_round_trip(tokenizer, &ids, text, length, name);
        free(text);
        cJSON_Delete(record);
    }
    assert_true(cases >= 50);
    kd_token_buffer_free(&ids);
    free(lines);
}

/* Special-token strings are ordinary text to encode; the id itself decodes
 * to the string. */
static void test_end_of_text_is_plain_text(void **state)
{
    const kd_tokenizer *tokenizer = *state;
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, "<|endoftext|>", 13, &ids), KD_OK);
    assert_true(ids.count > 1);
    for (size_t i = 0; i < ids.count; i++)
        assert_int_not_equal(ids.ids[i], GPT2_END_OF_TEXT);
    char *text = NULL;
    size_t length = 0;
    int end = GPT2_END_OF_TEXT;
    assert_int_equal(kd_tokenizer_decode(tokenizer, &end, 1, &text, &length), KD_OK);
    assert_string_equal(text, "<|endoftext|>");
    free(text);
    kd_token_buffer_free(&ids);
}

static void test_invalid_utf8(void **state)
{
    const kd_tokenizer *tokenizer = *state;
    const struct {
        const char *text;
        const char *offset;
    } cases[] = {
        {"ok \x80 then", "byte offset 3:"},              /* a lone continuation byte */
        {"caf\xc3", "byte offset 3:"},                   /* cut short at the end */
        {"over \xc0\xaf long", "byte offset 5:"},        /* an overlong '/' */
        {"half \xed\xa0\x80 pair", "byte offset 5:"},    /* a UTF-16 surrogate */
        {"big \xf4\x90\x80\x80", "byte offset 4:"},      /* past U+10FFFF */
        {"fine text, then \xff", "byte offset 16:"},
    };
    kd_token_buffer ids = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(kd_tokenizer_encode(tokenizer, cases[i].text, strlen(cases[i].text), &ids),
                         KD_ERR_FORMAT);
        if (!strstr(kd_last_error(), "invalid UTF-8") || !strstr(kd_last_error(), cases[i].offset))
            fail_msg("case %zu: unexpected error \"%s\"", i, kd_last_error());
        assert_int_equal(ids.count, 0); /* rejected before any piece is encoded */
    }
    kd_token_buffer_free(&ids);
}

static void test_decode_checks_ids(void **state)
{
    const kd_tokenizer *tokenizer = *state;
    const int bad[][3] = {{15496, 50257, 0}, {-1, 15496, 0}};
    const char *named[] = {"token id 50257 (at position 1)", "token id -1 (at position 0)"};
    for (int i = 0; i < 2; i++) {
        char *text = NULL;
        size_t length = 0;
        assert_int_equal(kd_tokenizer_decode(tokenizer, bad[i], 3, &text, &length), KD_ERR_INVALID);
        assert_null(text);
        if (!strstr(kd_last_error(), named[i]))
            fail_msg("unexpected error \"%s\"", kd_last_error());
    }
}

/* A token sequence may end inside a character; decode gives the raw bytes. */
static void test_decode_partial_character(void **state)
{
    const kd_tokenizer *tokenizer = *state;
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, "\xe5\xad\x97", 3, &ids), KD_OK); /* "字" */
    assert_true(ids.count >= 2);
    char *text = NULL;
    size_t length = 0;
    assert_int_equal(kd_tokenizer_decode(tokenizer, ids.ids, ids.count - 1, &text, &length), KD_OK);
    assert_true(length >= 1 && length < 3);
    assert_memory_equal(text, "\xe5\xad\x97", length);
    free(text);
    assert_int_equal(kd_tokenizer_decode(tokenizer, NULL, 0, &text, &length), KD_OK);
    assert_int_equal(length, 0);
    assert_string_equal(text, "");
    free(text);
    kd_token_buffer_free(&ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_cases),
        cmocka_unit_test(test_end_of_text_is_plain_text),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_decode_checks_ids),
        cmocka_unit_test(test_decode_partial_character),
    };
    return cmocka_run_group_tests(tests, load_gpt2, free_gpt2);
}
