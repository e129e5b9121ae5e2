/* Token + position embedding. */
#include "ops.h"

void kd_encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                        int B, int T, int C)
{
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *row = out + ((size_t)b * T + t) * C;
            const float *token = wte + (size_t)tokens[b * T + t] * C;
            const float *position = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++)
                row[c] = token[c] + position[c];
        }
    }
}

/* Serial on purpose: the same token can appear in many rows, and a fixed
 * summation order keeps runs bit-reproducible. It is O(B*T*C), negligible. */
void kd_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                         int B, int T, int C)
{
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *grad = dout + ((size_t)b * T + t) * C;
            float *token = dwte + (size_t)tokens[b * T + t] * C;
            float *position = dwpe + (size_t)t * C;
            for (int c = 0; c < C; c++) {
                token[c] += grad[c];
                position[c] += grad[c];
            }
        }
    }
}
