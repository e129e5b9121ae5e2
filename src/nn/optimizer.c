/* AdamW, global-norm gradient clipping and the learning-rate schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/lora.h"

/* Which of the 16 parameter tensors are weight matrices (decayed by
 * default); biases, LayerNorm parameters and embeddings are not. */
static const int is_matrix[GPT2_NUM_PARAM_TENSORS] = {
    0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0,
};

/* What one step of one tensor needs besides the config. */
typedef struct {
    float decay, bias_correction1, bias_correction2, grad_factor;
} adamw_step;

/* PyTorch's AdamW exactly, on g = grad * grad_factor: p *= 1 - lr*wd, then
 * p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). */
static void adamw_tensor(float *param, const float *grad, float *m, float *v, size_t n,
                         const adamw_config *adamw, const adamw_step *step_terms)
{
    float lr = adamw->learning_rate, beta1 = adamw->beta1, beta2 = adamw->beta2;
    float step_size = lr / step_terms->bias_correction1;
    float sqrt_bc2 = sqrtf(step_terms->bias_correction2);
    float shrink = 1.0f - lr * step_terms->decay, grad_factor = step_terms->grad_factor;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * grad_factor;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float denominator = sqrtf(v[i]) / sqrt_bc2 + adamw->eps;
        param[i] = param[i] * shrink - step_size * m[i] / denominator;
    }
}

/* AdamW on the part of one packed tensor, [offset, offset + n) of the
 * gradients, that falls in the moments' range. */
static void adamw_in_range(gpt2_model *model, float *param, size_t offset, size_t n,
                           const adamw_config *adamw, const adamw_step *terms)
{
    size_t begin = model->moments_begin, end = model->moments_end;
    size_t lo = offset > begin ? offset : begin, hi = offset + n < end ? offset + n : end;
    if (lo < hi)
        adamw_tensor(param + (lo - offset), model->grads_memory + lo, model->adam_m + (lo - begin),
                     model->adam_v + (lo - begin), hi - lo, adamw, terms);
}

void kd_gpt2_adamw_update(gpt2_model *model, const adamw_config *adamw, int step,
                          float grad_factor)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&model->config, sizes);
    adamw_step terms = {0.0f, 1.0f - powf(adamw->beta1, (float)step),
                        1.0f - powf(adamw->beta2, (float)step), grad_factor};
    /* Gradients and moments hold the trainable tensors alone, packed. */
    size_t param_offset = 0, offset = 0;
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++) {
        terms.decay = (adamw->decay_all || is_matrix[i]) ? adamw->weight_decay : 0.0f;
        if (model->trainable[i]) {
            adamw_in_range(model, model->params_memory + param_offset, offset, sizes[i], adamw,
                           &terms);
            offset += sizes[i];
        }
        /* QLoRA's NF4 matrices are not in params_memory. */
        param_offset += model->nf4 && is_matrix[i] ? 0 : sizes[i];
    }
    /* LoRA's A and B decay like the matrices they adapt (as PEFT's under
     * Hugging Face's Trainer, which spares only biases and LayerNorm). */
    const gpt2_lora *lora = model->lora;
    if (lora) {
        terms.decay = adamw->weight_decay;
        adamw_in_range(model, lora->params_memory, offset, lora->num_params, adamw, &terms);
    }
    kd_gpt2_weights_changed(model);
}

kd_status kd_gpt2_shard_moments(gpt2_model *model, size_t begin, size_t end)
{
    if (begin > end || end > model->num_trainable || model->moments_begin != 0 ||
        model->moments_end != model->num_trainable)
        return kd_fail(KD_ERR_INVALID, "AdamW moments [%zu, %zu) of %zu floats", begin, end,
                       model->num_trainable);
    size_t n = end - begin;
    float *m = kd_alloc(n ? n : 1, sizeof(float), "AdamW first moment (shard)");
    float *v = kd_alloc(n ? n : 1, sizeof(float), "AdamW second moment (shard)");
    if (!m || !v) {
        free(m);
        free(v);
        return KD_ERR_NOMEM;
    }
    memcpy(m, model->adam_m + begin, n * sizeof(float));
    memcpy(v, model->adam_v + begin, n * sizeof(float));
    free(model->adam_m);
    free(model->adam_v);
    model->adam_m = m;
    model->adam_v = v;
    model->moments_begin = begin;
    model->moments_end = end;
    return KD_OK;
}

/* Sum of squares in fixed blocks, added in block order, so the norm is the
 * same bits whatever the thread count. Inside a block the sum is vectorised:
 * the lane order is fixed at compile time, and a single chain of dependent
 * double adds took 7 ms of a 16M-parameter step. */
static double sum_of_squares(const float *x, size_t n)
{
    enum { BLOCK = 1 << 16, MAX_BLOCKS = 4096 };
    double partial[MAX_BLOCKS];
    size_t block_size = n / MAX_BLOCKS + 1 > BLOCK ? n / MAX_BLOCKS + 1 : BLOCK;
    size_t blocks = (n + block_size - 1) / block_size;
#pragma omp parallel for
    for (size_t b = 0; b < blocks; b++) {
        size_t begin = b * block_size, end = begin + block_size < n ? begin + block_size : n;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (size_t i = begin; i < end; i++)
            sum += (double)x[i] * x[i];
        partial[b] = sum;
    }
    double total = 0.0;
    for (size_t b = 0; b < blocks; b++)
        total += partial[b];
    return total;
}

double kd_grad_sum_of_squares(const float *grads, size_t count)
{
    return sum_of_squares(grads, count);
}

float kd_gpt2_grad_norm(const gpt2_model *model)
{
    return (float)sqrt(sum_of_squares(model->grads_memory, model->num_trainable));
}

float kd_grad_clip_factor(float norm, float max_norm)
{
    return max_norm > 0.0f && norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
}

float kd_lr_at_step(lr_schedule schedule, float peak, float min_ratio, int warmup_steps,
                    int total_steps, int step)
{
    if (step < warmup_steps)
        return peak * (float)(step + 1) / (float)warmup_steps;
    if (schedule == LR_CONSTANT || total_steps <= warmup_steps)
        return peak;
    float progress = (float)(step - warmup_steps) / (float)(total_steps - warmup_steps);
    progress = progress > 1.0f ? 1.0f : progress;
    float floor = peak * min_ratio;
    if (schedule == LR_LINEAR)
        return floor + (peak - floor) * (1.0f - progress);
    return floor + (peak - floor) * 0.5f * (1.0f + cosf((float)M_PI * progress));
}
