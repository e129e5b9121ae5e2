/* The quantized matrix products against f32 at the shapes of a distilgpt2
 * decode step and prefill: for each weight matrix (out rows x in columns)
 * and N input rows, the median time of kd_qmatrix_forward with the matrix
 * in f32 (OpenBLAS sgemv / sgemm), q8_0 and q4_0, with every kernel the CPU
 * runs, as GFLOP/s and the weights' GB/s. Beside the wall time, the median
 * CPU time of the process: with THREADS = 1 it is the product's own work,
 * which other programs on a loaded machine hardly change (GFLOP/s is per
 * CPU second).
 *
 *   build/bench_qmatmul_speed [THREADS] [N_PREFILL] [REPEATS]
 *       defaults: 2 128 9 */
#include <stdio.h>
#include <stdlib.h>

#include "kd/quant.h"

enum { MAX_REPEATS = 99 };

static const struct {
    const char *name;
    int rows, cols;
} shapes[] = {
    {"c_attn", 2304, 768}, {"attn.c_proj", 768, 768}, {"c_fc", 3072, 768},
    {"mlp.c_proj", 768, 3072}, {"lm_head", 50257, 768},
};

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median wall and CPU seconds of one product. */
static void median_seconds(float *out, const float *inp, const kd_qmatrix *m, int N,
                           kd_qscratch *scratch, int repeats, double *wall, double *cpu)
{
    double walls[MAX_REPEATS], cpus[MAX_REPEATS];
    kd_qmatrix_forward(out, inp, m, NULL, N, scratch); /* warm-up */
    for (int r = 0; r < repeats; r++) {
        double start = kd_now_seconds(), start_cpu = kd_cpu_seconds();
        kd_qmatrix_forward(out, inp, m, NULL, N, scratch);
        cpus[r] = kd_cpu_seconds() - start_cpu;
        walls[r] = kd_now_seconds() - start;
    }
    qsort(walls, (size_t)repeats, sizeof *walls, compare);
    qsort(cpus, (size_t)repeats, sizeof *cpus, compare);
    *wall = walls[repeats / 2];
    *cpu = cpus[repeats / 2];
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int prefill = argc > 2 ? atoi(argv[2]) : 128;
    int repeats = argc > 3 ? atoi(argv[3]) : 9;
    if (threads < 1 || prefill < 1 || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "usage: bench_qmatmul_speed [THREADS] [N_PREFILL] [REPEATS<=99]\n");
        return 2;
    }
    kd_set_threads(threads);
    printf("threads %d, OpenBLAS %s; median of %d\n", threads, kd_blas_core_name(), repeats);
    printf("%-12s %5s %-6s %-9s %10s %10s %9s %9s\n", "matrix", "N", "type", "kernel", "ms",
           "cpu_ms", "GFLOP/s", "wGB/s");
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    for (size_t s = 0; s < KD_COUNTOF(shapes); s++) {
        int rows = shapes[s].rows, cols = shapes[s].cols;
        size_t count = (size_t)rows * cols;
        float *w = malloc(count * sizeof(float));
        float *inp = malloc((size_t)prefill * cols * sizeof(float));
        float *out = malloc((size_t)prefill * rows * sizeof(float));
        kd_qscratch scratch;
        if (!w || !inp || !out || kd_qscratch_create(&scratch, prefill, cols) != KD_OK) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < count; i++)
            w[i] = kd_rng_normal(&rng) * 0.02f;
        for (size_t i = 0; i < (size_t)prefill * cols; i++)
            inp[i] = kd_rng_normal(&rng);
        for (int type = KD_QTYPE_F32; type <= KD_QTYPE_Q4_0; type++) {
            kd_qmatrix m;
            if (kd_qmatrix_quantize(&m, (kd_qtype)type, w, rows, cols, 0) != KD_OK) {
                fprintf(stderr, "%s\n", kd_last_error());
                return 1;
            }
            for (int k = KD_QKERNEL_COUNT - 1; k >= 0; k--) {
                /* f32 does not use the kernels: one line for it */
                if (!kd_qkernel_supported((kd_qkernel)k) ||
                    (type == KD_QTYPE_F32 && k != (int)kd_qkernel_best()))
                    continue;
                kd_qkernel_use((kd_qkernel)k);
                int sizes[2] = {1, prefill};
                for (int i = 0; i < 2; i++) {
                    double t, cpu;
                    median_seconds(out, inp, &m, sizes[i], &scratch, repeats, &t, &cpu);
                    printf("%-12s %5d %-6s %-9s %10.3f %10.3f %9.1f %9.1f\n", shapes[s].name,
                           sizes[i], kd_qtype_name((kd_qtype)type),
                           type == KD_QTYPE_F32 ? "openblas" : kd_qkernel_name((kd_qkernel)k),
                           t * 1e3, cpu * 1e3, 2.0 * count * sizes[i] / cpu * 1e-9,
                           kd_qmatrix_bytes(&m) / t * 1e-9);
                }
            }
            kd_qmatrix_free(&m);
        }
        kd_qscratch_free(&scratch);
        free(w);
        free(inp);
        free(out);
    }
    return 0;
}
