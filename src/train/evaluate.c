/* Loss, perplexity and next-token accuracy over a fixed set of batches. */
#include <math.h>

#include "kd/train.h"

/* Adds one batch's sums; the f32 model or the quantized one. */
typedef kd_status (*batch_evaluator)(void *context, const kd_batch *batch, gpt2_eval_sums *sums);

static kd_status evaluate_batches(batcher *batches, int max_batches, batch_evaluator evaluate,
                                  void *context, eval_result *result)
{
    kd_status status = kd_batcher_seek(batches, (batcher_position){0, 0});
    if (status != KD_OK)
        return status;
    size_t count = kd_batcher_batches_per_epoch(batches);
    if (max_batches > 0 && (size_t)max_batches < count)
        count = (size_t)max_batches;
    gpt2_eval_sums sums = {0};
    double inputs = 0.0, cells = 0.0, start = kd_now_seconds();
    for (size_t i = 0; i < count && status == KD_OK; i++) {
        const kd_batch *batch = kd_batcher_next(batches);
        if (batch->rows == 0)
            continue;
        status = evaluate(context, batch, &sums);
        inputs += (double)batch->inputs;
        cells += (double)batch->rows * batch->columns;
    }
    if (status != KD_OK)
        return status;
    if (sums.counted <= 0)
        return kd_fail(KD_ERR_INVALID, "evaluation: no token carries loss");
    result->loss = sums.loss_sum / sums.counted;
    result->ppl = exp(result->loss);
    result->accuracy = sums.correct / sums.counted;
    result->tokens = sums.counted;
    double seconds = kd_now_seconds() - start;
    result->tokens_per_s = seconds > 0 ? inputs / seconds : 0.0;
    result->padding_ratio = cells / inputs;
    return KD_OK;
}

static kd_status evaluate_f32(void *context, const kd_batch *batch, gpt2_eval_sums *sums)
{
    gpt2_model *model = context;
    kd_gpt2_forward(model, batch->tokens, (int)batch->rows, (int)batch->columns);
    kd_gpt2_head_evaluate(model, batch->targets, batch->weights, sums);
    return KD_OK;
}

kd_status kd_evaluate_model(gpt2_model *model, batcher *batches, int max_batches,
                            eval_result *result)
{
    return evaluate_batches(batches, max_batches, evaluate_f32, model, result);
}

typedef struct {
    const gpt2_qmodel *model;
    gpt2_qstate *state;
} quantized_context;

/* Row by row: the quantized model runs one sequence at a time. */
static kd_status evaluate_quantized(void *context, const kd_batch *batch, gpt2_eval_sums *sums)
{
    quantized_context *q = context;
    kd_status status = KD_OK;
    for (size_t r = 0; r < batch->rows && status == KD_OK; r++) {
        size_t offset = r * batch->columns;
        status = kd_gpt2_qevaluate(q->model, q->state, batch->tokens + offset,
                                   batch->targets + offset,
                                   batch->weights ? batch->weights + offset : NULL,
                                   (int)batch->columns, sums);
    }
    return status;
}

kd_status kd_evaluate_qmodel(const gpt2_qmodel *model, gpt2_qstate *state, batcher *batches,
                             eval_result *result)
{
    quantized_context context = {model, state};
    return evaluate_batches(batches, 0, evaluate_quantized, &context, result);
}
