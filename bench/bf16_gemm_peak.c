/* OpenBLAS sgemm against kd's bf16 products (oneDNN matmul, bf16 inputs,
 * fp32 accumulation and output) at the shapes of one GPT-2 step, on the same
 * machine in the same run, so the speed-up bf16 can give kd is read from the
 * products alone. Each product runs once to warm up (and, for bf16, to create
 * its primitive), then REPEATS times; prints the median and best GFLOP/s of
 * both and their ratio.
 *
 *   build/bench_bf16_gemm_peak [C] [N] [ROWS] [THREADS] [REPEATS]
 *       defaults: 768 1024 512 2 5 (distilgpt2 at batch 4 x 256) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "../src/nn/bf16_gemm.h"
#include "kd/core.h"

enum { VOCAB = 50257, MAX_REPEATS = 64 };

typedef struct {
    const char *name;
    int M, N, K;
    int trans_a, trans_b;
} shape;

typedef struct {
    double median, best;
} timing;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static timing summarise(double *seconds, int repeats, double gflop)
{
    qsort(seconds, (size_t)repeats, sizeof *seconds, compare_doubles);
    return (timing){gflop / seconds[repeats / 2], gflop / seconds[0]};
}

static timing time_sgemm(const shape *s, const float *A, const float *B, float *C, int repeats)
{
    double seconds[MAX_REPEATS];
    int lda = s->trans_a ? s->M : s->K, ldb = s->trans_b ? s->K : s->N;
    for (int r = 0; r <= repeats; r++) {
        double start = kd_now_seconds();
        cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                    s->trans_b ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f, A, lda, B,
                    ldb, 0.0f, C, s->N);
        if (r > 0)
            seconds[r - 1] = kd_now_seconds() - start;
    }
    return summarise(seconds, repeats, 2e-9 * s->M * s->N * (double)s->K);
}

static timing time_bf16(const shape *s, const bf16 *A, const bf16 *B, float *C, int repeats)
{
    double seconds[MAX_REPEATS];
    bf16_gemm_shape g = {s->M, s->N, s->K, s->trans_a, s->trans_b,
                         s->trans_a ? s->M : s->K, s->trans_b ? s->K : s->N, s->N, 0, 0};
    for (int r = 0; r <= repeats; r++) {
        double start = kd_now_seconds();
        kd_bf16_gemm(&g, A, B, NULL, C);
        if (r > 0)
            seconds[r - 1] = kd_now_seconds() - start;
    }
    return summarise(seconds, repeats, 2e-9 * s->M * s->N * (double)s->K);
}

int main(int argc, char **argv)
{
    int C = argc > 1 ? atoi(argv[1]) : 768, N = argc > 2 ? atoi(argv[2]) : 1024;
    int rows = argc > 3 ? atoi(argv[3]) : 512, threads = argc > 4 ? atoi(argv[4]) : 2;
    int repeats = argc > 5 ? atoi(argv[5]) : 5;
    if (C < 1 || N < 1 || rows < 1 || threads < 1 || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "usage: bench_bf16_gemm_peak [C] [N] [ROWS] [THREADS] [REPEATS 1..64]\n");
        return 2;
    }
    kd_runtime_tune(argc, argv);
    kd_set_threads(threads);
    if (kd_bf16_support() == BF16_NONE) {
        fprintf(stderr, "bench_bf16_gemm_peak: no bf16 products on this CPU or build\n");
        return 1;
    }
    const shape shapes[] = {
        {"attn c_attn", N, 3 * C, C, 0, 0},
        {"mlp c_fc", N, 4 * C, C, 0, 0},
        {"mlp c_proj", N, C, 4 * C, 0, 0},
        {"c_fc dinp", N, C, 4 * C, 0, 1},
        {"c_fc dweight", C, 4 * C, N, 1, 0},
        {"head logits", rows, VOCAB, C, 0, 1},
        {"head dhidden", rows, C, VOCAB, 0, 0},
        {"head dwte", VOCAB, C, rows, 1, 0},
    };
    size_t most = (size_t)VOCAB * (C > rows ? C : rows);
    if ((size_t)N * 4 * C > most)
        most = (size_t)N * 4 * C;
    float *A = malloc(most * sizeof *A), *B = malloc(most * sizeof *B), *out = malloc(most * sizeof *out);
    bf16 *A16 = malloc(most * sizeof *A16), *B16 = malloc(most * sizeof *B16);
    if (!A || !B || !out || !A16 || !B16) {
        fprintf(stderr, "bench_bf16_gemm_peak: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < most; i++)
        A[i] = B[i] = (float)(i % 17) * 0.01f - 0.08f;
    kd_bf16_from_float(A16, A, most);
    kd_bf16_from_float(B16, B, most);
    printf("threads %d, OpenBLAS %s, oneDNN %s (%s)\n", kd_threads(), kd_blas_core_name(),
           kd_bf16_isa_name(), kd_bf16_support() >= BF16_NATIVE ? "native bf16" : "emulated");
    printf("%-13s %21s  %17s  %17s  %s\n", "product", "M x N x K", "sgemm GFLOP/s",
           "bf16 GFLOP/s", "bf16 / sgemm");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        timing f32 = time_sgemm(s, A, B, out, repeats);
        timing b16 = time_bf16(s, A16, B16, out, repeats);
        printf("%-13s %6d x %6d x %6d  %7.1f (best %5.0f)  %7.1f (best %5.0f)  %.2f\n", s->name,
               s->M, s->N, s->K, f32.median, f32.best, b16.median, b16.best,
               b16.median / f32.median);
    }
    free(A), free(B), free(out), free(A16), free(B16);
    return 0;
}
