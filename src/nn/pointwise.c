/* Element-wise layers: GELU (tanh approximation) and residual additions. */
#include <math.h>

#include "nn_limits.h"
#include "ops.h"
#include "vector_math.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

void kd_gelu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for simd if (n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float inner = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(inner));
    }
}

void kd_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float inner = GELU_SCALE * (x + 0.044715f * x * x * x);
        float tanh_inner = tanhf(inner);
        float sech2 = 1.0f - tanh_inner * tanh_inner;
        float local = 0.5f * (1.0f + tanh_inner) +
                      0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = local * dout[i];
    }
}

void kd_residual_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd if (n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void kd_add_inplace(float *acc, const float *x, size_t n)
{
#pragma omp parallel for simd if (n >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < n; i++)
        acc[i] += x[i];
}
