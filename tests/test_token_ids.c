/* kd_token_ids_parse: the ids text of `kd tokenize --decode`, read with
 * explicit bounds; every bad word is refused by name and leaves the buffer
 * as it was. */
#include "test_support.h"

#include <string.h>

#include "kd/tokenizer.h"

static kd_status parse(const char *text, kd_token_buffer *ids)
{
    return kd_token_ids_parse(text, strlen(text), ids);
}

static void test_reads_ids_between_any_white_space(void **state)
{
    (void)state;
    kd_token_buffer ids = {0};
    assert_int_equal(parse(" 15496\t11\r\n 2147483647\v0\f", &ids), KD_OK);
    assert_int_equal(ids.count, 4);
    assert_int_equal(ids.ids[0], 15496);
    assert_int_equal(ids.ids[1], 11);
    assert_int_equal(ids.ids[2], 2147483647);
    assert_int_equal(ids.ids[3], 0);
    assert_int_equal(parse("  \n", &ids), KD_OK); /* nothing to add */
    assert_int_equal(ids.count, 4);
    kd_token_buffer_free(&ids);
}

static void test_refuses_words_that_are_not_ids(void **state)
{
    (void)state;
    kd_token_buffer ids = {0};
    assert_int_equal(kd_token_buffer_push(&ids, 5), KD_OK);
    const char *bad[] = {"1 12x", "-1", "+3", "2147483648", "99999999999999999999", "1 0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(bad[i], &ids), KD_ERR_INVALID);
        assert_int_equal(ids.count, 1); /* what the buffer had, and nothing more */
    }
    assert_int_equal(parse("7 12x", &ids), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "'12x' (word 2) is not a token id"));
    kd_token_buffer_free(&ids);
}

static void test_refuses_a_nul_byte_and_reads_no_further(void **state)
{
    (void)state;
    kd_token_buffer ids = {0};
    assert_int_equal(kd_token_ids_parse("1 2\0 3", 6, &ids), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "NUL byte (byte 3)"));
    assert_int_equal(ids.count, 0);
    /* The length bounds the read: "12" followed by digits it must not see. */
    assert_int_equal(kd_token_ids_parse("1234", 2, &ids), KD_OK);
    assert_int_equal(ids.count, 1);
    assert_int_equal(ids.ids[0], 12);
    kd_token_buffer_free(&ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_ids_between_any_white_space),
        cmocka_unit_test(test_refuses_words_that_are_not_ids),
        cmocka_unit_test(test_refuses_a_nul_byte_and_reads_no_further),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
