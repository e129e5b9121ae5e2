/* Causal multi-head self-attention, one (batch, head) pair per task, with the
 * products of each pair done by OpenBLAS sgemm on strided views of qkv.
 * Inside an OpenMP parallel region OpenBLAS runs single-threaded, so the
 * parallelism is over (b, h) and never oversubscribed.
 *
 * The products skip the masked upper triangle a block of QUERY_BLOCK rows at
 * a time: queries [r0, r1) only meet keys [0, r1), and key rows [c0, c1)
 * only get gradient from queries [c0, T). At T = 256 that is 5/8 of the
 * full T x T work. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn_limits.h"
#include "ops.h"
#include "vector_math.h"

enum { QUERY_BLOCK = 64 };

static int block_end(int begin, int T)
{
    return begin + QUERY_BLOCK < T ? begin + QUERY_BLOCK : T;
}

/* Softmax of row t over columns 0..t; the masked columns become exact zeros. */
static void causal_softmax_row(float *row, int t, int T)
{
    float max = row[0];
#pragma omp simd reduction(max : max)
    for (int j = 1; j <= t; j++)
        max = row[j] > max ? row[j] : max;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= t; j++) {
        row[j] = expf(row[j] - max);
        sum += row[j];
    }
    float inverse = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j <= t; j++)
        row[j] *= inverse;
    for (int j = t + 1; j < T; j++)
        row[j] = 0.0f;
}

void kd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H)
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
            float *y = out + (size_t)b * T * C + (size_t)h * D;
            for (int r0 = 0; r0 < T; r0 += QUERY_BLOCK) {
                int r1 = block_end(r0, T);
                float *block = scores + (size_t)r0 * T;
                /* scores[r0:r1, 0:r1] = scale * q[r0:r1] (rows,D) . k[0:r1]^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, D, scale,
                            q + (size_t)r0 * 3 * C, 3 * C, k, 3 * C, 0.0f, block, T);
                for (int t = r0; t < r1; t++)
                    causal_softmax_row(scores + (size_t)t * T, t, T);
                /* y[r0:r1] (rows,D) = probs[r0:r1, 0:r1] . v[0:r1] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, D, r1, 1.0f,
                            block, T, v, 3 * C, 0.0f, y + (size_t)r0 * C, C);
            }
        }
    }
}

/* Decoding one token: per head, two sgemv over the strided cached keys and
 * values. The new position is the last one, so nothing is masked. */
void kd_attention_decode_forward(float *out, float *scores, const float *q, const float *keys,
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

/* Softmax backward of row t, folding in the score scale:
 * d = scale * p * (d - sum_j p_j d_j) over j <= t; zeros beyond. */
static void causal_softmax_backward_row(float *d, const float *p, int t, int T, float scale)
{
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j <= t; j++)
        dot += p[j] * d[j];
#pragma omp simd
    for (int j = 0; j <= t; j++)
        d[j] = scale * p[j] * (d[j] - dot);
    for (int j = t + 1; j < T; j++)
        d[j] = 0.0f;
}

void kd_attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                           const float *qkv, int B, int T, int C, int H)
{
    int D = C / H, ld = 3 * C;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *dscores = scratch + (size_t)omp_get_thread_num() * T * T;
            size_t head = (size_t)b * T * 3 * C + (size_t)h * D;
            const float *q = qkv + head, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + head, *dk = dq + C, *dv = dq + 2 * C;
            const float *probs = att + ((size_t)b * H + h) * T * T;
            const float *dy = dout + (size_t)b * T * C + (size_t)h * D;
            for (int r0 = 0; r0 < T; r0 += QUERY_BLOCK) {
                int r1 = block_end(r0, T);
                /* dprobs[r0:r1, 0:r1] = dy[r0:r1] . v[0:r1]^T, then dscores */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, r1, D, 1.0f,
                            dy + (size_t)r0 * C, C, v, ld, 0.0f, dscores + (size_t)r0 * T, T);
                for (int t = r0; t < r1; t++)
                    causal_softmax_backward_row(dscores + (size_t)t * T, probs + (size_t)t * T,
                                                t, T, scale);
                /* dq[r0:r1] = dscores[r0:r1, 0:r1] . k[0:r1] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, D, r1, 1.0f,
                            dscores + (size_t)r0 * T, T, k, ld, 0.0f, dq + (size_t)r0 * ld, ld);
            }
            for (int c0 = 0; c0 < T; c0 += QUERY_BLOCK) {
                int c1 = block_end(c0, T);
                /* dv[c0:c1] = probs[c0:T, c0:c1]^T . dy[c0:T] ;
                 * dk[c0:c1] = dscores[c0:T, c0:c1]^T . q[c0:T] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, D, T - c0, 1.0f,
                            probs + (size_t)c0 * T + c0, T, dy + (size_t)c0 * C, C, 0.0f,
                            dv + (size_t)c0 * ld, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, D, T - c0, 1.0f,
                            dscores + (size_t)c0 * T + c0, T, q + (size_t)c0 * ld, ld, 0.0f,
                            dk + (size_t)c0 * ld, ld);
            }
        }
    }
}
