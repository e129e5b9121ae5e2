/* LayerNorm over the channel dimension, as torch.nn.LayerNorm. The row sums
 * are vectorised reductions: their lane order is fixed when kd is compiled,
 * so results do not depend on the thread count. */
#include <math.h>

#include "nn_limits.h"
#include "ops.h"

void kd_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, int N, int C, float eps)
{
#pragma omp parallel for if ((size_t)N * C >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < C; c++)
            sum += x[c];
        float m = sum / (float)C;
        float variance = 0.0f;
#pragma omp simd reduction(+ : variance)
        for (int c = 0; c < C; c++) {
            float centred = x[c] - m;
            variance += centred * centred;
        }
        float s = 1.0f / sqrtf(variance / (float)C + eps);
        for (int c = 0; c < C; c++)
            y[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

/* Two passes so that no two threads write the same gradient: rows in
 * parallel for dinp, then channel blocks in parallel for dweight/dbias. */
void kd_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int N, int C)
{
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
        for (int c = 0; c < C; c++) {
            float dnorm = weight[c] * dy[c];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * (x[c] - m) * s;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * s;
            float dnorm = weight[c] * dy[c];
            dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
    if (!dweight && !dbias)
        return;
    enum { BLOCK = 64 };
    int blocks = (C + BLOCK - 1) / BLOCK;
#pragma omp parallel for
    for (int block = 0; block < blocks; block++) {
        int begin = block * BLOCK, end = begin + BLOCK < C ? begin + BLOCK : C;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            const float *dy = dout + (size_t)n * C;
            float m = mean[n], s = rstd[n];
            for (int c = begin; c < end && dweight; c++)
                dweight[c] += dy[c] * (x[c] - m) * s;
            for (int c = begin; c < end && dbias; c++)
                dbias[c] += dy[c];
        }
    }
}
