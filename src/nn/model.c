/* GPT-2 parameters: sizes, the single buffer and its views, HF tensor names,
 * configuration checks and the GPT-2 initialisation. */
#include "kd/nn.h"
#include "lora_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kd_gpt2_param_sizes(const gpt2_config *config, size_t sizes[GPT2_NUM_PARAM_TENSORS])
{
    size_t V = (size_t)config->vocab_size, P = (size_t)config->n_positions;
    size_t L = (size_t)config->n_layer, C = (size_t)config->n_embd;
    sizes[0] = V * C;          /* wte */
    sizes[1] = P * C;          /* wpe */
    sizes[2] = L * C;          /* ln1w */
    sizes[3] = L * C;          /* ln1b */
    sizes[4] = L * C * 3 * C;  /* qkvw */
    sizes[5] = L * 3 * C;      /* qkvb */
    sizes[6] = L * C * C;      /* attprojw */
    sizes[7] = L * C;          /* attprojb */
    sizes[8] = L * C;          /* ln2w */
    sizes[9] = L * C;          /* ln2b */
    sizes[10] = L * C * 4 * C; /* fcw */
    sizes[11] = L * 4 * C;     /* fcb */
    sizes[12] = L * 4 * C * C; /* fcprojw */
    sizes[13] = L * C;         /* fcprojb */
    sizes[14] = C;             /* lnfw */
    sizes[15] = C;             /* lnfb */
}

size_t kd_gpt2_num_params(const gpt2_config *config)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(config, sizes);
    size_t total = 0;
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++)
        total += sizes[i];
    return total;
}

void kd_gpt2_params_point(gpt2_params *params, float *memory, const gpt2_config *config)
{
    kd_gpt2_params_point_subset(params, memory, config, NULL);
}

/* The views of `params` in the order of kd_gpt2_param_sizes. */
static void param_views(gpt2_params *params, float **views[GPT2_NUM_PARAM_TENSORS])
{
    float **list[GPT2_NUM_PARAM_TENSORS] = {
        &params->wte,  &params->wpe,      &params->ln1w,     &params->ln1b,
        &params->qkvw, &params->qkvb,     &params->attprojw, &params->attprojb,
        &params->ln2w, &params->ln2b,     &params->fcw,      &params->fcb,
        &params->fcprojw, &params->fcprojb, &params->lnfw,   &params->lnfb,
    };
    memcpy(views, list, sizeof list);
}

/* Tensors 2 to 13 hold one slice per layer; the others are the model's. */
static int per_layer_tensor(int index)
{
    return index >= 2 && index < GPT2_NUM_PARAM_TENSORS - 2;
}

int kd_gpt2_layer_views(gpt2_params *params, const gpt2_config *config, int first, int count,
                        float **views, size_t *counts)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(config, sizes);
    float **all[GPT2_NUM_PARAM_TENSORS];
    param_views(params, all);
    int n = 0;
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++) {
        if (!*all[i] || per_layer_tensor(i) != (count > 0))
            continue;
        size_t per_layer = sizes[i] / (size_t)config->n_layer;
        views[n] = *all[i] + (count > 0 ? (size_t)first * per_layer : 0);
        counts[n++] = count > 0 ? (size_t)count * per_layer : sizes[i];
    }
    return n;
}

void kd_gpt2_params_point_subset(gpt2_params *params, float *memory, const gpt2_config *config,
                                 const unsigned char *present)
{
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(config, sizes);
    float **views[GPT2_NUM_PARAM_TENSORS];
    param_views(params, views);
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++) {
        int here = !present || present[i];
        *views[i] = here ? memory : NULL;
        memory += here ? sizes[i] : 0;
    }
}

/* Per-layer tensors in HF order: name suffix, stacked view, and shape as
 * multiples of C (a zero second factor marks a 1-D tensor). */
typedef struct {
    const char *suffix;
    size_t view_offset;
    int rows_in_c;
    int cols_in_c;
} layer_tensor_spec;

static const layer_tensor_spec layer_tensors[] = {
    {"ln_1.weight", offsetof(gpt2_params, ln1w), 1, 0},
    {"ln_1.bias", offsetof(gpt2_params, ln1b), 1, 0},
    {"attn.c_attn.weight", offsetof(gpt2_params, qkvw), 1, 3},
    {"attn.c_attn.bias", offsetof(gpt2_params, qkvb), 3, 0},
    {"attn.c_proj.weight", offsetof(gpt2_params, attprojw), 1, 1},
    {"attn.c_proj.bias", offsetof(gpt2_params, attprojb), 1, 0},
    {"ln_2.weight", offsetof(gpt2_params, ln2w), 1, 0},
    {"ln_2.bias", offsetof(gpt2_params, ln2b), 1, 0},
    {"mlp.c_fc.weight", offsetof(gpt2_params, fcw), 1, 4},
    {"mlp.c_fc.bias", offsetof(gpt2_params, fcb), 4, 0},
    {"mlp.c_proj.weight", offsetof(gpt2_params, fcprojw), 4, 1},
    {"mlp.c_proj.bias", offsetof(gpt2_params, fcprojb), 1, 0},
};
enum { LAYER_TENSORS = sizeof layer_tensors / sizeof *layer_tensors };

int kd_gpt2_tensor_count(const gpt2_config *config)
{
    return 4 + LAYER_TENSORS * config->n_layer;
}

static void set_tensor(gpt2_tensor *tensor, const char *name, float *data, int64_t rows,
                       int64_t cols)
{
    snprintf(tensor->name, sizeof tensor->name, "%s", name);
    tensor->data = data;
    tensor->ndim = cols ? 2 : 1;
    tensor->shape[0] = rows;
    tensor->shape[1] = cols;
}

void kd_gpt2_tensor_at(const gpt2_config *config, const gpt2_params *params, int index,
                       gpt2_tensor *tensor)
{
    int64_t C = config->n_embd;
    if (index == 0) {
        set_tensor(tensor, "wte.weight", params->wte, config->vocab_size, C);
    } else if (index == 1) {
        set_tensor(tensor, "wpe.weight", params->wpe, config->n_positions, C);
    } else if (index == kd_gpt2_tensor_count(config) - 2) {
        set_tensor(tensor, "ln_f.weight", params->lnfw, C, 0);
    } else if (index == kd_gpt2_tensor_count(config) - 1) {
        set_tensor(tensor, "ln_f.bias", params->lnfb, C, 0);
    } else {
        int layer = (index - 2) / LAYER_TENSORS;
        const layer_tensor_spec *spec = &layer_tensors[(index - 2) % LAYER_TENSORS];
        int64_t rows = spec->rows_in_c * C, cols = spec->cols_in_c * C;
        int64_t per_layer = rows * (cols ? cols : 1);
        float *stacked = *(float *const *)((const char *)params + spec->view_offset);
        char name[64];
        snprintf(name, sizeof name, "h.%d.%s", layer, spec->suffix);
        /* A frozen tensor's gradient view is NULL, and so is each layer's. */
        set_tensor(tensor, name, stacked ? stacked + (size_t)layer * (size_t)per_layer : NULL,
                   rows, cols);
    }
}

kd_status kd_gpt2_config_validate(const gpt2_config *config)
{
    const struct { const char *name; int value; } sizes[] = {
        {"n_layer", config->n_layer}, {"n_head", config->n_head}, {"n_embd", config->n_embd},
        {"n_positions", config->n_positions}, {"vocab_size", config->vocab_size},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].value <= 0)
            return kd_fail(KD_ERR_INVALID, "%s must be positive, got %d", sizes[i].name,
                           sizes[i].value);
    if (config->n_embd % config->n_head != 0)
        return kd_fail(KD_ERR_INVALID, "n_embd %d is not divisible by n_head %d", config->n_embd,
                       config->n_head);
    if (!(config->layer_norm_epsilon > 0.0f) || !isfinite(config->layer_norm_epsilon))
        return kd_fail(KD_ERR_INVALID, "layer_norm_epsilon must be a positive number");
    /* Sizes fit in int, so the double product cannot overflow. */
    double params = (double)config->vocab_size * config->n_embd +
                    (double)config->n_positions * config->n_embd +
                    12.0 * config->n_layer * (double)config->n_embd * config->n_embd;
    double bytes = params * sizeof(float);
    size_t machine = kd_physical_memory_bytes();
    if (params > 1e12 || (machine && bytes > (double)machine))
        return kd_fail(KD_ERR_NOMEM,
                       "model of %.3g parameters needs %.1f GB for its weights alone; "
                       "this machine has %.1f GB",
                       params, bytes / 1e9, (double)machine / 1e9);
    return KD_OK;
}

kd_status kd_gpt2_create(gpt2_model *model, const gpt2_config *config)
{
    memset(model, 0, sizeof *model);
    kd_status status = kd_gpt2_config_validate(config);
    if (status != KD_OK)
        return status;
    model->config = *config;
    model->num_params = kd_gpt2_num_params(config);
    model->params_memory = kd_alloc(model->num_params, sizeof(float), "model parameters");
    if (!model->params_memory)
        return KD_ERR_NOMEM;
    memset(model->trainable, 1, sizeof model->trainable);
    kd_gpt2_params_point(&model->params, model->params_memory, config);
    return KD_OK;
}

void kd_gpt2_free(gpt2_model *model)
{
    free(model->params_memory);
    free(model->grads_memory);
    free(model->adam_m);
    free(model->adam_v);
    free(model->acts_memory);
    free(model->grad_acts_memory);
    free(model->head_scratch);
    free(model->head_rows);
    free(model->head_row_values);
    free(model->inputs);
    free(model->products.params_bf16);
    free(model->products.scratch);
    kd_lora_free(model->lora);
    kd_nf4_base_free(model->nf4, model->config.n_layer);
    memset(model, 0, sizeof *model);
}

static void fill_normal(float *data, size_t count, float std, kd_rng *rng)
{
    for (size_t i = 0; i < count; i++)
        data[i] = std * kd_rng_normal(rng);
}

static void fill_constant(float *data, size_t count, float value)
{
    for (size_t i = 0; i < count; i++)
        data[i] = value;
}

void kd_gpt2_init_random(gpt2_model *model, uint64_t seed)
{
    const gpt2_config *config = &model->config;
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(config, sizes);
    gpt2_params *p = &model->params;
    /* HF's _init_weights: N(0, 0.02) for weights and embeddings, and
     * c_proj weights scaled by 1/sqrt(2 n_layer) (GPT-2 paper, sec. 2.3). */
    float std = 0.02f, proj_std = 0.02f / sqrtf(2.0f * (float)config->n_layer);
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    memset(model->params_memory, 0, model->num_params * sizeof(float));
    fill_normal(p->wte, sizes[0], std, &rng);
    fill_normal(p->wpe, sizes[1], std, &rng);
    fill_constant(p->ln1w, sizes[2], 1.0f);
    fill_normal(p->qkvw, sizes[4], std, &rng);
    fill_normal(p->attprojw, sizes[6], proj_std, &rng);
    fill_constant(p->ln2w, sizes[8], 1.0f);
    fill_normal(p->fcw, sizes[10], std, &rng);
    fill_normal(p->fcprojw, sizes[12], proj_std, &rng);
    fill_constant(p->lnfw, sizes[14], 1.0f);
}
