/* LoRA adapters on a GPT-2 model: attaching them (and freezing the base),
 * their tensors in PEFT's naming, their place in the forward and backward
 * passes, and merging them into the base. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kd/limits.h"
#include "lora_layer.h"
#include "ops.h"

/* The bias tensors among the GPT2_NUM_PARAM_TENSORS, which PEFT's bias
 * "all" trains: ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj, ln_f. */
static const int bias_tensors[] = {3, 5, 7, 9, 11, 13, 15};

static size_t target_floats(const gpt2_lora_config *config, const gpt2_config *model,
                            gpt2_lora_target target, int *in, int *out)
{
    kd_gpt2_lora_target_shape(model, target, in, out);
    return (size_t)model->n_layer * (size_t)config->rank;
}

/* A (L, r, in) then B (L, out, r) for each chosen target, in `memory`. */
static void point_adapters(float *a[], float *b[], float *memory, const gpt2_lora_config *config,
                           const gpt2_config *model)
{
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        int in, out;
        size_t per_dim = target_floats(config, model, (gpt2_lora_target)t, &in, &out);
        a[t] = b[t] = NULL;
        if (!(config->targets >> t & 1u))
            continue;
        a[t] = memory;
        memory += per_dim * (size_t)in;
        b[t] = memory;
        memory += per_dim * (size_t)out;
    }
}

/* A ~ U(-1/sqrt(in), 1/sqrt(in)): torch's kaiming_uniform_(a = sqrt 5). */
static void init_adapters(gpt2_lora *lora, const gpt2_config *model)
{
    kd_rng rng;
    kd_rng_seed(&rng, lora->seed);
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        int in, out;
        size_t count = target_floats(&lora->config, model, (gpt2_lora_target)t, &in, &out) * in;
        float bound = 1.0f / sqrtf((float)in);
        for (size_t i = 0; lora->a[t] && i < count; i++)
            lora->a[t][i] = bound * (2.0f * kd_rng_uniform(&rng) - 1.0f);
    }
}

kd_status kd_gpt2_lora_attach(gpt2_model *model, const gpt2_lora_config *config, uint64_t seed)
{
    if (model->lora || model->acts_memory)
        return kd_fail(KD_ERR_INVALID,
                       "lora adapters attach once, to a model not yet prepared");
    kd_status status = kd_gpt2_lora_config_validate(config, &model->config);
    if (status != KD_OK)
        return status;
    gpt2_lora *lora = kd_alloc(1, sizeof *lora, "lora adapters");
    if (!lora)
        return KD_ERR_NOMEM;
    lora->config = *config;
    lora->scale = kd_gpt2_lora_scale(config);
    lora->seed = seed;
    lora->num_params = kd_gpt2_lora_num_params(config, &model->config);
    lora->params_memory = kd_alloc(lora->num_params, sizeof(float), "lora parameters");
    if (!lora->params_memory) {
        free(lora);
        return KD_ERR_NOMEM;
    }
    point_adapters(lora->a, lora->b, lora->params_memory, config, &model->config);
    init_adapters(lora, &model->config);
    model->lora = lora;
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++)
        model->trainable[i] = 0;
    for (size_t i = 0; config->train_biases && i < KD_COUNTOF(bias_tensors); i++)
        model->trainable[bias_tensors[i]] = 1;
    return config->qlora ? kd_nf4_base_create(model) : KD_OK;
}

void kd_lora_free(gpt2_lora *lora)
{
    if (!lora)
        return;
    free(lora->params_memory);
    free(lora->acts_memory);
    free(lora);
}

int kd_gpt2_lora_tensor_count(const gpt2_lora *lora, const gpt2_config *model)
{
    int targets = 0;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        targets += (int)(lora->config.targets >> t & 1u);
    return 2 * targets * model->n_layer;
}

void kd_gpt2_lora_tensor_at(const gpt2_lora *lora, const gpt2_config *model, int index,
                            gpt2_tensor *tensor)
{
    int per_layer = kd_gpt2_lora_tensor_count(lora, model) / model->n_layer;
    int layer = index / per_layer, within = index % per_layer, is_b = within % 2;
    int t = -1;
    for (int chosen = -1; chosen < within / 2;)
        chosen += (int)(lora->config.targets >> ++t & 1u);
    int in, out, r = lora->config.rank;
    kd_gpt2_lora_target_shape(model, (gpt2_lora_target)t, &in, &out);
    size_t per_matrix = (size_t)r * (size_t)(is_b ? out : in);
    snprintf(tensor->name, sizeof tensor->name, "h.%d.%s.lora_%c.weight", layer,
             kd_gpt2_lora_target_name((gpt2_lora_target)t), is_b ? 'B' : 'A');
    tensor->data = (is_b ? lora->b[t] : lora->a[t]) + (size_t)layer * per_matrix;
    tensor->ndim = 2;
    tensor->shape[0] = is_b ? out : r;
    tensor->shape[1] = is_b ? r : in;
}

void kd_gpt2_lora_dropout_begin(gpt2_model *model, int step, int micro)
{
    gpt2_lora *lora = model->lora;
    if (!lora)
        return;
    lora->dropout_on = lora->config.dropout > 0.0f;
    lora->dropout_key = lora->seed ^ ((uint64_t)(uint32_t)step << 32 | (uint32_t)micro);
}

void kd_gpt2_lora_dropout_end(gpt2_model *model)
{
    if (model->lora)
        model->lora->dropout_on = 0;
}

void kd_gpt2_lora_merge_into(const gpt2_lora *lora, const gpt2_config *model,
                             gpt2_params *params)
{
    float *weights[GPT2_LORA_TARGETS] = {params->qkvw, params->attprojw, params->fcw,
                                         params->fcprojw};
    int r = lora->config.rank;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        if (!lora->a[t])
            continue;
        int in, out;
        kd_gpt2_lora_target_shape(model, (gpt2_lora_target)t, &in, &out);
        for (int l = 0; l < model->n_layer; l++) {
            const float *A = lora->a[t] + (size_t)l * r * in, *B = lora->b[t] + (size_t)l * out * r;
            /* W (in,out) += scale * A^T (in,r) . B^T (r,out) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, in, out, r, lora->scale, A, in, B,
                        r, 1.0f, weights[t] + (size_t)l * in * out, out);
        }
    }
}

size_t kd_lora_acts_floats(const gpt2_lora *lora, const gpt2_config *config, int B, int T)
{
    size_t N = (size_t)B * (size_t)T, r = (size_t)lora->config.rank;
    size_t targets = 0;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        targets += lora->config.targets >> t & 1u;
    size_t dropped = lora->config.dropout > 0.0f ? N * 4 * (size_t)config->n_embd : 0;
    return targets * (size_t)config->n_layer * N * r + N * r + dropped;
}

kd_status kd_lora_prepare_acts(gpt2_lora *lora, const gpt2_config *config, int B, int T)
{
    lora->acts_memory = kd_alloc(kd_lora_acts_floats(lora, config, B, T), sizeof(float),
                                 "lora activations");
    if (!lora->acts_memory)
        return KD_ERR_NOMEM;
    size_t N = (size_t)B * (size_t)T, r = (size_t)lora->config.rank;
    float *memory = lora->acts_memory;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        lora->u[t] = lora->a[t] ? memory : NULL;
        memory += lora->a[t] ? (size_t)config->n_layer * N * r : 0;
    }
    lora->du = memory;
    lora->dropped = memory + N * r;
    return KD_OK;
}

void kd_lora_point_grads(gpt2_lora *lora, const gpt2_config *config, float *memory)
{
    point_adapters(lora->grad_a, lora->grad_b, memory, &lora->config, config);
}

/* Everything one adapter call needs, for (target, layer) of the current pass. */
typedef struct {
    int in, out, rows;
    size_t a_offset, b_offset;
    float *u;
    lora_dropout dropout;
} adapter_site;

static int adapter_at(const gpt2_model *model, gpt2_lora_target t, int l, adapter_site *site)
{
    const gpt2_lora *lora = model->lora;
    if (!lora || !lora->a[t])
        return 0;
    int r = lora->config.rank;
    kd_gpt2_lora_target_shape(&model->config, t, &site->in, &site->out);
    site->rows = model->batch * model->seq;
    site->a_offset = (size_t)l * r * site->in;
    site->b_offset = (size_t)l * r * site->out;
    site->u = lora->u[t] + (size_t)l * site->rows * r;
    site->dropout.p = lora->dropout_on ? lora->config.dropout : 0.0f;
    site->dropout.stream = lora->dropout_key ^ (uint64_t)(l * GPT2_LORA_TARGETS + t) << 48;
    return 1;
}

void kd_lora_layer_forward(gpt2_model *model, gpt2_lora_target target, int layer, float *out,
                           const float *inp)
{
    adapter_site s;
    if (!adapter_at(model, target, layer, &s))
        return;
    gpt2_lora *lora = model->lora;
    kd_lora_forward(out, s.u, lora->dropped, inp, lora->a[target] + s.a_offset,
                    lora->b[target] + s.b_offset, lora->scale, s.dropout, s.rows, s.in, s.out,
                    lora->config.rank);
}

void kd_lora_layer_backward(gpt2_model *model, gpt2_lora_target target, int layer, float *dinp,
                            const float *dout, const float *inp)
{
    adapter_site s;
    if (!adapter_at(model, target, layer, &s))
        return;
    gpt2_lora *lora = model->lora;
    kd_lora_backward(dinp, lora->grad_a[target] + s.a_offset, lora->grad_b[target] + s.b_offset,
                     lora->du, lora->dropped, dout, inp, s.u, lora->a[target] + s.a_offset,
                     lora->b[target] + s.b_offset, lora->scale, s.dropout, s.rows, s.in, s.out,
                     lora->config.rank);
}

void kd_lora_layer_decode(const gpt2_lora *lora, const gpt2_config *config,
                          gpt2_lora_target target, int layer, float *out, const float *inp)
{
    if (!lora || !lora->a[target])
        return;
    int in, out_dim, r = lora->config.rank;
    kd_gpt2_lora_target_shape(config, target, &in, &out_dim);
    const float *A = lora->a[target] + (size_t)layer * r * in;
    const float *B = lora->b[target] + (size_t)layer * r * out_dim;
    /* u = A inp, a chunk of ranks at a time so that no scratch is needed. */
    enum { CHUNK = 64 };
    float u[CHUNK];
    for (int k = 0; k < r; k += CHUNK) {
        int n = r - k < CHUNK ? r - k : CHUNK;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, in, 1.0f, A + (size_t)k * in, in, inp, 1,
                    0.0f, u, 1);
        /* out += scale * B[:, k:k+n] u */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, n, lora->scale, B + k, r, u, 1, 1.0f,
                    out, 1);
    }
}
