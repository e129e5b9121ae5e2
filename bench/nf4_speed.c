/* QLoRA's cost beside the products: quantizing distilgpt2's four Conv1D
 * matrix shapes to NF4 once, and dequantizing each (the pass every forward
 * and backward product of a QLoRA step makes), median of REPEATS, as values/s,
 * with the load average.
 *
 *   build/bench_nf4_speed [THREADS] [REPEATS]      defaults: 2 9 */
#include <stdio.h>
#include <stdlib.h>

#include "kd/quant.h"

static const struct {
    const char *name;
    size_t in, out;
} shapes[] = {{"c_attn", 768, 2304}, {"attn.c_proj", 768, 768}, {"c_fc", 768, 3072},
              {"mlp.c_proj", 3072, 768}};

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, repeats = argc > 2 ? atoi(argv[2]) : 9;
    if (threads < 1 || repeats < 1 || repeats > 99) {
        fprintf(stderr, "usage: bench_nf4_speed [THREADS >= 1] [REPEATS 1..99]\n");
        return 2;
    }
    kd_set_threads(threads);
    double load[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
        load[0] = -1;
    if (f)
        fclose(f);
    printf("%d threads, load %.2f %.2f %.2f\n", threads, load[0], load[1], load[2]);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t n = shapes[s].in * shapes[s].out;
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        if (!x || !y)
            return 1;
        kd_rng rng;
        kd_rng_seed(&rng, 1);
        for (size_t i = 0; i < n; i++)
            x[i] = 0.02f * kd_rng_normal(&rng);
        kd_nf4_tensor tensor;
        double start = kd_now_seconds();
        if (kd_nf4_quantize(&tensor, x, n) != KD_OK)
            return 1;
        double quantize = kd_now_seconds() - start, times[99];
        for (int r = 0; r < repeats; r++) {
            start = kd_now_seconds();
            kd_nf4_dequantize(&tensor, y);
            times[r] = kd_now_seconds() - start;
        }
        qsort(times, (size_t)repeats, sizeof *times, compare);
        double median = times[repeats / 2];
        printf("%-12s %5zu x %-5zu quantize %7.1f ms  dequantize %6.2f ms  %6.0f M values/s\n",
               shapes[s].name, shapes[s].in, shapes[s].out, quantize * 1e3, median * 1e3,
               (double)n / median / 1e6);
        kd_nf4_free(&tensor);
        free(x);
        free(y);
    }
    return 0;
}
