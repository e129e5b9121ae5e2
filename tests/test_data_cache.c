/* The dataset cache file: a faithful round trip, atomic writes, and every
 * kind of stale or damaged file refused. */
#include "test_support.h"

#include "kd/data.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum { SEQ_LEN = 16, HEADER_BYTES = 104 };

static dataset *make_dataset(void)
{
    dataset *data;
    assert_int_equal(kd_dataset_create(SEQ_LEN, &data), KD_OK);
    for (int k = 0; k < 5; k++) {
        int ids[SEQ_LEN + 1];
        uint8_t mask[SEQ_LEN + 1] = {0};
        size_t length = 3 + 2 * (size_t)k;
        for (size_t j = 0; j < length; j++)
            ids[j] = 50000 + 10 * k + (int)j;
        for (size_t j = 1; j + 1 < length; j++)
            mask[j] = 1;
        assert_int_equal(kd_dataset_append(data, ids, mask, length, 0xABC0u + (uint64_t)k), KD_OK);
    }
    dataset_counts counts = {9, 1, 3, 2, 3, 40, 7};
    kd_dataset_set_counts(data, &counts);
    return data;
}

static void assert_same(const dataset *a, const dataset *b)
{
    assert_int_equal(kd_dataset_size(a), kd_dataset_size(b));
    assert_int_equal(kd_dataset_seq_len(a), kd_dataset_seq_len(b));
    assert_int_equal(kd_dataset_token_count(a), kd_dataset_token_count(b));
    dataset_counts ca = kd_dataset_get_counts(a), cb = kd_dataset_get_counts(b);
    assert_memory_equal(&ca, &cb, sizeof ca);
    for (size_t i = 0; i < kd_dataset_size(a); i++) {
        kd_example x = kd_dataset_example(a, i), y = kd_dataset_example(b, i);
        assert_int_equal(x.length, y.length);
        assert_int_equal(x.record_hash, y.record_hash);
        assert_memory_equal(x.ids, y.ids, x.length * sizeof *x.ids);
        assert_memory_equal(x.target_mask, y.target_mask, x.length);
    }
}

static size_t count_entries(const char *dir)
{
    DIR *handle = opendir(dir);
    assert_non_null(handle);
    size_t count = 0;
    for (struct dirent *entry; (entry = readdir(handle));)
        count += entry->d_name[0] != '.';
    closedir(handle);
    return count;
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "dataset.bin");
    dataset *data = make_dataset();
    assert_int_equal(kd_dataset_save(data, 0x1234, path), KD_OK);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left */
    dataset *loaded;
    assert_int_equal(kd_dataset_load(path, 0x1234, &loaded), KD_OK);
    assert_same(data, loaded);
    size_t all;
    kd_dataset_part_indices(loaded, DATASET_ALL, &all);
    assert_int_equal(all, 5);
    /* Saving again replaces the file in one step. */
    assert_int_equal(kd_dataset_save(loaded, 0x1234, path), KD_OK);
    assert_int_equal(count_entries(dir), 1);
    kd_dataset_free(loaded);
    kd_dataset_free(data);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_stale_and_missing(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "dataset.bin");
    dataset *loaded = NULL;
    assert_int_equal(kd_dataset_load(path, 1, &loaded), KD_ERR_IO);
    dataset *data = make_dataset();
    assert_int_equal(kd_dataset_save(data, 1, path), KD_OK);
    assert_int_equal(kd_dataset_load(path, 2, &loaded), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "dataset cache for another configuration"));
    assert_null(loaded);
    kd_dataset_free(data);
    free(path);
    test_remove_temp_dir(dir);
}

/* Saves a dataset, lets `damage` change the bytes, and expects refusal. */
static void expect_damaged(void (*damage)(unsigned char *bytes, size_t *size), const char *why)
{
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "dataset.bin");
    dataset *data = make_dataset();
    assert_int_equal(kd_dataset_save(data, 7, path), KD_OK);
    size_t size;
    unsigned char *bytes = test_read_file(path, &size);
    damage(bytes, &size);
    test_write_file(path, bytes, size);
    dataset *loaded = NULL;
    assert_int_equal(kd_dataset_load(path, 7, &loaded), KD_ERR_FORMAT);
    assert_null(loaded);
    assert_non_null(strstr(kd_last_error(), why));
    free(bytes);
    kd_dataset_free(data);
    free(path);
    test_remove_temp_dir(dir);
}

static void flip_a_token_bit(unsigned char *bytes, size_t *size)
{
    bytes[*size - 40] ^= 0x10;
}

static void cut_the_end(unsigned char *bytes, size_t *size)
{
    (void)bytes;
    *size -= 9;
}

static void cut_to_nothing(unsigned char *bytes, size_t *size)
{
    (void)bytes;
    *size = 0;
}

static void other_magic(unsigned char *bytes, size_t *size)
{
    (void)size;
    bytes[0] = 'K';
}

static void reseal(unsigned char *bytes, size_t size)
{
    uint64_t checksum = XXH3_64bits(bytes, size - 8);
    memcpy(bytes + size - 8, &checksum, sizeof checksum);
}

/* Damage behind a valid checksum: what a buggy writer would produce. */
static void offsets_out_of_order(unsigned char *bytes, size_t *size)
{
    uint64_t offset = 1000;
    memcpy(bytes + HEADER_BYTES + 8, &offset, sizeof offset);
    reseal(bytes, *size);
}

static void huge_example_count(unsigned char *bytes, size_t *size)
{
    uint64_t count = UINT64_MAX / 2;
    memcpy(bytes + 32, &count, sizeof count);
    reseal(bytes, *size);
}

static void mask_value_two(unsigned char *bytes, size_t *size)
{
    bytes[*size - 8 - 3] = 2;
    reseal(bytes, *size);
}

static void test_damaged_files_are_refused(void **state)
{
    (void)state;
    expect_damaged(flip_a_token_bit, "checksum mismatch");
    expect_damaged(cut_the_end, "damaged dataset cache");
    expect_damaged(cut_to_nothing, "shorter than its header");
    expect_damaged(other_magic, "not a kd dataset cache");
    expect_damaged(offsets_out_of_order, "example offsets out of order");
    expect_damaged(huge_example_count, "impossible counts");
    expect_damaged(mask_value_two, "target mask value 2");
}

static void test_unwritable_path(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    assert_int_equal(kd_dataset_save(data, 1, "/nonexistent-kd-dir/dataset.bin"), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "cannot create"));
    kd_dataset_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stale_and_missing),
        cmocka_unit_test(test_damaged_files_are_refused),
        cmocka_unit_test(test_unwritable_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
