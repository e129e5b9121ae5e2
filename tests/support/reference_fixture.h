/* Reading the PyTorch reference fixtures under tests/fixtures/torch/
 * and reporting measured errors, for the tests that compare kd with torch.
 * Header-only; every failure names the fixture and the tensor or key. */
#ifndef KD_TEST_REFERENCE_FIXTURE_H
#define KD_TEST_REFERENCE_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kd/io.h"
#include "kd/nn.h"

typedef struct {
    safetensors_file file;
    const char *path;
} reference_fixture;

static inline void reference_open(reference_fixture *ref, const char *path)
{
    ref->path = path;
    if (kd_safetensors_open(&ref->file, path) != KD_OK)
        fail_msg("%s", kd_last_error());
}

static inline double reference_number(const reference_fixture *ref, const char *key)
{
    const char *text = kd_safetensors_metadata(&ref->file, key);
    if (!text)
        fail_msg("%s: metadata %s missing", ref->path, key);
    char *end;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(value))
        fail_msg("%s: metadata %s = \"%s\" is not a number", ref->path, key, text);
    return value;
}

static inline const safetensors_tensor *reference_tensor(const reference_fixture *ref,
                                                         const char *name,
                                                         safetensors_dtype dtype, uint64_t count)
{
    const safetensors_tensor *tensor = kd_safetensors_find(&ref->file, name);
    if (!tensor)
        fail_msg("%s: tensor %s missing", ref->path, name);
    if (tensor->dtype != dtype || kd_safetensors_tensor_elements(tensor) != count)
        fail_msg("%s: tensor %s is %s with %llu elements, expected %s with %llu", ref->path,
                 name, kd_safetensors_dtype_name(tensor->dtype),
                 (unsigned long long)kd_safetensors_tensor_elements(tensor),
                 kd_safetensors_dtype_name(dtype), (unsigned long long)count);
    return tensor;
}

static inline void reference_floats_into(const reference_fixture *ref, const char *name,
                                         float *out, size_t count)
{
    const safetensors_tensor *tensor = reference_tensor(ref, name, SAFETENSORS_F32, count);
    if (kd_safetensors_read_f32(&ref->file, tensor, 0, count, out) != KD_OK)
        fail_msg("%s", kd_last_error());
}

/* The same, into a new allocation the caller frees. */
static inline float *reference_floats(const reference_fixture *ref, const char *name,
                                      size_t count)
{
    float *out = malloc(count * sizeof *out);
    assert_non_null(out);
    reference_floats_into(ref, name, out, count);
    return out;
}

static inline double reference_scalar(const reference_fixture *ref, const char *name)
{
    float value;
    reference_floats_into(ref, name, &value, 1);
    return value;
}

/* I32 token ids, each checked to be a row of wte (the io module converts
 * only floating-point tensors, so they are read straight from the file). */
static inline int *reference_token_ids(const reference_fixture *ref, const char *name,
                                       size_t count, int vocab_size)
{
    const safetensors_tensor *tensor = reference_tensor(ref, name, SAFETENSORS_I32, count);
    int32_t *raw = malloc(count * sizeof *raw);
    int *ids = malloc(count * sizeof *ids);
    assert_true(raw && ids);
    ssize_t got = pread(ref->file.fd, raw, count * sizeof *raw,
                        (off_t)(ref->file.data_offset + tensor->data_begin));
    assert_int_equal(got, (ssize_t)(count * sizeof *raw));
    for (size_t i = 0; i < count; i++) {
        if (raw[i] < 0 || raw[i] >= vocab_size)
            fail_msg("%s: %s[%zu] = %d is not a token id below %d", ref->path, name, i,
                     (int)raw[i], vocab_size);
        ids[i] = raw[i];
    }
    free(raw);
    return ids;
}

static inline double max_abs(const float *x, size_t n)
{
    double max = 0.0;
    for (size_t i = 0; i < n; i++)
        max = fmax(max, fabs((double)x[i]));
    return max;
}

static inline double max_abs_difference(const float *a, const float *b, size_t n)
{
    double max = 0.0;
    for (size_t i = 0; i < n; i++)
        max = fmax(max, fabs((double)a[i] - (double)b[i]));
    return max;
}

static inline size_t reference_tensor_elements(const gpt2_tensor *tensor)
{
    return (size_t)tensor->shape[0] * (size_t)(tensor->ndim == 2 ? tensor->shape[1] : 1);
}

/* The fixture's "<prefix>.<name>" counterpart of kd's tensor `like`, which
 * must have its shape too (a matrix stored transposed has the right size
 * but is another matrix), into out. */
static inline void reference_like_into(const reference_fixture *ref, const char *prefix,
                                       const gpt2_tensor *like, float *out)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", prefix, like->name);
    const safetensors_tensor *tensor = kd_safetensors_find(&ref->file, name);
    if (tensor && (tensor->ndim != like->ndim || tensor->shape[0] != like->shape[0] ||
                   (like->ndim == 2 && tensor->shape[1] != like->shape[1])))
        fail_msg("%s: tensor %s does not have kd's shape (%lld, %lld)", ref->path, name,
                 (long long)like->shape[0], (long long)like->shape[1]);
    reference_floats_into(ref, name, out, reference_tensor_elements(like));
}

static inline float *reference_like(const reference_fixture *ref, const char *prefix,
                                    const gpt2_tensor *like)
{
    float *out = malloc(reference_tensor_elements(like) * sizeof *out);
    assert_non_null(out);
    reference_like_into(ref, prefix, like, out);
    return out;
}

/* The fixture's training batch: input.tokens and input.targets (I32 ids,
 * batch x seq) with input.weights (F32, the loss weight of each position). */
typedef struct {
    int batch, seq;
    int *tokens, *targets;
    float *weights;
} reference_batch;

static inline void reference_batch_read(const reference_fixture *ref, const gpt2_config *config,
                                        reference_batch *out)
{
    const safetensors_tensor *ids = kd_safetensors_find(&ref->file, "input.tokens");
    if (!ids || ids->ndim != 2)
        fail_msg("%s: input.tokens missing or not (batch, seq)", ref->path);
    out->batch = (int)ids->shape[0];
    out->seq = (int)ids->shape[1];
    assert_true(out->batch >= 1 && out->seq >= 1 && out->seq <= config->n_positions);
    size_t n = (size_t)out->batch * out->seq;
    out->tokens = reference_token_ids(ref, "input.tokens", n, config->vocab_size);
    out->targets = reference_token_ids(ref, "input.targets", n, config->vocab_size);
    out->weights = malloc(n * sizeof *out->weights);
    assert_non_null(out->weights);
    reference_floats_into(ref, "input.weights", out->weights, n);
}

static inline double reference_batch_weight_sum(const reference_batch *batch)
{
    double total = 0.0;
    for (int i = 0; i < batch->batch * batch->seq; i++)
        total += batch->weights[i];
    return total;
}

static inline void reference_batch_free(reference_batch *batch)
{
    free(batch->tokens);
    free(batch->targets);
    free(batch->weights);
}

/* A new model of `config` holding the fixture's "<prefix>.<HF name>" tensors. */
static inline void reference_model_load(const reference_fixture *ref, const char *prefix,
                                        const gpt2_config *config, gpt2_model *model)
{
    assert_int_equal(kd_gpt2_create(model, config), KD_OK);
    for (int i = 0; i < kd_gpt2_tensor_count(config); i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(config, &model->params, i, &tensor);
        reference_like_into(ref, prefix, &tensor, tensor.data);
    }
}

/* The model config stored as metadata n_layer, n_head, ... */
static inline void reference_gpt2_config(const reference_fixture *ref, gpt2_config *config)
{
    config->n_layer = (int)reference_number(ref, "n_layer");
    config->n_head = (int)reference_number(ref, "n_head");
    config->n_embd = (int)reference_number(ref, "n_embd");
    config->n_positions = (int)reference_number(ref, "n_positions");
    config->vocab_size = (int)reference_number(ref, "vocab_size");
    config->layer_norm_epsilon = (float)reference_number(ref, "layer_norm_epsilon");
    assert_int_equal(kd_gpt2_config_validate(config), KD_OK);
}

/* The optimizer settings stored as metadata lr, beta1, beta2, eps,
 * weight_decay and grad_clip (decay on matrices only, as torch's param
 * groups); returns the metadata's step count (1..100). */
static inline int reference_step_config(const reference_fixture *ref, gpt2_step_config *s)
{
    s->adamw.learning_rate = (float)reference_number(ref, "lr");
    s->adamw.beta1 = (float)reference_number(ref, "beta1");
    s->adamw.beta2 = (float)reference_number(ref, "beta2");
    s->adamw.eps = (float)reference_number(ref, "eps");
    s->adamw.weight_decay = (float)reference_number(ref, "weight_decay");
    s->adamw.decay_all = 0;
    s->learning_rate = s->adamw.learning_rate;
    s->grad_clip = (float)reference_number(ref, "grad_clip");
    int steps = (int)reference_number(ref, "steps");
    assert_true(steps >= 1 && steps <= 100);
    return steps;
}

/* Prints every measured error, so the log shows the margin, and fails with
 * the name of what disagreed. */
static inline void expect_within(const char *what, double error, double tolerance)
{
    print_message("%-44s error %.2e (tolerance %.0e)\n", what, error, tolerance);
    if (!(error <= tolerance))
        fail_msg("%s: error %.3e exceeds %.0e", what, error, tolerance);
}

#endif
