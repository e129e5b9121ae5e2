/* Loss, perplexity and next-token top-1 agreement with the teacher on the
 * validation split. The teacher's pass records its argmax at every counted
 * position; a student's pass scores itself twice through the fused head:
 * once against the reference tokens (loss, accuracy) and once against the
 * teacher's argmax, whose "accuracy" is exactly the agreement. Batches come
 * in the same order every time (no shuffle), so positions line up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { LOGIT_ROWS = 32 };

kd_status kd_validation_prepare(gpt2_model *model, const validation_set *set)
{
    int seq = (int)set->seq_len;
    if (set->max_prompt_tokens > seq)
        seq = set->max_prompt_tokens;
    return kd_gpt2_prepare(model, set->batch_size, seq, 0);
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

static kd_status grow_argmax(validation_set *set, size_t needed, size_t *capacity)
{
    if (needed <= *capacity)
        return KD_OK;
    size_t grown_capacity = 2 * needed;
    int *grown = realloc(set->teacher_argmax, grown_capacity * sizeof *grown);
    if (!grown)
        return kd_fail(KD_ERR_NOMEM, "no memory for %zu teacher predictions", grown_capacity);
    set->teacher_argmax = grown;
    *capacity = grown_capacity;
    return KD_OK;
}

/* Appends the argmax of every counted position of the last forward pass,
 * computing logits for runs of up to LOGIT_ROWS consecutive counted rows. */
static kd_status record_argmax(gpt2_model *model, const kd_batch *batch, float *logits,
                               validation_set *set, size_t *capacity)
{
    int N = (int)(batch->rows * batch->columns), V = model->config.vocab_size;
    kd_status status = grow_argmax(set, set->teacher_argmax_count + (size_t)N, capacity);
    for (int begin = 0; begin < N && status == KD_OK;) {
        if (batch->weights[begin] == 0.0f) {
            begin++;
            continue;
        }
        int rows = 1;
        while (begin + rows < N && rows < LOGIT_ROWS && batch->weights[begin + rows] != 0.0f)
            rows++;
        kd_gpt2_head_logits(model, begin, rows, logits);
        for (int r = 0; r < rows; r++)
            set->teacher_argmax[set->teacher_argmax_count++] =
                first_argmax(logits + (size_t)r * V, V);
        begin += rows;
    }
    return status;
}

/* The batch's targets with every counted one replaced by the teacher's
 * argmax for that position. */
static kd_status teacher_targets(const kd_batch *batch, const validation_set *set,
                                 size_t *cursor, int *targets)
{
    size_t N = batch->rows * batch->columns;
    for (size_t n = 0; n < N; n++) {
        targets[n] = batch->targets[n];
        if (batch->weights[n] == 0.0f)
            continue;
        if (*cursor >= set->teacher_argmax_count)
            return kd_fail(KD_ERR_INVALID, "more counted positions than the teacher's pass saw");
        targets[n] = set->teacher_argmax[(*cursor)++];
    }
    return KD_OK;
}

typedef struct {
    batcher *batches;
    float *logits;      /* (LOGIT_ROWS, V), the teacher's pass */
    int *targets;       /* (B, T), a student's pass */
    size_t argmax_capacity;
    size_t cursor;
    /* Each batch's loss and counted tokens, summed as the standard error of
     * their weighted mean needs: sum of loss^2, loss * count, count^2. */
    double batch_loss_squares, batch_loss_counts, batch_count_squares;
    int batches_seen;
} validation_pass;

static void add_batch(validation_pass *pass, const gpt2_eval_sums *before,
                      const gpt2_eval_sums *after)
{
    double loss = after->loss_sum - before->loss_sum, count = after->counted - before->counted;
    pass->batch_loss_squares += loss * loss;
    pass->batch_loss_counts += loss * count;
    pass->batch_count_squares += count * count;
    pass->batches_seen++;
}

/* The standard error of the token-weighted mean loss L over n batches:
 * sqrt(n / (n - 1) * sum (loss_b - L count_b)^2) / sum count_b. It is the
 * run-to-run noise of an evaluation on another sample of the same size. */
static double loss_standard_error(const validation_pass *pass, const gpt2_eval_sums *sums)
{
    if (pass->batches_seen < 2)
        return NAN;
    double mean = sums->loss_sum / sums->counted, n = pass->batches_seen;
    double spread = pass->batch_loss_squares - 2 * mean * pass->batch_loss_counts +
                    mean * mean * pass->batch_count_squares;
    return sqrt(fmax(spread, 0.0) * n / (n - 1)) / sums->counted;
}

static kd_status run_pass(gpt2_model *model, validation_set *set, int record,
                          validation_pass *pass, gpt2_eval_sums *sums, gpt2_eval_sums *agreement)
{
    size_t count = kd_batcher_batches_per_epoch(pass->batches);
    if (set->max_batches > 0 && (size_t)set->max_batches < count)
        count = (size_t)set->max_batches;
    kd_status status = KD_OK;
    for (size_t i = 0; i < count && status == KD_OK; i++) {
        const kd_batch *batch = kd_batcher_next(pass->batches);
        if (batch->rows == 0)
            continue;
        kd_gpt2_forward(model, batch->tokens, (int)batch->rows, (int)batch->columns);
        gpt2_eval_sums before = *sums;
        kd_gpt2_head_evaluate(model, batch->targets, batch->weights, sums);
        add_batch(pass, &before, sums);
        if (record) {
            status = record_argmax(model, batch, pass->logits, set, &pass->argmax_capacity);
        } else if ((status = teacher_targets(batch, set, &pass->cursor, pass->targets)) == KD_OK) {
            kd_gpt2_head_evaluate(model, pass->targets, batch->weights, agreement);
        }
    }
    return status;
}

kd_status kd_measure_validation(gpt2_model *model, validation_set *set, int record,
                                model_quality *quality)
{
    batcher_options options;
    kd_eval_batcher_options((size_t)set->batch_size, set->seq_len, set->group_by_length,
                            set->max_batches, &options);
    validation_pass pass = {0};
    size_t V = (size_t)model->config.vocab_size;
    kd_status status = kd_batcher_create(set->data, DATASET_VALIDATION, &options, &pass.batches);
    if (status == KD_OK && record) {
        set->teacher_argmax_count = 0;
        if (!(pass.logits = kd_alloc(LOGIT_ROWS * V, sizeof *pass.logits, "teacher logits")))
            status = KD_ERR_NOMEM;
    }
    if (status == KD_OK && !record &&
        !(pass.targets = kd_alloc(options.batch_size * options.seq_len, sizeof *pass.targets,
                                  "agreement targets")))
        status = KD_ERR_NOMEM;
    gpt2_eval_sums sums = {0}, agreement = {0};
    if (status == KD_OK)
        status = run_pass(model, set, record, &pass, &sums, &agreement);
    if (status == KD_OK && !record && pass.cursor != set->teacher_argmax_count)
        status = kd_fail(KD_ERR_INVALID, "fewer counted positions than the teacher's pass saw");
    if (status == KD_OK && sums.counted <= 0)
        status = kd_fail(KD_ERR_INVALID, "validation: no token carries loss");
    if (status == KD_OK) {
        quality->val_loss = sums.loss_sum / sums.counted;
        quality->val_loss_stderr = loss_standard_error(&pass, &sums);
        quality->val_batches = pass.batches_seen;
        quality->val_ppl = exp(quality->val_loss);
        quality->val_accuracy = sums.correct / sums.counted;
        quality->val_tokens = sums.counted;
        quality->top1_agreement = record ? 1.0 : agreement.correct / agreement.counted;
    }
    kd_batcher_free(pass.batches);
    free(pass.logits);
    free(pass.targets);
    return status;
}
