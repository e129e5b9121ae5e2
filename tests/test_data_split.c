/* The train/validation split: stable per record when records are added or
 * reordered, close to the asked fraction, and seed-dependent. */
#include "test_support.h"

#include "kd/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t hash_of(size_t i)
{
    char instruction[32];
    snprintf(instruction, sizeof instruction, "question %zu", i);
    return kd_record_content_hash(instruction, "", "answer");
}

/* A dataset whose example k comes from record numbers[k]. */
static dataset *make_dataset(const size_t *numbers, size_t count)
{
    dataset *data;
    assert_int_equal(kd_dataset_create(4, &data), KD_OK);
    const int ids[2] = {1, 2};
    const uint8_t mask[2] = {1, 0};
    for (size_t k = 0; k < count; k++)
        assert_int_equal(kd_dataset_append(data, ids, mask, 2, hash_of(numbers[k])), KD_OK);
    return data;
}

static void test_side_survives_added_and_reordered_records(void **state)
{
    (void)state;
    enum { OLD = 1000, NEW = 1500 };
    size_t old_numbers[OLD], new_numbers[NEW];
    for (size_t i = 0; i < OLD; i++)
        old_numbers[i] = i;
    /* The larger set lists the old records backwards, a new one after
     * every second of them. */
    size_t count = 0, next_new = OLD;
    for (size_t i = 0; i < OLD; i++) {
        new_numbers[count++] = OLD - 1 - i;
        if (i % 2 == 1)
            new_numbers[count++] = next_new++;
    }
    assert_int_equal(count, NEW);
    dataset *before = make_dataset(old_numbers, OLD);
    dataset *after = make_dataset(new_numbers, NEW);
    assert_int_equal(kd_dataset_split(before, 7, 0.2), KD_OK);
    assert_int_equal(kd_dataset_split(after, 7, 0.2), KD_OK);
    const size_t *validation = kd_dataset_part_indices(before, DATASET_VALIDATION, &count);
    char side_before[OLD] = {0};
    for (size_t i = 0; i < count; i++)
        side_before[old_numbers[validation[i]]] = 1;
    validation = kd_dataset_part_indices(after, DATASET_VALIDATION, &count);
    char in_validation_after[NEW] = {0};
    for (size_t i = 0; i < count; i++)
        in_validation_after[validation[i]] = 1;
    size_t compared = 0;
    for (size_t k = 0; k < NEW; k++) {
        if (new_numbers[k] >= OLD)
            continue;
        assert_int_equal(in_validation_after[k], side_before[new_numbers[k]]);
        compared++;
    }
    assert_int_equal(compared, OLD);
    kd_dataset_free(before);
    kd_dataset_free(after);
}

static void test_fraction_is_accurate(void **state)
{
    (void)state;
    enum { N = 20000 };
    size_t *numbers = malloc(N * sizeof *numbers);
    assert_non_null(numbers);
    for (size_t i = 0; i < N; i++)
        numbers[i] = i;
    dataset *data = make_dataset(numbers, N);
    const double fractions[] = {0.0, 0.05, 0.2, 0.5};
    for (size_t f = 0; f < sizeof fractions / sizeof fractions[0]; f++) {
        assert_int_equal(kd_dataset_split(data, 42, fractions[f]), KD_OK);
        size_t train, validation;
        kd_dataset_part_indices(data, DATASET_TRAIN, &train);
        kd_dataset_part_indices(data, DATASET_VALIDATION, &validation);
        assert_int_equal(train + validation, N);
        /* Binomial sd at 0.5 is 0.0035: 0.01 is about three of them. */
        assert_true(fabs((double)validation / N - fractions[f]) < 0.01);
    }
    size_t all;
    const size_t *indices = kd_dataset_part_indices(data, DATASET_ALL, &all);
    assert_int_equal(all, N);
    assert_int_equal(indices[N - 1], N - 1);
    assert_int_equal(kd_dataset_split(data, 42, 1.0), KD_ERR_INVALID);
    kd_dataset_free(data);
    free(numbers);
}

static void test_seed_changes_the_split(void **state)
{
    (void)state;
    size_t moved = 0;
    for (size_t i = 0; i < 1000; i++)
        moved += kd_split_is_validation(hash_of(i), 1, 0.2) != kd_split_is_validation(hash_of(i), 2, 0.2);
    /* Independent draws disagree with probability 2 * 0.2 * 0.8 = 0.32. */
    assert_true(moved > 250 && moved < 400);
}

static void test_content_hash_separates_fields(void **state)
{
    (void)state;
    assert_true(kd_record_content_hash("ab", "c", "") != kd_record_content_hash("a", "bc", ""));
    assert_true(kd_record_content_hash("a", "", "b") != kd_record_content_hash("a", "b", ""));
    assert_true(kd_record_content_hash("a", "b", "c") == kd_record_content_hash("a", "b", "c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_side_survives_added_and_reordered_records),
        cmocka_unit_test(test_fraction_is_accurate),
        cmocka_unit_test(test_seed_changes_the_split),
        cmocka_unit_test(test_content_hash_separates_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
