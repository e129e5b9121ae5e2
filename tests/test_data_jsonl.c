/* JSON Lines reading: good records, and every kind of bad input reported
 * as file:line with what is wrong. */
#include "test_support.h"

#include "kd/data.h"

#include <stdlib.h>
#include <string.h>

static kd_status parse(const char *text, int skip_bad, record_list *list)
{
    record_fields fields;
    kd_record_fields_default(&fields);
    return kd_records_parse("dolly.jsonl", text, strlen(text), &fields, skip_bad, list);
}

/* Parses `text`, expects failure, and checks the message. */
static void expect_error(const char *text, const char *message)
{
    record_list list = {0};
    assert_int_equal(parse(text, 0, &list), KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), message);
    kd_record_list_free(&list);
}

static void test_reads_records_in_order(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("{\"instruction\": \"a\", \"context\": \"b\", \"response\": \"c\", "
                           "\"category\": \"open_qa\"}\n"
                           "{\"instruction\": \"d\", \"context\": \"\", \"response\": \"e\"}\n",
                           0, &list),
                     KD_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].instruction, "a");
    assert_string_equal(list.items[0].context, "b");
    assert_string_equal(list.items[0].response, "c");
    assert_string_equal(list.items[0].category, "open_qa");
    assert_string_equal(list.items[1].category, "");
    assert_int_equal(list.items[1].line, 2);
    assert_string_equal(list.sources[list.items[1].source], "dolly.jsonl");
    kd_record_list_free(&list);
}

static void test_blank_lines_and_crlf(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("\n{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}\r\n"
                           "   \r\n\n"
                           "{\"instruction\": \"c\", \"context\": \"\", \"response\": \"d\"}",
                           0, &list),
                     KD_OK);
    assert_int_equal(list.count, 2);
    assert_int_equal(list.items[0].line, 2);
    assert_int_equal(list.items[1].line, 5);
    assert_string_equal(list.items[1].response, "d");
    kd_record_list_free(&list);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    const char *good = "{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}\n";
    char text[512];
    snprintf(text, sizeof text, "%s%s{\"instruction\": \"a\", \"context\": \"\"}\n", good, good);
    expect_error(text, "dolly.jsonl:3: field \"response\" is missing");
    snprintf(text, sizeof text, "%s{\"instruction\": 7, \"context\": \"\", \"response\": \"b\"}\n",
             good);
    expect_error(text, "dolly.jsonl:2: field \"instruction\" must be a string, not a number");
    expect_error("{\"instruction\": \"a\", \"response\": \"b\"}",
                 "dolly.jsonl:1: field \"context\" is missing");
    expect_error("{\"instruction\": \"a\", \"context\": \"\", \"response\": null}",
                 "dolly.jsonl:1: field \"response\" must be a string, not null");
    expect_error("{\"instruction\": \"a\", \"context\": [], \"response\": \"b\"}",
                 "dolly.jsonl:1: field \"context\" must be a string, not an array");
    expect_error("[1]\n", "dolly.jsonl: record 1: a record must be a JSON object, not a number");
    expect_error("\"text\"\n", "dolly.jsonl:1: a record must be a JSON object, not a string");
}

static void test_malformed_json_names_the_column(void **state)
{
    (void)state;
    expect_error("{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}\n"
                 "{\"instruction\": \"a\" \"context\": \"\"}\n",
                 "dolly.jsonl:2: malformed JSON at column 21");
    expect_error("{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"} trailing\n",
                 "dolly.jsonl:1: malformed JSON at column 54");
    expect_error("{\"instruction\": \"unterminated\n", "dolly.jsonl:1: malformed JSON at column 18");
}

static void test_invalid_utf8_is_an_error(void **state)
{
    (void)state;
    expect_error("{\"instruction\": \"a\", \"context\": \"caf\xC3(\", \"response\": \"b\"}\n",
                 "dolly.jsonl:1: field \"context\" is not valid UTF-8 (byte 3)");
    /* An encoded surrogate is as invalid as a stray byte. */
    expect_error("{\"instruction\": \"\xED\xA0\x80\", \"context\": \"\", \"response\": \"b\"}\n",
                 "dolly.jsonl:1: field \"instruction\" is not valid UTF-8 (byte 0)");
}

static void test_skip_bad_counts_what_it_skipped(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}\n"
                           "not json\n"
                           "{\"instruction\": \"a\", \"context\": \"\"}\n"
                           "{\"instruction\": \"c\", \"context\": \"\", \"response\": \"d\"}\n",
                           1, &list),
                     KD_OK);
    assert_int_equal(list.count, 2);
    assert_int_equal(list.skipped, 2);
    assert_string_equal(list.items[1].instruction, "c");
    assert_int_equal(list.items[1].line, 4);
    kd_record_list_free(&list);
}

static void test_empty_input_is_an_error(void **state)
{
    (void)state;
    expect_error("", "dolly.jsonl: no records");
    expect_error("\n  \r\n", "dolly.jsonl: no records");
    record_list list = {0};
    assert_int_equal(parse("nonsense\n", 1, &list), KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "dolly.jsonl: no records left after skipping 1 bad ones");
    kd_record_list_free(&list);
}

static void test_huge_line(void **state)
{
    (void)state;
    size_t response_length = 8u << 20;
    char *text = malloc(response_length + 128);
    assert_non_null(text);
    int head = sprintf(text, "{\"instruction\": \"a\", \"context\": \"\", \"response\": \"");
    memset(text + head, 'x', response_length);
    strcpy(text + head + response_length, "\"}\n");
    record_list list = {0};
    assert_int_equal(parse(text, 0, &list), KD_OK);
    assert_int_equal(strlen(list.items[0].response), response_length);
    kd_record_list_free(&list);
    free(text);
}

static void test_files_concatenate(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *first = test_path(dir, "a.jsonl");
    char *second = test_path(dir, "b.jsonl");
    const char *a = "{\"instruction\": \"1\", \"context\": \"\", \"response\": \"r\"}\n";
    const char *b = "{\"instruction\": \"2\", \"context\": \"\", \"response\": \"r\"}\n"
                    "{\"instruction\": \"3\", \"context\": \"\", \"response\": \"r\"}\n";
    test_write_file(first, a, strlen(a));
    test_write_file(second, b, strlen(b));
    record_fields fields;
    kd_record_fields_default(&fields);
    record_list list = {0};
    assert_int_equal(kd_records_read_file(first, &fields, 0, &list), KD_OK);
    assert_int_equal(kd_records_read_file(second, &fields, 0, &list), KD_OK);
    assert_int_equal(list.count, 3);
    for (size_t i = 0; i < 3; i++) {
        char expected[2] = {(char)('1' + i), '\0'};
        assert_string_equal(list.items[i].instruction, expected);
    }
    assert_string_equal(list.sources[list.items[2].source], second);
    char *missing = test_path(dir, "missing.jsonl");
    assert_int_equal(kd_records_read_file(missing, &fields, 0, &list), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "missing.jsonl: cannot open"));
    kd_record_list_free(&list);
    free(first);
    free(second);
    free(missing);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_records_in_order),
        cmocka_unit_test(test_blank_lines_and_crlf),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_malformed_json_names_the_column),
        cmocka_unit_test(test_invalid_utf8_is_an_error),
        cmocka_unit_test(test_skip_bad_counts_what_it_skipped),
        cmocka_unit_test(test_empty_input_is_an_error),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_files_concatenate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
