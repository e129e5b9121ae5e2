/* Length-grouped batches: every example once per epoch, batches of like
 * length, an order that repeats from (seed, epoch) and changes between
 * epochs, disjoint rank slices, resuming mid-epoch, and far less padding
 * than random batches. */
#include "test_support.h"

#include "kd/data.h"

#include <string.h>

enum { EXAMPLES = 101, DATA_SEQ_LEN = 40, BATCH = 4, MAX_BATCHES = 64 };

/* Example k: 2 + (k * 37) % 39 ids (2 .. 40, scattered over k), ids 100k,
 * 100k + 1, ...; every target counts. */
static size_t example_length(int k)
{
    return 2 + (size_t)(k * 37) % 39;
}

static dataset *make_dataset(void)
{
    dataset *data;
    assert_int_equal(kd_dataset_create(DATA_SEQ_LEN, &data), KD_OK);
    for (int k = 0; k < EXAMPLES; k++) {
        size_t length = example_length(k);
        int ids[DATA_SEQ_LEN + 1];
        uint8_t mask[DATA_SEQ_LEN + 1] = {0};
        for (size_t j = 0; j < length; j++)
            ids[j] = 100 * k + (int)j;
        for (size_t j = 0; j + 1 < length; j++)
            mask[j] = 1;
        assert_int_equal(kd_dataset_append(data, ids, mask, length, (uint64_t)k), KD_OK);
    }
    return data;
}

static batcher_options grouped(int shuffle, size_t megabatch)
{
    batcher_options options;
    kd_batcher_options_default(&options);
    options.batch_size = BATCH;
    options.seq_len = DATA_SEQ_LEN;
    options.shuffle = shuffle;
    options.trim_multiple = 1;
    options.group_by_length = 1;
    options.megabatch = megabatch;
    return options;
}

/* One epoch: the example of every row in order, each batch's first row,
 * and the cells and real tokens of all batches. */
typedef struct {
    int examples[EXAMPLES];
    size_t count;
    size_t batch_start[MAX_BATCHES];
    size_t batches;
    size_t cells;
    size_t inputs;
} epoch_record;

static void read_epoch(batcher *b, epoch_record *epoch)
{
    memset(epoch, 0, sizeof *epoch);
    epoch->batches = kd_batcher_batches_per_epoch(b);
    assert_true(epoch->batches <= MAX_BATCHES);
    for (size_t i = 0; i < epoch->batches; i++) {
        const kd_batch *batch = kd_batcher_next(b);
        epoch->batch_start[i] = epoch->count;
        size_t inputs = 0;
        for (size_t row = 0; row < batch->rows; row++) {
            int example = batch->tokens[row * batch->columns] / 100;
            epoch->examples[epoch->count++] = example;
            inputs += example_length(example) - 1;
        }
        assert_int_equal(batch->inputs, inputs);
        epoch->cells += batch->rows * batch->columns;
        epoch->inputs += batch->inputs;
    }
}

/* One epoch of `options` as they are, and one with grouping switched off. */
static void read_grouped_and_plain(const dataset *data, const batcher_options *options,
                                   epoch_record *sorted, epoch_record *unsorted)
{
    batcher_options plain = *options;
    plain.group_by_length = 0;
    batcher *grouped_batches, *plain_batches;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, options, &grouped_batches), KD_OK);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &plain, &plain_batches), KD_OK);
    read_epoch(grouped_batches, sorted);
    read_epoch(plain_batches, unsorted);
    kd_batcher_free(grouped_batches);
    kd_batcher_free(plain_batches);
}

static void assert_each_example_once(const epoch_record *epoch)
{
    assert_int_equal(epoch->count, EXAMPLES);
    int seen[EXAMPLES] = {0};
    for (size_t i = 0; i < epoch->count; i++)
        seen[epoch->examples[i]]++;
    for (int k = 0; k < EXAMPLES; k++)
        assert_int_equal(seen[k], 1);
}

static void test_every_example_once_and_a_new_order_each_epoch(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(1, 3);
    batcher *first, *second;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &first), KD_OK);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &second), KD_OK);
    epoch_record epochs[3], again;
    for (int e = 0; e < 3; e++) {
        read_epoch(first, &epochs[e]);
        assert_each_example_once(&epochs[e]);
        read_epoch(second, &again);
        assert_memory_equal(again.examples, epochs[e].examples, sizeof again.examples);
    }
    /* Batch composition, not only batch order, changes between epochs. */
    assert_memory_not_equal(epochs[0].examples, epochs[1].examples, sizeof epochs[0].examples);
    int same_first_rows = 1;
    for (size_t i = 0; i < epochs[1].batches; i++)
        same_first_rows &= epochs[1].examples[epochs[1].batch_start[i]] ==
                           epochs[2].examples[epochs[2].batch_start[i]];
    assert_false(same_first_rows);
    kd_batcher_free(second);
    options.seed = 43;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &second), KD_OK);
    read_epoch(second, &again);
    assert_memory_not_equal(again.examples, epochs[0].examples, sizeof again.examples);
    kd_batcher_free(first);
    kd_batcher_free(second);
    kd_dataset_free(data);
}

/* Without shuffle and with one megabatch (evaluation, caching) the part is
 * simply sorted: longest first, ties in the part's order. */
static void test_unshuffled_is_sorted_by_length(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(0, 0);
    batcher *b;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
    epoch_record epoch;
    read_epoch(b, &epoch);
    assert_each_example_once(&epoch);
    for (size_t i = 1; i < epoch.count; i++) {
        size_t before = example_length(epoch.examples[i - 1]);
        size_t now = example_length(epoch.examples[i]);
        assert_true(before > now || (before == now && epoch.examples[i - 1] < epoch.examples[i]));
    }
    kd_batcher_free(b);
    kd_dataset_free(data);
}

/* Each megabatch holds the same examples as the ungrouped order's span. */
static void test_megabatches_keep_their_examples(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(0, 5);
    epoch_record sorted, unsorted;
    read_grouped_and_plain(data, &options, &sorted, &unsorted);
    size_t group = 5 * BATCH;
    for (size_t from = 0; from < EXAMPLES; from += group) {
        int in_group[EXAMPLES] = {0};
        size_t to = from + group < EXAMPLES ? from + group : EXAMPLES;
        for (size_t i = from; i < to; i++)
            in_group[unsorted.examples[i]] = 1;
        for (size_t i = from; i < to; i++)
            assert_true(in_group[sorted.examples[i]]);
    }
    kd_dataset_free(data);
}

static void test_less_padding_than_random_batches(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(1, 50);
    epoch_record sorted, unsorted;
    read_grouped_and_plain(data, &options, &sorted, &unsorted);
    assert_int_equal(sorted.inputs, unsorted.inputs);
    double grouped_ratio = (double)sorted.cells / (double)sorted.inputs;
    double plain_ratio = (double)unsorted.cells / (double)unsorted.inputs;
    assert_true(grouped_ratio < 1.1);
    assert_true(plain_ratio > 1.3);
    kd_dataset_free(data);
}

/* With shuffle the batches cut from a sorted megabatch come in random
 * order, not from the longest down. */
static void test_batches_are_shuffled(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(1, 0);
    batcher *b;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
    size_t rises = 0, previous = 0;
    for (size_t i = 0; i < kd_batcher_batches_per_epoch(b); i++) {
        const kd_batch *batch = kd_batcher_next(b);
        rises += i > 0 && batch->max_length > previous;
        previous = batch->max_length;
    }
    assert_true(rises > 3);
    kd_batcher_free(b);
    kd_dataset_free(data);
}

static void test_ranks_are_disjoint(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    enum { WORLD = 3 };
    int seen[EXAMPLES] = {0};
    for (int rank = 0; rank < WORLD; rank++) {
        batcher_options options = grouped(1, 2);
        options.rank = rank;
        options.world_size = WORLD;
        batcher *b;
        assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &b), KD_OK);
        epoch_record epoch;
        read_epoch(b, &epoch);
        for (size_t i = 0; i < epoch.count; i++)
            seen[epoch.examples[i]]++;
        kd_batcher_free(b);
    }
    for (int k = 0; k < EXAMPLES; k++)
        assert_int_equal(seen[k], 1);
    kd_dataset_free(data);
}

static void test_resume_mid_epoch(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    batcher_options options = grouped(1, 3);
    batcher *running, *resumed;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &running), KD_OK);
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &resumed), KD_OK);
    size_t per_epoch = kd_batcher_batches_per_epoch(running);
    for (size_t i = 0; i < per_epoch + 7; i++)
        kd_batcher_next(running);
    assert_int_equal(kd_batcher_seek(resumed, kd_batcher_tell(running)), KD_OK);
    for (size_t i = 0; i < per_epoch; i++) {
        const kd_batch *expected = kd_batcher_next(running);
        const kd_batch *got = kd_batcher_next(resumed);
        assert_int_equal(got->rows, expected->rows);
        assert_int_equal(got->columns, expected->columns);
        assert_memory_equal(got->tokens, expected->tokens,
                            expected->rows * expected->columns * sizeof(int));
    }
    kd_batcher_free(running);
    kd_batcher_free(resumed);
    kd_dataset_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_example_once_and_a_new_order_each_epoch),
        cmocka_unit_test(test_unshuffled_is_sorted_by_length),
        cmocka_unit_test(test_megabatches_keep_their_examples),
        cmocka_unit_test(test_less_padding_than_random_batches),
        cmocka_unit_test(test_batches_are_shuffled),
        cmocka_unit_test(test_ranks_are_disjoint),
        cmocka_unit_test(test_resume_mid_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
