/* JSON array input: detected by its first non-space byte, records numbered
 * by position, syntax errors located by line and column. */
#include "test_support.h"

#include "kd/data.h"

#include <string.h>

static kd_status parse(const char *text, int skip_bad, record_list *list)
{
    record_fields fields;
    kd_record_fields_default(&fields);
    return kd_records_parse("data.json", text, strlen(text), &fields, skip_bad, list);
}

static void test_reads_an_array(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("\xEF\xBB\xBF  \n[\n"
                           "  {\"instruction\": \"a\", \"context\": \"x\", \"response\": \"b\"},\n"
                           "  {\"instruction\": \"c\", \"context\": \"\", \"response\": \"d\"}\n"
                           "]\n",
                           0, &list),
                     KD_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].context, "x");
    assert_string_equal(list.items[1].response, "d");
    assert_int_equal(list.items[1].line, 2);
    kd_record_list_free(&list);
}

static void test_record_errors_name_the_position(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("[{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"},"
                           " {\"instruction\": \"a\", \"context\": \"\"}]",
                           0, &list),
                     KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "data.json: record 2: field \"response\" is missing");
    kd_record_list_free(&list);
}

static void test_skip_bad_applies_to_records(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("[7, {\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}]",
                           1, &list),
                     KD_OK);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.skipped, 1);
    kd_record_list_free(&list);
}

static void test_syntax_error_has_line_and_column(void **state)
{
    (void)state;
    record_list list = {0};
    assert_int_equal(parse("[\n  {\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"},\n"
                           "  {\"instruction\" \"a\"}\n]\n",
                           1, &list),
                     KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "data.json:3: malformed JSON at column 18");
    assert_int_equal(parse("[]", 0, &list), KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "data.json: no records");
    assert_int_equal(parse("[{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\"}] x",
                           0, &list),
                     KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "data.json:1: malformed JSON at column 56");
    kd_record_list_free(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_an_array),
        cmocka_unit_test(test_record_errors_name_the_position),
        cmocka_unit_test(test_skip_bad_applies_to_records),
        cmocka_unit_test(test_syntax_error_has_line_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
