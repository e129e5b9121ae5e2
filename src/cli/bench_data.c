/* kd bench --data: train or fwd steps on batches of real examples, cut as
 * training cuts them (the config's template and loss mask, widths trimmed
 * to the longest row, grouped by length unless --no-group-by-length), so
 * the figure is what a run on that data gets. Step times vary with the
 * batch width: throughput is the timed steps' tokens over their time. */
#include <stdlib.h>

#include "bench.h"
#include "kd/train.h"

typedef struct {
    run_config config;
    kd_tokenizer *tokenizer;
    dataset *data;
    batcher *batches;
    gpt2_model model;
} data_bench;

static kd_status open_batches(data_bench *b, const bench_options *o, int vocab_size)
{
    kd_status status = kd_run_config_load(o->config_path, &b->config);
    if (status == KD_OK)
        status = kd_run_config_set_files(&b->config, &o->data_path, 1);
    if (status != KD_OK)
        return status;
    train_settings *train = &b->config.train;
    train->batch_size = o->batch;
    train->seq_len = o->seq;
    train->seed = BENCH_SEED;
    train->group_by_length = !o->no_group_by_length;
    kd_run_config_sync_data(&b->config);
    if ((status = kd_run_tokenizer_load(&b->config, NULL, &b->tokenizer)) != KD_OK ||
        (status = kd_run_tokenizer_check(b->tokenizer, vocab_size, "model")) !=
            KD_OK ||
        (status = kd_dataset_build(&b->config.data, b->tokenizer, &b->data, NULL)) != KD_OK)
        return status;
    batcher_options options;
    kd_train_batcher_options(train, &options);
    return kd_batcher_create(b->data, DATASET_ALL, &options, &b->batches);
}

static kd_status run_steps(data_bench *b, const bench_options *o, bench_timing *timing)
{
    double *times = kd_alloc((size_t)o->steps, sizeof(double), "step times");
    if (!times)
        return KD_ERR_NOMEM;
    double inputs = 0.0, cells = 0.0, seconds = 0.0;
    kd_status status = KD_OK;
    for (int step = 0; step < o->warmup + o->steps && status == KD_OK; step++) {
        const kd_batch *next = kd_batcher_next(b->batches);
        if (next->rows == 0)
            continue; /* a rank's empty last batch; never with one rank */
        gpt2_batch batch = {next->tokens, next->targets, next->weights, (int)next->rows,
                            (int)next->columns};
        double loss, begin = kd_now_seconds();
        status = bench_step(&b->model, o->mode, &batch, step + 1, &loss);
        double elapsed = kd_now_seconds() - begin;
        if (step == 0)
            timing->first_loss = loss;
        timing->last_loss = loss;
        if (step < o->warmup)
            continue;
        times[step - o->warmup] = elapsed;
        seconds += elapsed;
        inputs += (double)next->inputs;
        cells += (double)(next->rows * next->columns);
    }
    if (status == KD_OK) {
        bench_summarise(times, o->steps, timing);
        timing->real_tokens_per_s = inputs / seconds;
        timing->cells_per_s = cells / seconds;
        timing->padding_ratio = cells / inputs;
    }
    free(times);
    return status;
}

kd_status bench_data(const bench_options *options, const gpt2_config *config,
                     bench_timing *timing)
{
    data_bench b = {0};
    kd_status status = open_batches(&b, options, config->vocab_size);
    if (status == KD_OK)
        status = kd_gpt2_create(&b.model, config);
    if (status == KD_OK) {
        kd_gpt2_init_random(&b.model, BENCH_SEED);
        status = kd_gpt2_prepare(&b.model, options->batch, options->seq,
                                 options->mode == BENCH_TRAIN);
    }
    if (status == KD_OK)
        status = run_steps(&b, options, timing);
    kd_gpt2_free(&b.model);
    kd_batcher_free(b.batches);
    kd_dataset_free(b.data);
    kd_tokenizer_free(b.tokenizer);
    kd_run_config_free(&b.config);
    return status;
}
