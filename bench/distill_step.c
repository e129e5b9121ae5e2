/* Distillation step speed: one live-teacher KD step (student forward,
 * teacher forward, the fused distillation head, student backward, AdamW)
 * against a plain CE step of the same student, on random tokens, and the
 * teacher's forward pass with its lm_head (gpt2_head_evaluate) for
 * reference: a KD step should cost about a CE step plus that. Prints the median of STEPS
 * timed steps after one warm-up step each.
 *
 *   build/bench_distill [STUDENT_CONFIG TEACHER_CONFIG [BATCH SEQ STEPS [DIVERGENCE T]]]
 *   (defaults: configs/student-tiny.json configs/teacher-tiny.json 4 256 5 forward_kl 2) */
#include <stdio.h>
#include <stdlib.h>

#include "kd/core.h"
#include "kd/distill.h"
#include "kd/io.h"

enum { MAX_STEPS = 100 };

typedef enum { RUN_CE, RUN_KD, RUN_TEACHER_FORWARD } run_kind;

typedef struct {
    gpt2_model student, teacher;
    int *tokens, *targets;
    int batch, seq;
    distill_config distill;
    gpt2_step_config step;
} bench;

static kd_status run_once(bench *b, run_kind kind, int step)
{
    gpt2_batch batch = {b->tokens, b->targets, NULL, b->batch, b->seq};
    if (kind == RUN_TEACHER_FORWARD) {
        gpt2_eval_sums sums = {0.0, 0.0, 0.0};
        gpt2_forward(&b->teacher, b->tokens, b->batch, b->seq);
        gpt2_head_evaluate(&b->teacher, b->targets, NULL, &sums);
        return KD_OK;
    }
    if (kind == RUN_CE) {
        gpt2_step_result result;
        return gpt2_train_step(&b->student, &batch, 1, &b->step, step, &result);
    }
    distill_batch micro = {batch, NULL, 0};
    distill_step_result result;
    return gpt2_distill_train_step(&b->student, &b->teacher, &micro, 1, &b->distill, &b->step,
                                   step, &result);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per call over `steps` calls after one warm-up. */
static kd_status time_runs(bench *b, run_kind kind, int steps, double *median)
{
    double seconds[MAX_STEPS];
    for (int s = 0; s <= steps; s++) {
        double start = kd_now_seconds();
        kd_status status = run_once(b, kind, s + 1);
        if (status != KD_OK)
            return status;
        if (s > 0)
            seconds[s - 1] = kd_now_seconds() - start;
    }
    qsort(seconds, (size_t)steps, sizeof *seconds, compare_doubles);
    *median = seconds[steps / 2];
    return KD_OK;
}

static kd_status setup(bench *b, const char *student_path, const char *teacher_path)
{
    gpt2_config student, teacher;
    kd_status status = gpt2_config_read_model_section(student_path, &student);
    if (status == KD_OK)
        status = gpt2_config_read_model_section(teacher_path, &teacher);
    if (status == KD_OK)
        status = gpt2_create(&b->student, &student);
    if (status == KD_OK)
        status = gpt2_create(&b->teacher, &teacher);
    if (status != KD_OK)
        return status;
    gpt2_init_random(&b->student, 1);
    gpt2_init_random(&b->teacher, 2);
    status = gpt2_prepare(&b->student, b->batch, b->seq, 1);
    if (status == KD_OK)
        status = gpt2_prepare(&b->teacher, b->batch, b->seq, 0);
    size_t n = (size_t)b->batch * b->seq;
    b->tokens = kd_alloc(n, sizeof(int), "tokens");
    b->targets = kd_alloc(n, sizeof(int), "targets");
    if (status != KD_OK || !b->tokens || !b->targets)
        return status != KD_OK ? status : KD_ERR_NOMEM;
    kd_rng rng;
    kd_rng_seed(&rng, 3);
    for (size_t i = 0; i < n; i++) {
        b->tokens[i] = (int)kd_rng_below(&rng, (uint64_t)student.vocab_size);
        b->targets[i] = (int)kd_rng_below(&rng, (uint64_t)student.vocab_size);
    }
    return KD_OK;
}

int main(int argc, char **argv)
{
    kd_blas_ensure_fast_core(argc, argv);
    const char *student_path = argc > 2 ? argv[1] : "configs/student-tiny.json";
    const char *teacher_path = argc > 2 ? argv[2] : "configs/teacher-tiny.json";
    bench b = {.batch = argc > 5 ? atoi(argv[3]) : 4, .seq = argc > 5 ? atoi(argv[4]) : 256};
    int steps = argc > 5 ? atoi(argv[5]) : 5;
    b.distill = distill_config_default();
    b.distill.temperature = argc > 7 ? (float)atof(argv[7]) : 2.0f;
    b.step = (gpt2_step_config){{1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 0}, 1e-4f, 1.0f};
    kd_status status = argc > 6 ? divergence_from_name(argv[6], &b.distill.divergence) : KD_OK;
    if (status == KD_OK && (steps < 1 || steps > MAX_STEPS || b.batch < 1 || b.seq < 1))
        status = kd_fail(KD_ERR_INVALID, "steps must be 1..%d, batch and seq positive",
                         MAX_STEPS);
    if (status == KD_OK)
        status = setup(&b, student_path, teacher_path);
    double ce = 0.0, kd = 0.0, teacher = 0.0;
    if (status == KD_OK)
        status = time_runs(&b, RUN_CE, steps, &ce);
    if (status == KD_OK)
        status = time_runs(&b, RUN_KD, steps, &kd);
    if (status == KD_OK)
        status = time_runs(&b, RUN_TEACHER_FORWARD, steps, &teacher);
    if (status != KD_OK) {
        fprintf(stderr, "bench_distill: %s\n", kd_last_error());
        return 1;
    }
    double tokens = (double)b.batch * b.seq;
    printf("student %s, teacher %s, batch %d x %d, %d threads, BLAS core %s, %s T %g\n",
           student_path, teacher_path, b.batch, b.seq, kd_threads(), kd_blas_core_name(),
           divergence_name(b.distill.divergence), (double)b.distill.temperature);
    printf("CE step              %8.1f ms  %8.0f tokens/s\n", ce * 1e3, tokens / ce);
    printf("KD step (live)       %8.1f ms  %8.0f tokens/s\n", kd * 1e3, tokens / kd);
    printf("teacher forward+head %8.1f ms\n", teacher * 1e3);
    printf("KD / CE              %8.2f   (KD - CE - teacher forward+head: %.1f ms)\n", kd / ce,
           (kd - ce - teacher) * 1e3);
    gpt2_free(&b.student);
    gpt2_free(&b.teacher);
    free(b.tokens);
    free(b.targets);
    return 0;
}
