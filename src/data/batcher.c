/* Padded batches over one part of a dataset: a fresh order every epoch
 * (a pure function of seed and epoch, so any position can be restored),
 * global batches dealt out to data-parallel ranks. */
#include "kd/data.h"

#include <stdlib.h>
#include <string.h>

struct batcher {
    const dataset *data;
    batcher_options options;
    const size_t *part;        /* the part's example indices */
    size_t part_count;
    size_t *order;             /* the part in this epoch's order */
    uint64_t order_epoch;      /* the epoch `order` belongs to */
    int order_ready;
    size_t batches_per_epoch;
    batcher_position next;
    size_t *rows;              /* example indices of the batch being filled */
    kd_batch batch;
};

void batcher_options_default(batcher_options *options)
{
    memset(options, 0, sizeof *options);
    options->batch_size = 8;
    options->seq_len = 1024;
    options->shuffle = 1;
    options->seed = 42;
    options->world_size = 1;
    options->pad_id = GPT2_END_OF_TEXT;
}

static kd_status check_options(const batcher_options *options, const dataset *data,
                               size_t part_count, dataset_part part)
{
    static const char *const part_names[] = {"train", "validation", "whole"};
    if (options->batch_size == 0 || options->seq_len == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: batch size and sequence length must be positive");
    if (options->seq_len < dataset_seq_len(data))
        return kd_fail(KD_ERR_INVALID,
                       "batcher: sequence length %zu is shorter than the dataset's %zu",
                       options->seq_len, dataset_seq_len(data));
    if (kd_mul_size(options->batch_size, options->seq_len) == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: batch size x sequence length overflows");
    if (options->world_size < 1 || options->rank < 0 || options->rank >= options->world_size)
        return kd_fail(KD_ERR_INVALID, "batcher: rank %d of world size %d", options->rank,
                       options->world_size);
    if (options->pad_id < 0)
        return kd_fail(KD_ERR_INVALID, "batcher: padding id %d", options->pad_id);
    if (part_count == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: the %s part of the dataset is empty",
                       part_names[part]);
    return KD_OK;
}

kd_status batcher_create(const dataset *data, dataset_part part, const batcher_options *options,
                         batcher **out)
{
    *out = NULL;
    size_t part_count;
    const size_t *indices = dataset_part_indices(data, part, &part_count);
    kd_status status = check_options(options, data, part_count, part);
    if (status != KD_OK)
        return status;
    batcher *b = kd_alloc(1, sizeof *b, "batcher");
    if (!b)
        return KD_ERR_NOMEM;
    size_t cells = options->batch_size * options->seq_len;
    b->data = data;
    b->options = *options;
    b->part = indices;
    b->part_count = part_count;
    size_t global_batch = options->batch_size * (size_t)options->world_size;
    b->batches_per_epoch = (part_count + global_batch - 1) / global_batch;
    b->order = kd_alloc(part_count, sizeof *b->order, "batcher order");
    b->rows = kd_alloc(options->batch_size, sizeof *b->rows, "batcher rows");
    b->batch.tokens = kd_alloc(cells, sizeof *b->batch.tokens, "batch tokens");
    b->batch.targets = kd_alloc(cells, sizeof *b->batch.targets, "batch targets");
    b->batch.weights = kd_alloc(cells, sizeof *b->batch.weights, "batch weights");
    if (!b->order || !b->rows || !b->batch.tokens || !b->batch.targets || !b->batch.weights) {
        batcher_free(b);
        return KD_ERR_NOMEM;
    }
    *out = b;
    return KD_OK;
}

void batcher_free(batcher *b)
{
    if (!b)
        return;
    free(b->order);
    free(b->rows);
    free(b->batch.tokens);
    free(b->batch.targets);
    free(b->batch.weights);
    free(b);
}

size_t batcher_batches_per_epoch(const batcher *b)
{
    return b->batches_per_epoch;
}

/* Every rank derives the same order, so their slices stay disjoint. */
static void order_epoch(batcher *b, uint64_t epoch)
{
    memcpy(b->order, b->part, b->part_count * sizeof *b->order);
    if (b->options.shuffle) {
        kd_rng rng;
        kd_rng_seed(&rng, b->options.seed ^ (epoch * 0x9E3779B97F4A7C15ull));
        for (size_t i = b->part_count - 1; i > 0; i--) {
            size_t j = (size_t)kd_rng_below(&rng, i + 1);
            size_t swap = b->order[i];
            b->order[i] = b->order[j];
            b->order[j] = swap;
        }
    }
    b->order_epoch = epoch;
    b->order_ready = 1;
}

/* This rank's examples of global batch `index`: every world_size-th one
 * from position `rank`. */
static size_t pick_rows(batcher *b, uint64_t index, size_t *max_length)
{
    size_t world = (size_t)b->options.world_size;
    size_t start = (size_t)index * b->options.batch_size * world + (size_t)b->options.rank;
    size_t rows = 0;
    *max_length = 0;
    for (size_t at = start; rows < b->options.batch_size && at < b->part_count; at += world) {
        b->rows[rows] = b->order[at];
        kd_example example = dataset_example(b->data, b->rows[rows++]);
        if (example.length - 1 > *max_length)
            *max_length = example.length - 1;
    }
    return rows;
}

static size_t batch_columns(const batcher_options *options, size_t max_length)
{
    size_t multiple = options->trim_multiple;
    if (multiple == 0)
        return options->seq_len;
    size_t columns = (max_length + multiple - 1) / multiple * multiple;
    columns = columns ? columns : multiple;
    return columns < options->seq_len ? columns : options->seq_len;
}

/* Row r holds example rows[r] from column 0: input t is ids[t], its target
 * ids[t + 1] weighted by target_mask[t]; the rest is padding. */
static void fill_row(batcher *b, size_t row, size_t columns)
{
    kd_batch *batch = &b->batch;
    int *tokens = batch->tokens + row * columns;
    int *targets = batch->targets + row * columns;
    float *weights = batch->weights + row * columns;
    size_t inputs = 0;
    if (row < batch->rows) {
        kd_example example = dataset_example(b->data, b->rows[row]);
        inputs = example.length - 1;
        for (size_t t = 0; t < inputs; t++) {
            tokens[t] = example.ids[t];
            targets[t] = example.ids[t + 1];
            weights[t] = example.target_mask[t];
            batch->counted += example.target_mask[t];
        }
    }
    for (size_t t = inputs; t < columns; t++) {
        tokens[t] = b->options.pad_id;
        targets[t] = b->options.pad_id;
        weights[t] = 0.0f;
    }
}

const kd_batch *batcher_next(batcher *b)
{
    if (!b->order_ready || b->order_epoch != b->next.epoch)
        order_epoch(b, b->next.epoch);
    kd_batch *batch = &b->batch;
    batch->position = b->next;
    batch->rows = pick_rows(b, b->next.batch, &batch->max_length);
    batch->columns = batch_columns(&b->options, batch->max_length);
    batch->counted = 0;
    for (size_t row = 0; row < b->options.batch_size; row++)
        fill_row(b, row, batch->columns);
    if (++b->next.batch == b->batches_per_epoch) {
        b->next.epoch++;
        b->next.batch = 0;
    }
    return batch;
}

batcher_position batcher_tell(const batcher *b)
{
    return b->next;
}

kd_status batcher_seek(batcher *b, batcher_position position)
{
    if (position.batch >= b->batches_per_epoch)
        return kd_fail(KD_ERR_INVALID, "batcher: batch %llu of an epoch of %zu batches",
                       (unsigned long long)position.batch, b->batches_per_epoch);
    b->next = position;
    return KD_OK;
}
