/* report.json: the machine, the settings every number was measured under,
 * and one object per model with its size, speed, memory, quality, training
 * figures and ratios to the teacher; a quantized row also its change against
 * the fp32 model it was made from. Unknown or unmeasured values are null. */
#include <math.h>
#include <string.h>

#include "report_internal.h"

static void add_number(cJSON *object, const char *key, double value)
{
    if (isfinite(value))
        cJSON_AddNumberToObject(object, key, value);
    else
        cJSON_AddNullToObject(object, key);
}

static void add_string(cJSON *object, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(object, key, value);
    else
        cJSON_AddNullToObject(object, key);
}

static double ratio(double value, double teacher)
{
    return teacher > 0 ? value / teacher : NAN;
}

static cJSON *settings_json(const report *summary)
{
    cJSON *settings = cJSON_CreateObject();
    cJSON_AddNumberToObject(settings, "speed_batch", 1);
    cJSON_AddNumberToObject(settings, "speed_prompt_tokens", summary->speed.prompt_tokens);
    cJSON_AddNumberToObject(settings, "speed_new_tokens", summary->speed.new_tokens);
    cJSON_AddNumberToObject(settings, "speed_repeats", summary->speed.repeats);
    cJSON_AddStringToObject(settings, "memory_method",
                            "peak RSS (VmHWM) of this process while loading the model and "
                            "generating, reset per model through /proc/self/clear_refs");
    cJSON_AddStringToObject(settings, "split_config", summary->split_config);
    cJSON_AddNumberToObject(settings, "eval_seq_len", (double)summary->eval_seq_len);
    cJSON_AddNumberToObject(settings, "eval_batch_size", summary->eval_batch_size);
    cJSON_AddNumberToObject(settings, "eval_batches", summary->options.eval_batches);
    cJSON_AddNumberToObject(settings, "validation_examples", (double)summary->validation_examples);
    cJSON_AddNumberToObject(settings, "validation_tokens", summary->validation_tokens);
    cJSON_AddNumberToObject(settings, "validation_batches", summary->eval_batches_used);
    cJSON_AddNumberToObject(settings, "rouge_examples", summary->rouge_count);
    cJSON_AddNumberToObject(settings, "answer_tokens", summary->options.answer_tokens);
    return settings;
}

static void add_training(cJSON *object, const report_model *model)
{
    training_summary training;
    kd_training_summary_read(model, &training);
    add_string(object, "run", training.has_run ? model->run_dir : NULL);
    add_number(object, "steps", training.steps);
    add_number(object, "train_wall_s", training.wall_s);
    add_number(object, "train_tokens_per_s", training.tokens_per_s);
    add_number(object, "train_padding_ratio", training.padding_ratio);
    add_number(object, "evaluations", training.has_run ? training.evaluations : NAN);
    add_number(object, "best_val_loss_in_training", training.best_val_loss);
    add_number(object, "best_step", training.best_step);
    add_number(object, "batch_size", training.batch_size);
    add_number(object, "grad_accum", training.grad_accum);
    add_number(object, "seq_len", training.seq_len);
    add_number(object, "learning_rate", training.learning_rate);
    add_number(object, "seed", training.seed);
    add_number(object, "alpha", training.alpha);
    add_number(object, "temperature", training.temperature);
    add_string(object, "divergence", training.divergence);
    add_number(object, "topk", training.topk);
    add_number(object, "samples", training.samples);
    if (training.logits_source)
        cJSON_AddBoolToObject(object, "logits_from_cache",
                              strcmp(training.logits_source, "cache") == 0);
    else
        cJSON_AddNullToObject(object, "logits_from_cache");
    cJSON_AddItemToObject(object, "distill", training.distill ? cJSON_Duplicate(training.distill, 1)
                                                             : cJSON_CreateNull());
    cJSON_AddItemToObject(object, "init", training.init ? cJSON_Duplicate(training.init, 1)
                                                       : cJSON_CreateNull());
}

static cJSON *model_json(const report *summary, const report_model *model)
{
    const report_model *teacher = &summary->models[0];
    const model_speed *speed = &model->speed;
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "name", model->name);
    cJSON_AddStringToObject(object, "role", model->role);
    add_string(object, "quantization", model->quantization);
    cJSON_AddStringToObject(object, "path", model->model_dir);
    add_string(object, "quantized_from",
               model->base >= 0 ? summary->models[model->base].model_dir : NULL);
    cJSON_AddNumberToObject(object, "n_layer", model->config.n_layer);
    cJSON_AddNumberToObject(object, "n_head", model->config.n_head);
    cJSON_AddNumberToObject(object, "n_embd", model->config.n_embd);
    cJSON_AddNumberToObject(object, "n_positions", model->config.n_positions);
    cJSON_AddNumberToObject(object, "vocab_size", model->config.vocab_size);
    cJSON_AddNumberToObject(object, "params", model->size.params);
    cJSON_AddNumberToObject(object, "non_embedding_params", model->size.non_embedding_params);
    cJSON_AddNumberToObject(object, "bytes_fp32", model->size.bytes_fp32);
    cJSON_AddNumberToObject(object, "bytes_fp16", model->size.bytes_fp16);
    cJSON_AddNumberToObject(object, "file_bytes", model->size.file_bytes);
    add_number(object, "params_ratio", ratio(model->size.params, teacher->size.params));
    add_number(object, "val_loss", model->quality.val_loss);
    add_number(object, "val_loss_stderr", model->quality.val_loss_stderr);
    add_number(object, "val_ppl", model->quality.val_ppl);
    add_number(object, "val_accuracy", model->quality.val_accuracy);
    add_number(object, "top1_agreement", model->quality.top1_agreement);
    add_number(object, "top1_agreement_fp32", model->quality.fp32_agreement);
    add_number(object, "val_loss_vs_fp32", kd_report_loss_vs_fp32(summary, model));
    add_number(object, "rouge_l", model->quality.rouge_l);
    add_number(object, "prefill_tokens_per_s", speed->prefill_tokens_per_s);
    add_number(object, "gen_tokens_per_s", speed->gen_tokens_per_s);
    add_number(object, "prefill_speedup",
               ratio(speed->prefill_tokens_per_s, teacher->speed.prefill_tokens_per_s));
    add_number(object, "gen_speedup", ratio(speed->gen_tokens_per_s, teacher->speed.gen_tokens_per_s));
    add_number(object, "peak_rss_mb", speed->memory_measured ? speed->peak_rss_mb : NAN);
    add_number(object, "model_rss_mb", speed->memory_measured ? speed->model_rss_mb : NAN);
    add_number(object, "peak_rss_ratio",
               speed->memory_measured ? ratio(speed->peak_rss_mb, teacher->speed.peak_rss_mb) : NAN);
    add_training(object, model);
    cJSON *answers = cJSON_AddArrayToObject(object, "answers");
    for (int i = 0; model->answers && model->answers[i]; i++)
        cJSON_AddItemToArray(answers, cJSON_CreateString(model->answers[i]));
    return object;
}

cJSON *kd_report_to_json(const report *summary)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", KD_REPORT_SCHEMA_VERSION);
    cJSON *machine = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(machine, "cpu", summary->cpu_model);
    cJSON_AddNumberToObject(machine, "threads", summary->threads);
    cJSON_AddStringToObject(machine, "blas_core", summary->blas_core);
    cJSON_AddStringToObject(machine, "quant_kernel", kd_qkernel_name(kd_qkernel_current()));
    cJSON_AddItemToObject(root, "settings", settings_json(summary));
    cJSON *prompts = cJSON_AddArrayToObject(root, "prompts");
    for (int i = 0; i < summary->prompt_count; i++)
        cJSON_AddItemToArray(prompts, cJSON_CreateString(summary->prompts[i]));
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; i < summary->model_count; i++)
        cJSON_AddItemToArray(models, model_json(summary, &summary->models[i]));
    return root;
}
