/* One training step, top to bottom: forward, fused head loss, backward for
 * every micro-batch; clip; check; AdamW. */
#include <math.h>

#include "kd/lora.h"
#include "train_step.h"

double kd_batch_counted_tokens(const gpt2_batch *batch)
{
    size_t n = (size_t)batch->batch * (size_t)batch->seq;
    if (!batch->weights)
        return (double)n;
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += batch->weights[i];
    return total;
}

/* Sums over the ranks started by the backward pass itself: a bucket of
 * consecutive layers as soon as the last of them is done, while the layers
 * below it are computed. */
typedef struct {
    gpt2_model *model;
    const gpt2_reducer *reducer;
    size_t bucket_floats;        /* a bucket holds at least this many (or ends at layer 0) */
    int pending_top;             /* layers next_layer + 1 .. pending_top are done, not started */
    int next_layer;              /* the next layer the backward pass finishes */
    kd_status status;
} layer_sums;

static int overlaps(const gpt2_model *model, const gpt2_reducer *reducer)
{
    return reducer && reducer->bucket_start && !reducer->reduce_scatter_floats && !model->lora;
}

static void layer_done(void *context, int layer)
{
    layer_sums *sums = context;
    float *views[GPT2_NUM_PARAM_TENSORS];
    size_t counts[GPT2_NUM_PARAM_TENSORS], floats = 0;
    int layers = sums->pending_top - layer + 1;
    int n = kd_gpt2_layer_views(&sums->model->grads, &sums->model->config, layer, layers, views,
                                counts);
    for (int i = 0; i < n; i++)
        floats += counts[i];
    sums->next_layer = layer - 1;
    if (floats < sums->bucket_floats && layer > 0)
        return;
    if (sums->status == KD_OK)
        sums->status = sums->reducer->bucket_start(views, counts, n);
    sums->pending_top = layer - 1;
}

static void progress_layer_sums(void *context)
{
    ((layer_sums *)context)->reducer->buckets_progress();
}

/* Waits for the layers' sums (starting any a rank's backward pass did not,
 * so that every rank starts the same buckets), then sums the tensors that
 * are final only at the end of the pass: the embeddings and ln_f. */
static kd_status finish_layer_sums(layer_sums *sums)
{
    while (sums->next_layer >= 0)
        layer_done(sums, sums->next_layer);
    kd_status status = sums->reducer->buckets_finish();
    if (sums->status != KD_OK)
        return sums->status;
    float *views[GPT2_NUM_PARAM_TENSORS];
    size_t counts[GPT2_NUM_PARAM_TENSORS];
    int n = kd_gpt2_layer_views(&sums->model->grads, &sums->model->config, 0, 0, views, counts);
    for (int i = 0; i < n && status == KD_OK; i++)
        status = sums->reducer->sum_floats(views[i], counts[i]);
    return status;
}

/* Every rank holds the whole batch's gradient (summed here unless the
 * backward pass already did), so the norm, the finiteness check and AdamW
 * agree everywhere. */
static kd_status whole_norm(gpt2_model *model, const gpt2_reducer *reducer, int summed,
                            gpt2_step_result *result)
{
    kd_status status = reducer && !summed
                           ? reducer->sum_floats(model->grads_memory, model->num_trainable)
                           : KD_OK;
    result->grad_norm = kd_gpt2_grad_norm(model);
    return status;
}

/* ZeRO-1: each rank sums only the slice of the gradients its moments cover;
 * the norm adds the slices' sums of squares in rank order. */
static kd_status sharded_norm(gpt2_model *model, const gpt2_reducer *reducer,
                              gpt2_step_result *result)
{
    kd_status status = reducer->reduce_scatter_floats(model->grads_memory, model->num_trainable);
    double squares = kd_grad_sum_of_squares(model->grads_memory + model->moments_begin,
                                            model->moments_end - model->moments_begin);
    if (status == KD_OK)
        status = reducer->sum_doubles(&squares, 1);
    result->grad_norm = (float)sqrt(squares);
    return status;
}

kd_status kd_train_step_run(gpt2_model *model, double counted, int micro_count,
                            micro_batch_fn run_micro, void *context,
                            const gpt2_step_config *config, int step, gpt2_step_result *result)
{
    const gpt2_reducer *reducer = config->reducer;
    kd_status status = reducer ? reducer->sum_doubles(&counted, 1) : KD_OK;
    result->counted = counted;
    if (status != KD_OK)
        return status;
    if (counted <= 0.0)
        return kd_fail(KD_ERR_INVALID, "step %d: no token in the batch carries loss", step);
    float grad_scale = (float)(1.0 / counted);
    double loss_sum = 0.0;
    int top = model->config.n_layer - 1;
    layer_sums sums = {model, overlaps(model, reducer) ? reducer : NULL, config->bucket_floats,
                       top, top, KD_OK};
    const gpt2_backward_hook hook = {layer_done, progress_layer_sums, &sums};
    kd_gpt2_zero_grad(model);
    for (int i = 0; i < micro_count; i++) {
        kd_gpt2_lora_dropout_begin(model, step, i);
        /* a layer's gradients are final in the last micro-batch's pass */
        model->backward_hook = sums.reducer && i == micro_count - 1 ? &hook : NULL;
        loss_sum += run_micro(model, i, grad_scale, context);
    }
    model->backward_hook = NULL;
    kd_gpt2_lora_dropout_end(model);
    /* before any other sum: no MPI call may run beside the buckets' */
    if (sums.reducer && (status = finish_layer_sums(&sums)) != KD_OK)
        return status;
    if (reducer && (status = reducer->sum_doubles(&loss_sum, 1)) != KD_OK)
        return status;
    result->loss = loss_sum / counted;
    status = reducer && reducer->reduce_scatter_floats
                 ? sharded_norm(model, reducer, result)
                 : whole_norm(model, reducer, sums.reducer != NULL, result);
    if (status != KD_OK)
        return status;
    if (!isfinite(result->loss) || !isfinite(result->grad_norm))
        return kd_fail(KD_ERR_NUMERIC, "step %d: loss %g, gradient norm %g: not finite", step,
                       result->loss, (double)result->grad_norm);
    adamw_config adamw = config->adamw;
    adamw.learning_rate = config->learning_rate;
    kd_gpt2_adamw_update(model, &adamw, step,
                         kd_grad_clip_factor(result->grad_norm, config->grad_clip));
    return reducer && reducer->gather_floats
               ? reducer->gather_floats(model->params_memory, model->num_params)
               : KD_OK;
}

static double cross_entropy_micro(gpt2_model *model, int index, float grad_scale,
                                  void *context)
{
    const gpt2_batch *b = (const gpt2_batch *)context + index;
    kd_gpt2_forward(model, b->tokens, b->batch, b->seq);
    double loss = kd_gpt2_head_cross_entropy(model, b->targets, b->weights, grad_scale);
    kd_gpt2_backward(model);
    return loss;
}

kd_status kd_gpt2_train_step(gpt2_model *model, const gpt2_batch *micro, int micro_count,
                             const gpt2_step_config *config, int step, gpt2_step_result *result)
{
    double counted = 0.0;
    for (int i = 0; i < micro_count; i++)
        counted += kd_batch_counted_tokens(&micro[i]);
    return kd_train_step_run(model, counted, micro_count, cross_entropy_micro, (void *)micro,
                             config, step, result);
}
