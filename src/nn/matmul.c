/* Affine layers in HF's Conv1D layout, every product through OpenBLAS. */
#include <cblas.h>
#include <string.h>

#include "ops.h"

void kd_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int N, int IC, int OC)
{
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

void kd_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int IC, int OC)
{
    /* dinp (N,IC) = dout (N,OC) . weight^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, IC, OC, 1.0f, dout, OC, weight, OC,
                0.0f, dinp, IC);
    /* dweight (IC,OC) += inp^T . dout, unless the weight is frozen */
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, IC, OC, N, 1.0f, inp, IC, dout, OC,
                    1.0f, dweight, OC);
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
