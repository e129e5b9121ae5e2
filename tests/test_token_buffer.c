/* kd_token_buffer: growth keeps every id, clear keeps the memory, free
 * leaves an empty buffer that can be used again. */
#include "test_support.h"

#include "kd/tokenizer.h"

static void test_push_grows_and_keeps_ids(void **state)
{
    (void)state;
    kd_token_buffer buffer = {0};
    for (int i = 0; i < 10000; i++)
        assert_int_equal(kd_token_buffer_push(&buffer, i * 3), KD_OK);
    assert_int_equal(buffer.count, 10000);
    assert_true(buffer.capacity >= buffer.count);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buffer.ids[i], i * 3);
    kd_token_buffer_free(&buffer);
}

static void test_clear_keeps_memory(void **state)
{
    (void)state;
    kd_token_buffer buffer = {0};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kd_token_buffer_push(&buffer, i), KD_OK);
    int *ids = buffer.ids;
    size_t capacity = buffer.capacity;
    kd_token_buffer_clear(&buffer);
    assert_int_equal(buffer.count, 0);
    assert_int_equal(buffer.capacity, capacity);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kd_token_buffer_push(&buffer, 7), KD_OK);
    assert_ptr_equal(buffer.ids, ids); /* refilling to the old size reallocates nothing */
    kd_token_buffer_free(&buffer);
}

static void test_free_resets(void **state)
{
    (void)state;
    kd_token_buffer buffer = {0};
    assert_int_equal(kd_token_buffer_push(&buffer, 1), KD_OK);
    kd_token_buffer_free(&buffer);
    assert_null(buffer.ids);
    assert_int_equal(buffer.count, 0);
    assert_int_equal(buffer.capacity, 0);
    assert_int_equal(kd_token_buffer_push(&buffer, 2), KD_OK);
    assert_int_equal(buffer.ids[0], 2);
    kd_token_buffer_free(&buffer);
    kd_token_buffer_free(&buffer); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_grows_and_keeps_ids),
        cmocka_unit_test(test_clear_keeps_memory),
        cmocka_unit_test(test_free_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
