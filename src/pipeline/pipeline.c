/* kd pipeline: every stage in order, each skipped when its record says it
 * is done with the same inputs, resumed when it was interrupted. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kd/io.h"
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
    char id[96];              /* "<name>-kd" or "<name>-baseline" */
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
    int force;                /* redo every stage */
    stage_key teacher_key;
    stage_key cache_key;
    stage_key report_key;
    student_stage runs[MAX_RUNS];
    int run_count;
} pipeline;

typedef kd_status (*stage_work)(pipeline *p, run_dir_start start, void *arg);

/* Empties a stage directory before the stage is redone, under its lock. */
static kd_status clear_stage(const char *dir)
{
    kd_dir_lock lock;
    kd_status status = kd_run_dir_claim(dir, RUN_DIR_FORCE, "stage's output", &lock);
    kd_dir_lock_release(&lock);
    return status;
}

/* Before a stage starts from nothing: says so, and why when it is redone,
 * emptying its directory; that is allowed only when a record says the
 * pipeline made what the directory holds, or under --force. */
static kd_status plan_fresh_start(const pipeline *p, const char *label, const char *dir,
                                  stage_status state, const char *why)
{
    if (!kd_dir_holds_files(dir, KD_RUN_DATASET_CACHE_DIR)) {
        fprintf(stderr, "pipeline: running %s -> %s\n", label, dir);
        return KD_OK;
    }
    if (state == STAGE_FRESH && !p->force)
        return kd_fail(KD_ERR_INVALID, "%s holds files that no pipeline record accounts for: "
                       "move them away, or give --force to start every stage over", dir);
    fprintf(stderr, "pipeline: redoing %s -> %s: %s\n", label, dir,
            p->force ? "--force" : why);
    return clear_stage(dir);
}

/* Skips, resumes or runs one stage, recording its key in
 * <out>/pipeline-stages/<id>.json before (incomplete) and after (complete),
 * so an interrupted stage is known as such. The record is written only
 * after a redone stage's directory was emptied, so it never describes the
 * previous run's files. */
static kd_status run_stage(pipeline *p, const char *label, const char *id, const char *dir,
                           const stage_key *key, stage_work work, void *arg)
{
    char record[KD_PATH_CAPACITY], why[1024];
    if (snprintf(record, sizeof record, "%s/pipeline-stages/%s.json", p->out, id) >=
        (int)sizeof record)
        return kd_fail(KD_ERR_INVALID, "pipeline stage %s: path too long", label);
    /* Runs made before the records moved out kept theirs in the stage directory. */
    char legacy[KD_PATH_CAPACITY];
    const char *from = record;
    if (access(record, F_OK) != 0 &&
        kd_path_join(legacy, sizeof legacy, dir, "pipeline-stage.json") == KD_OK &&
        access(legacy, F_OK) == 0)
        from = legacy;
    stage_status state = p->force ? STAGE_FRESH : kd_stage_check(from, key, why, sizeof why);
    if (state == STAGE_DONE) {
        fprintf(stderr, "pipeline: %s is up to date (%s)\n", label, dir);
        return KD_OK;
    }
    run_dir_start start = state == STAGE_INTERRUPTED ? RUN_DIR_RESUME : RUN_DIR_NEW;
    kd_status status = KD_OK;
    if (start == RUN_DIR_RESUME)
        fprintf(stderr, "pipeline: resuming %s -> %s\n", label, dir);
    else
        status = plan_fresh_start(p, label, dir, state, why);
    if (status == KD_OK)
        status = kd_stage_mark(record, key, 0);
    if (status == KD_OK)
        status = work(p, start, arg);
    if (status == KD_OK)
        status = kd_stage_mark(record, key, 1);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "pipeline stage %s", label);
}

/* A precision the pipeline file sets is part of every stage's inputs; none
 * set leaves the keys of earlier pipelines as they were. */
static void precision_key(const pipeline *p, stage_key *key)
{
    if (p->config.precision_name)
        kd_stage_key_add_text(key, "precision", p->config.precision_name);
}

static kd_status teacher_key(pipeline *p, stage_key *key)
{
    const pipeline_config *c = &p->config;
    run_config run;
    memset(&run, 0, sizeof run);
    kd_stage_key_begin(key, "teacher");
    kd_status status = kd_stage_key_add_file(key, c->teacher_config, c->teacher_config);
    if (status == KD_OK)
        status = kd_run_config_load(c->teacher_config, &run);
    if (status == KD_OK)
        status = kd_run_config_resolve_files(&run);
    for (size_t i = 0; status == KD_OK && i < run.data.path_count; i++)
        status = kd_stage_key_add_file(key, run.data.paths[i], run.data.paths[i]);
    kd_run_config_free(&run);
    char weights[KD_PATH_CAPACITY];
    if (status == KD_OK && c->teacher_init &&
        (status = kd_path_join(weights, sizeof weights, c->teacher_init, KD_MODEL_WEIGHTS_FILE)) ==
            KD_OK)
        status = kd_stage_key_add_file(key, weights, weights);
    kd_stage_key_add_number(key, "teacher.max_steps", c->teacher_max_steps);
    kd_stage_key_add_number(key, "teacher.epochs", c->teacher_epochs);
    kd_stage_key_add_number(key, "teacher.seed", (double)c->teacher_seed);
    kd_stage_key_add_number(key, "threads", p->threads);
    precision_key(p, key);
    return status;
}

static kd_status train_teacher(pipeline *p, run_dir_start start, void *arg)
{
    (void)arg;
    const pipeline_config *c = &p->config;
    teacher_train_options options = {
        .config_path = c->teacher_config, .init_dir = c->teacher_init,
        .out_dir = p->teacher_dir, .start = start,
        .overrides = {.epochs = c->teacher_epochs, .max_steps = c->teacher_max_steps,
                      .seed = c->teacher_seed, .threads = p->threads,
                      .precision_given = c->precision_name != NULL, .precision = c->precision},
    };
    return kd_teacher_train(&options);
}

static kd_status write_cache(pipeline *p, run_dir_start start, void *arg)
{
    (void)arg;
    teacher_cache_options options = {.model_dir = p->teacher_model, .out_dir = p->cache_dir,
                                     .encoding = p->config.cache, .threads = p->threads,
                                     .precision = p->config.precision_name ? p->config.precision
                                                                           : KD_PRECISION_AUTO,
                                     .start = start};
    return kd_teacher_cache(&options, NULL);
}

static void cache_key(pipeline *p)
{
    const cache_encoding *e = &p->config.cache;
    kd_stage_key_begin(&p->cache_key, "cache");
    kd_stage_key_add_number(&p->cache_key, "the teacher", (double)p->teacher_key.value);
    kd_stage_key_add_number(&p->cache_key, "cache.topk", e->topk);
    kd_stage_key_add_number(&p->cache_key, "cache.samples", e->samples);
    kd_stage_key_add_number(&p->cache_key, "cache.zstd_level", e->zstd_level);
    kd_stage_key_add_number(&p->cache_key, "cache.shard_examples", e->shard_examples);
    kd_stage_key_add_number(&p->cache_key, "threads", p->threads);
    precision_key(p, &p->cache_key);
}

static kd_status train_student(pipeline *p, run_dir_start start, void *arg)
{
    const student_stage *run = arg;
    const pipeline_student *s = run->student;
    student_train_options options = {
        .config_path = s->config_path, .cache_dir = p->cache_dir, .out_dir = run->dir,
        .alpha = run->baseline ? 1.0f : s->alpha >= 0 ? s->alpha : NAN,
        .temperature = s->temperature > 0 ? s->temperature : NAN,
        .divergence = s->divergence, .random_init = run->baseline, .start = start,
        .overrides = {.epochs = s->epochs, .max_steps = s->max_steps, .seed = -1,
                      .threads = p->threads, .precision_given = p->config.precision_name != NULL,
                      .precision = p->config.precision},
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
            snprintf(run->id, sizeof run->id, "%s-%s", s->name, baseline ? "baseline" : "kd");
            if (snprintf(run->dir, sizeof run->dir, "%s/students/%s-%s", p->out, s->name,
                         baseline ? "baseline" : "kd") >= (int)sizeof run->dir)
                return kd_fail(KD_ERR_INVALID, "student %s: output path too long", s->name);
            kd_stage_key_begin(&run->key, baseline ? "baseline, random init" : "student");
            kd_stage_key_add_number(&run->key, "the cache", (double)p->cache_key.value);
            kd_status status = kd_stage_key_add_file(&run->key, s->config_path, s->config_path);
            if (status != KD_OK)
                return status;
            kd_stage_key_add_number(&run->key, "alpha", run->baseline ? 1.0 : s->alpha);
            kd_stage_key_add_number(&run->key, "temperature", s->temperature);
            kd_stage_key_add_text(&run->key, "divergence", s->divergence);
            kd_stage_key_add_number(&run->key, "max_steps", s->max_steps);
            kd_stage_key_add_number(&run->key, "epochs", s->epochs);
            kd_stage_key_add_number(&run->key, "threads", p->threads);
            precision_key(p, &run->key);
        }
    }
    return KD_OK;
}

static kd_status write_report(pipeline *p, run_dir_start start, void *arg)
{
    (void)start; /* a report is made whole each time */
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
    options.quantize_count = p->config.quantize_count;
    memcpy(options.quantize, p->config.quantize, sizeof options.quantize);
    return kd_report_write(&options);
}

static void report_key(const pipeline *p, stage_key *key)
{
    kd_stage_key_begin(key, "report");
    kd_stage_key_add_number(key, "the teacher", (double)p->teacher_key.value);
    for (int i = 0; i < p->run_count; i++)
        kd_stage_key_add_number(key, p->runs[i].id, (double)p->runs[i].key.value);
    kd_stage_key_add_number(key, "report.rouge_examples", p->config.rouge_examples);
    kd_stage_key_add_number(key, "report.repeats", p->config.repeats);
    kd_stage_key_add_number(key, "report.eval_batches", p->config.eval_batches);
    char types[64] = "";
    for (int i = 0; i < p->config.quantize_count; i++)
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", i ? "," : "",
                 kd_qtype_name(p->config.quantize[i]));
    kd_stage_key_add_text(key, "report.quantize", types);
    kd_stage_key_add_number(key, "threads", p->threads);
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
        status = run_stage(p, "teacher", "teacher", p->teacher_dir, &p->teacher_key,
                           train_teacher, NULL);
    cache_key(p);
    if (status == KD_OK)
        status = run_stage(p, "cache", "cache", p->cache_dir, &p->cache_key, write_cache, NULL);
    if (status == KD_OK)
        status = plan_students(p);
    for (int i = 0; status == KD_OK && i < p->run_count; i++) {
        char label[160];
        snprintf(label, sizeof label, "student %s (%s)", p->runs[i].student->name,
                 p->runs[i].baseline ? "hard-label baseline" : "distilled");
        status = run_stage(p, label, p->runs[i].id, p->runs[i].dir, &p->runs[i].key,
                           train_student, &p->runs[i]);
    }
    report_key(p, &p->report_key);
    if (status == KD_OK)
        status = run_stage(p, "report", "report", p->report_dir, &p->report_key, write_report,
                           NULL);
    if (status == KD_OK)
        printf("pipeline: done; the report is %s/report.md\n", p->report_dir);
    return status;
}

kd_status kd_pipeline_run(const pipeline_options *options)
{
    pipeline *p = kd_alloc(1, sizeof *p, "pipeline"); /* ~300 KB of paths and keys: not on the stack */
    if (!p)
        return KD_ERR_NOMEM;
    kd_status status = kd_pipeline_config_load(options->config_path, &p->config);
    if (status == KD_OK && options->quantize &&
        kd_report_quantize_parse(options->quantize, p->config.quantize,
                                 &p->config.quantize_count) != KD_OK)
        status = kd_fail_context(KD_ERR_INVALID, "--quantize");
    p->threads = options->threads > 0 ? options->threads : p->config.threads;
    p->force = options->force;
    if (status == KD_OK)
        status = set_paths(p, options);
    /* One pipeline per output directory; each stage also locks its own. */
    kd_dir_lock lock = {.fd = -1};
    char records[KD_PATH_CAPACITY];
    if (status == KD_OK)
        status = kd_dir_lock_acquire(p->out, KD_LOCK_EXCLUSIVE, &lock);
    if (status == KD_OK &&
        (status = kd_path_join(records, sizeof records, p->out, "pipeline-stages")) == KD_OK)
        status = kd_make_directories(records);
    if (status == KD_OK)
        status = run_all(p);
    kd_dir_lock_release(&lock);
    kd_pipeline_config_free(&p->config);
    free(p);
    return status;
}
