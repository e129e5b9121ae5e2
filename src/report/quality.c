/* Loss, perplexity and next-token top-1 agreement on the validation split.
 * The teacher's pass records its argmax at every counted position, and so
 * does the pass of every fp32 model that has quantized rows. A student's
 * f32 pass scores itself twice through the fused head: once against the
 * reference tokens (loss, accuracy) and once against the teacher's argmax,
 * whose "accuracy" is exactly the agreement. A quantized row runs each
 * sequence once, up to its last counted position, and compares the argmax
 * of each of its logit rows with the reference, the teacher's and its fp32
 * model's. Batches come in the same order every time (no shuffle), so
 * positions line up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { LOGIT_ROWS = 32 };

kd_status kd_validation_open(report_runner *runner, const char *path, const validation_set *set)
{
    int seq = (int)set->seq_len;
    if (set->max_prompt_tokens > seq)
        seq = set->max_prompt_tokens;
    return kd_runner_open(runner, path, set->batch_size, seq,
                          set->max_prompt_tokens + set->answer_tokens);
}

/* The first index holding the maximum, as the head's own argmax picks. */
static int first_argmax(const float *logits, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best])
            best = v;
    return best;
}

typedef struct {
    const validation_set *set;
    const validation_targets *targets;
    batcher *batches;
    float *logits;      /* f32: (LOGIT_ROWS, V); quantized: (seq_len, V) */
    int *replaced;      /* f32: (B, T), the batch's targets with the teacher's argmax */
    size_t cursor;      /* counted positions seen so far */
    gpt2_eval_sums sums, teacher, fp32;
    /* Each batch's loss and counted tokens, summed as the standard error of
     * their weighted mean needs: sum of loss^2, loss * count, count^2. */
    double batch_loss_squares, batch_loss_counts, batch_count_squares;
    int batches_seen;
} validation_pass;

static void add_batch(validation_pass *pass, const gpt2_eval_sums *before)
{
    double loss = pass->sums.loss_sum - before->loss_sum;
    double count = pass->sums.counted - before->counted;
    pass->batch_loss_squares += loss * loss;
    pass->batch_loss_counts += loss * count;
    pass->batch_count_squares += count * count;
    pass->batches_seen++;
}

/* The standard error of the token-weighted mean loss L over n batches:
 * sqrt(n / (n - 1) * sum (loss_b - L count_b)^2) / sum count_b. It is the
 * run-to-run noise of an evaluation on another sample of the same size. */
static double loss_standard_error(const validation_pass *pass)
{
    const gpt2_eval_sums *sums = &pass->sums;
    if (pass->batches_seen < 2)
        return NAN;
    double mean = sums->loss_sum / sums->counted, n = pass->batches_seen;
    double spread = pass->batch_loss_squares - 2 * mean * pass->batch_loss_counts +
                    mean * mean * pass->batch_count_squares;
    return sqrt(fmax(spread, 0.0) * n / (n - 1)) / sums->counted;
}

/* The recorded argmax at the pass's current position. */
static kd_status recorded(const validation_pass *pass, const argmax_record *record, int *id)
{
    if (pass->cursor >= record->count)
        return kd_fail(KD_ERR_INVALID, "more counted positions than the recorded pass saw");
    *id = record->ids[pass->cursor];
    return KD_OK;
}

/* ---- the f32 engine: whole batches through the fused head ----------------- */

/* Records the argmax of every counted position of the last forward pass,
 * computing logits for runs of up to LOGIT_ROWS consecutive counted rows. */
static kd_status record_argmax(gpt2_model *model, const kd_batch *batch, validation_pass *pass)
{
    int N = (int)(batch->rows * batch->columns), V = model->config.vocab_size;
    kd_status status = KD_OK;
    for (int begin = 0; begin < N && status == KD_OK;) {
        if (batch->weights[begin] == 0.0f) {
            begin++;
            continue;
        }
        int rows = 1;
        while (begin + rows < N && rows < LOGIT_ROWS && batch->weights[begin + rows] != 0.0f)
            rows++;
        kd_gpt2_head_logits(model, begin, rows, pass->logits);
        for (int r = 0; r < rows && status == KD_OK; r++)
            status = kd_token_buffer_push(pass->targets->record,
                                          first_argmax(pass->logits + (size_t)r * V, V));
        begin += rows;
    }
    return status;
}

/* The batch's targets with every counted one replaced by the teacher's
 * argmax for that position. */
static kd_status teacher_targets(const kd_batch *batch, validation_pass *pass)
{
    size_t N = batch->rows * batch->columns;
    kd_status status = KD_OK;
    for (size_t n = 0; n < N && status == KD_OK; n++) {
        pass->replaced[n] = batch->targets[n];
        if (batch->weights[n] != 0.0f && (status = recorded(pass, pass->targets->teacher,
                                                            &pass->replaced[n])) == KD_OK)
            pass->cursor++;
    }
    return status;
}

static kd_status f32_batch(gpt2_model *model, const kd_batch *batch, validation_pass *pass)
{
    kd_gpt2_forward(model, batch->tokens, (int)batch->rows, (int)batch->columns);
    kd_gpt2_head_evaluate(model, batch->targets, batch->weights, &pass->sums);
    kd_status status = KD_OK;
    if (pass->targets->record)
        status = record_argmax(model, batch, pass);
    if (status == KD_OK && pass->targets->teacher &&
        (status = teacher_targets(batch, pass)) == KD_OK)
        kd_gpt2_head_evaluate(model, pass->replaced, batch->weights, &pass->teacher);
    return status;
}

/* ---- the quantized engine: one sequence at a time ------------------------- */

static void count_hit(gpt2_eval_sums *sums, float weight, int hit)
{
    sums->counted += weight;
    sums->correct += hit ? weight : 0.0f;
}

static kd_status score_position(const float *logits, int V, int target, float weight,
                                validation_pass *pass)
{
    int argmax = first_argmax(logits, V), id = 0;
    pass->sums.loss_sum += weight * ((double)kd_logits_log_sum_exp(logits, V) - logits[target]);
    count_hit(&pass->sums, weight, argmax == target);
    kd_status status = KD_OK;
    if (pass->targets->teacher && (status = recorded(pass, pass->targets->teacher, &id)) == KD_OK)
        count_hit(&pass->teacher, weight, argmax == id);
    if (status == KD_OK && pass->targets->fp32 &&
        (status = recorded(pass, pass->targets->fp32, &id)) == KD_OK)
        count_hit(&pass->fp32, weight, argmax == id);
    if (status == KD_OK && pass->targets->record)
        status = kd_token_buffer_push(pass->targets->record, argmax);
    pass->cursor++;
    return status;
}

static kd_status quantized_batch(report_runner *runner, const kd_batch *batch,
                                 validation_pass *pass)
{
    int V = runner->weights.q.config.vocab_size;
    kd_status status = KD_OK;
    for (size_t r = 0; r < batch->rows && status == KD_OK; r++) {
        const int *tokens = batch->tokens + r * batch->columns;
        const int *targets = batch->targets + r * batch->columns;
        const float *weights = batch->weights + r * batch->columns;
        /* Positions after the last counted one cannot change any counted loss. */
        int end = (int)batch->columns;
        while (end > 0 && weights[end - 1] == 0.0f)
            end--;
        if (end == 0)
            continue;
        status = kd_gpt2_qforward_logits(&runner->weights.q, &runner->state, tokens, end,
                                         pass->logits);
        for (int t = 0; t < end && status == KD_OK; t++)
            if (weights[t] != 0.0f)
                status = score_position(pass->logits + (size_t)t * V, V, targets[t],
                                        weights[t], pass);
    }
    return status;
}

/* ---- the pass -------------------------------------------------------------- */

static kd_status run_pass(report_runner *runner, validation_pass *pass)
{
    size_t count = kd_batcher_batches_per_epoch(pass->batches);
    if (pass->set->max_batches > 0 && (size_t)pass->set->max_batches < count)
        count = (size_t)pass->set->max_batches;
    kd_status status = KD_OK;
    for (size_t i = 0; i < count && status == KD_OK; i++) {
        const kd_batch *batch = kd_batcher_next(pass->batches);
        if (batch->rows == 0)
            continue;
        gpt2_eval_sums before = pass->sums;
        status = runner->quantized ? quantized_batch(runner, batch, pass)
                                   : f32_batch(&runner->weights.model, batch, pass);
        add_batch(pass, &before);
    }
    return status;
}

/* Every recorded sequence must have been read to its end. */
static kd_status check_lengths(const validation_pass *pass)
{
    const validation_targets *t = pass->targets;
    if ((t->teacher && pass->cursor != t->teacher->count) ||
        (t->fp32 && pass->cursor != t->fp32->count))
        return kd_fail(KD_ERR_INVALID, "fewer counted positions than the recorded pass saw");
    return pass->sums.counted > 0 ? KD_OK
                                  : kd_fail(KD_ERR_INVALID, "validation: no token carries loss");
}

static kd_status pass_buffers(const report_runner *runner, validation_pass *pass,
                              const batcher_options *options)
{
    size_t V = (size_t)kd_runner_config(runner)->vocab_size;
    size_t rows = runner->quantized ? options->seq_len : LOGIT_ROWS;
    if (runner->quantized || pass->targets->record)
        if (!(pass->logits = kd_alloc(rows * V, sizeof *pass->logits, "validation logits")))
            return KD_ERR_NOMEM;
    if (!runner->quantized && pass->targets->teacher &&
        !(pass->replaced = kd_alloc(options->batch_size * options->seq_len,
                                    sizeof *pass->replaced, "agreement targets")))
        return KD_ERR_NOMEM;
    return KD_OK;
}

static void fill_quality(const validation_pass *pass, model_quality *quality)
{
    const validation_targets *t = pass->targets;
    quality->val_loss = pass->sums.loss_sum / pass->sums.counted;
    quality->val_loss_stderr = loss_standard_error(pass);
    quality->val_batches = pass->batches_seen;
    quality->val_ppl = exp(quality->val_loss);
    quality->val_accuracy = pass->sums.correct / pass->sums.counted;
    quality->val_tokens = pass->sums.counted;
    quality->top1_agreement = t->teacher ? pass->teacher.correct / pass->teacher.counted : 1.0;
    quality->fp32_agreement = t->fp32 ? pass->fp32.correct / pass->fp32.counted : NAN;
}

kd_status kd_measure_validation(report_runner *runner, const validation_set *set,
                                const validation_targets *targets, model_quality *quality)
{
    batcher_options options;
    kd_eval_batcher_options((size_t)set->batch_size, set->seq_len, set->group_by_length,
                            set->max_batches, &options);
    validation_pass pass = {.set = set, .targets = targets};
    if (targets->record)
        kd_token_buffer_clear(targets->record);
    kd_status status = kd_batcher_create(set->data, DATASET_VALIDATION, &options, &pass.batches);
    if (status == KD_OK)
        status = pass_buffers(runner, &pass, &options);
    if (status == KD_OK)
        status = run_pass(runner, &pass);
    if (status == KD_OK)
        status = check_lengths(&pass);
    if (status == KD_OK)
        fill_quality(&pass, quality);
    kd_batcher_free(pass.batches);
    free(pass.logits);
    free(pass.replaced);
    return status;
}
