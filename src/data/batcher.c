/* Padded batches over one part of a dataset: a fresh order every epoch
 * (a pure function of seed and epoch, so any position can be restored),
 * optionally grouped by length, global batches dealt out to data-parallel
 * ranks. */
#include "kd/data.h"

#include <stdlib.h>
#include <string.h>

struct batcher {
    const dataset *data;
    batcher_options options;
    const size_t *part;        /* the part's example indices */
    size_t part_count;
    size_t *order;             /* the part in this epoch's order */
    size_t *batch_order;       /* global batch i of the epoch is span batch_order[i] of order */
    size_t *scratch;           /* (part_count) for the sort by length */
    uint64_t order_epoch;      /* the epoch `order` belongs to */
    int order_ready;
    size_t batches_per_epoch;
    batcher_position next;
    size_t *rows;              /* example indices of the batch being filled */
    kd_batch batch;
};

void kd_batcher_options_default(batcher_options *options)
{
    memset(options, 0, sizeof *options);
    options->batch_size = 8;
    options->seq_len = 1024;
    options->shuffle = 1;
    options->seed = 42;
    options->world_size = 1;
    options->pad_id = GPT2_END_OF_TEXT;
    options->megabatch = 50;
}

static kd_status check_options(const batcher_options *options, const dataset *data,
                               size_t part_count, dataset_part part)
{
    static const char *const part_names[] = {"train", "validation", "whole"};
    if (options->batch_size == 0 || options->seq_len == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: batch size and sequence length must be positive");
    if (options->seq_len < kd_dataset_seq_len(data))
        return kd_fail(KD_ERR_INVALID,
                       "batcher: sequence length %zu is shorter than the dataset's %zu",
                       options->seq_len, kd_dataset_seq_len(data));
    if (options->world_size < 1 || options->rank < 0 || options->rank >= options->world_size)
        return kd_fail(KD_ERR_INVALID, "batcher: rank %d of world size %d", options->rank,
                       options->world_size);
    if (kd_mul_size(options->batch_size, options->seq_len) == 0 ||
        kd_mul_size(options->batch_size, (size_t)options->world_size) == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: batch size %zu is too large",
                       options->batch_size);
    if (options->pad_id < 0)
        return kd_fail(KD_ERR_INVALID, "batcher: padding id %d", options->pad_id);
    if (part_count == 0)
        return kd_fail(KD_ERR_INVALID, "batcher: the %s part of the dataset is empty",
                       part_names[part]);
    return KD_OK;
}

kd_status kd_batcher_create(const dataset *data, dataset_part part, const batcher_options *options,
                            batcher **out)
{
    *out = NULL;
    size_t part_count;
    const size_t *indices = kd_dataset_part_indices(data, part, &part_count);
    kd_status status = check_options(options, data, part_count, part);
    if (status != KD_OK)
        return status;
    batcher *loader = kd_alloc(1, sizeof *loader, "batcher");
    if (!loader)
        return KD_ERR_NOMEM;
    size_t cells = options->batch_size * options->seq_len;
    loader->data = data;
    loader->options = *options;
    loader->part = indices;
    loader->part_count = part_count;
    size_t global_batch = options->batch_size * (size_t)options->world_size;
    loader->batches_per_epoch = (part_count + global_batch - 1) / global_batch;
    loader->order = kd_alloc(part_count, sizeof *loader->order, "batcher order");
    loader->batch_order = kd_alloc(loader->batches_per_epoch, sizeof *loader->batch_order,
                                   "batcher batch order");
    loader->scratch = kd_alloc(part_count, sizeof *loader->scratch, "batcher scratch");
    loader->rows = kd_alloc(options->batch_size, sizeof *loader->rows, "batcher rows");
    loader->batch.tokens = kd_alloc(cells, sizeof *loader->batch.tokens, "batch tokens");
    loader->batch.targets = kd_alloc(cells, sizeof *loader->batch.targets, "batch targets");
    loader->batch.weights = kd_alloc(cells, sizeof *loader->batch.weights, "batch weights");
    kd_batch *batch = &loader->batch;
    if (!loader->order || !loader->batch_order || !loader->scratch || !loader->rows ||
        !batch->tokens || !batch->targets || !batch->weights) {
        kd_batcher_free(loader);
        return KD_ERR_NOMEM;
    }
    batch->examples = loader->rows;
    *out = loader;
    return KD_OK;
}

void kd_batcher_free(batcher *loader)
{
    if (!loader)
        return;
    free(loader->order);
    free(loader->batch_order);
    free(loader->scratch);
    free(loader->rows);
    free(loader->batch.tokens);
    free(loader->batch.targets);
    free(loader->batch.weights);
    free(loader);
}

size_t kd_batcher_batches_per_epoch(const batcher *loader)
{
    return loader->batches_per_epoch;
}

static void shuffle_indices(kd_rng *rng, size_t *items, size_t count)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)kd_rng_below(rng, i);
        size_t swap = items[i - 1];
        items[i - 1] = items[j];
        items[j] = swap;
    }
}

static void group_by_length(batcher *loader)
{
    size_t global_batch = loader->options.batch_size * (size_t)loader->options.world_size;
    size_t group = loader->options.megabatch
                       ? kd_mul_size(loader->options.megabatch, global_batch)
                       : loader->part_count;
    if (group == 0 || group > loader->part_count)
        group = loader->part_count;
    for (size_t from = 0; from < loader->part_count; from += group) {
        size_t count = loader->part_count - from < group ? loader->part_count - from : group;
        kd_dataset_sort_by_length(loader->data, loader->order + from, count, loader->scratch);
    }
}

/* Every rank derives the same order, so their slices stay disjoint. Without
 * grouping the batches follow the shuffled examples; with it, the batches
 * cut from the sorted megabatches are shuffled too, so that a run does not
 * sweep from long batches to short ones within each megabatch. */
static void order_epoch(batcher *loader, uint64_t epoch)
{
    memcpy(loader->order, loader->part, loader->part_count * sizeof *loader->order);
    for (size_t i = 0; i < loader->batches_per_epoch; i++)
        loader->batch_order[i] = i;
    kd_rng rng;
    kd_rng_seed(&rng, loader->options.seed ^ (epoch * 0x9E3779B97F4A7C15ull));
    if (loader->options.shuffle)
        shuffle_indices(&rng, loader->order, loader->part_count);
    if (loader->options.group_by_length) {
        group_by_length(loader);
        if (loader->options.shuffle)
            shuffle_indices(&rng, loader->batch_order, loader->batches_per_epoch);
    }
    loader->order_epoch = epoch;
    loader->order_ready = 1;
}

/* This rank's examples of global batch `index`: every world_size-th one
 * from position `rank`. */
static size_t pick_rows(batcher *loader, uint64_t index, size_t *max_length)
{
    size_t world = (size_t)loader->options.world_size;
    size_t span = loader->batch_order[index];
    size_t start = span * loader->options.batch_size * world + (size_t)loader->options.rank;
    size_t rows = 0;
    *max_length = 0;
    for (size_t at = start; rows < loader->options.batch_size && at < loader->part_count; at += world) {
        loader->rows[rows] = loader->order[at];
        kd_example example = kd_dataset_example(loader->data, loader->rows[rows++]);
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
static void fill_row(batcher *loader, size_t row, size_t columns)
{
    kd_batch *batch = &loader->batch;
    int *tokens = batch->tokens + row * columns;
    int *targets = batch->targets + row * columns;
    float *weights = batch->weights + row * columns;
    size_t inputs = 0;
    if (row < batch->rows) {
        kd_example example = kd_dataset_example(loader->data, loader->rows[row]);
        inputs = example.length - 1;
        for (size_t t = 0; t < inputs; t++) {
            tokens[t] = example.ids[t];
            targets[t] = example.ids[t + 1];
            weights[t] = example.target_mask[t];
            batch->counted += example.target_mask[t];
        }
        batch->inputs += inputs;
    }
    for (size_t t = inputs; t < columns; t++) {
        tokens[t] = loader->options.pad_id;
        targets[t] = loader->options.pad_id;
        weights[t] = 0.0f;
    }
}

const kd_batch *kd_batcher_next(batcher *loader)
{
    if (!loader->order_ready || loader->order_epoch != loader->next.epoch)
        order_epoch(loader, loader->next.epoch);
    kd_batch *batch = &loader->batch;
    batch->position = loader->next;
    batch->rows = pick_rows(loader, loader->next.batch, &batch->max_length);
    batch->columns = batch_columns(&loader->options, batch->max_length);
    batch->counted = 0;
    batch->inputs = 0;
    for (size_t row = 0; row < loader->options.batch_size; row++)
        fill_row(loader, row, batch->columns);
    if (++loader->next.batch == loader->batches_per_epoch) {
        loader->next.epoch++;
        loader->next.batch = 0;
    }
    return batch;
}

batcher_position kd_batcher_tell(const batcher *loader)
{
    return loader->next;
}

kd_status kd_batcher_seek(batcher *loader, batcher_position position)
{
    if (position.batch >= loader->batches_per_epoch)
        return kd_fail(KD_ERR_INVALID, "batcher: batch %llu of an epoch of %zu batches",
                       (unsigned long long)position.batch, loader->batches_per_epoch);
    loader->next = position;
    return KD_OK;
}
