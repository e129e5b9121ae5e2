/* kd bench --mode kd: one distillation step of the student with the
 * teacher's targets from the cache (the product's path), the same step with
 * the teacher run live, and a plain CE step of the student for reference,
 * all on the same random batch. The cached rows are synthetic but shaped as
 * the cache's (K distinct ids with log-probabilities and the tail mass, N
 * tail samples per token): the step's cost does not depend on their values.
 * Decoding them from disk is timed by the cache itself (kd cache inspect:
 * read throughput). */
#include <math.h>
#include <stdlib.h>

#include "bench.h"
#include "kd/distill.h"

typedef struct {
    gpt2_model student, teacher;
    int *tokens, *targets;       /* (B, T) */
    teacher_row_target *rows;    /* (B T) one per token */
    int *ids;                    /* (B T, K + N): top-K then samples */
    float *values;               /* (B T, K + N): log-probabilities then weights */
    distill_config distill;
    gpt2_step_config step;
} kd_bench;

static kd_status allocate(kd_bench *b, const bench_options *o)
{
    size_t n = (size_t)o->batch * (size_t)o->seq, width = (size_t)(o->topk + o->samples);
    b->tokens = kd_alloc(n, sizeof(int), "benchmark tokens");
    b->targets = kd_alloc(n, sizeof(int), "benchmark targets");
    b->rows = kd_alloc(n, sizeof *b->rows, "benchmark teacher rows");
    b->ids = kd_alloc(n * (width ? width : 1), sizeof(int), "benchmark row ids");
    b->values = kd_alloc(n * (width ? width : 1), sizeof(float), "benchmark row values");
    return b->tokens && b->targets && b->rows && b->ids && b->values ? KD_OK : KD_ERR_NOMEM;
}

/* Row i: K consecutive ids from a per-row offset with probabilities
 * 0.9 / (k + 1) normalised, the tail 0.1 split evenly over N samples. */
static void fill_rows(kd_bench *b, const bench_options *o, int vocab_size)
{
    size_t n = (size_t)o->batch * (size_t)o->seq, width = (size_t)(o->topk + o->samples);
    double harmonic = 0.0;
    for (int k = 0; k < o->topk; k++)
        harmonic += 1.0 / (k + 1);
    kd_rng rng;
    kd_rng_seed(&rng, BENCH_SEED + 2);
    for (size_t i = 0; i < n; i++) {
        int *ids = b->ids + i * width;
        float *values = b->values + i * width;
        int first = (int)kd_rng_below(&rng, (uint64_t)vocab_size);
        for (int k = 0; k < o->topk + o->samples; k++)
            ids[k] = (first + k) % vocab_size;
        for (int k = 0; k < o->topk; k++)
            values[k] = (float)log(0.9 / (k + 1) / harmonic);
        for (int s = 0; s < o->samples; s++)
            values[o->topk + s] = 0.1f / (float)o->samples;
        b->rows[i] = (teacher_row_target){
            .k = o->topk, .ids = ids, .logprobs = values, .tail_mass = o->topk ? 0.1f : 1.0f,
            .n_samples = o->samples, .sample_ids = ids + o->topk,
            .sample_weights = values + o->topk, .entropy = 3.0f};
        if (!o->topk) /* all mass in the samples */
            for (int s = 0; s < o->samples; s++)
                values[s] = 1.0f / (float)o->samples;
    }
}

static kd_status setup(kd_bench *b, const bench_options *o, const gpt2_config *student,
                       const gpt2_config *teacher)
{
    kd_status status = kd_gpt2_create(&b->student, student);
    if (status == KD_OK)
        status = kd_gpt2_create(&b->teacher, teacher);
    if (status != KD_OK)
        return status;
    kd_gpt2_init_random(&b->student, BENCH_SEED);
    kd_gpt2_init_random(&b->teacher, BENCH_SEED + 1);
    status = kd_gpt2_prepare(&b->student, o->batch, o->seq, 1);
    if (status == KD_OK)
        status = kd_gpt2_prepare(&b->teacher, o->batch, o->seq, 0);
    if (status == KD_OK)
        status = kd_gpt2_set_precision(&b->student, o->precision);
    if (status == KD_OK)
        status = kd_gpt2_set_precision(&b->teacher, o->precision);
    if (status == KD_OK)
        status = allocate(b, o);
    if (status != KD_OK)
        return status;
    kd_rng rng;
    kd_rng_seed(&rng, BENCH_SEED + 3);
    for (size_t i = 0; i < (size_t)o->batch * (size_t)o->seq; i++) {
        b->tokens[i] = (int)kd_rng_below(&rng, (uint64_t)student->vocab_size);
        b->targets[i] = (int)kd_rng_below(&rng, (uint64_t)student->vocab_size);
    }
    fill_rows(b, o, student->vocab_size);
    b->distill = kd_distill_config_default();
    b->step = (gpt2_step_config){{5e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 0}, 5e-4f, 1.0f, NULL, 0};
    return KD_OK;
}

typedef enum { STEP_CACHED, STEP_LIVE, STEP_CE } kd_step_kind;

static kd_status one_step(kd_bench *b, const bench_options *o, kd_step_kind kind, int step,
                          double *loss)
{
    gpt2_batch batch = {b->tokens, b->targets, NULL, o->batch, o->seq};
    if (kind == STEP_CE) {
        gpt2_step_result result;
        kd_status status = kd_gpt2_train_step(&b->student, &batch, 1, &b->step, step, &result);
        *loss = result.loss;
        return status;
    }
    int cached = kind == STEP_CACHED;
    distill_batch micro = {batch, cached ? b->rows : NULL, cached ? o->batch * o->seq : 0};
    distill_step_result result;
    kd_status status = kd_gpt2_distill_train_step(&b->student, cached ? NULL : &b->teacher, &micro,
                                                  1, &b->distill, &b->step, step, &result);
    *loss = result.step.loss;
    return status;
}

/* Median seconds of one kind of step (after the warm-up); the cached kind
 * also records its first and last loss. */
static kd_status time_kind(kd_bench *b, const bench_options *o, kd_step_kind kind,
                           double *times, bench_timing *timing, double *median)
{
    kd_status status = KD_OK;
    for (int s = 0; s < o->warmup + o->steps && status == KD_OK; s++) {
        double loss = 0.0, start = kd_now_seconds();
        status = one_step(b, o, kind, s + 1, &loss);
        if (s >= o->warmup)
            times[s - o->warmup] = kd_now_seconds() - start;
        if (kind == STEP_CACHED && s == 0)
            timing->first_loss = loss;
        if (kind == STEP_CACHED)
            timing->last_loss = loss;
    }
    bench_timing summary;
    if (status == KD_OK)
        bench_summarise(times, o->steps, &summary);
    if (status == KD_OK && kind == STEP_CACHED)
        *timing = (bench_timing){.median_s = summary.median_s, .min_s = summary.min_s,
                                 .max_s = summary.max_s, .first_loss = timing->first_loss,
                                 .last_loss = timing->last_loss};
    if (status == KD_OK)
        *median = summary.median_s;
    return status;
}

kd_status bench_kd(const bench_options *options, const gpt2_config *student,
                   const gpt2_config *teacher, bench_timing *timing)
{
    kd_bench b = {0};
    double *times = kd_alloc((size_t)options->steps, sizeof(double), "step times");
    kd_status status = times ? setup(&b, options, student, teacher) : KD_ERR_NOMEM;
    double cached = 0.0; /* also timing->median_s */
    if (status == KD_OK)
        status = time_kind(&b, options, STEP_CACHED, times, timing, &cached);
    if (status == KD_OK)
        status = time_kind(&b, options, STEP_LIVE, times, timing, &timing->live_median_s);
    if (status == KD_OK)
        status = time_kind(&b, options, STEP_CE, times, timing, &timing->ce_median_s);
    kd_gpt2_free(&b.student);
    kd_gpt2_free(&b.teacher);
    free(b.tokens);
    free(b.targets);
    free(b.rows);
    free(b.ids);
    free(b.values);
    free(times);
    return status;
}
