/* The quantized GPT-2's weights: built from an f32 model or from blocks
 * already made, and checked before use. */
#include <stdlib.h>
#include <string.h>

#include "kd/qgpt2.h"

/* Which of gpt2_params' tensors are the matrices, which live as kd_qmatrix. */
static int is_matrix(int index)
{
    return index == 0 || index == 4 || index == 6 || index == 10 || index == 12;
}

static void param_views(gpt2_params *p, float **views[GPT2_NUM_PARAM_TENSORS])
{
    float **list[GPT2_NUM_PARAM_TENSORS] = {
        &p->wte,  &p->wpe,  &p->ln1w, &p->ln1b, &p->qkvw,     &p->qkvb,
        &p->attprojw, &p->attprojb, &p->ln2w, &p->ln2b, &p->fcw, &p->fcb,
        &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb,
    };
    memcpy(views, list, sizeof list);
}

kd_status kd_gpt2_qmodel_create(gpt2_qmodel *model, const gpt2_config *config)
{
    memset(model, 0, sizeof *model);
    kd_status status = kd_gpt2_config_validate(config);
    if (status != KD_OK)
        return status;
    model->config = *config;
    size_t sizes[GPT2_NUM_PARAM_TENSORS], total = 0;
    kd_gpt2_param_sizes(config, sizes);
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++)
        total += is_matrix(i) ? 0 : sizes[i];
    model->vectors_memory = kd_alloc(total, sizeof(float), "quantized model's f32 tensors");
    model->layers = kd_alloc((size_t)config->n_layer, sizeof(gpt2_qlayer), "quantized layers");
    if (!model->vectors_memory || !model->layers) {
        kd_gpt2_qmodel_free(model);
        return KD_ERR_NOMEM;
    }
    float **views[GPT2_NUM_PARAM_TENSORS];
    param_views(&model->vectors, views);
    float *next = model->vectors_memory;
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++) {
        *views[i] = is_matrix(i) ? NULL : next;
        next += is_matrix(i) ? 0 : sizes[i];
    }
    return KD_OK;
}

void kd_gpt2_qmodel_free(gpt2_qmodel *model)
{
    kd_qmatrix_free(&model->wte);
    for (int l = 0; model->layers && l < model->config.n_layer; l++) {
        kd_qmatrix_free(&model->layers[l].qkv);
        kd_qmatrix_free(&model->layers[l].attproj);
        kd_qmatrix_free(&model->layers[l].fc);
        kd_qmatrix_free(&model->layers[l].fcproj);
    }
    free(model->layers);
    free(model->vectors_memory);
    memset(model, 0, sizeof *model);
}

static kd_status check_matrix(const kd_qmatrix *matrix, const char *name, int layer, int rows,
                              int cols)
{
    if (matrix->data && matrix->rows == rows && matrix->cols == cols)
        return KD_OK;
    return kd_fail(KD_ERR_INVALID, "quantized model: %s of layer %d is %s; expected %d x %d",
                   name, layer, matrix->data ? "of another shape" : "missing", rows, cols);
}

kd_status kd_gpt2_qmodel_check(const gpt2_qmodel *model)
{
    int C = model->config.n_embd;
    kd_status status = check_matrix(&model->wte, "wte", -1, model->config.vocab_size, C);
    for (int l = 0; l < model->config.n_layer && status == KD_OK; l++) {
        const gpt2_qlayer *layer = &model->layers[l];
        status = check_matrix(&layer->qkv, "attn.c_attn", l, 3 * C, C);
        if (status == KD_OK)
            status = check_matrix(&layer->attproj, "attn.c_proj", l, C, C);
        if (status == KD_OK)
            status = check_matrix(&layer->fc, "mlp.c_fc", l, 4 * C, C);
        if (status == KD_OK)
            status = check_matrix(&layer->fcproj, "mlp.c_proj", l, C, 4 * C);
    }
    return status;
}

/* `type`, or f32 for rows that do not split into blocks. */
static kd_qtype type_for(kd_qtype type, int cols)
{
    return cols % KD_QBLOCK == 0 ? type : KD_QTYPE_F32;
}

/* A Conv1D weight [in, out] as out rows of in values. */
static kd_status quantize_conv1d(kd_qmatrix *matrix, kd_qtype type, const float *weight, int in,
                                 int out)
{
    return kd_qmatrix_quantize(matrix, type_for(type, in), weight, out, in, 1);
}

kd_status kd_gpt2_qmodel_quantize(gpt2_qmodel *model, const gpt2_model *source, kd_qtype type)
{
    kd_status status = kd_gpt2_qmodel_create(model, &source->config);
    if (status != KD_OK)
        return status;
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&source->config, sizes);
    float **from[GPT2_NUM_PARAM_TENSORS], **to[GPT2_NUM_PARAM_TENSORS];
    gpt2_params params = source->params;
    param_views(&params, from);
    param_views(&model->vectors, to);
    for (int i = 0; i < GPT2_NUM_PARAM_TENSORS; i++)
        if (!is_matrix(i))
            memcpy(*to[i], *from[i], sizes[i] * sizeof(float));

    int C = source->config.n_embd, V = source->config.vocab_size;
    size_t CC = (size_t)C * C;
    const gpt2_params *p = &source->params;
    /* wte (V, C) is already rows of C */
    status = kd_qmatrix_quantize(&model->wte, type_for(type, C), p->wte, V, C, 0);
    for (int l = 0; l < source->config.n_layer && status == KD_OK; l++) {
        gpt2_qlayer *layer = &model->layers[l];
        status = quantize_conv1d(&layer->qkv, type, p->qkvw + l * 3 * CC, C, 3 * C);
        if (status == KD_OK)
            status = quantize_conv1d(&layer->attproj, type, p->attprojw + l * CC, C, C);
        if (status == KD_OK)
            status = quantize_conv1d(&layer->fc, type, p->fcw + l * 4 * CC, C, 4 * C);
        if (status == KD_OK)
            status = quantize_conv1d(&layer->fcproj, type, p->fcprojw + l * 4 * CC, 4 * C, C);
    }
    if (status != KD_OK)
        kd_gpt2_qmodel_free(model);
    return status;
}

void kd_gpt2_qmodel_matrix_bytes(const gpt2_qmodel *model, size_t *stored, size_t *f32)
{
    const kd_qmatrix *matrices[4];
    *stored = kd_qmatrix_bytes(&model->wte);
    *f32 = (size_t)model->wte.rows * model->wte.cols * sizeof(float);
    for (int l = 0; l < model->config.n_layer; l++) {
        const gpt2_qlayer *layer = &model->layers[l];
        matrices[0] = &layer->qkv;
        matrices[1] = &layer->attproj;
        matrices[2] = &layer->fc;
        matrices[3] = &layer->fcproj;
        for (int m = 0; m < 4; m++) {
            *stored += kd_qmatrix_bytes(matrices[m]);
            *f32 += (size_t)matrices[m]->rows * matrices[m]->cols * sizeof(float);
        }
    }
}
