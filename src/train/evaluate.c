/* Loss, perplexity and next-token accuracy over a fixed set of batches. */
#include <math.h>

#include "kd/train.h"

kd_status kd_evaluate_model(gpt2_model *model, batcher *batches, int max_batches,
                            eval_result *result)
{
    kd_status status = kd_batcher_seek(batches, (batcher_position){0, 0});
    if (status != KD_OK)
        return status;
    size_t count = kd_batcher_batches_per_epoch(batches);
    if (max_batches > 0 && (size_t)max_batches < count)
        count = (size_t)max_batches;
    gpt2_eval_sums sums = {0};
    double inputs = 0.0, cells = 0.0, start = kd_now_seconds();
    for (size_t i = 0; i < count; i++) {
        const kd_batch *batch = kd_batcher_next(batches);
        int rows = (int)batch->rows, seq = (int)batch->columns;
        if (rows == 0)
            continue;
        kd_gpt2_forward(model, batch->tokens, rows, seq);
        kd_gpt2_head_evaluate(model, batch->targets, batch->weights, &sums);
        inputs += (double)batch->inputs;
        cells += (double)rows * seq;
    }
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
