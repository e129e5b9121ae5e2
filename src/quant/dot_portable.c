/* The reference dot products in plain C: the other kernels are tested
 * against these. Each block's integer sum is exact; it is scaled by both
 * blocks' d and added in float, block by block, as ggml's reference does. */
#include "kernels.h"

float kd_dot_q8_0_portable(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y)
{
    float sum = 0.0f;
    for (size_t b = 0; b < n / KD_QBLOCK; b++) {
        int32_t block = 0;
        for (int j = 0; j < KD_QBLOCK; j++)
            block += x[b].qs[j] * y[b].qs[j];
        sum += (float)block * kd_float16_to_float(x[b].d) * kd_float16_to_float(y[b].d);
    }
    return sum;
}

float kd_dot_q4_0_portable(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y)
{
    enum { HALF = KD_QBLOCK / 2 };
    float sum = 0.0f;
    for (size_t b = 0; b < n / KD_QBLOCK; b++) {
        int32_t block = 0;
        for (int j = 0; j < HALF; j++) {
            block += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            block += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + HALF];
        }
        sum += (float)block * kd_float16_to_float(x[b].d) * kd_float16_to_float(y[b].d);
    }
    return sum;
}
