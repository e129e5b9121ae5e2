/* The batches every command cuts from a run's settings, in one place, so
 * that training, evaluation, caching, estimates and benchmarks see the
 * same shapes. */
#include "kd/train.h"

/* Batch widths are exactly the longest row. Rounding up to 16 columns, as
 * kd once did, cost nothing the kernels need (OpenBLAS takes any M = B * T;
 * attention loops over any T) and, once batches are grouped by length, was
 * most of the padding left: 1.12 cells per real token on the dolly open_qa
 * records against 1.03 (docs/batching.md). */
enum { TRIM_MULTIPLE = 1 };

void kd_train_batcher_options(const train_settings *settings, batcher_options *options)
{
    kd_batcher_options_default(options);
    options->batch_size = (size_t)settings->batch_size;
    options->seq_len = (size_t)settings->seq_len;
    options->seed = settings->seed;
    options->trim_multiple = TRIM_MULTIPLE;
    options->group_by_length = settings->group_by_length;
}

/* An evaluation of the first max_batches batches sorts exactly the examples
 * the ungrouped order puts there (one megabatch of max_batches), so grouping
 * changes the order of the sum, never what is summed. */
void kd_eval_batcher_options(size_t batch_size, size_t seq_len, int group_by_length,
                             int max_batches, batcher_options *options)
{
    kd_batcher_options_default(options);
    options->batch_size = batch_size;
    options->seq_len = seq_len;
    options->shuffle = 0;
    options->trim_multiple = TRIM_MULTIPLE;
    options->group_by_length = group_by_length;
    options->megabatch = max_batches > 0 ? (size_t)max_batches : 0;
}
