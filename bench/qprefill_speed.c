/* Prefill of a prompt on the distilgpt2 shape (6 layers, 768 wide, 12 heads,
 * random weights) from f32 (kd_gpt2_prefill, OpenBLAS) and from q8_0 and
 * q4_0 (kd_gpt2_qprefill, the current quantized kernel): tokens per wall
 * second and per CPU second of the process. The three types take turns,
 * round after round, so a change in the machine's load falls on all of them
 * alike; the medians over the rounds are printed with the ratios to f32.
 * With THREADS = 1 the CPU figure is the work itself, which other programs
 * on a loaded machine hardly change; with more threads it also counts the
 * time OpenMP and OpenBLAS threads spend waiting for work.
 *
 *   [KD_QKERNEL=avx2] build/bench_qprefill_speed [THREADS] [PROMPT] [ROUNDS]
 *       defaults: 1 128 7 */
#include <stdio.h>
#include <stdlib.h>

#include "kd/qgpt2.h"

enum { TYPES = 3, MAX_ROUNDS = 99 };

typedef struct {
    gpt2_model model;
    gpt2_kv_cache cache;
    gpt2_qmodel q[TYPES]; /* [0] unused: f32 runs `model` */
    gpt2_qstate state;
} engines;

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare);
    return v[n / 2];
}

static kd_status engines_create(engines *e, const gpt2_config *config, int prompt)
{
    kd_status status = kd_gpt2_create(&e->model, config);
    if (status != KD_OK)
        return status;
    kd_gpt2_init_random(&e->model, 1);
    if ((status = kd_gpt2_prepare(&e->model, 1, prompt, 0)) != KD_OK ||
        (status = kd_gpt2_kv_cache_create(&e->cache, config, prompt)) != KD_OK ||
        (status = kd_gpt2_qstate_create(&e->state, config, prompt)) != KD_OK)
        return status;
    for (int t = KD_QTYPE_Q8_0; t < TYPES && status == KD_OK; t++)
        status = kd_gpt2_qmodel_quantize(&e->q[t], &e->model, (kd_qtype)t);
    return status;
}

/* One prefill of `type`; its wall and CPU seconds. */
static kd_status run(engines *e, int type, const int *tokens, int prompt, double *wall,
                     double *cpu)
{
    double start = kd_now_seconds(), start_cpu = kd_cpu_seconds();
    kd_status status = type == KD_QTYPE_F32
                           ? kd_gpt2_prefill(&e->model, &e->cache, tokens, prompt)
                           : kd_gpt2_qprefill(&e->q[type], &e->state, tokens, prompt);
    *cpu = kd_cpu_seconds() - start_cpu;
    *wall = kd_now_seconds() - start;
    return status;
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int prompt = argc > 2 ? atoi(argv[2]) : 128;
    int rounds = argc > 3 ? atoi(argv[3]) : 7;
    gpt2_config config = {6, 12, 768, 1024, 50257, 1e-5f};
    if (threads < 1 || prompt < 1 || prompt > config.n_positions || rounds < 1 ||
        rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench_qprefill_speed [THREADS] [PROMPT<=1024] [ROUNDS<=99]\n");
        return 2;
    }
    kd_set_threads(threads);
    engines e = {0};
    int *tokens = malloc((size_t)prompt * sizeof(int));
    kd_status status = kd_qkernel_use_env(); /* KD_QKERNEL picks a path to time */
    if (status == KD_OK)
        status = tokens ? engines_create(&e, &config, prompt) : KD_ERR_NOMEM;
    kd_rng rng;
    kd_rng_seed(&rng, 2);
    for (int t = 0; tokens && t < prompt; t++)
        tokens[t] = (int)kd_rng_below(&rng, (uint64_t)config.vocab_size);
    double wall[TYPES][MAX_ROUNDS], cpu[TYPES][MAX_ROUNDS];
    /* round 0 warms up, untimed */
    for (int r = 0; status == KD_OK && r <= rounds; r++)
        for (int t = 0; t < TYPES && status == KD_OK; t++) {
            double w, c;
            status = run(&e, t, tokens, prompt, &w, &c);
            if (r > 0) {
                wall[t][r - 1] = prompt / w;
                cpu[t][r - 1] = prompt / c;
            }
        }
    if (status != KD_OK) {
        fprintf(stderr, "bench_qprefill_speed: %s\n", kd_last_error());
        return 1;
    }
    printf("distilgpt2 shape, %d-token prompt, %d threads, kernel %s, OpenBLAS %s, median of %d\n",
           prompt, threads, kd_qkernel_name(kd_qkernel_current()), kd_blas_core_name(), rounds);
    printf("%-6s %12s %12s %10s %10s\n", "type", "tok/s", "tok/cpu-s", "wall_x", "cpu_x");
    double f32_wall = median(wall[0], rounds), f32_cpu = median(cpu[0], rounds);
    for (int t = 0; t < TYPES; t++) {
        double w = median(wall[t], rounds), c = median(cpu[t], rounds);
        printf("%-6s %12.1f %12.1f %10.2f %10.2f\n", kd_qtype_name((kd_qtype)t), w, c,
               w / f32_wall, c / f32_cpu);
    }
    for (int t = KD_QTYPE_Q8_0; t < TYPES; t++)
        kd_gpt2_qmodel_free(&e.q[t]);
    kd_gpt2_qstate_free(&e.state);
    kd_gpt2_kv_cache_free(&e.cache);
    kd_gpt2_free(&e.model);
    free(tokens);
    return 0;
}
