/* Damage is caught: a flipped byte anywhere in a shard, a truncated shard
 * and a missing one all make verify fail and the reader refuse the cache
 * (so training refuses it), with a message naming the shard. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "test_support.h"

static char *make_cache(void)
{
    char *dir = test_make_temp_dir();
    cache_fixture fixture;
    cache_fixture_create(&fixture, 6, 12, 500, 31);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 4, 2, 3);
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    cache_fixture_free(&fixture);
    assert_int_equal(kd_cache_verify(dir, NULL), KD_OK);
    return dir;
}

/* Both the verifier and the reader refuse the cache, naming `shard`. */
static void assert_refused(const char *dir, const char *shard)
{
    assert_int_not_equal(kd_cache_verify(dir, NULL), KD_OK);
    assert_non_null(strstr(kd_last_error(), shard));
    cache_reader *reader = NULL;
    assert_int_not_equal(kd_cache_open(dir, &reader), KD_OK);
    assert_null(reader);
    assert_non_null(strstr(kd_last_error(), shard));
}

static void test_a_flipped_byte_anywhere_is_caught(void **state)
{
    (void)state;
    char *dir = make_cache();
    char *path = test_path(dir, "shard-00001.kdlc");
    size_t size = 0;
    unsigned char *original = test_read_file(path, &size);
    unsigned char *damaged = malloc(size);
    assert_non_null(damaged);
    for (size_t at = 0; at < size; at++) {
        memcpy(damaged, original, size);
        damaged[at] ^= 0x5A;
        test_write_file(path, damaged, size);
        assert_refused(dir, "shard-00001.kdlc");
    }
    test_write_file(path, original, size);
    assert_int_equal(kd_cache_verify(dir, NULL), KD_OK);
    free(damaged);
    free(original);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_a_truncated_shard_is_caught(void **state)
{
    (void)state;
    char *dir = make_cache();
    char *path = test_path(dir, "shard-00000.kdlc");
    size_t size = 0;
    unsigned char *original = test_read_file(path, &size);
    size_t lengths[] = {0, 10, size / 2, size - 24, size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        test_write_file(path, original, lengths[i]);
        assert_refused(dir, "shard-00000.kdlc");
    }
    /* Extra bytes at the end are damage too. */
    unsigned char *longer = calloc(size + 8, 1);
    assert_non_null(longer);
    memcpy(longer, original, size);
    test_write_file(path, longer, size + 8);
    assert_refused(dir, "shard-00000.kdlc");
    free(longer);
    free(original);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_a_missing_shard_is_caught(void **state)
{
    (void)state;
    char *dir = make_cache();
    char *path = test_path(dir, "shard-00001.kdlc");
    assert_int_equal(unlink(path), 0);
    assert_refused(dir, "shard-00001.kdlc");
    free(path);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_flipped_byte_anywhere_is_caught),
        cmocka_unit_test(test_a_truncated_shard_is_caught),
        cmocka_unit_test(test_a_missing_shard_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
