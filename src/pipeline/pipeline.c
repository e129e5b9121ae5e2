/* kd pipeline: every stage in order, each skipped when its record says it
 * is done with the same inputs, resumed when it was interrupted. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/report.h"
#include "kd/student.h"
#include "kd/teacher.h"
#include "kd/train.h"
#include "pipeline_internal.h"

enum { MAX_RUNS = 2 * PIPELINE_MAX_STUDENTS };

/* One student run: a KD student or its hard-label baseline. */
typedef struct {
    const pipeline_student *student;
    int baseline;
    char dir[KD_PATH_CAPACITY];
    stage_key key;
} student_stage;

typedef struct {
    pipeline_config config;
    int threads;
    char out[KD_PATH_CAPACITY];
    char teacher_dir[KD_PATH_CAPACITY];
    char teacher_model[KD_PATH_CAPACITY];
    char cache_dir[KD_PATH_CAPACITY];
    char report_dir[KD_PATH_CAPACITY];
    stage_key teacher_key;
    stage_key cache_key;
    student_stage runs[MAX_RUNS];
    int run_count;
} pipeline;

typedef kd_status (*stage_work)(pipeline *p, int resume, void *arg);

/* Skips, resumes or runs one stage, recording its key before (incomplete)
 * and after (complete), so an interrupted stage is known as such. */
static kd_status run_stage(pipeline *p, const char *label, const char *dir, stage_key key,
                           stage_work work, void *arg)
{
    char last[KD_PATH_CAPACITY];
    stage_status state = kd_stage_check(dir, key);
    if (state == STAGE_DONE) {
        fprintf(stderr, "pipeline: %s is up to date (%s)\n", label, dir);
        return KD_OK;
    }
    int resume = state == STAGE_INTERRUPTED &&
                 kd_path_join(last, sizeof last, dir, KD_RUN_LAST_DIR) == KD_OK && kd_checkpoint_exists(last);
    fprintf(stderr, "pipeline: %s %s -> %s\n", resume ? "resuming" : "running", label, dir);
    kd_status status = kd_stage_mark(dir, key, 0);
    if (status == KD_OK)
        status = work(p, resume, arg);
    if (status == KD_OK)
        status = kd_stage_mark(dir, key, 1);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "pipeline stage %s", label);
}

static kd_status teacher_key(pipeline *p, stage_key *key)
{
    const pipeline_config *c = &p->config;
    run_config run;
    memset(&run, 0, sizeof run);
    kd_stage_key_begin(key, "teacher");
    kd_status status = kd_stage_key_add_file(key, c->teacher_config);
    if (status == KD_OK)
        status = kd_run_config_load(c->teacher_config, &run);
    if (status == KD_OK)
        status = kd_run_config_resolve_files(&run);
    for (size_t i = 0; status == KD_OK && i < run.data.path_count; i++)
        status = kd_stage_key_add_file(key, run.data.paths[i]);
    kd_run_config_free(&run);
    char weights[KD_PATH_CAPACITY];
    if (status == KD_OK && c->teacher_init &&
        (status = kd_path_join(weights, sizeof weights, c->teacher_init, KD_MODEL_WEIGHTS_FILE)) ==
            KD_OK)
        status = kd_stage_key_add_file(key, weights);
    double numbers[] = {c->teacher_max_steps, c->teacher_epochs, (double)c->teacher_seed,
                        p->threads};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        kd_stage_key_add_number(key, numbers[i]);
    return status;
}

static kd_status train_teacher(pipeline *p, int resume, void *arg)
{
    (void)arg;
    const pipeline_config *c = &p->config;
    teacher_train_options options = {
        .config_path = c->teacher_config, .init_dir = c->teacher_init,
        .out_dir = p->teacher_dir, .resume = resume,
        .overrides = {.epochs = c->teacher_epochs, .max_steps = c->teacher_max_steps,
                      .seed = c->teacher_seed, .threads = p->threads},
    };
    return kd_teacher_train(&options);
}

static kd_status write_cache(pipeline *p, int resume, void *arg)
{
    (void)resume; /* the cache writer resumes by itself */
    (void)arg;
    teacher_cache_options options = {.model_dir = p->teacher_model, .out_dir = p->cache_dir,
                                     .encoding = p->config.cache, .threads = p->threads};
    return kd_teacher_cache(&options, NULL);
}

static void cache_key(pipeline *p)
{
    const cache_encoding *e = &p->config.cache;
    kd_stage_key_begin(&p->cache_key, "cache");
    kd_stage_key_add_number(&p->cache_key, (double)p->teacher_key.value);
    double numbers[] = {e->topk, e->samples, e->zstd_level, e->shard_examples, p->threads};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        kd_stage_key_add_number(&p->cache_key, numbers[i]);
}

static kd_status train_student(pipeline *p, int resume, void *arg)
{
    const student_stage *run = arg;
    const pipeline_student *s = run->student;
    student_train_options options = {
        .config_path = s->config_path, .cache_dir = p->cache_dir, .out_dir = run->dir,
        .alpha = run->baseline ? 1.0f : s->alpha >= 0 ? s->alpha : NAN,
        .temperature = s->temperature > 0 ? s->temperature : NAN,
        .divergence = s->divergence, .random_init = run->baseline, .resume = resume,
        .overrides = {.epochs = s->epochs, .max_steps = s->max_steps, .seed = -1,
                      .threads = p->threads},
    };
    return kd_student_train(&options);
}

static kd_status plan_students(pipeline *p)
{
    for (int i = 0; i < p->config.student_count; i++) {
        const pipeline_student *s = &p->config.students[i];
        for (int baseline = 0; baseline <= s->baseline; baseline++) {
            student_stage *run = &p->runs[p->run_count++];
            run->student = s;
            run->baseline = baseline;
            if (snprintf(run->dir, sizeof run->dir, "%s/students/%s-%s", p->out, s->name,
                         baseline ? "baseline" : "kd") >= (int)sizeof run->dir)
                return kd_fail(KD_ERR_INVALID, "student %s: output path too long", s->name);
            kd_stage_key_begin(&run->key, baseline ? "baseline, random init" : "student");
            kd_stage_key_add_number(&run->key, (double)p->cache_key.value);
            kd_status status = kd_stage_key_add_file(&run->key, s->config_path);
            if (status != KD_OK)
                return status;
            kd_stage_key_add_number(&run->key, run->baseline ? 1.0 : s->alpha);
            kd_stage_key_add_number(&run->key, s->temperature);
            kd_stage_key_add_text(&run->key, s->divergence);
            kd_stage_key_add_number(&run->key, s->max_steps);
            kd_stage_key_add_number(&run->key, s->epochs);
            kd_stage_key_add_number(&run->key, p->threads);
        }
    }
    return KD_OK;
}

static kd_status write_report(pipeline *p, int resume, void *arg)
{
    (void)resume;
    (void)arg;
    const char *students[MAX_RUNS];
    for (int i = 0; i < p->run_count; i++)
        students[i] = p->runs[i].dir;
    report_options options;
    kd_report_options_default(&options);
    options.teacher_dir = p->teacher_dir;
    options.student_dirs = students;
    options.student_count = p->run_count;
    options.out_dir = p->report_dir;
    options.threads = p->threads;
    if (p->config.rouge_examples > 0)
        options.rouge_examples = p->config.rouge_examples;
    if (p->config.repeats > 0)
        options.repeats = p->config.repeats;
    options.eval_batches = p->config.eval_batches;
    return kd_report_write(&options);
}

static stage_key report_key(const pipeline *p)
{
    stage_key key;
    kd_stage_key_begin(&key, "report");
    kd_stage_key_add_number(&key, (double)p->teacher_key.value);
    for (int i = 0; i < p->run_count; i++)
        kd_stage_key_add_number(&key, (double)p->runs[i].key.value);
    double numbers[] = {p->config.rouge_examples, p->config.repeats, p->config.eval_batches,
                        p->threads};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        kd_stage_key_add_number(&key, numbers[i]);
    return key;
}

static kd_status set_paths(pipeline *p, const pipeline_options *options)
{
    const pipeline_config *c = &p->config;
    if (options->out_dir)
        snprintf(p->out, sizeof p->out, "%s", options->out_dir);
    else if (c->out)
        snprintf(p->out, sizeof p->out, "%s", c->out);
    else
        snprintf(p->out, sizeof p->out, "runs/%s", c->name);
    int fits = snprintf(p->teacher_dir, sizeof p->teacher_dir, "%s/teacher", p->out) > 0 &&
               snprintf(p->teacher_model, sizeof p->teacher_model, "%s/model", p->teacher_dir) <
                   (int)sizeof p->teacher_model &&
               snprintf(p->cache_dir, sizeof p->cache_dir, "%s/cache", p->out) > 0 &&
               snprintf(p->report_dir, sizeof p->report_dir, "%s/report", p->out) <
                   (int)sizeof p->report_dir;
    return fits ? KD_OK : kd_fail(KD_ERR_INVALID, "output directory %s: path too long", p->out);
}

static kd_status run_all(pipeline *p)
{
    kd_status status = teacher_key(p, &p->teacher_key);
    if (status == KD_OK)
        status = run_stage(p, "teacher", p->teacher_dir, p->teacher_key, train_teacher, NULL);
    cache_key(p);
    if (status == KD_OK)
        status = run_stage(p, "cache", p->cache_dir, p->cache_key, write_cache, NULL);
    if (status == KD_OK)
        status = plan_students(p);
    for (int i = 0; status == KD_OK && i < p->run_count; i++) {
        char label[160];
        snprintf(label, sizeof label, "student %s (%s)", p->runs[i].student->name,
                 p->runs[i].baseline ? "hard-label baseline" : "distilled");
        status = run_stage(p, label, p->runs[i].dir, p->runs[i].key, train_student, &p->runs[i]);
    }
    if (status == KD_OK)
        status = run_stage(p, "report", p->report_dir, report_key(p), write_report, NULL);
    if (status == KD_OK)
        printf("pipeline: done; the report is %s/report.md\n", p->report_dir);
    return status;
}

kd_status kd_pipeline_run(const pipeline_options *options)
{
    pipeline *p = kd_alloc(1, sizeof *p, "pipeline"); /* ~150 KB of paths: not on the stack */
    if (!p)
        return KD_ERR_NOMEM;
    kd_status status = kd_pipeline_config_load(options->config_path, &p->config);
    p->threads = options->threads > 0 ? options->threads : p->config.threads;
    if (status == KD_OK)
        status = set_paths(p, options);
    if (status == KD_OK)
        status = run_all(p);
    kd_pipeline_config_free(&p->config);
    free(p);
    return status;
}
