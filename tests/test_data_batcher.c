/* Batches: layout, padding and weights, per-epoch shuffles that repeat
 * from the seed, disjoint rank slices, and resuming from a position. */
#include "test_support.h"

#include "kd/data.h"

#include <string.h>

enum { EXAMPLES = 10, DATA_SEQ_LEN = 6, PAD = 7777 };

/* Example k: length 2 + k % 6, ids 100k, 100k + 1, ...; odd targets count. */
static dataset *make_dataset(void)
{
    dataset *data;
    assert_int_equal(kd_dataset_create(DATA_SEQ_LEN, &data), KD_OK);
    for (int k = 0; k < EXAMPLES; k++) {
        size_t length = 2 + (size_t)k % 6;
        int ids[DATA_SEQ_LEN + 1];
        uint8_t mask[DATA_SEQ_LEN + 1] = {0};
        for (size_t j = 0; j < length; j++)
            ids[j] = 100 * k + (int)j;
        for (size_t j = 0; j + 1 < length; j++)
            mask[j] = j % 2;
        assert_int_equal(kd_dataset_append(data, ids, mask, length, (uint64_t)k), KD_OK);
    }
    return data;
}

static batcher_options options_for(size_t batch_size, size_t seq_len, int shuffle)
{
    batcher_options options;
    kd_batcher_options_default(&options);
    options.batch_size = batch_size;
    options.seq_len = seq_len;
    options.shuffle = shuffle;
    options.pad_id = PAD;
    return options;
}

/* The example in `row`, read back from its first token. */
static int row_example(const kd_batch *batch, size_t row)
{
    return batch->tokens[row * batch->columns] / 100;
}

static void test_rows_padding_and_weights(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = options_for(3, 8, 0);
    batcher *b;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
    assert_int_equal(kd_batcher_batches_per_epoch(b), 4);
    const kd_batch *batch = kd_batcher_next(b);
    assert_int_equal(batch->rows, 3);
    assert_int_equal(batch->columns, 8);
    assert_int_equal(batch->max_length, 3); /* example 2 has 4 ids */
    size_t counted = 0;
    for (size_t row = 0; row < 3; row++) {
        kd_example example = kd_dataset_example(data, row);
        for (size_t t = 0; t < 8; t++) {
            size_t cell = row * 8 + t;
            if (t + 1 < example.length) {
                assert_int_equal(batch->tokens[cell], example.ids[t]);
                assert_int_equal(batch->targets[cell], example.ids[t + 1]);
                assert_true(batch->weights[cell] == (float)example.target_mask[t]);
                counted += example.target_mask[t];
            } else {
                assert_int_equal(batch->tokens[cell], PAD);
                assert_int_equal(batch->targets[cell], PAD);
                assert_true(batch->weights[cell] == 0.0f);
            }
        }
    }
    assert_int_equal(batch->counted, counted);
    /* The last batch of the epoch holds example 9 and two padding rows. */
    for (int i = 0; i < 3; i++)
        batch = kd_batcher_next(b);
    assert_int_equal(batch->rows, 1);
    assert_int_equal(row_example(batch, 0), 9);
    for (size_t cell = 8; cell < 24; cell++) {
        assert_int_equal(batch->tokens[cell], PAD);
        assert_true(batch->weights[cell] == 0.0f);
    }
    assert_int_equal(batch->position.epoch, 0);
    assert_int_equal(batch->position.batch, 3);
    batch = kd_batcher_next(b);
    assert_int_equal(batch->position.epoch, 1);
    assert_int_equal(row_example(batch, 0), 0);
    kd_batcher_free(b);
    kd_dataset_free(data);
}

static void test_trimmed_columns(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = options_for(2, 8, 0);
    options.trim_multiple = 4;
    batcher *b;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
    const kd_batch *batch = kd_batcher_next(b); /* examples 0, 1: lengths 2, 3 */
    assert_int_equal(batch->max_length, 2);
    assert_int_equal(batch->columns, 4);
    /* Rows are contiguous at the trimmed width. */
    assert_int_equal(batch->tokens[4], 100);
    assert_int_equal(batch->targets[5], 102);
    assert_int_equal(batch->tokens[6], PAD);
    batch = kd_batcher_next(b); /* examples 2, 3: lengths 4, 5 */
    assert_int_equal(batch->columns, 4);
    batch = kd_batcher_next(b); /* examples 4, 5: lengths 6, 7 */
    assert_int_equal(batch->max_length, 6);
    assert_int_equal(batch->columns, 8);
    kd_batcher_free(b);
    kd_dataset_free(data);
}

/* The examples of one epoch in the order a batcher hands them out. */
static void epoch_order(batcher *b, int *order, size_t *count)
{
    *count = 0;
    size_t batches = kd_batcher_batches_per_epoch(b);
    for (size_t i = 0; i < batches; i++) {
        const kd_batch *batch = kd_batcher_next(b);
        for (size_t row = 0; row < batch->rows; row++)
            order[(*count)++] = row_example(batch, row);
    }
}

static void test_shuffle_is_deterministic_per_epoch(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = options_for(4, 8, 1);
    batcher *first, *second;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &first), KD_OK);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &second), KD_OK);
    int orders[3][EXAMPLES], again[EXAMPLES];
    size_t count;
    for (int epoch = 0; epoch < 3; epoch++) {
        epoch_order(first, orders[epoch], &count);
        assert_int_equal(count, EXAMPLES);
        int seen[EXAMPLES] = {0};
        for (size_t i = 0; i < count; i++)
            seen[orders[epoch][i]]++;
        for (int k = 0; k < EXAMPLES; k++)
            assert_int_equal(seen[k], 1);
        epoch_order(second, again, &count);
        assert_memory_equal(again, orders[epoch], sizeof again);
    }
    assert_memory_not_equal(orders[0], orders[1], sizeof orders[0]);
    assert_memory_not_equal(orders[1], orders[2], sizeof orders[0]);
    kd_batcher_free(second);
    options.seed = 43;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &second), KD_OK);
    epoch_order(second, again, &count);
    assert_memory_not_equal(again, orders[0], sizeof again);
    kd_batcher_free(first);
    kd_batcher_free(second);
    kd_dataset_free(data);
}

static void test_ranks_are_disjoint(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    enum { WORLD = 3 };
    int seen[EXAMPLES] = {0};
    for (int rank = 0; rank < WORLD; rank++) {
        batcher_options options = options_for(2, 8, 1);
        options.rank = rank;
        options.world_size = WORLD;
        batcher *b;
        assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
        assert_int_equal(kd_batcher_batches_per_epoch(b), 2); /* ceil(10 / 6) */
        int order[EXAMPLES];
        size_t count;
        epoch_order(b, order, &count);
        assert_true(count == 3 || count == 4);
        for (size_t i = 0; i < count; i++)
            seen[order[i]]++;
        kd_batcher_free(b);
    }
    for (int k = 0; k < EXAMPLES; k++)
        assert_int_equal(seen[k], 1);
    kd_dataset_free(data);
}

static void test_resume_from_a_position(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = options_for(3, 8, 1);
    batcher *running, *resumed;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &running), KD_OK);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &resumed), KD_OK);
    for (int i = 0; i < 6; i++)
        kd_batcher_next(running);
    batcher_position saved = kd_batcher_tell(running);
    assert_int_equal(saved.epoch, 1);
    assert_int_equal(saved.batch, 2);
    assert_int_equal(kd_batcher_seek(resumed, saved), KD_OK);
    for (int i = 0; i < 5; i++) {
        const kd_batch *expected = kd_batcher_next(running);
        const kd_batch *got = kd_batcher_next(resumed);
        assert_int_equal(got->rows, expected->rows);
        assert_memory_equal(got->tokens, expected->tokens, 3 * 8 * sizeof(int));
        assert_memory_equal(got->weights, expected->weights, 3 * 8 * sizeof(float));
    }
    batcher_position beyond = {0, 4};
    assert_int_equal(kd_batcher_seek(resumed, beyond), KD_ERR_INVALID);
    kd_batcher_free(running);
    kd_batcher_free(resumed);
    kd_dataset_free(data);
}

static void test_bad_options(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher *b;
    batcher_options options = options_for(2, 5, 0);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_ERR_INVALID);
    assert_string_equal(kd_last_error(),
                        "batcher: sequence length 5 is shorter than the dataset's 6");
    options = options_for(2, 8, 0);
    options.rank = 2;
    options.world_size = 2;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_ERR_INVALID);
    options.rank = 0;
    assert_int_equal(kd_batcher_create(data, DATASET_VALIDATION, &options, &b), KD_ERR_INVALID);
    assert_string_equal(kd_last_error(), "batcher: the validation part of the dataset is empty");
    assert_null(b);
    kd_dataset_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_padding_and_weights),
        cmocka_unit_test(test_trimmed_columns),
        cmocka_unit_test(test_shuffle_is_deterministic_per_epoch),
        cmocka_unit_test(test_ranks_are_disjoint),
        cmocka_unit_test(test_resume_from_a_position),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
