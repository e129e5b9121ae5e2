/* GPT-2's byte alphabet (the inverse of encoder.py's bytes_to_unicode): 256
 * characters, one per byte, and nothing else. */
#include "test_support.h"

#include <string.h>

#include "../src/data/tokenizer_internal.h"

static void test_alphabet_is_a_bijection(void **state)
{
    (void)state;
    int seen[256] = {0};
    int characters = 0;
    for (uint32_t codepoint = 0; codepoint < 0x200; codepoint++) {
        int byte = kd_byte_unicode_decode(codepoint);
        if (byte < 0)
            continue;
        assert_true(byte < 256);
        assert_int_equal(seen[byte], 0);
        seen[byte] = 1;
        characters++;
    }
    assert_int_equal(characters, 256);
    assert_int_equal(kd_byte_unicode_decode(0x10FFFF), -1);
}

static void test_known_characters(void **state)
{
    (void)state;
    for (uint32_t c = '!'; c <= '~'; c++)
        assert_int_equal(kd_byte_unicode_decode(c), (int)c);
    assert_int_equal(kd_byte_unicode_decode(' '), -1);    /* spelled 'Ġ' instead */
    assert_int_equal(kd_byte_unicode_decode(0x120), ' ');
    assert_int_equal(kd_byte_unicode_decode(0x10A), '\n');
    assert_int_equal(kd_byte_unicode_decode(0x100), 0);
    assert_int_equal(kd_byte_unicode_decode(0x121), 0x7F);
    assert_int_equal(kd_byte_unicode_decode(0x142), 0xA0);
    assert_int_equal(kd_byte_unicode_decode(0xAD), -1);   /* the soft hyphen is 'Ń' */
    assert_int_equal(kd_byte_unicode_decode(0x143), 0xAD);
    assert_int_equal(kd_byte_unicode_decode(0xE9), 0xE9); /* 'é' is itself */
    assert_int_equal(kd_byte_unicode_decode(0x144), -1);
}

static void test_spelling_to_bytes(void **state)
{
    (void)state;
    uint8_t bytes[16];
    size_t length = 0;
    const char spelled[] = "\xc4\xa0the\xc4\x8a"; /* "Ġthe" + "Ċ" */
    assert_int_equal(kd_byte_unicode_to_bytes(spelled, strlen(spelled), bytes, &length), KD_OK);
    assert_int_equal(length, 5);
    assert_memory_equal(bytes, " the\n", 5);

    const struct {
        const char *spelling;
        const char *message;
    } bad[] = {
        {"a b", "character U+0020 at byte 1"},
        {"x\xe2\x82\xac", "character U+20AC at byte 1"},
        {"\xc4", "byte 0xC4 at byte 0 is not UTF-8"},
        {"\xc1\x81", "byte 0xC1 at byte 0 is not UTF-8"}, /* an overlong 'A' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(kd_byte_unicode_to_bytes(bad[i].spelling, strlen(bad[i].spelling), bytes,
                                                  &length), KD_ERR_FORMAT);
        if (!strstr(kd_last_error(), bad[i].message))
            fail_msg("expected \"%s\" in \"%s\"", bad[i].message, kd_last_error());
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alphabet_is_a_bijection),
        cmocka_unit_test(test_known_characters),
        cmocka_unit_test(test_spelling_to_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
