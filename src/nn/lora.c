/* The LoRA adapter layer: two thin products beside a frozen Conv1D matrix,
 * with dropout on the adapter's input drawn from a hash so that backward
 * rebuilds the mask instead of storing it. */
#include <cblas.h>

#include "ops.h"

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* 0 with probability p, else 1/(1-p): the top 24 bits of the hash as a
 * uniform draw in [0, 1). */
static float dropout_factor(lora_dropout dropout, size_t i, float keep_scale)
{
    float draw = (float)(mix64(dropout.stream ^ mix64((uint64_t)i)) >> 40) * 0x1p-24f;
    return draw < dropout.p ? 0.0f : keep_scale;
}

/* out (n) = x (n) * mask; out may be x. */
static void dropout_apply(float *out, const float *x, size_t n, lora_dropout dropout)
{
    float keep_scale = 1.0f / (1.0f - dropout.p);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * dropout_factor(dropout, i, keep_scale);
}

/* drop(inp): inp itself without dropout, else the masked copy in `dropped`. */
static const float *dropped_input(float *dropped, const float *inp, size_t n,
                                  lora_dropout dropout)
{
    if (dropout.p <= 0.0f)
        return inp;
    dropout_apply(dropped, inp, n, dropout);
    return dropped;
}

void kd_lora_forward(float *out, float *u, float *dropped, const float *inp, const float *A,
                     const float *B, float scale, lora_dropout dropout, int N, int IN, int OUT,
                     int r)
{
    const float *x = dropped_input(dropped, inp, (size_t)N * IN, dropout);
    /* u (N,r) = x . A^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, IN, 1.0f, x, IN, A, IN, 0.0f, u,
                r);
    /* out (N,OUT) += scale * u . B^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, r, scale, u, r, B, r, 1.0f, out,
                OUT);
}

void kd_lora_backward(float *dinp, float *dA, float *dB, float *du, float *dropped,
                      const float *dout, const float *inp, const float *u, const float *A,
                      const float *B, float scale, lora_dropout dropout, int N, int IN, int OUT,
                      int r)
{
    size_t NI = (size_t)N * IN;
    /* dB (OUT,r) += scale * dout^T . u */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, r, N, scale, dout, OUT, u, r, 1.0f,
                dB, r);
    /* du (N,r) = scale * dout . B */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, OUT, scale, dout, OUT, B, r,
                0.0f, du, r);
    /* dA (r,IN) += du^T . drop(inp) */
    const float *x = dropped_input(dropped, inp, NI, dropout);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, IN, N, 1.0f, du, r, x, IN, 1.0f, dA,
                IN);
    if (dropout.p <= 0.0f) {
        /* dinp (N,IN) += du . A */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, r, 1.0f, du, r, A, IN, 1.0f,
                    dinp, IN);
        return;
    }
    /* dinp += (du . A) * mask: the product lands in the scratch first. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, r, 1.0f, du, r, A, IN, 0.0f,
                dropped, IN);
    dropout_apply(dropped, dropped, NI, dropout);
    kd_add_inplace(dinp, dropped, NI);
}
