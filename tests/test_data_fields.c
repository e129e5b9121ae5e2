/* Field names are configurable: another instruction set's schema reads
 * through the same reader, and a schema mismatch is reported. */
#include "test_support.h"

#include "kd/data.h"

#include <string.h>

static const record_fields alpaca = {"instruction", "input", "output", NULL};

static void test_alpaca_names(void **state)
{
    (void)state;
    const char *text = "{\"instruction\": \"Add\", \"input\": \"2 and 3\", \"output\": \"5\"}\n"
                       "{\"instruction\": \"Greet\", \"input\": null, \"output\": \"Hi\", "
                       "\"category\": 12}\n";
    record_list list = {0};
    assert_int_equal(kd_records_parse("alpaca.jsonl", text, strlen(text), &alpaca, 0, &list), KD_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].context, "2 and 3");
    assert_string_equal(list.items[0].response, "5");
    assert_string_equal(list.items[1].context, ""); /* null context is empty */
    assert_string_equal(list.items[1].category, ""); /* category not read */
    kd_record_list_free(&list);
}

static void test_dolly_names_do_not_fit_alpaca(void **state)
{
    (void)state;
    record_fields dolly;
    kd_record_fields_default(&dolly);
    const char *text = "{\"instruction\": \"Add\", \"input\": \"2 and 3\", \"output\": \"5\"}\n";
    record_list list = {0};
    assert_int_equal(kd_records_parse("alpaca.jsonl", text, strlen(text), &dolly, 0, &list),
                     KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "alpaca.jsonl:1: field \"context\" is missing");
    kd_record_list_free(&list);
}

static void test_without_context_or_category(void **state)
{
    (void)state;
    const record_fields bare = {"prompt", NULL, "completion", NULL};
    const char *text = "{\"prompt\": \"p\", \"completion\": \"c\", \"context\": \"ignored\"}\n";
    record_list list = {0};
    assert_int_equal(kd_records_parse("bare.jsonl", text, strlen(text), &bare, 0, &list), KD_OK);
    assert_string_equal(list.items[0].instruction, "p");
    assert_string_equal(list.items[0].context, "");
    assert_string_equal(list.items[0].response, "c");
    kd_record_list_free(&list);
}

static void test_category_must_be_a_string_when_present(void **state)
{
    (void)state;
    record_fields dolly;
    kd_record_fields_default(&dolly);
    const char *text =
        "{\"instruction\": \"a\", \"context\": \"\", \"response\": \"b\", \"category\": 3}\n";
    record_list list = {0};
    assert_int_equal(kd_records_parse("d.jsonl", text, strlen(text), &dolly, 0, &list), KD_ERR_FORMAT);
    assert_string_equal(kd_last_error(), "d.jsonl:1: field \"category\" must be a string, not a number");
    kd_record_list_free(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpaca_names),
        cmocka_unit_test(test_dolly_names_do_not_fit_alpaca),
        cmocka_unit_test(test_without_context_or_category),
        cmocka_unit_test(test_category_must_be_a_string_when_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
