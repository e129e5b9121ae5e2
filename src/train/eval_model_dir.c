/* kd eval's engine: a model directory against data files, or against the
 * validation split of the run that trained it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kd/tokenizer.h"
#include "kd/train.h"

enum { DEFAULT_EVAL_SEQ = 1024 };

/* The dataset settings: the training run's when evaluating its split. */
static kd_status eval_data_options(const eval_options *options, const gpt2_config *model,
                                   run_config *config, dataset_part *part)
{
    kd_status status;
    if (options->data_count > 0) {
        memset(config, 0, sizeof *config);
        kd_train_settings_default(&config->train);
        kd_dataset_options_default(&config->data);
        config->train.seq_len = model->n_positions < DEFAULT_EVAL_SEQ ? model->n_positions
                                                                      : DEFAULT_EVAL_SEQ;
        config->train.validation_fraction = 0.0;
        kd_run_config_sync_data(config);
        *part = DATASET_ALL;
        status = kd_run_config_set_files(config, options->data_files, options->data_count);
    } else {
        char path[KD_PATH_CAPACITY];
        if (kd_path_join(path, sizeof path, options->model_dir, "../" KD_RUN_CONFIG_FILE) != KD_OK ||
            access(path, R_OK) != 0)
            return kd_fail(KD_ERR_INVALID, "no --data given and %s is not inside a kd run "
                           "directory (no ../config.json)", options->model_dir);
        *part = DATASET_VALIDATION;
        if ((status = kd_run_config_load(path, config)) == KD_OK)
            status = kd_run_config_resolve_files(config);
    }
    if (status == KD_OK && options->seq_len > 0) {
        config->train.seq_len = options->seq_len;
        kd_run_config_sync_data(config);
    }
    return status;
}

static kd_status evaluate_quantized(const gpt2_qmodel *q, batcher *batches, int seq_len,
                                    eval_result *result)
{
    gpt2_qstate state = {0};
    kd_status status = kd_gpt2_qstate_create(&state, &q->config, seq_len);
    if (status == KD_OK)
        status = kd_evaluate_qmodel(q, &state, batches, result);
    kd_gpt2_qstate_free(&state);
    return status;
}

static kd_status evaluate_part(model_weights *weights, const dataset *data, dataset_part part,
                               const eval_options *eval, eval_result *result)
{
    int batch_size = eval->batch_size;
    batcher_options options;
    kd_eval_batcher_options((size_t)batch_size, kd_dataset_seq_len(data), !eval->no_group_by_length,
                            0, &options);
    batcher *batches = NULL;
    kd_status status = kd_batcher_create(data, part, &options, &batches);
    if (status == KD_OK)
        status = kd_model_quantize(weights, eval->weights, eval->model_dir);
    gpt2_model *model = &weights->model;
    if (status == KD_OK && weights->q.layers)
        status = evaluate_quantized(&weights->q, batches, (int)options.seq_len, result);
    else if (status == KD_OK &&
             (status = kd_gpt2_prepare(model, eval->batch_size, (int)options.seq_len, 0)) == KD_OK &&
             (status = kd_model_use_precision(model, eval->precision, "kd eval")) == KD_OK)
        status = kd_evaluate_model(model, batches, 0, result);
    kd_batcher_free(batches);
    return status;
}

kd_status kd_eval_model_dir(const eval_options *options, eval_result *result)
{
    model_weights weights = {0};
    gpt2_config model_config;
    kd_tokenizer *tokenizer = NULL;
    dataset *data = NULL;
    run_config config = {0};
    dataset_part part = DATASET_ALL;
    kd_dir_lock lock = {.fd = -1}; /* a directory: not while its run rewrites it */
    kd_status status = KD_OK;
    if (!kd_model_path_is_gguf(options->model_dir))
        status = kd_dir_lock_acquire(options->model_dir, KD_LOCK_SHARED, &lock);
    if (status == KD_OK)
        status = kd_model_config_read(options->model_dir, &model_config);
    if (status == KD_OK)
        status = eval_data_options(options, &model_config, &config, &part);
    if (status == KD_OK && config.data.seq_len > (size_t)model_config.n_positions)
        status = kd_fail(KD_ERR_INVALID, "sequence length %zu exceeds the model's n_positions %d",
                         config.data.seq_len, model_config.n_positions);
    /* The batcher's tokens, targets and weights come on top of the model's. */
    double batch_bytes = 3.0 * options->batch_size * (double)config.data.seq_len * sizeof(int);
    if (status == KD_OK)
        status = kd_memory_check(&model_config, options->batch_size, (int)config.data.seq_len, 0,
                                 batch_bytes, "evaluation");
    if (status == KD_OK)
        status = kd_model_load(options->model_dir, &weights, &tokenizer);
    if (status == KD_OK)
        status = kd_model_attach_adapter(&weights, options->adapter_dir, options->model_dir);
    if (status == KD_OK)
        status = kd_dataset_build(&config.data, tokenizer, &data, NULL);
    if (status == KD_OK)
        status = evaluate_part(&weights, data, part, options, result);
    kd_dataset_free(data);
    kd_run_config_free(&config);
    kd_tokenizer_free(tokenizer);
    kd_model_unload(&weights);
    kd_dir_lock_release(&lock);
    return status;
}
