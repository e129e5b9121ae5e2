/* A cache is used only for what made it: a manifest from another run is
 * refused, a cache made from another teacher, tokenizer, data, template or
 * split is refused naming what differs, a malformed manifest is refused
 * naming the key, and a cache made with any valid seed and fraction matches
 * its own run when read back. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cache/cache_format.h"
#include "cache_fixture.h"
#include "test_support.h"

static char *make_cache(uint64_t teacher, uint64_t fixture_seed)
{
    char *dir = test_make_temp_dir();
    cache_fixture fixture;
    cache_fixture_create(&fixture, 5, 10, 400, fixture_seed);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 4, 0, 2);
    plan.identity.teacher = teacher;
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    cache_fixture_free(&fixture);
    return dir;
}

static void copy_manifest(const char *from, const char *to)
{
    char *source = test_path(from, "manifest.json"), *target = test_path(to, "manifest.json");
    size_t size = 0;
    void *text = test_read_file(source, &size);
    test_write_file(target, text, size);
    free(text);
    free(source);
    free(target);
}

static void test_a_manifest_from_another_run_is_refused(void **state)
{
    (void)state;
    char *first = make_cache(0x1111, 1), *second = make_cache(0x1111, 2);
    copy_manifest(second, first);
    cache_reader *reader = NULL;
    assert_int_not_equal(kd_cache_open(first, &reader), KD_OK);
    assert_non_null(strstr(kd_last_error(), "shard-0000"));
    assert_non_null(strstr(kd_last_error(), "another run"));
    assert_int_not_equal(kd_cache_verify(first, NULL), KD_OK);
    test_remove_temp_dir(first);
    test_remove_temp_dir(second);
}

static void test_a_different_identity_is_refused_naming_the_field(void **state)
{
    (void)state;
    char *dir = make_cache(0xABCD, 1);
    cache_manifest manifest;
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_OK);
    cache_identity expected = manifest.identity;
    assert_int_equal(kd_cache_check_compatible(&manifest, &expected, dir), KD_OK);

    expected.teacher = 0x1234;
    assert_int_equal(kd_cache_check_compatible(&manifest, &expected, dir), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "teacher weights"));
    assert_null(strstr(kd_last_error(), "tokenizer"));

    expected = manifest.identity;
    expected.data ^= 1;
    expected.template_hash ^= 1;
    assert_int_equal(kd_cache_check_compatible(&manifest, &expected, dir), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "data, template"));

    const char *fields[] = {"tokenizer", "sequence length", "split"};
    for (int i = 0; i < 3; i++) {
        expected = manifest.identity;
        if (i == 0)
            expected.tokenizer ^= 1;
        else if (i == 1)
            expected.seq_len = 1024;
        else
            expected.validation_fraction = 0.1;
        assert_int_equal(kd_cache_check_compatible(&manifest, &expected, dir), KD_ERR_INVALID);
        assert_non_null(strstr(kd_last_error(), fields[i]));
    }
    kd_cache_manifest_free(&manifest);
    test_remove_temp_dir(dir);
}

/* Rewrites one value of manifest.json and checks the error names `key`. */
static void assert_edit_refused(const char *dir, const char *section, const char *key,
                                cJSON *value, const char *named)
{
    char *path = test_path(dir, "manifest.json");
    size_t size = 0;
    char *text = test_read_file(path, &size);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    cJSON *object = root;
    if (strcmp(section, "shards") == 0)
        object = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "shards"), 0);
    else if (section[0])
        object = cJSON_GetObjectItem(root, section);
    if (value)
        cJSON_ReplaceItemInObject(object, key, value);
    else
        cJSON_DeleteItemFromObject(object, key);
    char *edited = cJSON_Print(root);
    /* Sealed again, as if kd had written it: the parser must catch it. */
    assert_int_equal(kd_cache_manifest_seal(edited, strlen(edited)), KD_OK);
    test_write_file(path, edited, strlen(edited));
    cache_manifest manifest;
    assert_int_not_equal(kd_cache_manifest_read(dir, &manifest), KD_OK);
    assert_non_null(strstr(kd_last_error(), named));
    test_write_file(path, text, size);
    free(edited);
    cJSON_Delete(root);
    free(text);
    free(path);
}

/* Any changed byte, even in a figure nothing else checks, breaks the seal. */
static void test_an_edited_manifest_fails_its_checksum(void **state)
{
    (void)state;
    char *dir = make_cache(0x1111, 1);
    char *path = test_path(dir, "manifest.json");
    size_t size = 0;
    char *text = test_read_file(path, &size);
    cache_manifest manifest;
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_OK);
    kd_cache_manifest_free(&manifest);
    char *figure = strstr(text, "\"compression_ratio\":");
    assert_non_null(figure);
    char *digit = strpbrk(figure, "123456789");
    *digit = *digit == '9' ? '1' : (char)(*digit + 1);
    test_write_file(path, text, size);
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "checksum"));
    free(text);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_a_malformed_manifest_is_refused_naming_the_key(void **state)
{
    (void)state;
    char *dir = make_cache(0x1111, 1);
    assert_edit_refused(dir, "encoding", "topk", cJSON_CreateNumber(999), "encoding.topk");
    assert_edit_refused(dir, "encoding", "samples", cJSON_CreateNumber(-1), "encoding.samples");
    assert_edit_refused(dir, "identity", "teacher", cJSON_CreateString("xyz"),
                        "identity.teacher");
    assert_edit_refused(dir, "identity", "seq_len", NULL, "identity.seq_len");
    assert_edit_refused(dir, "shards", "file", cJSON_CreateString("../../etc/passwd"),
                        "shards[0].file");
    assert_edit_refused(dir, "counts", "examples", cJSON_CreateNumber(4), "shards");
    assert_edit_refused(dir, "", "version", cJSON_CreateNumber(2), "version 2");
    cache_manifest manifest;
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_OK); /* restored each time */
    kd_cache_manifest_free(&manifest);
    test_remove_temp_dir(dir);
}

static void test_seeds_and_fractions_read_back_exactly(void **state)
{
    (void)state;
    char *dir = make_cache(0x1111, 1);
    cache_manifest manifest, again;
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_OK);
    /* 15 digits, as cJSON prints by default, would lose the last one. */
    manifest.identity.split_seed = 9007199254740991ull;
    manifest.encoding.sample_seed = 9007199254740989ull;
    manifest.identity.validation_fraction = 0.1 + 0.2;
    manifest.stats.write_tokens_per_s = 77.953994515405711;
    assert_int_equal(kd_cache_manifest_write(dir, &manifest), KD_OK);
    assert_int_equal(kd_cache_manifest_read(dir, &again), KD_OK);
    assert_true(again.identity.split_seed == manifest.identity.split_seed);
    assert_true(again.encoding.sample_seed == manifest.encoding.sample_seed);
    assert_true(again.identity.validation_fraction == manifest.identity.validation_fraction);
    assert_true(again.stats.write_tokens_per_s == manifest.stats.write_tokens_per_s);
    assert_int_equal(kd_cache_check_compatible(&again, &manifest.identity, dir), KD_OK);
    kd_cache_manifest_free(&again);
    kd_cache_manifest_free(&manifest);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_manifest_from_another_run_is_refused),
        cmocka_unit_test(test_a_different_identity_is_refused_naming_the_field),
        cmocka_unit_test(test_an_edited_manifest_fails_its_checksum),
        cmocka_unit_test(test_a_malformed_manifest_is_refused_naming_the_key),
        cmocka_unit_test(test_seeds_and_fractions_read_back_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
