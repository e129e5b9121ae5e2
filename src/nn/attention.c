/* Causal multi-head self-attention, one (batch, head) pair per task, with the
 * two products of each pair done by OpenBLAS sgemm on strided views of qkv.
 * Inside an OpenMP parallel region OpenBLAS runs single-threaded, so the
 * parallelism is over (b, h) and never oversubscribed. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn_limits.h"
#include "ops.h"
#include "vector_math.h"

/* Softmax of row t over columns 0..t; the masked columns become exact zeros. */
static void causal_softmax_row(float *row, int t, int T)
{
    float max = row[0];
    for (int j = 1; j <= t; j++)
        max = row[j] > max ? row[j] : max;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= t; j++) {
        row[j] = expf(row[j] - max);
        sum += row[j];
    }
    float inverse = 1.0f / sum;
    for (int j = 0; j <= t; j++)
        row[j] *= inverse;
    for (int j = t + 1; j < T; j++)
        row[j] = 0.0f;
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H)
{
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (size_t)b * T * 3 * C + (size_t)h * D;
            const float *k = q + C;
            const float *v = q + 2 * C;
            float *scores = att + ((size_t)b * H + h) * T * T;
            /* scores (T,T) = scale * q (T,D) . k^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, q, 3 * C, k,
                        3 * C, 0.0f, scores, T);
            for (int t = 0; t < T; t++)
                causal_softmax_row(scores + (size_t)t * T, t, T);
            /* out_h (T,D) = probs (T,T) . v (T,D) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, scores, T, v,
                        3 * C, 0.0f, out + (size_t)b * T * C + (size_t)h * D, C);
        }
    }
}

/* Decoding one token: per head, two sgemv over the strided cached keys and
 * values. The new position is the last one, so nothing is masked. */
void attention_decode_forward(float *out, float *scores, const float *q, const float *keys,
                              const float *values, int length, int C, int H)
{
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for if ((size_t)length * C >= PARALLEL_MIN_FLOATS)
    for (int h = 0; h < H; h++) {
        float *probs = scores + (size_t)h * length;
        /* probs (length) = scale * k_h (length,D) . q_h (D) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, length, D, scale, keys + (size_t)h * D, C,
                    q + (size_t)h * D, 1, 0.0f, probs, 1);
        causal_softmax_row(probs, length - 1, length);
        /* out_h (D) = v_h^T (D,length) . probs */
        cblas_sgemv(CblasRowMajor, CblasTrans, length, D, 1.0f, values + (size_t)h * D, C, probs,
                    1, 0.0f, out + (size_t)h * D, 1);
    }
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                        const float *qkv, int B, int T, int C, int H)
{
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *dprobs = scratch + (size_t)omp_get_thread_num() * T * T;
            size_t head = (size_t)b * T * 3 * C + (size_t)h * D;
            const float *q = qkv + head, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + head, *dk = dq + C, *dv = dq + 2 * C;
            const float *probs = att + ((size_t)b * H + h) * T * T;
            const float *dy = dout + (size_t)b * T * C + (size_t)h * D;
            /* dprobs (T,T) = dy (T,D) . v^T ;  dv (T,D) = probs^T . dy */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dy, C, v, 3 * C,
                        0.0f, dprobs, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, probs, T, dy, C,
                        0.0f, dv, 3 * C);
            /* Softmax backward, folding in the score scale:
             * dscores = scale * probs * (dprobs - sum_j probs_j dprobs_j). */
            for (int t = 0; t < T; t++) {
                const float *p = probs + (size_t)t * T;
                float *d = dprobs + (size_t)t * T;
                float dot = 0.0f;
                for (int j = 0; j <= t; j++)
                    dot += p[j] * d[j];
                for (int j = 0; j <= t; j++)
                    d[j] = scale * p[j] * (d[j] - dot);
                for (int j = t + 1; j < T; j++)
                    d[j] = 0.0f;
            }
            /* dq (T,D) = dscores . k ;  dk (T,D) = dscores^T . q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, dprobs, T, k,
                        3 * C, 0.0f, dq, 3 * C);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, dprobs, T, q,
                        3 * C, 0.0f, dk, 3 * C);
        }
    }
}
