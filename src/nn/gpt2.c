/* The GPT-2 forward and backward passes, top to bottom, and the one-time
 * allocation of everything a step needs. */
#include <stdlib.h>
#include <string.h>

#include "kd/nn.h"
#include "bf16_gemm.h"
#include "lora_layer.h"
#include "ops.h"

#include "nn_limits.h"

/* Activation sizes for (B, T), in the order of gpt2_acts' fields. */
enum { NUM_ACTS = 18 };
static void act_sizes(const gpt2_config *config, int B, int T, size_t sizes[NUM_ACTS])
{
    size_t L = (size_t)config->n_layer, C = (size_t)config->n_embd, H = (size_t)config->n_head;
    size_t N = (size_t)B * (size_t)T;
    size_t per_layer[NUM_ACTS] = {
        N * C,                          /* encoded */
        L * N * C, L * N, L * N,        /* ln1, mean, rstd */
        L * N * 3 * C,                  /* qkv */
        L * N * C,                      /* atty */
        L * (size_t)B * H * T * T,      /* att */
        L * N * C,                      /* residual2 */
        L * N * C, L * N, L * N,        /* ln2, mean, rstd */
        L * N * 4 * C, L * N * 4 * C,   /* fch, fch_gelu */
        L * N * C,                      /* residual3 */
        N * C, N, N,                    /* lnf, mean, rstd */
        N * C,                          /* dlnf */
    };
    memcpy(sizes, per_layer, sizeof per_layer);
}

enum { NUM_GRAD_ACTS = 7 };
static void grad_act_sizes(const gpt2_config *config, int B, int T, int threads,
                           size_t sizes[NUM_GRAD_ACTS])
{
    size_t C = (size_t)config->n_embd, N = (size_t)B * (size_t)T;
    size_t list[NUM_GRAD_ACTS] = {N * C, N * C, N * 3 * C, N * C, N * 4 * C, N * 4 * C,
                                  (size_t)threads * T * T};
    memcpy(sizes, list, sizeof list);
}

static size_t sum_sizes(const size_t *sizes, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += sizes[i];
    return total;
}

static int head_chunk_rows(int B, int T)
{
    int rows = B * T;
    return rows < HEAD_MAX_ROWS ? rows : HEAD_MAX_ROWS;
}

/* Sized for padded chunks, which the bf16 head computes in full. */
static size_t head_scratch_floats(const gpt2_config *config, int B, int T)
{
    size_t R = (size_t)kd_head_padded_rows(head_chunk_rows(B, T));
    return R * (size_t)config->vocab_size + (1 + HEAD_VOCAB_PARTS) * R * (size_t)config->n_embd;
}

/* bf16 operands: a product's input and output gradient in the blocks (at
 * most (N, 4C) each), or a head chunk's hidden states and logit gradients
 * (R, C) and (R, V), whichever is larger. */
static size_t bf16_scratch_count(const gpt2_config *config, int B, int T)
{
    size_t N = (size_t)B * (size_t)T, C = (size_t)config->n_embd;
    size_t R = (size_t)kd_head_padded_rows(head_chunk_rows(B, T));
    size_t blocks = 2 * N * 4 * C, head = R * (C + (size_t)config->vocab_size);
    /* kd_gpt2_head_logits pads its last rows past the N it rounds */
    return (blocks > head ? blocks : head) + (size_t)HEAD_ROW_ALIGN * C;
}

size_t kd_gpt2_prepare_bytes(const gpt2_config *config, int batch, int seq, int training)
{
    size_t acts[NUM_ACTS], grad_acts[NUM_GRAD_ACTS];
    act_sizes(config, batch, seq, acts);
    size_t floats = sum_sizes(acts, NUM_ACTS) + head_scratch_floats(config, batch, seq);
    if (training) {
        grad_act_sizes(config, batch, seq, kd_threads(), grad_acts);
        floats += sum_sizes(grad_acts, NUM_GRAD_ACTS) + 3 * kd_gpt2_num_params(config);
    }
    size_t ints = 3 * (size_t)batch * (size_t)seq; /* head rows, row values, inputs */
    return floats * sizeof(float) + ints * sizeof(int);
}

size_t kd_gpt2_lora_prepare_bytes(const gpt2_config *config, const gpt2_lora_config *lora,
                                  int batch, int seq)
{
    size_t grad_acts[NUM_GRAD_ACTS];
    grad_act_sizes(config, batch, seq, kd_threads(), grad_acts);
    /* The adapters' activations, as kd_lora_acts_floats counts them. */
    gpt2_lora adapters = {.config = *lora};
    size_t floats = sum_sizes(grad_acts, NUM_GRAD_ACTS) +
                    3 * kd_gpt2_lora_num_trainable(lora, config) +
                    kd_lora_acts_floats(&adapters, config, batch, seq);
    return kd_gpt2_prepare_bytes(config, batch, seq, 0) + floats * sizeof(float) +
           kd_gpt2_lora_num_params(lora, config) * sizeof(float);
}

static void point_views(float **views[], const size_t *sizes, int count, float *memory)
{
    for (int i = 0; i < count; i++) {
        *views[i] = memory;
        memory += sizes[i];
    }
}

static kd_status prepare_activations(gpt2_model *model, int B, int T)
{
    size_t sizes[NUM_ACTS];
    act_sizes(&model->config, B, T, sizes);
    model->acts_memory = kd_alloc(sum_sizes(sizes, NUM_ACTS), sizeof(float), "activations");
    model->head_scratch = kd_alloc(head_scratch_floats(&model->config, B, T), sizeof(float),
                                   "lm_head scratch");
    model->head_rows = kd_alloc((size_t)B * T, sizeof(int), "lm_head rows");
    model->head_row_values = kd_alloc((size_t)B * T, sizeof(float), "lm_head row values");
    model->inputs = kd_alloc((size_t)B * T, sizeof(int), "inputs");
    if (!model->acts_memory || !model->head_scratch || !model->head_rows ||
        !model->head_row_values || !model->inputs)
        return KD_ERR_NOMEM;
    gpt2_acts *a = &model->acts;
    float **views[NUM_ACTS] = {&a->encoded, &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv,
                               &a->atty, &a->att, &a->residual2, &a->ln2, &a->ln2_mean,
                               &a->ln2_rstd, &a->fch, &a->fch_gelu, &a->residual3, &a->lnf,
                               &a->lnf_mean, &a->lnf_rstd, &a->dlnf};
    point_views(views, sizes, NUM_ACTS, model->acts_memory);
    model->head_chunk_rows = head_chunk_rows(B, T);
    return model->lora ? kd_lora_prepare_acts(model->lora, &model->config, B, T) : KD_OK;
}

/* Floats of the trainable base tensors. */
static size_t trainable_base_floats(const gpt2_model *model)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS], total = 0;
    kd_gpt2_param_sizes(&model->config, sizes);
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++)
        total += model->trainable[i] ? sizes[i] : 0;
    return total;
}

static kd_status prepare_training(gpt2_model *model, int B, int T)
{
    size_t base = trainable_base_floats(model);
    size_t n = base + (model->lora ? model->lora->num_params : 0);
    model->num_trainable = n;
    model->moments_begin = 0; /* every rank's moments, until kd_gpt2_shard_moments */
    model->moments_end = n;
    model->grads_memory = kd_alloc(n, sizeof(float), "gradients");
    model->adam_m = kd_alloc(n, sizeof(float), "AdamW first moment");
    model->adam_v = kd_alloc(n, sizeof(float), "AdamW second moment");
    size_t sizes[NUM_GRAD_ACTS];
    grad_act_sizes(&model->config, B, T, kd_threads(), sizes);
    model->grad_acts_memory = kd_alloc(sum_sizes(sizes, NUM_GRAD_ACTS), sizeof(float),
                                       "activation gradients");
    if (!model->grads_memory || !model->adam_m || !model->adam_v || !model->grad_acts_memory)
        return KD_ERR_NOMEM;
    kd_gpt2_params_point_subset(&model->grads, model->grads_memory, &model->config,
                                model->trainable);
    if (model->lora)
        kd_lora_point_grads(model->lora, &model->config, model->grads_memory + base);
    gpt2_grad_acts *g = &model->grad_acts;
    float **views[NUM_GRAD_ACTS] = {&g->dresidual, &g->dln, &g->dqkv, &g->datty,
                                    &g->dfch, &g->dfch_gelu, &g->datt};
    point_views(views, sizes, NUM_GRAD_ACTS, model->grad_acts_memory);
    return KD_OK;
}

kd_status kd_gpt2_prepare(gpt2_model *model, int max_batch, int max_seq, int training)
{
    if (model->acts_memory)
        return kd_fail(KD_ERR_INVALID, "model already prepared");
    if (max_batch <= 0 || max_seq <= 0 || max_seq > model->config.n_positions)
        return kd_fail(KD_ERR_INVALID, "batch %d x sequence %d does not fit n_positions %d",
                       max_batch, max_seq, model->config.n_positions);
    kd_status status = prepare_activations(model, max_batch, max_seq);
    if (status == KD_OK && training)
        status = prepare_training(model, max_batch, max_seq);
    model->max_batch = max_batch;
    model->max_seq = max_seq;
    return status;
}

kd_status kd_gpt2_set_precision(gpt2_model *model, kd_precision precision)
{
    gpt2_products *products = &model->products;
    if (!model->acts_memory)
        return kd_fail(KD_ERR_INVALID, "set the precision of a prepared model");
    if (precision == KD_PRECISION_AUTO)
        return kd_fail(KD_ERR_INVALID, "resolve precision auto before setting it");
    if (precision == KD_PRECISION_BF16 && model->nf4)
        return kd_fail(KD_ERR_UNSUPPORTED, "precision bf16: QLoRA's products run in fp32; "
                       "use --precision fp32");
    if (precision == KD_PRECISION_BF16 && kd_bf16_support() == BF16_NONE)
        return kd_fail(KD_ERR_UNSUPPORTED, "precision bf16: oneDNN has no bf16 products here");
    products->precision = precision;
    products->params_bf16_current = 0;
    if (precision == KD_PRECISION_FP32 || products->params_bf16)
        return KD_OK;
    products->params_bf16 = kd_alloc(model->num_params, sizeof(uint16_t), "bf16 weights");
    products->scratch = kd_alloc(bf16_scratch_count(&model->config, model->max_batch,
                                                    model->max_seq),
                                 sizeof(uint16_t), "bf16 operands");
    return products->params_bf16 && products->scratch ? KD_OK : KD_ERR_NOMEM;
}

void kd_gpt2_weights_changed(gpt2_model *model)
{
    model->products.params_bf16_current = 0;
}

/* Rounds the weights to bf16 when they changed since the last rounding:
 * once per optimizer step, once for a loaded model. */
static void round_weights(gpt2_model *model)
{
    gpt2_products *products = &model->products;
    if (products->precision != KD_PRECISION_BF16 || products->params_bf16_current)
        return;
    kd_bf16_from_float(products->params_bf16, model->params_memory, model->num_params);
    products->params_bf16_current = 1;
}

/* Views of layer l's activations for the current (B, T). */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *residual2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *residual3;
    const float *residual_in;
} layer_acts;

static layer_acts layer_at(const gpt2_model *model, int l)
{
    const gpt2_acts *a = &model->acts;
    size_t C = (size_t)model->config.n_embd, H = (size_t)model->config.n_head;
    size_t B = (size_t)model->batch, T = (size_t)model->seq, N = B * T;
    layer_acts layer = {
        a->ln1 + l * N * C,        a->ln1_mean + l * N,   a->ln1_rstd + l * N,
        a->qkv + l * N * 3 * C,    a->atty + l * N * C,   a->att + l * B * H * T * T,
        a->residual2 + l * N * C,  a->ln2 + l * N * C,    a->ln2_mean + l * N,
        a->ln2_rstd + l * N,       a->fch + l * N * 4 * C, a->fch_gelu + l * N * 4 * C,
        a->residual3 + l * N * C,
        l == 0 ? a->encoded : a->residual3 + (l - 1) * N * C,
    };
    return layer;
}

void kd_gpt2_forward(gpt2_model *model, const int *tokens, int batch, int seq)
{
    const gpt2_config *cfg = &model->config;
    const gpt2_params *p = &model->params;
    int C = cfg->n_embd, H = cfg->n_head, N = batch * seq;
    float eps = cfg->layer_norm_epsilon;
    model->batch = batch;
    model->seq = seq;
    memcpy(model->inputs, tokens, (size_t)N * sizeof(int));
    round_weights(model);

    kd_encoder_forward(model->acts.encoded, tokens, p->wte, p->wpe, batch, seq, C);
    for (int l = 0; l < cfg->n_layer; l++) {
        layer_acts a = layer_at(model, l);
        /* x + attn(ln_1(x)) */
        kd_layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.residual_in,
                             LAYER_PARAM(p->ln1w, l, C), LAYER_PARAM(p->ln1b, l, C), N, C, eps);
        kd_matmul_forward(model, a.qkv, a.ln1, kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_ATTN, l),
                          LAYER_PARAM(p->qkvb, l, 3 * C), N, C, 3 * C);
        kd_lora_layer_forward(model, GPT2_LORA_ATTN_C_ATTN, l, a.qkv, a.ln1);
        kd_attention_forward(a.atty, a.att, a.qkv, batch, seq, C, H);
        kd_matmul_forward(model, a.residual2, a.atty, kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_PROJ, l),
                          LAYER_PARAM(p->attprojb, l, C), N, C, C);
        kd_lora_layer_forward(model, GPT2_LORA_ATTN_C_PROJ, l, a.residual2, a.atty);
        kd_add_inplace(a.residual2, a.residual_in, (size_t)N * C);
        /* x + mlp(ln_2(x)) */
        kd_layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.residual2,
                             LAYER_PARAM(p->ln2w, l, C), LAYER_PARAM(p->ln2b, l, C), N, C, eps);
        kd_matmul_forward(model, a.fch, a.ln2, kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_FC, l),
                          LAYER_PARAM(p->fcb, l, 4 * C), N, C, 4 * C);
        kd_lora_layer_forward(model, GPT2_LORA_MLP_C_FC, l, a.fch, a.ln2);
        kd_gelu_forward(a.fch_gelu, a.fch, (size_t)N * 4 * C);
        kd_matmul_forward(model, a.residual3, a.fch_gelu, kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_PROJ, l),
                          LAYER_PARAM(p->fcprojb, l, C), N, 4 * C, C);
        kd_lora_layer_forward(model, GPT2_LORA_MLP_C_PROJ, l, a.residual3, a.fch_gelu);
        kd_add_inplace(a.residual3, a.residual2, (size_t)N * C);
    }
    const float *last = layer_at(model, cfg->n_layer - 1).residual3;
    kd_layernorm_forward(model->acts.lnf, model->acts.lnf_mean, model->acts.lnf_rstd, last,
                         p->lnfw, p->lnfb, N, C, eps);
}

void kd_gpt2_zero_grad(gpt2_model *model)
{
    memset(model->grads_memory, 0, model->num_trainable * sizeof(float));
}

/* The backward hook's two calls, when a hook is set. */
static void report_progress(const gpt2_model *model)
{
    if (model->backward_hook)
        model->backward_hook->progress(model->backward_hook->context);
}

static void report_layer_done(const gpt2_model *model, int layer)
{
    if (model->backward_hook)
        model->backward_hook->layer_done(model->backward_hook->context, layer);
}

void kd_gpt2_backward(gpt2_model *model)
{
    const gpt2_config *cfg = &model->config;
    const gpt2_params *p = &model->params;
    gpt2_params *g = &model->grads;
    gpt2_grad_acts *d = &model->grad_acts;
    int C = cfg->n_embd, H = cfg->n_head, B = model->batch, T = model->seq, N = B * T;
    size_t NC = (size_t)N * C, CC = (size_t)C * C;

    /* dresidual holds d(loss)/d(residual stream) as it flows down the layers. */
    memset(d->dresidual, 0, NC * sizeof(float));
    const float *last = layer_at(model, cfg->n_layer - 1).residual3;
    kd_layernorm_backward(d->dresidual, g->lnfw, g->lnfb, model->acts.dlnf, last, p->lnfw,
                          model->acts.lnf_mean, model->acts.lnf_rstd, N, C);
    for (int l = cfg->n_layer - 1; l >= 0; l--) {
        layer_acts a = layer_at(model, l);
        /* MLP: residual3 = residual2 + c_proj(gelu(c_fc(ln_2(residual2)))) */
        kd_matmul_backward(model, d->dfch_gelu, LAYER_PARAM(g->fcprojw, l, 4 * CC),
                           LAYER_PARAM(g->fcprojb, l, C), d->dresidual, a.fch_gelu,
                           kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_PROJ, l), N, 4 * C, C);
        report_progress(model);
        kd_lora_layer_backward(model, GPT2_LORA_MLP_C_PROJ, l, d->dfch_gelu, d->dresidual,
                               a.fch_gelu);
        kd_gelu_backward(d->dfch, a.fch, d->dfch_gelu, 4 * NC);
        kd_matmul_backward(model, d->dln, LAYER_PARAM(g->fcw, l, 4 * CC), LAYER_PARAM(g->fcb, l, 4 * C),
                           d->dfch, a.ln2, kd_gpt2_base_weight(model, GPT2_LORA_MLP_C_FC, l), N, C, 4 * C);
        report_progress(model);
        kd_lora_layer_backward(model, GPT2_LORA_MLP_C_FC, l, d->dln, d->dfch, a.ln2);
        kd_layernorm_backward(d->dresidual, LAYER_PARAM(g->ln2w, l, C), LAYER_PARAM(g->ln2b, l, C),
                              d->dln, a.residual2, LAYER_PARAM(p->ln2w, l, C), a.ln2_mean,
                              a.ln2_rstd, N, C);
        /* Attention: residual2 = residual_in + c_proj(attn(c_attn(ln_1(residual_in)))) */
        kd_matmul_backward(model, d->datty, LAYER_PARAM(g->attprojw, l, CC),
                           LAYER_PARAM(g->attprojb, l, C), d->dresidual, a.atty,
                           kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_PROJ, l), N, C, C);
        report_progress(model);
        kd_lora_layer_backward(model, GPT2_LORA_ATTN_C_PROJ, l, d->datty, d->dresidual, a.atty);
        kd_attention_backward(d->dqkv, d->datt, d->datty, a.att, a.qkv, B, T, C, H);
        kd_matmul_backward(model, d->dln, LAYER_PARAM(g->qkvw, l, 3 * CC), LAYER_PARAM(g->qkvb, l, 3 * C),
                           d->dqkv, a.ln1, kd_gpt2_base_weight(model, GPT2_LORA_ATTN_C_ATTN, l), N, C, 3 * C);
        report_progress(model);
        kd_lora_layer_backward(model, GPT2_LORA_ATTN_C_ATTN, l, d->dln, d->dqkv, a.ln1);
        kd_layernorm_backward(d->dresidual, LAYER_PARAM(g->ln1w, l, C), LAYER_PARAM(g->ln1b, l, C),
                              d->dln, a.residual_in, LAYER_PARAM(p->ln1w, l, C), a.ln1_mean,
                              a.ln1_rstd, N, C);
        report_layer_done(model, l);
    }
    /* Adapters freeze the embeddings, and with them this whole pass. */
    if (g->wte && g->wpe)
        kd_encoder_backward(g->wte, g->wpe, d->dresidual, model->inputs, B, T, C);
}
