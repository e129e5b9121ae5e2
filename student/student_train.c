/* kd student train: resolve the configuration, open the teacher's logits
 * (the cache, or a live teacher), check that they were made from this
 * student's data, tokenizer and vocabulary, build and initialise the
 * student, and hand over to kd_train_run with the distillation objective. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kd/dist.h"
#include "kd/hf.h"
#include "kd/student.h"
#include "kd/tokenizer.h"

/* Everything a student run holds; released by run_release. */
typedef struct {
    const student_train_options *options;
    char out_dir[KD_PATH_CAPACITY];
    kd_dir_lock lock;              /* out_dir, exclusive */
    int resume;                    /* continue from out_dir/last */
    run_config config;
    distill_config distill;
    student_init init;
    int layers[STUDENT_MAX_LAYERS];
    kd_tokenizer *tokenizer;
    cache_reader *reader;          /* NULL without --cache */
    gpt2_model teacher;            /* live teacher, or the one init copies from */
    int teacher_loaded;
    const char *init_teacher_dir;  /* where init's teacher came from */
    dataset *data;
    gpt2_model student;
    distill_objective *objective;
} student_run;

static void run_release(student_run *run)
{
    kd_distill_objective_free(run->objective);
    kd_gpt2_free(&run->student);
    kd_dataset_free(run->data);
    kd_gpt2_free(&run->teacher);
    kd_cache_close(run->reader);
    kd_tokenizer_free(run->tokenizer);
    kd_run_config_free(&run->config);
    kd_dir_lock_release(&run->lock);
}

/* The config file with the command line's changes on top. */
static kd_status load_settings(student_run *run)
{
    const student_train_options *o = run->options;
    run_config *config = &run->config;
    kd_status status = kd_run_config_load(o->config_path, config);
    if (status == KD_OK)
        status = o->data_count > 0 ? kd_run_config_set_files(config, o->data_files, o->data_count)
                                   : kd_run_config_resolve_files(config);
    if (status == KD_OK && !config->has_model)
        status = kd_fail(KD_ERR_INVALID, "%s has no \"model\" section: the student's shape",
                         o->config_path);
    if (status != KD_OK)
        return status;
    kd_run_config_apply_overrides(config, &o->overrides);
    kd_set_threads(config->train.threads);
    run->distill = kd_distill_config_default();
    kd_student_init_default(&run->init);
    if (config->distill)
        status = kd_distill_config_from_json(config->distill, &run->distill);
    if (status == KD_OK && config->init && !cJSON_IsObject(config->init))
        status = kd_fail(KD_ERR_INVALID, "\"init\" must be an object");
    if (status == KD_OK && config->init)
        status = kd_student_init_from_json(config->init, &run->init);
    if (status != KD_OK)
        return kd_fail_context(status, "%s", o->config_path);
    if (o->random_init)
        kd_student_init_default(&run->init);
    if (!isnan(o->alpha))
        run->distill.alpha = o->alpha;
    if (!isnan(o->temperature))
        run->distill.temperature = o->temperature;
    if (o->divergence && kd_divergence_from_name(o->divergence, &run->distill.divergence) != KD_OK)
        return kd_fail(KD_ERR_INVALID, "unknown divergence \"%s\" (forward_kl, reverse_kl, jsd)",
                       o->divergence);
    return kd_distill_config_validate(&run->distill);
}

/* The cache must hold this student's examples, as its teacher saw them:
 * the same data, tokenizer, template, sequence length, split and, when the
 * run also names a teacher, that teacher. */
static kd_status open_cache(student_run *run, const char *teacher_dir)
{
    const char *dir = run->options->cache_dir;
    kd_status status = kd_cache_open(dir, &run->reader);
    if (status != KD_OK)
        return status;
    const cache_manifest *manifest = kd_cache_reader_manifest(run->reader);
    cache_identity expected;
    status = kd_cache_identity_compute(&run->config.data, kd_tokenizer_hash(run->tokenizer),
                                       teacher_dir, &expected);
    if (!teacher_dir) /* no teacher of its own to check the cache's against */
        expected.teacher = manifest->identity.teacher;
    if (status == KD_OK)
        status = kd_cache_check_compatible(manifest, &expected, dir);
    if (status == KD_OK && manifest->vocab_size != run->config.model.vocab_size)
        status = kd_fail(KD_ERR_INVALID, "%s: the cache's vocabulary has %d tokens, the "
                         "student's %d", dir, manifest->vocab_size,
                         run->config.model.vocab_size);
    return status;
}

/* The teacher the student starts from: the config's init.teacher, else the
 * live teacher, else where the cache says its teacher was. */
static const char *init_teacher_dir(const student_run *run)
{
    if (run->init.teacher_dir)
        return run->init.teacher_dir;
    if (run->options->teacher_dir)
        return run->options->teacher_dir;
    const cache_manifest *manifest = run->reader ? kd_cache_reader_manifest(run->reader) : NULL;
    return manifest && manifest->teacher_dir[0] ? manifest->teacher_dir : NULL;
}

static kd_status load_teacher(student_run *run, const char *dir)
{
    kd_status status = kd_model_dir_load(dir, &run->teacher);
    run->teacher_loaded = status == KD_OK;
    if (status == KD_OK && run->teacher.config.vocab_size != run->config.model.vocab_size)
        status = kd_fail(KD_ERR_INVALID, "the teacher %s has a vocabulary of %d tokens, the "
                         "student %d: they must share one", dir, run->teacher.config.vocab_size,
                         run->config.model.vocab_size);
    return status;
}

/* The teacher's activations: for the student's batches when it teaches
 * live (in the student's precision), else for one calibration example at a
 * time (in fp32, so the student's first weights do not depend on the CPU). */
static kd_status prepare_teacher(student_run *run)
{
    if (run->teacher.acts_memory)
        return KD_OK;
    const train_settings *t = &run->config.train;
    int live = run->options->teacher_dir != NULL;
    kd_status status = kd_gpt2_prepare(&run->teacher, live ? t->batch_size : 1, t->seq_len, 0);
    if (status == KD_OK && live)
        status = kd_model_use_precision(&run->teacher, t->precision, "teacher (live)");
    return status;
}

/* Width: every channel when the student is as wide as the teacher, else
 * the most important ones over the first calibration examples. */
static kd_status plan_width(student_run *run, student_width_plan *plan)
{
    const gpt2_config *s = &run->config.model, *t = &run->teacher.config;
    if (s->n_embd == t->n_embd && s->n_head == t->n_head)
        return kd_student_width_plan_identity(t, s, plan);
    size_t count = 0;
    const size_t *examples = kd_dataset_part_indices(run->data, DATASET_TRAIN, &count);
    if (count > (size_t)run->init.calibration_examples)
        count = (size_t)run->init.calibration_examples;
    kd_status status = prepare_teacher(run);
    if (status == KD_OK && kd_dist_is_writer())
        fprintf(stderr, "student: ranking the teacher's channels, heads and neurons over %zu "
                "examples\n", count);
    return status == KD_OK ? kd_student_width_plan_measure(&run->teacher, s, run->layers, run->data,
                                                           examples, count, plan)
                           : status;
}

/* Which teacher layer each student layer starts from, kept in init so that
 * config.json records the plan actually used. */
static kd_status plan_layers(student_run *run, int teacher_layers)
{
    kd_status status = kd_student_layer_plan(&run->init, teacher_layers, run->config.model.n_layer,
                                             run->layers);
    if (status == KD_OK) {
        run->init.layer_count = run->config.model.n_layer;
        memcpy(run->init.layers, run->layers, sizeof run->layers);
    }
    return status;
}

static kd_status init_from_teacher(student_run *run)
{
    const char *dir = init_teacher_dir(run);
    if (!dir)
        return kd_fail(KD_ERR_INVALID, "init from the teacher needs its model directory: set "
                       "init.teacher in the config or give --teacher");
    run->init_teacher_dir = dir;
    kd_status status = run->teacher_loaded ? KD_OK : load_teacher(run, dir);
    if (status == KD_OK && run->reader && dir != run->options->teacher_dir) {
        uint64_t hash = 0;
        status = kd_cache_teacher_hash(dir, &hash);
        if (status == KD_OK && hash != kd_cache_reader_manifest(run->reader)->identity.teacher)
            status = kd_fail(KD_ERR_INVALID, "init.teacher %s is not the teacher the cache %s "
                             "was made from", dir, run->options->cache_dir);
    }
    if (status == KD_OK)
        status = plan_layers(run, run->teacher.config.n_layer);
    student_width_plan plan = {0};
    if (status == KD_OK)
        status = plan_width(run, &plan);
    if (status == KD_OK)
        status = kd_student_copy_from_teacher(&run->student, &run->teacher, run->layers, &plan);
    kd_student_width_plan_free(&plan);
    return status;
}

/* Resuming, the checkpoint holds the weights; config.json still records
 * which teacher layers the run started from, which needs only the teacher's
 * config. */
static kd_status record_layer_plan(student_run *run)
{
    const char *dir = init_teacher_dir(run);
    char path[KD_PATH_CAPACITY];
    gpt2_config teacher;
    kd_status status = dir ? kd_path_join(path, sizeof path, dir, KD_MODEL_CONFIG_FILE)
                           : kd_fail(KD_ERR_INVALID, "cannot tell which teacher the run started "
                                     "from: set init.teacher or give --teacher");
    if (status == KD_OK)
        status = kd_gpt2_config_read(path, &teacher);
    run->init_teacher_dir = dir;
    return status == KD_OK ? plan_layers(run, teacher.n_layer) : status;
}

static kd_status create_student(student_run *run)
{
    kd_status status = kd_gpt2_create(&run->student, &run->config.model);
    if (status == KD_OK && run->resume && run->init.from == STUDENT_INIT_TEACHER)
        return record_layer_plan(run);
    if (status != KD_OK || run->resume)
        return status; /* resuming: the checkpoint holds the weights */
    if (run->init.from != STUDENT_INIT_TEACHER) {
        kd_gpt2_init_random(&run->student, run->config.train.seed);
        return KD_OK;
    }
    status = init_from_teacher(run);
    if (!run->options->teacher_dir) { /* only needed to start from */
        kd_gpt2_free(&run->teacher);
        run->teacher_loaded = 0;
    }
    return status;
}

/* The live teacher runs next to the student on every batch. */
static kd_status prepare_objective(student_run *run)
{
    const train_settings *t = &run->config.train;
    gpt2_model *teacher = NULL;
    if (run->options->teacher_dir) {
        kd_status status = prepare_teacher(run);
        if (status != KD_OK)
            return status;
        teacher = &run->teacher;
    }
    return kd_distill_objective_create(teacher ? NULL : run->reader, teacher, run->data,
                                       &run->distill, t->batch_size, t->seq_len, t->grad_accum,
                                       &run->objective);
}

static double live_teacher_bytes(const student_run *run)
{
    if (!run->options->teacher_dir)
        return 0.0;
    const train_settings *t = &run->config.train;
    return (double)kd_gpt2_num_params(&run->teacher.config) * sizeof(float) +
           (double)kd_gpt2_prepare_bytes(&run->teacher.config, t->batch_size, t->seq_len, 0);
}

static cJSON *resolved_config(const student_run *run)
{
    const student_train_options *o = run->options;
    cJSON *root = kd_run_config_to_json(&run->config);
    cJSON *distill = kd_distill_config_to_json(&run->distill);
    cJSON_AddStringToObject(distill, "source", o->teacher_dir ? "live" : "cache");
    if (o->cache_dir)
        cJSON_AddStringToObject(distill, "cache", o->cache_dir);
    const cache_manifest *manifest = run->reader ? kd_cache_reader_manifest(run->reader) : NULL;
    const char *teacher = o->teacher_dir ? o->teacher_dir
                          : manifest && manifest->teacher_dir[0] ? manifest->teacher_dir
                                                                 : NULL;
    if (teacher)
        cJSON_AddStringToObject(distill, "teacher", teacher);
    if (manifest && !o->teacher_dir) {
        cJSON_AddNumberToObject(distill, "topk", manifest->encoding.topk);
        cJSON_AddNumberToObject(distill, "samples", manifest->encoding.samples);
        cJSON_AddStringToObject(distill, "teacher_precision", manifest->teacher_precision);
    }
    cJSON_AddItemToObject(root, "distill", distill);
    cJSON_AddItemToObject(root, "init", kd_student_init_to_json(&run->init, run->init_teacher_dir));
    return root;
}

static kd_status train(student_run *run)
{
    cJSON *resolved = resolved_config(run);
    train_objective objective = kd_distill_objective_as_train(run->objective);
    train_run_options options = {
        .out_dir = run->out_dir, .tokenizer_dir = run->config.tokenizer_dir,
        .objective = &objective, .model_name = "student", .resume = run->resume,
        .stop_after = run->options->stop_after, .resolved_config = resolved,
        .tokenizer = run->tokenizer, .template = &run->config.data.prompt,
        .prompts = run->config.prompts, .prompt_count = run->config.prompt_count,
    };
    train_summary summary;
    kd_status status = kd_train_run(&run->student, run->data, &run->config.train, &options, &summary);
    cJSON_Delete(resolved);
    if (status == KD_OK && kd_dist_is_writer())
        printf("student: %d/%d steps in %.1f s; best validation loss %.4f at step %d -> %s/model\n",
               summary.steps, summary.total_steps, summary.elapsed_s, summary.best_val_loss,
               summary.best_step, run->out_dir);
    return status;
}

/* Teacher and cache first: a student run that cannot get its targets fails
 * before the dataset is built. */
static kd_status open_teacher_side(student_run *run)
{
    const student_train_options *o = run->options;
    kd_status status = kd_run_tokenizer_load(&run->config, o->teacher_dir, &run->tokenizer);
    if (status == KD_OK)
        status = kd_run_tokenizer_check(run->tokenizer, run->config.model.vocab_size, "student");
    if (status == KD_OK && o->teacher_dir)
        status = load_teacher(run, o->teacher_dir);
    if (status == KD_OK && o->cache_dir)
        status = open_cache(run, o->teacher_dir);
    if (status == KD_OK && (size_t)run->config.train.seq_len > (size_t)run->config.model.n_positions)
        status = kd_fail(KD_ERR_INVALID, "sequence length %d exceeds the student's n_positions %d",
                         run->config.train.seq_len, run->config.model.n_positions);
    return status;
}

kd_status kd_student_train(const student_train_options *options)
{
    student_run run = {.options = options};
    if (!options->cache_dir && !options->teacher_dir)
        return kd_fail(KD_ERR_INVALID, "the student needs the teacher's logits: --cache DIR "
                       "(or --teacher DIR for a live teacher)");
    if (options->out_dir)
        snprintf(run.out_dir, sizeof run.out_dir, "%s", options->out_dir);
    else
        kd_run_default_out_dir(options->config_path, "student", run.out_dir, sizeof run.out_dir);
    kd_status status =
        kd_run_dir_claim(run.out_dir, options->start, "a training run", &run.lock);
    if (status != KD_OK)
        return status;
    run.resume = kd_run_dir_resumes(run.out_dir, options->start);
    status = load_settings(&run);
    if (status == KD_OK)
        status = open_teacher_side(&run);
    if (status == KD_OK)
        status = kd_memory_check(&run.config.model, run.config.train.batch_size,
                                 run.config.train.seq_len, 1, live_teacher_bytes(&run),
                                 options->teacher_dir ? "training with a live teacher" : "training");
    if (status == KD_OK)
        status = kd_run_dataset_build(&run.config, run.tokenizer, run.out_dir, &run.data);
    if (status == KD_OK)
        status = create_student(&run);
    if (status == KD_OK)
        status = prepare_objective(&run);
    if (status == KD_OK)
        status = train(&run);
    run_release(&run);
    return status;
}
