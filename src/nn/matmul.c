/* Affine layers in HF's Conv1D layout: fp32 products through OpenBLAS, bf16
 * ones (bf16 inputs, fp32 accumulation and output) through oneDNN. */
#include <cblas.h>
#include <string.h>

#include "bf16_gemm.h"
#include "ops.h"

static int uses_bf16(const gpt2_model *model)
{
    return model->products.precision == KD_PRECISION_BF16;
}

/* The bf16 copy of a weight tensor of `model`, at the same offset as its
 * fp32 view. */
static const bf16 *weight_bf16(const gpt2_model *model, const float *weight)
{
    return model->products.params_bf16 + (weight - model->params_memory);
}

static void forward_bf16(const gpt2_model *model, float *out, const float *inp,
                         const float *weight, const float *bias, int N, int IC, int OC)
{
    bf16 *inp16 = model->products.scratch;
    kd_bf16_from_float(inp16, inp, (size_t)N * IC);
    bf16_gemm_shape shape = {N, OC, IC, 0, 0, IC, OC, OC, bias != NULL, 0};
    kd_bf16_gemm(&shape, inp16, weight_bf16(model, weight), bias, out);
}

void kd_matmul_forward(const gpt2_model *model, float *out, const float *inp, const float *weight,
                       const float *bias, int N, int IC, int OC)
{
    if (uses_bf16(model)) {
        forward_bf16(model, out, inp, weight, bias, N, IC, OC);
        return;
    }
    /* Seed the output with the bias and let sgemm accumulate onto it. */
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OC, IC, 1.0f, inp, IC, weight, OC,
                beta, out, OC);
}

/* The two products of the backward pass with bf16 operands. The input is
 * rounded again rather than kept from the forward pass: (N, IC) roundings
 * cost little beside the (N, IC, OC) product, and no bf16 activation copy
 * has to live through the whole step. */
static void backward_bf16(const gpt2_model *model, float *dinp, float *dweight,
                          const float *dout, const float *inp, const float *weight, int N,
                          int IC, int OC)
{
    bf16 *dout16 = model->products.scratch, *inp16 = dout16 + (size_t)N * OC;
    kd_bf16_from_float(dout16, dout, (size_t)N * OC);
    kd_bf16_from_float(inp16, inp, (size_t)N * IC);
    /* dinp (N,IC) = dout (N,OC) . weight^T */
    bf16_gemm_shape input = {N, IC, OC, 0, 1, OC, OC, IC, 0, 0};
    kd_bf16_gemm(&input, dout16, weight_bf16(model, weight), NULL, dinp);
    /* dweight (IC,OC) += inp^T . dout, unless the weight is frozen */
    bf16_gemm_shape weights = {IC, OC, N, 1, 0, IC, OC, OC, 0, 1};
    if (dweight)
        kd_bf16_gemm(&weights, inp16, dout16, NULL, dweight);
}

void kd_matmul_backward(const gpt2_model *model, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight, int N, int IC,
                        int OC)
{
    if (uses_bf16(model)) {
        backward_bf16(model, dinp, dweight, dout, inp, weight, N, IC, OC);
    } else {
        /* dinp (N,IC) = dout (N,OC) . weight^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, IC, OC, 1.0f, dout, OC, weight,
                    OC, 0.0f, dinp, IC);
        /* dweight (IC,OC) += inp^T . dout, unless the weight is frozen */
        if (dweight)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, IC, OC, N, 1.0f, inp, IC, dout,
                        OC, 1.0f, dweight, OC);
    }
    if (!dbias)
        return;
    enum { BLOCK = 64 };
    int blocks = (OC + BLOCK - 1) / BLOCK;
#pragma omp parallel for
    for (int block = 0; block < blocks; block++) {
        int begin = block * BLOCK, end = begin + BLOCK < OC ? begin + BLOCK : OC;
        for (int n = 0; n < N; n++) {
            const float *row = dout + (size_t)n * OC;
            for (int o = begin; o < end; o++)
                dbias[o] += row[o];
        }
    }
}

void kd_matvec_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int IC, int OC)
{
    float beta = 0.0f;
    if (bias) {
        memcpy(out, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    /* out (OC) = weight^T (OC,IC) . inp, weight being row-major (IC,OC). */
    cblas_sgemv(CblasRowMajor, CblasTrans, IC, OC, 1.0f, weight, OC, inp, 1, beta, out, 1);
}
