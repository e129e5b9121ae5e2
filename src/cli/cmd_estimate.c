/* kd estimate: parameters, FLOPs, memory and time of a training run before
 * it starts. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kd/tokenizer.h"
#include "kd/train.h"

/* Tokens an epoch feeds the model (padded batches, as training runs them). */
static kd_status epoch_tokens(run_config *config, double *tokens, double *steps)
{
    kd_tokenizer *tokenizer = NULL;
    dataset *data = NULL;
    batcher *batches = NULL;
    kd_status status = kd_run_tokenizer_load(config, NULL, &tokenizer);
    if (status == KD_OK)
        status = kd_dataset_build(&config->data, tokenizer, &data, NULL);
    batcher_options options;
    kd_train_batcher_options(&config->train, &options);
    if (status == KD_OK)
        status = kd_batcher_create(data, DATASET_TRAIN, &options, &batches);
    if (status == KD_OK) {
        size_t count = kd_batcher_batches_per_epoch(batches);
        *tokens = 0.0;
        for (size_t i = 0; i < count; i++) {
            const kd_batch *batch = kd_batcher_next(batches);
            *tokens += (double)batch->rows * (double)batch->columns;
        }
        *steps = (double)count / config->train.grad_accum;
    }
    kd_batcher_free(batches);
    kd_dataset_free(data);
    kd_tokenizer_free(tokenizer);
    return status;
}

static void print_human(const gpt2_config *m, int batch, int seq, const train_cost *cost,
                        double tokens, double steps)
{
    double embedding = (double)m->vocab_size * m->n_embd + (double)m->n_positions * m->n_embd;
    printf("model            %d layers, %d wide, %d heads, vocab %d, %d positions\n", m->n_layer,
           m->n_embd, m->n_head, m->vocab_size, m->n_positions);
    printf("parameters       %.2f M (%.2f M without embeddings)\n", cost->params / 1e6,
           (cost->params - embedding) / 1e6);
    if (cost->flops_saved_per_token > 0.0) {
        printf("trainable        %.3f M (LoRA adapters; the base is frozen)\n",
               cost->trainable_params / 1e6);
        printf("FLOPs per token  %.1f M to train (%.1f M of frozen weight gradients skipped)\n",
               cost->flops_per_token / 1e6, cost->flops_saved_per_token / 1e6);
    } else {
        printf("FLOPs per token  %.1f M to train (6N + attention), %.1f M forward\n",
               cost->flops_per_token / 1e6, cost->flops_per_token / 3e6);
    }
    printf("memory at batch %d x %d:\n", batch, seq);
    printf("  weights        %8.1f MB\n  gradients      %8.1f MB\n", cost->weights_bytes / 1e6,
           cost->grads_bytes / 1e6);
    printf("  AdamW moments  %8.1f MB\n  activations    %8.1f MB\n", cost->optimizer_bytes / 1e6,
           cost->activation_bytes / 1e6);
    printf("  total          %8.1f MB of %.1f GB on this machine\n", cost->total_bytes / 1e6,
           cost->machine_bytes / 1e9);
    if (cost->tokens_per_s <= 0.0) /* --no-timing */
        return;
    printf("measured         %.1f GFLOP/s -> %.0f training tokens/s\n", cost->measured_flops / 1e9,
           cost->tokens_per_s);
    if (tokens > 0)
        printf("epoch            %.0f tokens fed in %.0f steps -> %.1f min per epoch\n", tokens,
               steps, tokens / cost->tokens_per_s / 60.0);
}

static void print_json(const gpt2_config *m, int batch, int seq, const train_cost *cost,
                       double tokens, double steps)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "n_layer", m->n_layer);
    cJSON_AddNumberToObject(json, "n_embd", m->n_embd);
    cJSON_AddNumberToObject(json, "n_head", m->n_head);
    cJSON_AddNumberToObject(json, "batch", batch);
    cJSON_AddNumberToObject(json, "seq", seq);
    cJSON_AddNumberToObject(json, "params", cost->params);
    cJSON_AddNumberToObject(json, "trainable_params", cost->trainable_params);
    cJSON_AddNumberToObject(json, "flops_per_token", cost->flops_per_token);
    cJSON_AddNumberToObject(json, "flops_saved_per_token", cost->flops_saved_per_token);
    cJSON_AddNumberToObject(json, "weights_bytes", cost->weights_bytes);
    cJSON_AddNumberToObject(json, "grads_bytes", cost->grads_bytes);
    cJSON_AddNumberToObject(json, "optimizer_bytes", cost->optimizer_bytes);
    cJSON_AddNumberToObject(json, "activation_bytes", cost->activation_bytes);
    cJSON_AddNumberToObject(json, "total_bytes", cost->total_bytes);
    cJSON_AddNumberToObject(json, "machine_bytes", cost->machine_bytes);
    cJSON_AddNumberToObject(json, "measured_flops", cost->measured_flops);
    cJSON_AddNumberToObject(json, "tokens_per_s", cost->tokens_per_s);
    if (tokens > 0 && cost->tokens_per_s > 0.0) {
        cJSON_AddNumberToObject(json, "epoch_tokens", tokens);
        cJSON_AddNumberToObject(json, "epoch_steps", steps);
        cJSON_AddNumberToObject(json, "epoch_seconds", tokens / cost->tokens_per_s);
    }
    char *text = cJSON_PrintUnformatted(json);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(json);
}

int cmd_estimate(int argc, char **argv)
{
    const char *path = NULL;
    int batch = 0, seq = 0, json = 0, no_timing = 0;
    const cli_option options[] = {
        {"--config", OPT_STRING, &path, "run configuration with a \"model\" section"},
        {"--batch", OPT_INT, &batch, "batch size (default: the config's)"},
        {"--seq", OPT_INT, &seq, "sequence length (default: the config's)"},
        {"--no-timing", OPT_FLAG, &no_timing,
         "skip the two timed steps (memory and FLOPs only; no tokens/s or epoch time)"},
        {"--json", OPT_FLAG, &json, "print one JSON object"},
    };
    const cli_command_spec spec = {
        .name = "estimate",
        .summary = "Predict a training run's parameters, FLOPs per token, memory (weights,\n"
                   "gradients, AdamW moments, activations) and time per epoch, timing two steps\n"
                   "of the model on this machine.",
        .usage = "kd estimate --config FILE [--batch B] [--seq T] [--no-timing] [--json]\n"
                 "A \"lora\" section in the config estimates fine-tuning through LoRA adapters;\n"
                 "with \"qlora\": true there, the base's weights count as held in NF4.",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!path)
        return cli_usage_error(&spec, "--config is required");
    if (batch < 0 || seq < 0)
        return cli_usage_error(&spec, "--batch and --seq must be positive");
    run_config config;
    kd_status result = kd_run_config_load(path, &config);
    if (result == KD_OK && !config.has_model)
        result = kd_fail(KD_ERR_INVALID, "%s has no \"model\" section", path);
    if (result == KD_OK) {
        config.train.batch_size = batch > 0 ? batch : config.train.batch_size;
        config.train.seq_len = seq > 0 ? seq : config.train.seq_len;
        kd_run_config_sync_data(&config);
        kd_set_threads(config.train.threads);
    }
    if (result == KD_OK && config.train.seq_len > config.model.n_positions)
        result = kd_fail(KD_ERR_INVALID, "sequence length %d exceeds n_positions %d",
                         config.train.seq_len, config.model.n_positions);
    train_cost cost;
    double tokens = 0.0, steps = 0.0;
    if (result == KD_OK)
        result = kd_train_estimate(&config.model, config.has_lora ? &config.lora : NULL,
                                   config.train.batch_size, config.train.seq_len, !no_timing,
                                   &cost);
    /* The epoch estimate needs the data; without it the rest still stands. */
    if (result == KD_OK && config.data_file_count > 0) {
        if (kd_run_config_resolve_files(&config) == KD_OK)
            result = epoch_tokens(&config, &tokens, &steps);
        else
            fprintf(stderr, "kd estimate: no time per epoch: %s\n", kd_last_error());
    }
    if (result == KD_OK)
        (json ? print_json : print_human)(&config.model, config.train.batch_size,
                                          config.train.seq_len, &cost, tokens, steps);
    kd_run_config_free(&config);
    return result == KD_OK ? CLI_EXIT_OK : cli_fail("estimate");
}
