/* kd teacher cache: the dataset and split exactly as training builds them,
 * the teacher run over the train part in batches, and its logits at every
 * counted position handed to the cache writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/cache.h"
#include "kd/dist.h"
#include "kd/hf.h"
#include "kd/teacher.h"
#include "kd/tokenizer.h"
#include "kd/train.h"

enum { LOGIT_CHUNK_ROWS = 64, MAX_BATCH = 256 };

/* The run configuration: --config, else the one saved beside the model by
 * the run that trained it. */
static kd_status load_config(const teacher_cache_options *options, run_config *config)
{
    char path[KD_PATH_CAPACITY];
    const char *config_path = options->config_path;
    if (!config_path) {
        kd_status status = kd_path_join(path, sizeof path, options->model_dir, "../" KD_RUN_CONFIG_FILE);
        if (status != KD_OK)
            return status;
        if (access(path, R_OK) != 0)
            return kd_fail(KD_ERR_INVALID, "%s is not inside a kd run directory (no "
                           "../config.json): give --config with the data settings training uses",
                           options->model_dir);
        config_path = path;
    }
    kd_status status = kd_run_config_load(config_path, config);
    if (status == KD_OK)
        status = options->data_count > 0
                     ? kd_run_config_set_files(config, options->data_files, options->data_count)
                     : kd_run_config_resolve_files(config);
    return status;
}

/* The cache order: the train part as it is, or sorted by length (longest
 * first) so that each forward pass holds examples of like length and
 * computes little padding. The reader finds examples by index, so the
 * order is the writer's own business; it is part of the plan, and a
 * --resume continues only a cache made in the same order. */
static kd_status cache_order(const dataset *data, int group_by_length, size_t **order,
                             size_t *count)
{
    const size_t *indices = kd_dataset_part_indices(data, DATASET_TRAIN, count);
    if (*count == 0)
        return kd_fail(KD_ERR_INVALID, "the train split is empty");
    *order = kd_alloc(*count, sizeof **order, "cache order");
    size_t *scratch = kd_alloc(*count, sizeof *scratch, "cache order scratch");
    kd_status status = *order && scratch ? KD_OK : KD_ERR_NOMEM;
    if (status == KD_OK) {
        memcpy(*order, indices, *count * sizeof **order);
        if (group_by_length)
            kd_dataset_sort_by_length(data, *order, *count, scratch);
    }
    free(scratch);
    return status;
}

static kd_status make_plan(const teacher_cache_options *options, const run_config *config,
                           const kd_tokenizer *tokenizer, const gpt2_model *model,
                           const dataset *data, cache_plan *plan, uint32_t **examples)
{
    memset(plan, 0, sizeof *plan);
    kd_status status = kd_cache_identity_compute(&config->data, kd_tokenizer_hash(tokenizer),
                                                 options->model_dir, &plan->identity);
    if (status != KD_OK)
        return status;
    size_t count = 0, *order = NULL;
    int group = config->train.group_by_length && !options->no_group_by_length;
    status = cache_order(data, group, &order, &count);
    if (status == KD_OK && !(*examples = kd_alloc(count, sizeof(uint32_t), "cache example list")))
        status = KD_ERR_NOMEM;
    for (size_t i = 0; status == KD_OK && i < count; i++)
        (*examples)[i] = (uint32_t)order[i];
    free(order);
    if (status != KD_OK)
        return status;
    snprintf(plan->teacher_dir, sizeof plan->teacher_dir, "%s", options->model_dir);
    plan->encoding = options->encoding;
    plan->vocab_size = model->config.vocab_size;
    plan->examples = *examples;
    plan->example_count = count;
    return KD_OK;
}

/* Hands the logits of one row of the batch to the writer, one run of
 * consecutive counted positions (at most LOGIT_CHUNK_ROWS long) at a time,
 * so the (T, V) logits never exist at once. */
static kd_status cache_batch_row(cache_writer *writer, gpt2_model *model, const kd_example *ex,
                                 size_t index, int row, int columns, float *logits,
                                 double *teacher_seconds)
{
    kd_status status = kd_cache_writer_begin(writer, index, ex->ids, ex->target_mask, ex->length);
    int last = (int)ex->length - 1; /* positions 0 .. last-1 predict something */
    for (int t = 0; status == KD_OK && t < last;) {
        if (!ex->target_mask[t]) {
            t++;
            continue;
        }
        int first = t;
        while (t < last && ex->target_mask[t] && t - first < LOGIT_CHUNK_ROWS)
            t++;
        double started = kd_now_seconds();
        kd_gpt2_head_logits(model, row * columns + first, t - first, logits);
        *teacher_seconds += kd_now_seconds() - started;
        status = kd_cache_writer_add_rows(writer, logits, t - first);
    }
    return status == KD_OK ? kd_cache_writer_end(writer) : status;
}

typedef struct {
    gpt2_model *model;
    const dataset *data;
    const cache_plan *plan;
    cache_writer *writer;
    int batch_size;
    int *tokens;       /* (B, T) */
    float *logits;     /* (LOGIT_CHUNK_ROWS, V) */
} cache_run;

/* One forward pass over up to B pending examples from `*next` on; adds
 * the number written to *written. */
static kd_status cache_batch(cache_run *run, size_t *next, size_t *written,
                             double *teacher_seconds)
{
    size_t chosen[MAX_BATCH], inputs = 0;
    int rows = 0, columns = 1;
    while (rows < run->batch_size && *next < run->plan->example_count) {
        size_t index = (*next)++;
        if (!kd_cache_writer_pending(run->writer, index))
            continue;
        kd_example ex = kd_dataset_example(run->data, run->plan->examples[index]);
        columns = (int)ex.length - 1 > columns ? (int)ex.length - 1 : columns;
        inputs += ex.length - 1;
        chosen[rows++] = index;
    }
    if (rows == 0)
        return KD_OK;
    for (int r = 0; r < rows; r++) {
        kd_example ex = kd_dataset_example(run->data, run->plan->examples[chosen[r]]);
        int *row = run->tokens + (size_t)r * columns;
        for (int t = 0; t < columns; t++)
            row[t] = t + 1 < (int)ex.length ? ex.ids[t] : 0; /* padding: never counted */
    }
    double started = kd_now_seconds();
    kd_gpt2_forward(run->model, run->tokens, rows, columns);
    *teacher_seconds += kd_now_seconds() - started;
    kd_cache_writer_add_teacher_tokens(run->writer, (double)inputs, (double)rows * columns);
    kd_status status = KD_OK;
    for (int r = 0; r < rows && status == KD_OK; r++) {
        kd_example ex = kd_dataset_example(run->data, run->plan->examples[chosen[r]]);
        status = cache_batch_row(run->writer, run->model, &ex, chosen[r], r, columns,
                                 run->logits, teacher_seconds);
    }
    *written += (size_t)rows;
    return status;
}

static kd_status write_cache(cache_run *run)
{
    size_t pending = 0;
    for (size_t i = 0; i < run->plan->example_count; i++)
        pending += (size_t)kd_cache_writer_pending(run->writer, i);
    if (pending < run->plan->example_count && kd_dist_size() == 1)
        fprintf(stderr, "cache: %zu of %zu examples already cached, resuming\n",
                run->plan->example_count - pending, run->plan->example_count);
    kd_progress progress;
    int shown = kd_dist_is_writer(); /* rank 0's progress stands for every rank's */
    kd_progress_start(&progress, "teacher cache", (long)pending);
    double teacher_seconds = 0.0;
    size_t next = 0, written = 0;
    kd_status status = KD_OK;
    while (status == KD_OK && next < run->plan->example_count) {
        status = cache_batch(run, &next, &written, &teacher_seconds);
        if (shown)
            kd_progress_update(&progress, (long)written, "");
    }
    kd_progress_finish(&progress);
    kd_cache_writer_add_teacher_time(run->writer, teacher_seconds);
    return status;
}

/* Every rank's shards are durable (each was written atomically before this
 * rank's verdict); rank 0 alone checks them all and writes the manifest. */
static kd_status finish_cache(cache_run *run, cache_manifest *manifest)
{
    if (!kd_dist_is_writer())
        return KD_OK;
    kd_cache_writer_share(run->writer, 0, 1);
    return kd_cache_writer_finish(run->writer, manifest);
}

typedef struct {
    const teacher_cache_options *options;
    const cache_plan *plan;
    cache_writer **writer;
} writer_open_step;

static kd_status open_writer(void *context)
{
    writer_open_step *step = context;
    const teacher_cache_options *options = step->options;
    if (options->start == RUN_DIR_RESUME && kd_cache_dir_holds_other_plan(options->out_dir, step->plan))
        return kd_fail(KD_ERR_INVALID, "%s holds a cache of other data, another teacher or other "
                       "settings: --resume cannot continue it, --force replaces it",
                       options->out_dir);
    kd_status status = kd_cache_writer_open(options->out_dir, step->plan, step->writer);
    if (status == KD_OK)
        kd_cache_writer_share(*step->writer, kd_dist_rank(), kd_dist_size());
    return status;
}

/* Before the teacher is loaded: its weights, the activations of a (batch,
 * seq_len) forward pass, the batch and one chunk of logits must fit. */
static kd_status check_memory(const char *model_dir, const run_config *config, int batch_size)
{
    char path[KD_PATH_CAPACITY];
    gpt2_config teacher;
    kd_status status = kd_path_join(path, sizeof path, model_dir, KD_MODEL_CONFIG_FILE);
    if (status == KD_OK)
        status = kd_gpt2_config_read(path, &teacher);
    if (status != KD_OK)
        return status;
    double seq_len = (double)config->data.seq_len;
    double buffers = (double)batch_size * seq_len * sizeof(int) +
                     (double)LOGIT_CHUNK_ROWS * teacher.vocab_size * sizeof(float);
    return kd_memory_check(&teacher, batch_size, (int)seq_len, 0, buffers, "the teacher cache");
}

kd_status kd_teacher_cache(const teacher_cache_options *options, cache_manifest *manifest)
{
    run_config config;
    memset(&config, 0, sizeof config);
    if (manifest) /* filled by rank 0 alone */
        memset(manifest, 0, sizeof *manifest);
    gpt2_model model = {0};
    kd_tokenizer *tokenizer = NULL;
    dataset *data = NULL;
    uint32_t *examples = NULL;
    cache_plan plan;
    cache_run run = {0};
    kd_dir_lock out_lock, teacher_lock = {.fd = -1};
    kd_status status = kd_run_dir_claim(options->out_dir, options->start, "a teacher cache",
                                        &out_lock);
    if (status != KD_OK)
        return status;
    status = kd_dir_lock_acquire(options->model_dir, KD_LOCK_SHARED, &teacher_lock);
    if (status == KD_OK)
        status = load_config(options, &config);
    if (status == KD_OK) {
        kd_set_threads(options->threads > 0 ? options->threads : config.train.threads);
        status = kd_run_tokenizer_load(&config, options->model_dir, &tokenizer);
    }
    run.batch_size = options->batch_size > 0 ? options->batch_size : config.train.batch_size;
    if (status == KD_OK && (run.batch_size < 1 || run.batch_size > MAX_BATCH))
        status = kd_fail(KD_ERR_INVALID, "batch size %d is outside [1, %d]", run.batch_size,
                         MAX_BATCH);
    if (status == KD_OK)
        status = check_memory(options->model_dir, &config, run.batch_size);
    if (status == KD_OK)
        status = kd_model_dir_load(options->model_dir, &model);
    if (status == KD_OK && config.data.seq_len > (size_t)model.config.n_positions)
        status = kd_fail(KD_ERR_INVALID, "sequence length %zu exceeds the teacher's n_positions %d",
                         config.data.seq_len, model.config.n_positions);
    if (status == KD_OK)
        status = kd_run_tokenizer_check(tokenizer, model.config.vocab_size, "teacher");
    if (status == KD_OK)
        status = kd_dataset_build(&config.data, tokenizer, &data, NULL);
    if (status == KD_OK)
        status = make_plan(options, &config, tokenizer, &model, data, &plan, &examples);
    if (status == KD_OK)
        status = kd_gpt2_prepare(&model, run.batch_size, (int)config.data.seq_len, 0);
    if (status == KD_OK)
        status = kd_model_use_precision(&model, options->precision, "kd teacher cache");
    if (status == KD_OK)
        snprintf(plan.teacher_precision, sizeof plan.teacher_precision, "%s",
                 kd_precision_name(model.products.precision));
    if (status == KD_OK) {
        run.model = &model;
        run.data = data;
        run.plan = &plan;
        run.tokens = kd_alloc((size_t)run.batch_size * config.data.seq_len, sizeof(int),
                              "teacher cache batch");
        run.logits = kd_alloc((size_t)LOGIT_CHUNK_ROWS * (size_t)model.config.vocab_size,
                              sizeof(float), "teacher cache logits");
        status = run.tokens && run.logits ? KD_OK : KD_ERR_NOMEM;
    }
    /* Rank 0 opens the cache first (removing another plan's manifest);
     * every rank then computes its own shards, the manifest comes last.
     * Every rank reaches each verdict, whatever failed before it, so that
     * the ranks' collectives stay paired. */
    writer_open_step open_step = {options, &plan, &run.writer};
    status = kd_dist_check(status);
    if (status == KD_OK)
        status = kd_dist_writer_first(open_writer, &open_step);
    if (status == KD_OK)
        status = write_cache(&run);
    status = kd_dist_check(status);
    if (status == KD_OK)
        status = finish_cache(&run, manifest);
    status = kd_dist_check(status);
    kd_cache_writer_close(run.writer);
    free(run.tokens);
    free(run.logits);
    free(examples);
    kd_dataset_free(data);
    kd_tokenizer_free(tokenizer);
    kd_gpt2_free(&model);
    kd_run_config_free(&config);
    kd_dir_lock_release(&teacher_lock);
    kd_dir_lock_release(&out_lock);
    return status;
}
