/* The training run: batches in, steps, evaluations, the best model and the
 * checkpoint out. kd_train_run() reads top to bottom; the helpers above it each
 * do one part. Everything a step needs is allocated in run_open. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/dist.h"
#include "kd/hf.h"
#include "kd/peft.h"
#include "train_internal.h"

/* The sums of a data-parallel step: kd dist's, over every rank, after the
 * backward pass. */
static const gpt2_reducer rank_sums = {.sum_doubles = kd_dist_sum_doubles,
                                       .sum_floats = kd_dist_sum_floats};
/* The same sums, each layer's started while the pass computes the next. */
static const gpt2_reducer overlapped_sums = {
    .sum_doubles = kd_dist_sum_doubles, .sum_floats = kd_dist_sum_floats,
    .bucket_start = kd_dist_bucket_start, .buckets_progress = kd_dist_buckets_progress,
    .buckets_finish = kd_dist_buckets_finish};
/* ZeRO-1's: each rank updates the parameters of its slice of the moments. */
static const gpt2_reducer sharded_sums = {
    .sum_doubles = kd_dist_sum_doubles, .sum_floats = kd_dist_sum_floats,
    .reduce_scatter_floats = kd_dist_reduce_scatter_floats,
    .gather_floats = kd_dist_gather_floats};

/* Training tokens fed since `start_s`, for a rate. Kept per process: a
 * resumed run's first rate covers only its own steps. */
typedef struct {
    double tokens;
    double start_s;
} rate_window;

typedef struct {
    gpt2_model *model;
    const train_settings *settings;
    const train_run_options *options;
    batcher *train_batches;
    batcher *val_batches;
    int *tokens;          /* (grad_accum, B, T) copies of the step's micro-batches */
    int *targets;
    float *weights;
    size_t *examples;     /* (grad_accum, B) the dataset example of each row */
    gpt2_batch *micro;
    train_state state;
    int steps_per_epoch;
    char metrics_path[KD_PATH_CAPACITY];
    char best_dir[KD_PATH_CAPACITY];
    char last_dir[KD_PATH_CAPACITY];
    char adapter_dir[KD_PATH_CAPACITY]; /* a LoRA run's best adapter */
    char samples_path[KD_PATH_CAPACITY];
    double session_start_s;    /* when this process started training */
    rate_window eval_rate;     /* since the last evaluation */
    rate_window log_rate;      /* since the last training row */
    train_step_report last_step;
    float last_lr;
    kd_progress progress;      /* cleared before any other line prints */
    int writer;                /* this rank writes the run directory and prints */
    double step_seconds;       /* in this process's optimizer steps */
    int steps_run;
} run_context;

static kd_status open_batchers(run_context *run, const dataset *data)
{
    const train_settings *s = run->settings;
    int ranks = kd_dist_size();
    if (s->batch_size % ranks != 0)
        return kd_fail(KD_ERR_INVALID, "%d ranks cannot share batches of %d sequences: "
                       "train.batch_size must be a multiple of the number of ranks", ranks,
                       s->batch_size);
    batcher_options options;
    kd_train_batcher_options(s, &options);
    /* Each rank takes every world_size-th example of the global batch of
     * batch_size examples, which is the single process's batch. */
    options.world_size = ranks;
    options.rank = kd_dist_rank();
    options.batch_size /= (size_t)options.world_size;
    kd_status status = kd_batcher_create(data, DATASET_TRAIN, &options, &run->train_batches);
    if (status != KD_OK)
        return kd_fail_context(status, "training split");
    /* Every rank evaluates the whole validation batches, as one process
     * would: the same weights give every rank the same result. */
    kd_eval_batcher_options((size_t)s->batch_size, options.seq_len, s->group_by_length,
                            s->eval_batches, &options);
    status = kd_batcher_create(data, DATASET_VALIDATION, &options, &run->val_batches);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "validation split");
}

static kd_status allocate_micro_batches(run_context *run)
{
    const train_settings *s = run->settings;
    size_t cells = (size_t)s->grad_accum * (size_t)s->batch_size * (size_t)s->seq_len;
    run->tokens = kd_alloc(cells, sizeof(int), "micro-batch tokens");
    run->targets = kd_alloc(cells, sizeof(int), "micro-batch targets");
    run->weights = kd_alloc(cells, sizeof(float), "micro-batch weights");
    run->examples = kd_alloc((size_t)s->grad_accum * (size_t)s->batch_size, sizeof(size_t),
                             "micro-batch examples");
    run->micro = kd_alloc((size_t)s->grad_accum, sizeof(gpt2_batch), "micro-batches");
    return run->tokens && run->targets && run->weights && run->examples && run->micro
               ? KD_OK
               : KD_ERR_NOMEM;
}

static kd_status write_resolved_config(const run_context *run)
{
    if (!run->writer)
        return KD_OK;
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_path_join(path, KD_PATH_CAPACITY, run->options->out_dir, KD_RUN_CONFIG_FILE);
    if (status != KD_OK || !run->options->resolved_config)
        return status;
    char *text = cJSON_Print(run->options->resolved_config);
    if (!text)
        return kd_fail(KD_ERR_NOMEM, "cannot format %s", path);
    status = kd_atomic_write_file(path, text, strlen(text));
    free(text);
    return status;
}

static kd_status start_or_resume(run_context *run)
{
    train_state *state = &run->state;
    const train_settings *s = run->settings;
    int batches = (int)kd_batcher_batches_per_epoch(run->train_batches);
    run->steps_per_epoch = batches / s->grad_accum > 0 ? batches / s->grad_accum : 1;
    int total = s->max_steps > 0 ? s->max_steps : s->epochs * run->steps_per_epoch;
    memset(state, 0, sizeof *state);
    state->best_val_loss = INFINITY;
    state->total_steps = total;
    state->world_size = kd_dist_size();
    if (!run->options->resume) {
        if (run->writer)
            remove(run->metrics_path); /* a fresh run starts a fresh log */
        return KD_OK;
    }
    kd_status status = kd_checkpoint_load(run->last_dir, run->model, state);
    if (status != KD_OK)
        return status;
    if (state->total_steps != total)
        return kd_fail(KD_ERR_INVALID, "cannot resume: the checkpoint's run has %d steps, these "
                       "settings give %d", state->total_steps, total);
    if (state->world_size != kd_dist_size() && run->writer)
        printf("resuming a run of %d rank(s) with %d: the same global batch and data order "
               "continue (sums are added in another order)\n", state->world_size, kd_dist_size());
    state->world_size = kd_dist_size();
    status = kd_batcher_seek(run->train_batches, state->data);
    if (status == KD_OK && run->writer)
        status = kd_metrics_truncate_after(run->metrics_path, state->step);
    return status;
}

/* ZeRO-1: after the checkpoint's moments, if any, were loaded whole, this
 * rank keeps its slice of them. The parameters must be the packed
 * gradients' layout, so adapters (which freeze the base) are refused. */
static kd_status shard_moments(run_context *run)
{
    gpt2_model *model = run->model;
    if (model->lora)
        return kd_fail(KD_ERR_UNSUPPORTED, "--zero 1 shards full training only, not LoRA "
                       "adapters");
    size_t begin, end;
    kd_dist_slice(model->num_trainable, &begin, &end);
    return kd_gpt2_shard_moments(model, begin, end);
}

static kd_status run_open(run_context *run, const dataset *data)
{
    const train_settings *s = run->settings;
    const char *out = run->options->out_dir;
    kd_status status;
    if ((run->writer && (status = kd_make_directories(out)) != KD_OK) ||
        (status = kd_path_join(run->metrics_path, KD_PATH_CAPACITY, out, KD_RUN_METRICS_FILE)) != KD_OK ||
        (status = kd_path_join(run->best_dir, KD_PATH_CAPACITY, out, KD_RUN_BEST_DIR)) != KD_OK ||
        (status = kd_path_join(run->last_dir, KD_PATH_CAPACITY, out, KD_RUN_LAST_DIR)) != KD_OK ||
        (status = kd_path_join(run->adapter_dir, KD_PATH_CAPACITY, out, KD_RUN_ADAPTER_DIR)) != KD_OK ||
        (status = kd_path_join(run->samples_path, KD_PATH_CAPACITY, out, KD_RUN_SAMPLES_FILE)) != KD_OK ||
        (status = kd_gpt2_prepare(run->model, s->batch_size, s->seq_len, 1)) != KD_OK ||
        (status = kd_model_use_precision(run->model, s->precision,
                                         run->options->model_name)) != KD_OK ||
        (status = open_batchers(run, data)) != KD_OK ||
        (status = allocate_micro_batches(run)) != KD_OK ||
        (status = start_or_resume(run)) != KD_OK ||
        (kd_dist_size() > 1 &&
         (status = kd_run_ranks_agree(run->model, data, s, run->options)) != KD_OK) ||
        (s->zero_stage && (status = shard_moments(run)) != KD_OK))
        return status;
    run->session_start_s = kd_now_seconds();
    run->eval_rate = run->log_rate = (rate_window){0.0, run->session_start_s};
    return write_resolved_config(run);
}

static void run_close(run_context *run)
{
    kd_batcher_free(run->train_batches);
    kd_batcher_free(run->val_batches);
    free(run->tokens);
    free(run->targets);
    free(run->weights);
    free(run->examples);
    free(run->micro);
}

/* The real input tokens and the cells (padding included) of a step. */
static void add_batch_to_window(train_window *window, double inputs, double cells)
{
    window->tokens += inputs;
    window->cells += cells;
}

/* Counts the step's real input tokens and cells, summed over the ranks. */
static kd_status count_step_tokens(run_context *run, double inputs, double cells)
{
    double sums[2] = {inputs, cells};
    kd_status status = kd_dist_sum_doubles(sums, 2);
    run->eval_rate.tokens += sums[0];
    run->log_rate.tokens += sums[0];
    run->state.tokens_seen += sums[0];
    add_batch_to_window(&run->state.eval_window, sums[0], sums[1]);
    add_batch_to_window(&run->state.log_window, sums[0], sums[1]);
    run->state.epoch_tokens += sums[0];
    run->state.epoch_cells += sums[1];
    return status;
}

/* Copies this rank's share of the step's micro-batches out of the batcher
 * (whose batch memory is reused by its next call) into run->micro and sets
 * *used to how many carry rows. */
static kd_status fill_step_batches(run_context *run, int *used_out)
{
    const train_settings *s = run->settings;
    size_t stride = (size_t)s->batch_size * (size_t)s->seq_len;
    int used = 0;
    double inputs = 0.0, step_cells = 0.0;
    for (int i = 0; i < s->grad_accum; i++) {
        const kd_batch *batch = kd_batcher_next(run->train_batches);
        size_t cells = batch->rows * batch->columns;
        if (cells == 0)
            continue;
        size_t at = (size_t)used * stride;
        memcpy(run->tokens + at, batch->tokens, cells * sizeof(int));
        memcpy(run->targets + at, batch->targets, cells * sizeof(int));
        memcpy(run->weights + at, batch->weights, cells * sizeof(float));
        memcpy(run->examples + (size_t)used * (size_t)s->batch_size, batch->examples,
               batch->rows * sizeof(size_t));
        run->micro[used] = (gpt2_batch){run->tokens + at, run->targets + at, run->weights + at,
                                        (int)batch->rows, (int)batch->columns};
        inputs += (double)batch->inputs;
        step_cells += (double)cells;
        used++;
    }
    run->state.data = kd_batcher_tell(run->train_batches);
    *used_out = used;
    return count_step_tokens(run, inputs, step_cells);
}

/* A step whose loss or gradient is NaN or Inf; kd_gpt2_train_step left the
 * parameters and AdamW moments untouched. train.nonfinite = "skip" counts
 * the step as done without its update, unless too many came in a row;
 * otherwise the run stops, and last/ and model/ keep what the last good
 * evaluation saved. */
static kd_status skip_or_stop(run_context *run, int step)
{
    const train_settings *s = run->settings;
    train_state *state = &run->state;
    char cause[512];
    snprintf(cause, sizeof cause, "%s", kd_last_error());
    const char *kept = kd_checkpoint_exists(run->last_dir) ? " keeps the last good checkpoint"
                                                         : ": no checkpoint yet";
    if (s->nonfinite == NONFINITE_STOP)
        return kd_fail(KD_ERR_NUMERIC, "%s; stopping (%s%s; train.nonfinite = \"skip\" drops "
                       "such steps instead)", cause, run->last_dir, kept);
    if (state->consecutive_skips + 1 > s->nonfinite_max_skips)
        return kd_fail(KD_ERR_NUMERIC, "%s; stopping after %d such steps in a row "
                       "(train.nonfinite_max_skips)", cause, state->consecutive_skips + 1);
    state->consecutive_skips++;
    state->skipped_steps++;
    state->step = step;
    kd_progress_clear(&run->progress);
    if (run->writer)
        fprintf(stderr, "%s; step skipped (%d so far)\n", cause, state->skipped_steps);
    return KD_OK;
}

static void add_to_window(train_window *window, const train_step_report *report)
{
    window->steps += 1;
    window->loss_sum += report->step.loss;
    window->ce_sum += report->cross_entropy;
    window->divergence_sum += report->divergence;
}

static const gpt2_reducer *step_reducer(const train_settings *s)
{
    if (s->zero_stage)
        return &sharded_sums;
    if (kd_dist_size() == 1)
        return NULL;
    return s->overlap_sums ? &overlapped_sums : &rank_sums;
}

static kd_status train_one_step(run_context *run, int step)
{
    const train_settings *s = run->settings;
    int used;
    kd_status status = fill_step_batches(run, &used);
    if (status != KD_OK)
        return status;
    gpt2_step_config config = {
        .adamw = {s->learning_rate, s->beta1, s->beta2, s->eps, s->weight_decay, s->decay_all},
        .learning_rate = kd_lr_at_step(s->schedule, s->learning_rate, s->min_lr_ratio,
                                       s->warmup_steps, run->state.total_steps, step - 1),
        .grad_clip = s->grad_clip,
        .reducer = step_reducer(s),
        .bucket_floats = (size_t)s->bucket_mb * 1000000 / sizeof(float),
    };
    double start = kd_now_seconds();
    const train_objective *objective = run->options->objective;
    train_step_report *report = &run->last_step;
    memset(report, 0, sizeof *report);
    status =
        objective ? objective->step(objective->context, run->model, run->micro, run->examples,
                                    used, &config, step, report)
                  : kd_gpt2_train_step(run->model, run->micro, used, &config, step, &report->step);
    if (status == KD_ERR_NUMERIC)
        return skip_or_stop(run, step);
    if (status != KD_OK)
        return status;
    if (!objective) /* hard labels: the loss is the cross-entropy */
        report->cross_entropy = report->step.loss;
    run->state.consecutive_skips = 0;
    run->last_lr = config.learning_rate;
    add_to_window(&run->state.eval_window, report);
    add_to_window(&run->state.log_window, report);
    run->state.epoch_loss_sum += report->step.loss;
    run->state.epoch_loss_count += 1;
    run->state.epoch_elapsed_s += kd_now_seconds() - start;
    run->step_seconds += kd_now_seconds() - start;
    run->steps_run++;
    run->state.step = step;
    return KD_OK;
}

static double elapsed(const run_context *run)
{
    return run->state.elapsed_s + (kd_now_seconds() - run->session_start_s);
}

/* A row of metrics.jsonl from the means over `window` and the rate since
 * `rate` started; both start again. */
static metrics_row close_window(run_context *run, train_window *window, rate_window *rate)
{
    double now = kd_now_seconds();
    const train_state *state = &run->state;
    double steps = window->steps > 0 ? window->steps : 1;
    metrics_row row = {
        .step = state->step,
        .epoch = (double)state->step / run->steps_per_epoch,
        .tokens = state->tokens_seen,
        .train_loss = window->loss_sum / steps,
        .train_cross_entropy = window->ce_sum / steps,
        .has_parts = run->last_step.has_parts,
        .train_divergence = window->divergence_sum / steps,
        .learning_rate = run->last_lr,
        .grad_norm = run->last_step.step.grad_norm,
        .tokens_per_s = rate->tokens / (now - rate->start_s),
        .padding_ratio = window->tokens > 0 ? window->cells / window->tokens : 0.0,
        .elapsed_s = elapsed(run),
        .skipped_steps = state->skipped_steps,
    };
    *window = (train_window){0};
    *rate = (rate_window){0.0, now};
    return row;
}

static kd_status log_training(run_context *run)
{
    metrics_row row = close_window(run, &run->state.log_window, &run->log_rate);
    return run->writer ? kd_metrics_append(run->metrics_path, &row) : KD_OK;
}

static kd_status evaluate_and_log(run_context *run, eval_result *val)
{
    const train_settings *s = run->settings;
    kd_status status = kd_evaluate_model(run->model, run->val_batches, s->eval_batches, val);
    if (status != KD_OK)
        return status;
    metrics_row row = close_window(run, &run->state.eval_window, &run->eval_rate);
    row.is_evaluation = 1;
    row.val = *val;
    return run->writer ? kd_metrics_append(run->metrics_path, &row) : KD_OK;
}

/* The best model: a model directory; for a LoRA run the base merged with
 * the adapters, which are also kept in PEFT's layout in out/adapter. */
static kd_status save_best(run_context *run)
{
    const gpt2_model *model = run->model;
    if (!run->writer)
        return KD_OK;
    kd_status status = model->lora ? kd_peft_adapter_save(run->adapter_dir, model,
                                                          run->options->base_model)
                                   : KD_OK;
    return status == KD_OK
               ? kd_model_dir_save_merged(run->best_dir, model, run->options->tokenizer_dir)
               : status;
}

/* Keeps the best model by validation loss and counts evaluations without
 * improvement for early stopping. */
static kd_status keep_best(run_context *run, const eval_result *val)
{
    train_state *state = &run->state;
    if (val->loss < state->best_val_loss) {
        state->best_val_loss = val->loss;
        state->best_step = state->step;
        state->evals_without_improvement = 0;
        return save_best(run);
    }
    state->evals_without_improvement++;
    return KD_OK;
}

static kd_status save_checkpoint(run_context *run)
{
    if (!run->writer)
        return KD_OK;
    train_state saved = run->state;
    saved.elapsed_s = elapsed(run);
    return kd_checkpoint_save(run->last_dir, run->model, &saved, run->options->tokenizer_dir);
}

/* ZeRO-1: the checkpoint holds every rank's moments, gathered whole for
 * rank 0 to write, so that any number of ranks, one process included, can
 * resume it. */
static kd_status save_sharded_checkpoint(run_context *run)
{
    gpt2_model *model = run->model;
    size_t n = model->num_trainable, begin = model->moments_begin;
    size_t count = model->moments_end - begin;
    float *m = kd_alloc(n, sizeof(float), "AdamW first moment (gathered)");
    float *v = kd_alloc(n, sizeof(float), "AdamW second moment (gathered)");
    kd_status status = m && v ? KD_OK : KD_ERR_NOMEM;
    if (status == KD_OK) {
        memcpy(m + begin, model->adam_m, count * sizeof(float));
        memcpy(v + begin, model->adam_v, count * sizeof(float));
        status = kd_dist_gather_floats(m, n);
    }
    if (status == KD_OK)
        status = kd_dist_gather_floats(v, n);
    if (status == KD_OK) {
        gpt2_model whole = *model;
        whole.adam_m = m;
        whole.adam_v = v;
        whole.moments_begin = 0;
        whole.moments_end = n;
        run->model = &whole;
        status = save_checkpoint(run);
        run->model = model;
    }
    free(m);
    free(v);
    return status;
}

static kd_status checkpoint(run_context *run)
{
    return run->settings->zero_stage ? save_sharded_checkpoint(run) : save_checkpoint(run);
}

static void end_epoch(run_context *run, int epoch, double val_loss)
{
    train_state *state = &run->state;
    double mean = state->epoch_loss_sum / (state->epoch_loss_count > 0 ? state->epoch_loss_count : 1);
    kd_progress_clear(&run->progress);
    if (run->writer)
        kd_epoch_table_row(stdout, epoch, run->options->model_name, run->settings->batch_size,
                       kd_threads(), mean, val_loss, state->epoch_elapsed_s, state->epoch_tokens,
                       state->epoch_cells);
    state->epoch_loss_sum = state->epoch_loss_count = state->epoch_elapsed_s = 0.0;
    state->epoch_tokens = state->epoch_cells = 0.0;
}

static void show_progress(run_context *run)
{
    if (!run->writer)
        return;
    char status[160];
    double seconds = kd_now_seconds() - run->eval_rate.start_s;
    snprintf(status, sizeof status, "loss %.4f | lr %.2e | %.0f tok/s", run->last_step.step.loss,
             (double)run->last_lr, seconds > 0 ? run->eval_rate.tokens / seconds : 0.0);
    kd_progress_update(&run->progress, run->state.step, status);
}

static kd_status write_samples(run_context *run, const char *heading, int append)
{
    const train_run_options *o = run->options;
    if (!run->writer || !o->tokenizer || o->prompt_count == 0)
        return KD_OK;
    return kd_samples_write(run->samples_path, heading, run->model, o->tokenizer, o->template,
                            o->prompts, o->prompt_count, append);
}

/* Answers the prompts with the best model's weights (loaded over the
 * trained ones, which the checkpoint already holds): a LoRA run's best
 * adapter over the frozen base. */
static kd_status write_final_samples(run_context *run)
{
    char path[KD_PATH_CAPACITY], heading[128];
    if (!run->writer)
        return KD_OK;
    kd_status status = kd_path_join(path, sizeof path, run->best_dir, KD_MODEL_WEIGHTS_FILE);
    if (status == KD_OK && run->state.best_step > 0)
        status = run->model->lora ? kd_peft_adapter_read_into(run->adapter_dir, run->model)
                                  : kd_model_weights_read(path, run->model);
    snprintf(heading, sizeof heading, "After training (best model: step %d, validation loss %.4f)",
             run->state.best_step, run->state.best_val_loss);
    return status == KD_OK ? write_samples(run, heading, 1) : status;
}

/* What the gradient sums of a data-parallel run cost rank 0 per step. */
static void report_traffic(const run_context *run)
{
    double seconds, bytes;
    kd_dist_traffic(&seconds, &bytes);
    if (kd_dist_size() == 1 || !run->writer || run->steps_run == 0)
        return;
    /* The time inside the sums' MPI calls: what overlap with the backward
     * pass did not hide, waiting for slower ranks included. */
    fprintf(stderr, "data-parallel: %d ranks; per step %.2f MB sent by rank 0, %.1f ms in "
            "gradient sums not hidden by computation (%.1f%% of the step)\n",
            kd_dist_size(), bytes / run->steps_run / 1e6, 1e3 * seconds / run->steps_run,
            run->step_seconds > 0 ? 100.0 * seconds / run->step_seconds : 0.0);
}

kd_status kd_train_run(gpt2_model *model, const dataset *data, const train_settings *settings,
                       const train_run_options *options, train_summary *summary)
{
    run_context run = {.model = model, .settings = settings, .options = options,
                       .writer = kd_dist_is_writer()};
    kd_status status = run_open(&run, data);
    train_state *state = &run.state;
    kd_progress_start(&run.progress, options->model_name, state->total_steps);
    if (status == KD_OK && state->step == 0)
        status = write_samples(&run, "Before training", 0);
    if (status == KD_OK && state->step == 0 && run.writer)
        kd_epoch_table_header(stdout);
    memset(summary, 0, sizeof *summary);
    while (status == KD_OK && state->step < state->total_steps) {
        int step = state->step + 1;
        if ((status = train_one_step(&run, step)) != KD_OK)
            break;
        show_progress(&run);
        int epoch_end = step % run.steps_per_epoch == 0 || step == state->total_steps;
        int interval = settings->eval_interval > 0 && step % settings->eval_interval == 0;
        /* Every evaluation closes a training row too, so an early stop
         * leaves no step unlogged. */
        if ((epoch_end || interval || step % settings->log_every == 0) &&
            (status = log_training(&run)) != KD_OK)
            break;
        if (epoch_end || interval) {
            eval_result val;
            if ((status = evaluate_and_log(&run, &val)) != KD_OK ||
                (status = keep_best(&run, &val)) != KD_OK)
                break;
            if (epoch_end)
                end_epoch(&run, (step - 1) / run.steps_per_epoch + 1, val.loss);
            if ((status = checkpoint(&run)) != KD_OK)
                break;
            if (settings->patience > 0 && state->evals_without_improvement >= settings->patience) {
                summary->stopped_early = 1;
                break;
            }
        }
        if (options->stop_after > 0 && step >= options->stop_after && step < state->total_steps) {
            status = checkpoint(&run);
            summary->interrupted = 1;
            break;
        }
    }
    kd_progress_finish(&run.progress);
    report_traffic(&run);
    if (status == KD_OK && !summary->interrupted)
        status = write_final_samples(&run);
    summary->steps = state->step;
    summary->total_steps = state->total_steps;
    summary->best_val_loss = state->best_val_loss;
    summary->best_step = state->best_step;
    summary->elapsed_s = elapsed(&run);
    run_close(&run);
    return status;
}
