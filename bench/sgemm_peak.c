/* What OpenBLAS's sgemm reaches on this machine at the shapes of a GPT-2
 * training step, so that kd's model GFLOP/s (kd bench) can be read as a
 * share of what the mandated BLAS can do at all, not only as a ratio to
 * another program. Picks the OpenBLAS kernels kd would (re-executing with
 * OPENBLAS_CORETYPE where needed), then times each product REPEATS times and
 * prints the median and the best GFLOP/s:
 *
 *   head logits   (rows, V) = hidden (rows, C) . wte^T          as head.c
 *   head dhidden  (rows, C) = dlogits (rows, V) . wte (V, C)    one sgemm, K = V
 *   head dwte     (V, C)   += dlogits^T . hidden (rows, C)
 *   mlp c_fc      (N, 4C)   = x (N, C) . w (C, 4C)              N = batch x seq
 *   square        2048 x 2048 x 2048
 *
 *   build/bench_sgemm_peak [C] [ROWS] [N] [THREADS] [REPEATS]
 *       defaults: 256 512 1024 2 5 (the T shape's head chunk at batch 4 x 256) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "kd/core.h"

enum { VOCAB = 50257, SQUARE = 2048, MAX_REPEATS = 64 };

typedef struct {
    const char *name;
    CBLAS_TRANSPOSE trans_a, trans_b;
    int M, N, K;
    const float *A, *B;
    int lda, ldb;
    float beta;
    float *out;
    int ldc;
} product;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void time_product(const product *p, int repeats)
{
    double seconds[MAX_REPEATS];
    for (int r = 0; r <= repeats; r++) {
        double start = kd_now_seconds();
        cblas_sgemm(CblasRowMajor, p->trans_a, p->trans_b, p->M, p->N, p->K, 1.0f, p->A, p->lda,
                    p->B, p->ldb, p->beta, p->out, p->ldc);
        if (r > 0) /* the first call warms the buffers and is not counted */
            seconds[r - 1] = kd_now_seconds() - start;
    }
    qsort(seconds, (size_t)repeats, sizeof *seconds, compare_doubles);
    double gflop = 2.0 * p->M * p->N * (double)p->K / 1e9;
    printf("%-14s %6d x %6d x %6d  %8.1f ms  %7.1f GFLOP/s median  %7.1f best\n", p->name, p->M,
           p->N, p->K, 1e3 * seconds[repeats / 2], gflop / seconds[repeats / 2],
           gflop / seconds[0]);
}

static float *filled(size_t count)
{
    float *data = malloc(count * sizeof *data);
    if (!data) {
        fprintf(stderr, "bench_sgemm_peak: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < count; i++)
        data[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return data;
}

static int argument(int argc, char **argv, int index, int fallback, int max)
{
    if (argc <= index)
        return fallback;
    char *end;
    long value = strtol(argv[index], &end, 10);
    if (end == argv[index] || *end || value < 1 || value > max) {
        fprintf(stderr, "bench_sgemm_peak: argument %d (\"%s\") must be an integer in 1..%d\n",
                index, argv[index], max);
        exit(2);
    }
    return (int)value;
}

/* Refuses operands that would not fit, before touching any of them. */
static void check_memory(size_t floats)
{
    size_t machine = kd_physical_memory_bytes();
    if (machine && (double)floats * sizeof(float) > 0.9 * (double)machine) {
        fprintf(stderr, "bench_sgemm_peak: these sizes need %.1f GB; this machine has %.1f GB\n",
                (double)floats * sizeof(float) / 1e9, (double)machine / 1e9);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    int C = argument(argc, argv, 1, 256, 4096), rows = argument(argc, argv, 2, 512, 8192);
    int N = argument(argc, argv, 3, 1024, 65536), threads = argument(argc, argv, 4, 2, 256);
    int repeats = argument(argc, argv, 5, 5, MAX_REPEATS);
    kd_set_threads(threads);
    printf("OpenBLAS %s kernels, %d threads, median of %d\n", kd_blas_core_name(), threads,
           repeats);

    size_t big = (size_t)VOCAB * C > (size_t)SQUARE * SQUARE ? (size_t)VOCAB * C
                                                              : (size_t)SQUARE * SQUARE;
    /* hidden and small serve as (rows, C) and as (N, 4C) operands. */
    size_t activations = ((size_t)rows + 4 * (size_t)N) * C;
    size_t logits_floats = (size_t)rows * VOCAB > big ? (size_t)rows * VOCAB : big;
    check_memory(2 * big + 2 * activations + logits_floats);
    float *wte = filled(big), *dwte = filled(big), *hidden = filled(activations);
    float *logits = filled(logits_floats);
    float *small = filled(activations);
    product products[] = {
        {"head logits", CblasNoTrans, CblasTrans, rows, VOCAB, C, hidden, wte, C, C, 0.0f,
         logits, VOCAB},
        {"head dhidden", CblasNoTrans, CblasNoTrans, rows, C, VOCAB, logits, wte, VOCAB, C,
         0.0f, small, C},
        {"head dwte", CblasTrans, CblasNoTrans, VOCAB, C, rows, logits, hidden, VOCAB, C, 1.0f,
         dwte, C},
        {"mlp c_fc", CblasNoTrans, CblasNoTrans, N, 4 * C, C, hidden, wte, C, 4 * C, 0.0f,
         small, 4 * C},
        {"square", CblasNoTrans, CblasNoTrans, SQUARE, SQUARE, SQUARE, wte, dwte, SQUARE, SQUARE,
         0.0f, logits, SQUARE},
    };
    for (size_t i = 0; i < sizeof products / sizeof *products; i++)
        time_product(&products[i], repeats);
    free(wte);
    free(dwte);
    free(hidden);
    free(logits);
    free(small);
    return 0;
}
