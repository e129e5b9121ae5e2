/* Writing is crash-safe and resumable: an interrupted run leaves complete
 * shards and no manifest; running again keeps those shards, writes the rest
 * and ends with the same cache, byte for byte, as an uninterrupted run. A
 * run with another plan removes the old manifest before touching anything. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "test_support.h"

enum { EXAMPLES = 9, PER_SHARD = 2, SHARDS = 5 };

static int exists(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    int found = access(path, F_OK) == 0;
    free(path);
    return found;
}

static void assert_same_file(const char *a_dir, const char *b_dir, const char *name)
{
    char *a = test_path(a_dir, name), *b = test_path(b_dir, name);
    size_t a_size = 0, b_size = 0;
    void *a_bytes = test_read_file(a, &a_size), *b_bytes = test_read_file(b, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a_bytes, b_bytes, a_size);
    free(a_bytes);
    free(b_bytes);
    free(a);
    free(b);
}

static void test_an_interrupted_write_is_completed(void **state)
{
    (void)state;
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, 16, 600, 41);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 6, 3, PER_SHARD);
    char *straight = test_make_temp_dir(), *resumed = test_make_temp_dir();
    cache_fixture_write(straight, &plan, &fixture, SIZE_MAX);

    /* Interrupted after 5 examples: shards 0 and 1 are complete, the fifth
     * example's shard never reached the disk, and there is no manifest. */
    cache_fixture_write(resumed, &plan, &fixture, 5);
    assert_false(exists(resumed, "manifest.json"));
    assert_true(exists(resumed, "shard-00001.kdlc"));
    assert_false(exists(resumed, "shard-00002.kdlc"));
    assert_int_not_equal(kd_cache_verify(resumed, NULL), KD_OK);

    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(resumed, &plan, &writer), KD_OK);
    for (size_t e = 0; e < EXAMPLES; e++)
        assert_int_equal(kd_cache_writer_pending(writer, e), e >= 4);
    kd_cache_writer_close(writer);

    cache_fixture_write(resumed, &plan, &fixture, SIZE_MAX);
    assert_int_equal(kd_cache_verify(resumed, NULL), KD_OK);
    for (int s = 0; s < SHARDS; s++) {
        char name[32];
        snprintf(name, sizeof name, "shard-%05d.kdlc", s);
        assert_same_file(straight, resumed, name);
    }
    test_remove_temp_dir(straight);
    test_remove_temp_dir(resumed);
    cache_fixture_free(&fixture);
}

static void test_a_complete_cache_is_left_as_it_is(void **state)
{
    (void)state;
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, 16, 600, 42);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 6, 0, PER_SHARD);
    char *dir = test_make_temp_dir();
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(dir, &plan, &writer), KD_OK);
    assert_true(kd_cache_writer_complete(writer));
    for (size_t e = 0; e < EXAMPLES; e++)
        assert_false(kd_cache_writer_pending(writer, e));
    cache_manifest manifest;
    assert_int_equal(kd_cache_writer_finish(writer, &manifest), KD_OK);
    assert_int_equal(manifest.examples, EXAMPLES);
    kd_cache_manifest_free(&manifest);
    kd_cache_writer_close(writer);
    test_remove_temp_dir(dir);
    cache_fixture_free(&fixture);
}

static void test_another_plan_redoes_the_cache(void **state)
{
    (void)state;
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, 16, 600, 43);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 6, 0, PER_SHARD);
    char *dir = test_make_temp_dir();
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    /* Leftovers of crashed runs: a temporary shard and a shard past the end. */
    char *temporary = test_path(dir, ".shard-00000.kdlc.tmp-abcdef");
    char *extra = test_path(dir, "shard-00042.kdlc");
    test_write_file(temporary, "x", 1);
    test_write_file(extra, "x", 1);

    plan.encoding.topk = 3;
    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(dir, &plan, &writer), KD_OK);
    /* The old manifest is gone before any shard changes. */
    assert_false(exists(dir, "manifest.json"));
    assert_false(kd_cache_writer_complete(writer));
    for (size_t e = 0; e < EXAMPLES; e++)
        assert_true(kd_cache_writer_pending(writer, e));
    kd_cache_writer_close(writer);

    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    cache_manifest manifest;
    assert_int_equal(kd_cache_verify(dir, &manifest), KD_OK);
    assert_int_equal(manifest.encoding.topk, 3);
    assert_false(exists(dir, ".shard-00000.kdlc.tmp-abcdef"));
    assert_false(exists(dir, "shard-00042.kdlc"));
    kd_cache_manifest_free(&manifest);
    free(temporary);
    free(extra);
    test_remove_temp_dir(dir);
    cache_fixture_free(&fixture);
}

static void test_a_damaged_shard_is_rewritten(void **state)
{
    (void)state;
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, 16, 600, 44);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 6, 0, PER_SHARD);
    char *dir = test_make_temp_dir();
    cache_fixture_write(dir, &plan, &fixture, 6);
    char *path = test_path(dir, "shard-00001.kdlc");
    size_t size = 0;
    unsigned char *bytes = test_read_file(path, &size);
    bytes[size / 2] ^= 1;
    test_write_file(path, bytes, size);
    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(dir, &plan, &writer), KD_OK);
    assert_false(kd_cache_writer_pending(writer, 0));
    assert_true(kd_cache_writer_pending(writer, 2));
    assert_false(kd_cache_writer_pending(writer, 4));
    kd_cache_writer_close(writer);
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    assert_int_equal(kd_cache_verify(dir, NULL), KD_OK);
    free(bytes);
    free(path);
    test_remove_temp_dir(dir);
    cache_fixture_free(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_interrupted_write_is_completed),
        cmocka_unit_test(test_a_complete_cache_is_left_as_it_is),
        cmocka_unit_test(test_another_plan_redoes_the_cache),
        cmocka_unit_test(test_a_damaged_shard_is_rewritten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
