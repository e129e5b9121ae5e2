/* kd teacher train: resolve the configuration, build the dataset, create or
 * load the model, check it fits in memory, and hand over to kd_train_run. */
#include <stdio.h>

#include "kd/dist.h"
#include "kd/hf.h"
#include "kd/teacher.h"
#include "kd/tokenizer.h"
#include "kd/train.h"

/* The model's shape comes from --init when given (and must then agree with
 * the config's "model", if any), else from the config. */
static kd_status resolve_model_config(const teacher_train_options *options, run_config *config)
{
    if (!options->init_dir) {
        if (!config->has_model)
            return kd_fail(KD_ERR_INVALID, "%s has no \"model\" section; give one or --init DIR",
                           options->config_path);
        return KD_OK;
    }
    char path[KD_PATH_CAPACITY];
    gpt2_config from_init;
    kd_status status = kd_path_join(path, sizeof path, options->init_dir, KD_MODEL_CONFIG_FILE);
    if (status == KD_OK)
        status = kd_gpt2_config_read(path, &from_init);
    if (status != KD_OK)
        return status;
    if (config->has_model && (from_init.n_layer != config->model.n_layer ||
                              from_init.n_embd != config->model.n_embd ||
                              from_init.n_head != config->model.n_head ||
                              from_init.vocab_size != config->model.vocab_size))
        return kd_fail(KD_ERR_INVALID, "--init %s is %dL/%d wide/%d heads but %s describes "
                       "%dL/%d/%d", options->init_dir, from_init.n_layer, from_init.n_embd,
                       from_init.n_head, options->config_path, config->model.n_layer,
                       config->model.n_embd, config->model.n_head);
    config->model = from_init;
    config->has_model = 1;
    return KD_OK;
}

/* Refuses a run that cannot fit: a LoRA run needs gradients and moments
 * for its adapters alone. */
static kd_status check_memory(const run_config *config)
{
    int batch = config->train.batch_size, seq = config->train.seq_len;
    if (!config->has_lora)
        return kd_memory_check(&config->model, batch, seq, 1, 0.0, "training");
    double adapters = (double)kd_gpt2_lora_prepare_bytes(&config->model, &config->lora, batch,
                                                         seq) -
                      (double)kd_gpt2_prepare_bytes(&config->model, batch, seq, 0);
    return kd_memory_check(&config->model, batch, seq, 0, adapters, "LoRA training");
}

/* The base from --init or at random, then, for a LoRA run, its adapters
 * (A drawn from the run's seed), which freeze it. */
static kd_status create_model(const teacher_train_options *options, const run_config *config,
                              gpt2_model *model)
{
    kd_status status;
    if (options->init_dir) {
        status = kd_model_dir_load(options->init_dir, model);
    } else if ((status = kd_gpt2_create(model, &config->model)) == KD_OK) {
        kd_gpt2_init_random(model, config->train.seed);
    }
    if (status == KD_OK && config->has_lora)
        status = kd_gpt2_lora_attach(model, &config->lora, config->train.seed);
    return status;
}

kd_status kd_teacher_train(const teacher_train_options *options)
{
    run_config config;
    gpt2_model model = {0};
    kd_tokenizer *tokenizer = NULL;
    dataset *data = NULL;
    char out_dir[KD_PATH_CAPACITY];
    if (options->out_dir)
        snprintf(out_dir, sizeof out_dir, "%s", options->out_dir);
    else
        kd_run_default_out_dir(options->config_path, "teacher", out_dir, sizeof out_dir);

    kd_dir_lock lock;
    kd_status status = kd_run_dir_claim(out_dir, options->start, "a training run", &lock);
    if (status != KD_OK)
        return status;
    status = kd_run_config_load(options->config_path, &config);
    if (status == KD_OK)
        status = options->data_count > 0
                     ? kd_run_config_set_files(&config, options->data_files, options->data_count)
                     : kd_run_config_resolve_files(&config);
    if (status == KD_OK && config.distill)
        status = kd_fail(KD_ERR_INVALID, "%s has a \"distill\" section: it is a student's "
                         "config (kd student train)", options->config_path);
    if (status == KD_OK) {
        kd_run_config_apply_overrides(&config, &options->overrides);
        kd_set_threads(config.train.threads);
        status = kd_run_config_apply_lora(&config, &options->lora);
    }
    if (status == KD_OK)
        status = resolve_model_config(options, &config);
    if (status == KD_OK && config.has_lora)
        status = kd_gpt2_lora_config_validate(&config.lora, &config.model);
    if (status == KD_OK && config.has_lora && config.lora.qlora &&
        config.train.precision == KD_PRECISION_BF16)
        status = kd_fail(KD_ERR_INVALID, "precision bf16: QLoRA's products run in fp32; use "
                         "--precision fp32 or auto");
    if (status == KD_OK)
        status = check_memory(&config);
    if (status == KD_OK)
        status = kd_run_tokenizer_load(&config, options->init_dir, &tokenizer);
    if (status == KD_OK)
        status = kd_run_tokenizer_check(tokenizer, config.model.vocab_size, "model");
    if (status == KD_OK)
        status = kd_run_dataset_build(&config, tokenizer, out_dir, &data);
    if (status == KD_OK)
        status = create_model(options, &config, &model);
    if (status == KD_OK) {
        cJSON *resolved = kd_run_config_to_json(&config);
        if (options->init_dir)
            cJSON_AddStringToObject(resolved, "init", options->init_dir);
        train_run_options run = {
            .out_dir = out_dir, .tokenizer_dir = config.tokenizer_dir, .model_name = "teacher",
            .base_model = options->init_dir ? options->init_dir : "",
            .resume = kd_run_dir_resumes(out_dir, options->start),
            .stop_after = options->stop_after,
            .resolved_config = resolved, .tokenizer = tokenizer,
            .template = &config.data.prompt, .prompts = config.prompts,
            .prompt_count = config.prompt_count,
        };
        train_summary summary;
        status = kd_train_run(&model, data, &config.train, &run, &summary);
        cJSON_Delete(resolved);
        if (status == KD_OK && kd_dist_is_writer())
            printf("teacher: %d/%d steps in %.1f s; best validation loss %.4f at step %d -> "
                   "%s/model\n", summary.steps, summary.total_steps, summary.elapsed_s,
                   summary.best_val_loss, summary.best_step, out_dir);
    }
    kd_dataset_free(data);
    kd_tokenizer_free(tokenizer);
    kd_gpt2_free(&model);
    kd_run_config_free(&config);
    kd_dir_lock_release(&lock);
    return status;
}
