/* kd report's driver: locate every model (exporting the quantized rows'
 * GGUF files), time them first (while this
 * process is still small, so the memory figures are close to those of a
 * process that only generates), then score them on the teacher's
 * validation split, and write the JSON, the Markdown and the charts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"
#include "report_internal.h"

void kd_report_options_default(report_options *options)
{
    *options = (report_options){
        .prompt_tokens = 128, .new_tokens = 64, .repeats = 5, .rouge_examples = 32,
        .answer_tokens = 64, .eval_batches = 0, .threads = 0,
    };
}

static kd_status check_options(const report_options *o)
{
    if (!o->teacher_dir || !o->out_dir || o->student_count < 0 ||
        (o->student_count > 0 && !o->student_dirs))
        return kd_fail(KD_ERR_INVALID, "report: a teacher, the students and an output directory "
                       "are required");
    if (o->prompt_tokens < 1 || o->new_tokens < 1 || o->repeats < 1 || o->answer_tokens < 1)
        return kd_fail(KD_ERR_INVALID, "report: prompt tokens, new tokens, repeats and answer "
                       "tokens must be positive");
    if (o->rouge_examples < 0 || o->eval_batches < 0 || o->threads < 0)
        return kd_fail(KD_ERR_INVALID, "report: ROUGE examples, eval batches and threads must "
                       "not be negative");
    if (o->quantize_count < 0 || o->quantize_count > KD_REPORT_MAX_QUANTIZE)
        return kd_fail(KD_ERR_INVALID, "report: at most %d quantized types",
                       KD_REPORT_MAX_QUANTIZE);
    return KD_OK;
}

kd_status kd_report_quantize_add(const char *name, kd_qtype *types, int *count)
{
    kd_qtype type;
    kd_status status = kd_qtype_parse(name, &type);
    if (status != KD_OK)
        return status;
    if (type == KD_QTYPE_F32)
        return kd_fail(KD_ERR_INVALID, "quantize: f32 is what every model is measured as "
                       "already; choose q8_0 or q4_0");
    for (int i = 0; i < *count; i++)
        if (types[i] == type)
            return kd_fail(KD_ERR_INVALID, "quantize: %s is listed twice", name);
    types[(*count)++] = type; /* two types, each once: the list has room */
    return KD_OK;
}

kd_status kd_report_quantize_parse(const char *list, kd_qtype *types, int *count)
{
    char name[16];
    *count = 0;
    if (strcmp(list, "none") == 0)
        return KD_OK;
    for (const char *at = list;; at++) {
        size_t length = strcspn(at, ",");
        if (length == 0 || length >= sizeof name)
            return kd_fail(KD_ERR_INVALID, "quantize: \"%s\" is not a list of types such as "
                           "q8_0,q4_0", list);
        memcpy(name, at, length);
        name[length] = '\0';
        kd_status status = kd_report_quantize_add(name, types, count);
        if (status != KD_OK)
            return status;
        at += length;
        if (*at == '\0')
            return KD_OK;
    }
}

/* Rows for the teacher, the students and, after each model given as a
 * directory, one row per --quantize type. */
static int row_count(const report_options *o)
{
    return (1 + o->student_count) * (1 + o->quantize_count);
}

double kd_report_loss_vs_fp32(const report *summary, const report_model *model)
{
    return model->base >= 0 ? model->quality.val_loss - summary->models[model->base].quality.val_loss
                            : NAN;
}

void kd_report_model_label(const report_model *model, char *out, size_t size)
{
    snprintf(out, size, model->quantization ? "%s %s" : "%s", model->name, model->quantization);
}

static kd_status add_quantized_rows(report *summary, int base_index)
{
    const report_options *o = &summary->options;
    report_model *base = &summary->models[base_index];
    if (kd_model_path_is_gguf(base->model_dir))
        return KD_OK; /* a GGUF file is measured as it is stored */
    /* Files are named after the model: a second model of the name would
     * replace the first one's files before they are measured. */
    for (int i = 0; i < base_index; i++)
        if (summary->models[i].quantized_rows > 0 && strcmp(summary->models[i].name, base->name) == 0)
            return kd_fail(KD_ERR_INVALID, "%s: another model is also named \"%s\"; --quantize "
                           "names its files after the model", base->model_dir, base->name);
    for (int q = 0; q < o->quantize_count; q++) {
        kd_status status = kd_report_model_quantize(base, base_index, o->quantize[q], o->out_dir,
                                                    &summary->models[summary->model_count]);
        if (status != KD_OK)
            return status;
        summary->model_count++;
        base->quantized_rows++;
    }
    return KD_OK;
}

static kd_status locate_models(report *summary)
{
    const report_options *o = &summary->options;
    int rows = row_count(o);
    summary->models = calloc((size_t)rows, sizeof *summary->models);
    if (!summary->models)
        return kd_fail(KD_ERR_NOMEM, "no memory for %d models", rows);
    kd_status status = KD_OK;
    for (int i = 0; i <= o->student_count && status == KD_OK; i++) {
        const char *dir = i == 0 ? o->teacher_dir : o->student_dirs[i - 1];
        int index = summary->model_count++;
        report_model *model = &summary->models[index];
        status = kd_report_model_locate(dir, i == 0, model);
        if (status != KD_OK)
            return kd_fail_context(status, "%s", i == 0 ? "--teacher" : "--student");
        model->family = i;
        if (model->config.vocab_size != summary->models[0].config.vocab_size)
            return kd_fail(KD_ERR_INVALID, "%s has a vocabulary of %d tokens but the teacher %d",
                           dir, model->config.vocab_size, summary->models[0].config.vocab_size);
        status = add_quantized_rows(summary, index);
    }
    return status;
}

static int smallest_context(const report *summary)
{
    int smallest = summary->models[0].config.n_positions;
    for (int i = 1; i < summary->model_count; i++)
        if (summary->models[i].config.n_positions < smallest)
            smallest = summary->models[i].config.n_positions;
    return smallest;
}

/* Every model is timed at the same lengths, shortened to fit the smallest
 * context when needed. */
static void fit_speed_settings(report *summary)
{
    int context = smallest_context(summary);
    speed_settings *speed = &summary->speed;
    speed->prompt_tokens = summary->options.prompt_tokens;
    speed->new_tokens = summary->options.new_tokens;
    speed->repeats = summary->options.repeats;
    if (speed->prompt_tokens + speed->new_tokens > context) {
        if (speed->new_tokens > context / 4)
            speed->new_tokens = context / 4 > 0 ? context / 4 : 1;
        speed->prompt_tokens = context - speed->new_tokens;
    }
}

static kd_status measure_speeds(report *summary)
{
    for (int i = 0; i < summary->model_count; i++) {
        report_model *model = &summary->models[i];
        char label[REPORT_NAME_CAPACITY + 16];
        kd_report_model_label(model, label, sizeof label);
        fprintf(stderr, "kd report: timing %s (%s)\n", label, model->model_dir);
        kd_status status = kd_measure_speed(model->model_dir, &summary->speed, &model->speed);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

/* The validation split: the teacher's run, else the first student's. */
static kd_status load_split_config(report *summary, run_config *config)
{
    for (int i = 0; i < summary->model_count; i++) {
        if (!summary->models[i].run_dir[0])
            continue;
        kd_status status = kd_path_join(summary->split_config, sizeof summary->split_config,
                                        summary->models[i].run_dir, KD_RUN_CONFIG_FILE);
        if (status == KD_OK)
            status = kd_run_config_load(summary->split_config, config);
        if (status == KD_OK)
            status = kd_run_config_resolve_files(config);
        return status;
    }
    return kd_fail(KD_ERR_INVALID, "no run directory among the models: the validation split "
                   "comes from a run's config.json (give a run directory or its model/)");
}

/* Students must read and write the teacher's tokens: the same vocab.json
 * and merges.txt, compared by their hash. Checked before anything is timed. */
static kd_status check_tokenizers(const report *summary)
{
    kd_tokenizer *teacher = NULL;
    kd_status status = kd_model_tokenizer_load(summary->models[0].model_dir, &teacher);
    for (int i = 1; i < summary->model_count && status == KD_OK; i++) {
        kd_tokenizer *student = NULL;
        status = kd_model_tokenizer_load(summary->models[i].model_dir, &student);
        if (status == KD_OK && kd_tokenizer_hash(student) != kd_tokenizer_hash(teacher))
            status = kd_fail(KD_ERR_INVALID, "%s has another vocabulary than the teacher "
                             "(vocab.json / merges.txt differ)", summary->models[i].model_dir);
        kd_tokenizer_free(student);
    }
    kd_tokenizer_free(teacher);
    return status;
}

/* What model i's pass compares with and records: the teacher records its
 * argmax, as does every model with quantized rows; a quantized row is
 * compared with its fp32 model as well. Models come in order, so each
 * record is complete before it is read. */
static validation_targets targets_of(report *summary, int i)
{
    report_model *model = &summary->models[i];
    return (validation_targets){
        .teacher = i == 0 ? NULL : &summary->models[0].argmax,
        .fp32 = model->base >= 0 ? &summary->models[model->base].argmax : NULL,
        .record = i == 0 || model->quantized_rows > 0 ? &model->argmax : NULL,
    };
}

static kd_status score_model(report *summary, int i, const kd_tokenizer *tokenizer,
                             const validation_set *set)
{
    report_model *model = &summary->models[i];
    validation_targets targets = targets_of(summary, i);
    report_runner runner;
    model->answers = calloc((size_t)set->sample_count + 1, sizeof *model->answers);
    if (!model->answers)
        return kd_fail(KD_ERR_NOMEM, "no memory for answers");
    char label[REPORT_NAME_CAPACITY + 16];
    kd_report_model_label(model, label, sizeof label);
    fprintf(stderr, "kd report: scoring %s on %zu validation examples\n", label,
            set->validation_examples);
    kd_status status = kd_validation_open(&runner, model->model_dir, set);
    if (status == KD_OK) {
        status = kd_measure_validation(&runner, set, &targets, &model->quality);
        if (status == KD_OK)
            status = kd_measure_answers(&runner, tokenizer, set, &model->quality, model->answers);
        kd_runner_close(&runner);
    }
    return status == KD_OK ? KD_OK : kd_fail_context(status, "%s", model->name);
}

static kd_status measure_quality(report *summary, const run_config *config)
{
    kd_tokenizer *tokenizer = NULL;
    validation_set set = {0};
    int context = smallest_context(summary);
    size_t seq_len = config->data.seq_len < (size_t)context ? config->data.seq_len : (size_t)context;
    validation_options options = {
        .config = config, .seq_len = seq_len, .max_batches = summary->options.eval_batches,
        .rouge_examples = summary->options.rouge_examples,
        .answer_tokens = summary->options.answer_tokens, .smallest_context = context,
        .prompts = config->prompts, .prompt_count = config->prompt_count,
    };
    kd_status status = kd_model_tokenizer_load(summary->models[0].model_dir, &tokenizer);
    options.tokenizer = tokenizer;
    if (status == KD_OK && (status = kd_validation_set_build(&options, &set)) == KD_OK) {
        summary->eval_seq_len = seq_len;
        summary->eval_batch_size = set.batch_size;
        summary->validation_examples = set.validation_examples;
        summary->rouge_count = set.rouge_count;
        summary->prompts = config->prompts;
        summary->prompt_count = set.sample_count;
    }
    for (int i = 0; i < summary->model_count && status == KD_OK; i++)
        status = score_model(summary, i, tokenizer, &set);
    if (status == KD_OK) {
        summary->validation_tokens = summary->models[0].quality.val_tokens;
        summary->eval_batches_used = summary->models[0].quality.val_batches;
    }
    kd_validation_set_free(&set);
    kd_tokenizer_free(tokenizer);
    return status;
}

static kd_status write_outputs(const report *summary)
{
    const char *out = summary->options.out_dir;
    char path[KD_PATH_CAPACITY];
    kd_status status = kd_make_directories(out);
    cJSON *json = status == KD_OK ? kd_report_to_json(summary) : NULL;
    char *text = json ? cJSON_Print(json) : NULL;
    if (status == KD_OK && !text)
        status = kd_fail(KD_ERR_NOMEM, "no memory for report.json");
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out, KD_REPORT_JSON_FILE)) == KD_OK)
        status = kd_atomic_write_file(path, text, strlen(text));
    report_chart charts[REPORT_CHART_COUNT] = {{0}};
    if (status == KD_OK)
        status = kd_report_charts_render(summary, charts);
    if (status == KD_OK)
        status = kd_report_charts_write(charts, out);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out, KD_REPORT_MARKDOWN_FILE)) == KD_OK)
        status = kd_report_page_write(summary, charts, 0, path);
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out, KD_REPORT_HTML_FILE)) == KD_OK)
        status = kd_report_page_write(summary, charts, 1, path);
    kd_report_charts_free(charts);
    free(text);
    cJSON_Delete(json);
    return status;
}

/* locks[0]: the report directory, for writing; then the teacher's and each
 * student's directory, for reading, so that no model is retrained under the
 * report (a GGUF file is replaced only whole, so it needs none). `locks`
 * holds 2 + student_count; on failure nothing is held. */
static kd_status lock_directories(const report_options *o, kd_dir_lock *locks)
{
    int count = 2 + o->student_count;
    kd_status status = kd_dir_lock_acquire(o->out_dir, KD_LOCK_EXCLUSIVE, &locks[0]);
    for (int i = 1; i < count; i++) {
        const char *dir = i == 1 ? o->teacher_dir : o->student_dirs[i - 2];
        locks[i].fd = -1;
        if (status == KD_OK && !kd_model_path_is_gguf(dir))
            status = kd_dir_lock_acquire(dir, KD_LOCK_SHARED, &locks[i]);
    }
    for (int i = 0; status != KD_OK && i < count; i++)
        kd_dir_lock_release(&locks[i]);
    return status;
}

static void unlock_directories(const report_options *o, kd_dir_lock *locks)
{
    for (int i = 0; i < 2 + o->student_count; i++)
        kd_dir_lock_release(&locks[i]);
    free(locks);
}

kd_status kd_report_write(const report_options *options)
{
    kd_status status = check_options(options);
    if (status != KD_OK)
        return status;
    kd_dir_lock *locks = kd_alloc((size_t)options->student_count + 2, sizeof *locks, "locks");
    status = locks ? lock_directories(options, locks) : KD_ERR_NOMEM;
    if (status != KD_OK) {
        free(locks);
        return status;
    }
    if (options->threads > 0)
        kd_set_threads(options->threads);
    report summary = {.options = *options};
    kd_machine_cpu_model(summary.cpu_model, sizeof summary.cpu_model);
    summary.threads = kd_threads();
    summary.blas_core = kd_blas_core_name();
    run_config config = {0};
    status = locate_models(&summary);
    if (status == KD_OK)
        status = check_tokenizers(&summary);
    if (status == KD_OK) {
        fit_speed_settings(&summary);
        status = measure_speeds(&summary);
    }
    if (status == KD_OK)
        status = load_split_config(&summary, &config);
    if (status == KD_OK)
        status = measure_quality(&summary, &config);
    if (status == KD_OK)
        status = write_outputs(&summary);
    for (int i = 0; summary.models && i < summary.model_count; i++)
        kd_report_model_free(&summary.models[i]);
    free(summary.models);
    kd_run_config_free(&config);
    unlock_directories(options, locks);
    return status;
}
