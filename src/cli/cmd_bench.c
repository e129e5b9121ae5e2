/* kd bench: times the GPT-2 engine on random tokens and reports tokens/s,
 * model FLOP/s and peak memory, as a table or one JSON object.
 *
 * train: one full kd_gpt2_train_step (forward, fused head + CE, backward,
 *        clipping norm, AdamW) per timed step.
 * fwd:   inference forward plus the logits of every position through the
 *        chunked head (kd_gpt2_head_evaluate), never the full (B, T, V) tensor.
 * kd:    a distillation step from cached teacher rows, the same step with a
 *        live teacher and a CE step (bench_kd.c).
 * generate: batch-1 decoding with the KV cache (bench_generate.c).
 * --data FILE: train or fwd on batches of the file's examples instead of
 *        random full-length rows (bench_data.c); tokens/s counts real
 *        input tokens, and the padding ratio is reported.
 *
 * Model FLOPs count the matrix products only, with the full T x T attention
 * (PaLM's convention, so figures compare with other reports): per token,
 * 2 N + 4 L T C forward and three times that for training, where
 * N = 12 L C^2 + V C is the number of weights in matrix products. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "kd/core.h"
#include "kd/distill.h"
#include "kd/hf.h"
#include "kd/nn.h"
#include "kd/peft.h"
#include "kd/quant.h"

enum { BENCH_MAX_STEPS = 10000 };

static const char *const mode_names[] = {"train", "fwd", "kd", "generate"};

static int parse_mode(const char *name, bench_mode *mode)
{
    for (int i = 0; i < (int)(sizeof mode_names / sizeof *mode_names); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *mode = (bench_mode)i;
            return 1;
        }
    }
    return 0;
}

static kd_status check_sizes(const bench_options *options, const gpt2_config *config)
{
    if (options->seq > config->n_positions)
        return kd_fail(KD_ERR_INVALID, "--seq %d exceeds the model's n_positions %d",
                       options->seq, config->n_positions);
    size_t bytes = options->lora_rank > 0
                       ? kd_gpt2_lora_prepare_bytes(config, &options->lora, options->batch,
                                                    options->seq)
                       : kd_gpt2_prepare_bytes(config, options->batch, options->seq,
                                               options->mode == BENCH_TRAIN);
    kd_status status = options->lora_rank > 0
                           ? kd_gpt2_lora_config_validate(&options->lora, config)
                           : KD_OK;
    if (status != KD_OK)
        return status;
    size_t machine = kd_physical_memory_bytes();
    if (machine && bytes > machine)
        return kd_fail(KD_ERR_NOMEM, "batch %d x seq %d needs %.1f GB; this machine has %.1f GB",
                       options->batch, options->seq, (double)bytes / 1e9,
                       (double)machine / 1e9);
    return KD_OK;
}

kd_status bench_step(gpt2_model *model, bench_mode mode, const gpt2_batch *batch, int step,
                     double *loss)
{
    if (mode == BENCH_FWD) {
        gpt2_eval_sums sums = {0};
        kd_gpt2_forward(model, batch->tokens, batch->batch, batch->seq);
        kd_gpt2_head_evaluate(model, batch->targets, batch->weights, &sums);
        *loss = sums.loss_sum / sums.counted;
        return KD_OK;
    }
    /* PyTorch's AdamW defaults with the peer benchmark's rate and no decay. */
    gpt2_step_config config = {
        .adamw = {.learning_rate = 5e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
        .learning_rate = 5e-4f,
    };
    gpt2_step_result result;
    kd_status status = kd_gpt2_train_step(model, batch, 1, &config, step, &result);
    *loss = result.loss;
    return status;
}

/* Runs warm-up and timed steps on fresh random tokens each step. */
static kd_status run_steps(gpt2_model *model, const bench_options *options, bench_timing *timing)
{
    int B = options->batch, T = options->seq, total = options->warmup + options->steps;
    int *tokens = kd_alloc((size_t)B * (T + 1), sizeof(int), "benchmark tokens");
    int *inputs = kd_alloc((size_t)B * T, sizeof(int), "benchmark inputs");
    int *targets = kd_alloc((size_t)B * T, sizeof(int), "benchmark targets");
    double *times = kd_alloc((size_t)options->steps, sizeof(double), "step times");
    kd_status status = tokens && inputs && targets && times ? KD_OK : KD_ERR_NOMEM;
    kd_rng rng;
    kd_rng_seed(&rng, BENCH_SEED + 1);
    for (int step = 0; step < total && status == KD_OK; step++) {
        for (size_t i = 0; i < (size_t)B * (T + 1); i++)
            tokens[i] = (int)kd_rng_below(&rng, (uint64_t)model->config.vocab_size);
        for (int b = 0; b < B; b++) {
            memcpy(inputs + (size_t)b * T, tokens + (size_t)b * (T + 1), (size_t)T * sizeof(int));
            memcpy(targets + (size_t)b * T, tokens + (size_t)b * (T + 1) + 1,
                   (size_t)T * sizeof(int));
        }
        gpt2_batch batch = {inputs, targets, NULL, B, T};
        double loss, begin = kd_now_seconds();
        status = bench_step(model, options->mode, &batch, step + 1, &loss);
        double elapsed = kd_now_seconds() - begin;
        if (step == 0)
            timing->first_loss = loss;
        timing->last_loss = loss;
        if (step >= options->warmup)
            times[step - options->warmup] = elapsed;
    }
    if (status == KD_OK)
        bench_summarise(times, options->steps, timing);
    free(tokens);
    free(inputs);
    free(targets);
    free(times);
    return status;
}

static double flops_per_token(const gpt2_config *config, const bench_options *options)
{
    double L = config->n_layer, C = config->n_embd, V = config->vocab_size, T = options->seq;
    double forward = 2.0 * (12.0 * L * C * C + V * C) + 4.0 * L * T * C;
    return options->mode == BENCH_TRAIN || options->mode == BENCH_KD ? 3.0 * forward : forward;
}

/* Real input tokens per second: a timed step handles a full batch, or one
 * generated token; on --data batches the timed steps' own count. */
static double tokens_per_s(const bench_options *options, const bench_timing *timing)
{
    if (options->data_path)
        return timing->real_tokens_per_s;
    double per_step = options->mode == BENCH_GENERATE ? 1.0 : (double)options->batch * options->seq;
    return per_step / timing->median_s;
}

/* Batch cells (real tokens and padding) per second: what the engine computes. */
static double cells_per_s(const bench_options *options, const bench_timing *timing)
{
    return options->data_path ? timing->cells_per_s : tokens_per_s(options, timing);
}

static void add_mode_figures(cJSON *json, const bench_options *options,
                             const bench_timing *timing)
{
    if (options->mode == BENCH_KD) {
        cJSON_AddNumberToObject(json, "topk", options->topk);
        cJSON_AddNumberToObject(json, "samples", options->samples);
        cJSON_AddNumberToObject(json, "live_step_ms", timing->live_median_s * 1e3);
        cJSON_AddNumberToObject(json, "ce_step_ms", timing->ce_median_s * 1e3);
        cJSON_AddNumberToObject(json, "cache_speedup", timing->live_median_s / timing->median_s);
    }
    if (options->data_path) {
        cJSON_AddStringToObject(json, "data", options->data_path);
        cJSON_AddBoolToObject(json, "group_by_length", !options->no_group_by_length);
        cJSON_AddNumberToObject(json, "cells_per_s", timing->cells_per_s);
        cJSON_AddNumberToObject(json, "padding_ratio", timing->padding_ratio);
    }
    if (options->mode == BENCH_GENERATE) {
        cJSON_AddNumberToObject(json, "new_tokens", options->new_tokens);
        cJSON_AddNumberToObject(json, "prefill_tokens_per_s", timing->prefill_tokens_per_s);
        cJSON_AddStringToObject(json, "weights", kd_qtype_name(timing->weights));
    }
    if (timing->matrix_bytes) {
        cJSON_AddStringToObject(json, "qkernel", kd_qkernel_name(kd_qkernel_current()));
        cJSON_AddNumberToObject(json, "matrix_mb", timing->matrix_bytes / 1e6);
        cJSON_AddNumberToObject(json, "matrix_ratio_to_f32",
                                (double)timing->matrix_bytes / (double)timing->matrix_f32_bytes);
    }
}

static double trainable_params(const bench_options *options, const gpt2_config *config)
{
    return options->lora_rank > 0 ? (double)kd_gpt2_lora_num_trainable(&options->lora, config)
                                  : (double)kd_gpt2_num_params(config);
}

static void print_json(const bench_options *options, const gpt2_config *config,
                       const bench_timing *timing)
{
    double flops = flops_per_token(config, options);
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "mode", options->mode_name);
    cJSON_AddNumberToObject(json, "n_layer", config->n_layer);
    cJSON_AddNumberToObject(json, "n_embd", config->n_embd);
    cJSON_AddNumberToObject(json, "n_head", config->n_head);
    cJSON_AddNumberToObject(json, "vocab_size", config->vocab_size);
    cJSON_AddNumberToObject(json, "params", (double)kd_gpt2_num_params(config));
    cJSON_AddNumberToObject(json, "lora_rank", options->lora_rank);
    cJSON_AddBoolToObject(json, "qlora", options->qlora);
    cJSON_AddNumberToObject(json, "base_mb",
                            kd_gpt2_lora_base_bytes(config, options->lora_rank > 0 ? &options->lora
                                                                                   : NULL) /
                                1e6);
    cJSON_AddNumberToObject(json, "optimizer_mb", 8.0 * trainable_params(options, config) / 1e6);
    cJSON_AddNumberToObject(json, "trainable_params", trainable_params(options, config));
    cJSON_AddNumberToObject(json, "batch", options->batch);
    cJSON_AddNumberToObject(json, "seq", options->seq);
    cJSON_AddNumberToObject(json, "steps", options->steps);
    cJSON_AddNumberToObject(json, "warmup", options->warmup);
    cJSON_AddNumberToObject(json, "threads", kd_threads());
    cJSON_AddStringToObject(json, "blas_core", kd_blas_core_name());
    cJSON_AddStringToObject(json, "precision", kd_precision_name(options->precision));
    cJSON_AddNumberToObject(json, "step_ms", timing->median_s * 1e3);
    cJSON_AddNumberToObject(json, "step_ms_min", timing->min_s * 1e3);
    cJSON_AddNumberToObject(json, "step_ms_max", timing->max_s * 1e3);
    cJSON_AddNumberToObject(json, "tokens_per_s", tokens_per_s(options, timing));
    cJSON_AddNumberToObject(json, "model_flops_per_token", flops);
    cJSON_AddNumberToObject(json, "model_gflops_per_s",
                            flops * cells_per_s(options, timing) * 1e-9);
    cJSON_AddNumberToObject(json, "peak_rss_mb", kd_peak_rss_mb());
    cJSON_AddNumberToObject(json, "first_loss", timing->first_loss);
    cJSON_AddNumberToObject(json, "last_loss", timing->last_loss);
    add_mode_figures(json, options, timing);
    char *text = cJSON_PrintUnformatted(json);
    if (text)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(json);
}

static void print_table(const bench_options *options, const gpt2_config *config,
                        const bench_timing *timing)
{
    double flops = flops_per_token(config, options) * cells_per_s(options, timing);
    printf("mode        %s\n", options->mode_name);
    printf("model       %d layers, %d embd, %d heads, vocab %d (%.1fM parameters)\n",
           config->n_layer, config->n_embd, config->n_head, config->vocab_size,
           (double)kd_gpt2_num_params(config) / 1e6);
    if (options->lora_rank > 0)
        printf("%-12srank %d: %.3fM trainable parameters, the base frozen (%.1f MB%s)\n",
               options->qlora ? "QLoRA" : "LoRA", options->lora_rank,
               trainable_params(options, config) / 1e6,
               kd_gpt2_lora_base_bytes(config, &options->lora) / 1e6,
               options->qlora ? ", its matrices in NF4" : "");
    printf("batch       %d x %d tokens\n", options->batch, options->seq);
    printf("threads     %d (OpenBLAS %s kernels)\n", kd_threads(), kd_blas_core_name());
    printf("precision   %s\n", kd_precision_name(options->precision));
    printf("step        %.1f ms median of %d (min %.1f, max %.1f)\n", timing->median_s * 1e3,
           options->steps, timing->min_s * 1e3, timing->max_s * 1e3);
    printf("tokens/s    %.0f\n", tokens_per_s(options, timing));
    if (options->data_path)
        printf("data        %s, %s: padding ratio %.3f (%.0f cells/s)\n", options->data_path,
               options->no_group_by_length ? "random batches" : "grouped by length",
               timing->padding_ratio, timing->cells_per_s);
    printf("model       %.1f GFLOP/s\n", flops * 1e-9);
    printf("peak RSS    %.0f MB\n", kd_peak_rss_mb());
    if (options->mode == BENCH_GENERATE)
        printf("prefill     %.0f tokens/s (%d-token prompt), then %d tokens decoded\n",
               timing->prefill_tokens_per_s, options->seq, options->new_tokens);
    else
        printf("loss        %.4f -> %.4f\n", timing->first_loss, timing->last_loss);
    if (timing->matrix_bytes)
        printf("weights     %s matrices, %.1f MB (%.3fx f32), %s kernels\n",
               kd_qtype_name(timing->weights), timing->matrix_bytes / 1e6,
               (double)timing->matrix_bytes / (double)timing->matrix_f32_bytes,
               kd_qkernel_name(kd_qkernel_current()));
    if (options->mode == BENCH_KD)
        printf("live        %.1f ms with the teacher run live (%.2fx the cached step); "
               "CE step %.1f ms\n", timing->live_median_s * 1e3,
               timing->live_median_s / timing->median_s, timing->ce_median_s * 1e3);
}

static kd_status run_engine(const bench_options *options, const gpt2_config *config,
                            bench_timing *timing)
{
    gpt2_model model;
    kd_status status = kd_gpt2_create(&model, config);
    if (status != KD_OK)
        return status;
    kd_gpt2_init_random(&model, BENCH_SEED);
    if (options->lora_rank > 0)
        status = kd_gpt2_lora_attach(&model, &options->lora, BENCH_SEED);
    if (status == KD_OK)
        status = kd_gpt2_prepare(&model, options->batch, options->seq,
                                 options->mode == BENCH_TRAIN);
    if (status == KD_OK)
        status = kd_gpt2_set_precision(&model, options->precision);
    if (status == KD_OK)
        status = run_steps(&model, options, timing);
    kd_gpt2_free(&model);
    return status;
}

static kd_status run_bench(const bench_options *options, const gpt2_config *config,
                           bench_timing *timing)
{
    if (options->mode == BENCH_GENERATE)
        return bench_generate(options, config, timing);
    if (options->data_path)
        return bench_data(options, config, timing);
    if (options->mode != BENCH_KD)
        return run_engine(options, config, timing);
    gpt2_config teacher;
    kd_status status = kd_gpt2_config_read_model_section(options->teacher_config_path, &teacher);
    if (status == KD_OK && teacher.vocab_size != config->vocab_size)
        status = kd_fail(KD_ERR_INVALID, "the teacher's vocabulary (%d) differs from the "
                         "student's (%d)", teacher.vocab_size, config->vocab_size);
    if (status == KD_OK && options->seq > teacher.n_positions)
        status = kd_fail(KD_ERR_INVALID, "--seq %d exceeds the teacher's n_positions %d",
                         options->seq, teacher.n_positions);
    return status == KD_OK ? bench_kd(options, config, &teacher, timing) : status;
}

/* The option parser never yields INT_MIN, so it marks a --batch not given. */
enum { BATCH_NOT_GIVEN = INT_MIN };

static int check_options(const cli_command_spec *spec, bench_options *options)
{
    if (!options->config_path == !options->model_path)
        return cli_usage_error(spec, "one of --config and --model is required");
    if (!options->mode_name)
        return cli_usage_error(spec, "--mode is required");
    if (!parse_mode(options->mode_name, &options->mode))
        return cli_usage_error(spec, "--mode must be train, kd, fwd or generate");
    if (options->model_path && options->mode != BENCH_GENERATE)
        return cli_usage_error(spec, "--model applies to --mode generate");
    if (options->data_path && options->mode != BENCH_TRAIN && options->mode != BENCH_FWD)
        return cli_usage_error(spec, "--data times train or fwd steps");
    if (options->no_group_by_length && !options->data_path)
        return cli_usage_error(spec, "--no-group-by-length needs --data");
    if (options->mode == BENCH_KD && !options->teacher_config_path)
        return cli_usage_error(spec, "--mode kd needs --teacher-config");
    if (options->topk < 0 || options->topk > DISTILL_MAX_TOP_K || options->samples < 0 ||
        options->samples > 255 || options->new_tokens < 1 || options->new_tokens > 1 << 20)
        return cli_usage_error(spec, "--topk must be in 0..1024, --samples in 0..255, "
                               "--new-tokens positive");
    if (options->weights_name && kd_qtype_parse(options->weights_name, &options->weights) != KD_OK)
        return cli_usage_error(spec, kd_last_error());
    if (options->weights != KD_QTYPE_F32 && options->mode != BENCH_GENERATE)
        return cli_usage_error(spec, "--quantize applies to --mode generate");
    if (options->mode == BENCH_KD && options->topk + options->samples == 0)
        return cli_usage_error(spec, "--mode kd needs --topk or --samples above 0");
    /* Generation is timed at batch 1, as kd generate runs; a --batch not
     * given means that there and 4 elsewhere. */
    if (options->batch == BATCH_NOT_GIVEN)
        options->batch = options->mode == BENCH_GENERATE ? 1 : 4;
    if (options->mode == BENCH_GENERATE && options->batch > 1)
        return cli_usage_error(spec, "--mode generate decodes at batch 1: drop --batch");
    if (options->batch < 1 || options->seq < 1 || options->threads < 0)
        return cli_usage_error(spec, "--batch and --seq must be positive, --threads >= 0");
    if (options->batch > 1 << 20 || options->seq > 1 << 20)
        return cli_usage_error(spec, "--batch and --seq must be at most 1048576");
    if (options->lora_rank < 0 || (options->lora_rank > 0 && options->mode != BENCH_TRAIN))
        return cli_usage_error(spec, "--lora-rank must be positive, with --mode train");
    if (options->qlora && options->lora_rank == 0)
        return cli_usage_error(spec, "--qlora needs --lora-rank");
    kd_gpt2_lora_config_default(&options->lora);
    options->lora.rank = options->lora_rank;
    options->lora.qlora = options->qlora;
    options->lora.alpha = 2.0f * (float)options->lora_rank;
    if (options->lora_targets &&
        kd_peft_targets_parse_list(options->lora_targets, &options->lora.targets) != KD_OK)
        return cli_usage_error(spec, kd_last_error());
    if (options->steps < 1 || options->steps > BENCH_MAX_STEPS || options->warmup < 0 ||
        options->warmup > BENCH_MAX_STEPS)
        return cli_usage_error(spec, "--steps must be in 1..10000 and --warmup in 0..10000");
    /* QLoRA's products run in fp32 alone, so auto means fp32 there. */
    options->precision = options->qlora ? KD_PRECISION_FP32 : KD_PRECISION_AUTO;
    int status = cli_precision_check(spec, options->precision_name, &options->precision);
    if (status == CLI_EXIT_OK)
        kd_precision_resolve(options->precision, &options->precision);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    bench_options options = {.batch = BATCH_NOT_GIVEN, .seq = 256, .steps = 10, .warmup = 2,
                             .topk = 32, .new_tokens = 64};
    const cli_option option_list[] = {
        {"--config", OPT_STRING, &options.config_path, "kd configuration with a \"model\" object"},
        {"--model", OPT_STRING, &options.model_path,
         "generate: a model directory or GGUF file to run instead of random weights"},
        {"--mode", OPT_STRING, &options.mode_name, "train, fwd, kd or generate"},
        {"--batch", OPT_INT, &options.batch, "sequences per step (default 4; generate: 1)"},
        {"--seq", OPT_INT, &options.seq, "tokens per sequence (default 256)"},
        {"--steps", OPT_INT, &options.steps, "timed steps; the median is reported (default 10)"},
        {"--warmup", OPT_INT, &options.warmup, "untimed steps first (default 2)"},
        {"--threads", OPT_INT, &options.threads, "OpenMP and OpenBLAS threads (default: all)"},
        {"--teacher-config", OPT_STRING, &options.teacher_config_path,
         "teacher configuration (mode kd)"},
        {"--topk", OPT_INT, &options.topk, "kd: cached top-K per token (default 32)"},
        {"--samples", OPT_INT, &options.samples, "kd: cached tail samples per token (default 0)"},
        {"--new-tokens", OPT_INT, &options.new_tokens,
         "generate: tokens decoded after the --seq-token prompt (default 64)"},
        {"--quantize", OPT_STRING, &options.weights_name,
         "generate: run with the weight matrices in q8_0 or q4_0 (default f32)"},
        {"--lora-rank", OPT_INT, &options.lora_rank,
         "train: through LoRA adapters of this rank, the base frozen"},
        {"--lora-targets", OPT_STRING, &options.lora_targets,
         "train: adapted modules, comma-separated (default attn.c_attn)"},
        {"--qlora", OPT_FLAG, &options.qlora,
         "train: with --lora-rank, the frozen base matrices held in NF4 (QLoRA)"},
        {"--data", OPT_STRING, &options.data_path,
         "train, fwd: batches of this instruction file's examples (--seq caps their length)"},
        {"--no-group-by-length", OPT_FLAG, &options.no_group_by_length,
         "with --data: batches in plain shuffled order"},
        {"--json", OPT_FLAG, &options.json, "print one JSON object"},
        {"--precision", OPT_STRING, &options.precision_name, CLI_PRECISION_HELP},
    };
    const cli_command_spec spec = {
        .name = "bench",
        .summary = "Time the GPT-2 engine on random tokens, or with --data on batches of real\n"
                   "examples: median step time, tokens/s, model FLOP/s (matrix products, full\n"
                   "T x T attention: 6N + 12LTC per training token, 2N + 4LTC forward,\n"
                   "N = 12LC^2 + VC, over every batch cell) and peak resident memory.",
        .usage = "kd bench (--config FILE | --model DIR|FILE.gguf) --mode train|kd|fwd|generate\n"
                 "         [--batch B] [--seq T]\n"
                 "         [--steps N] [--warmup N] [--threads N] [--teacher-config FILE] [--json]\n"
                 "         [--topk K] [--samples N] [--new-tokens N] [--quantize q8_0|q4_0]\n"
                 "         [--precision P] [--lora-rank R] [--lora-targets LIST] [--qlora]\n"
                 "         [--data FILE [--no-group-by-length]]",
        .options = option_list,
        .option_count = (int)(sizeof option_list / sizeof *option_list),
    };
    int help_shown = 0;
    int exit_code = cli_parse(&spec, argc, argv, &help_shown);
    if (exit_code != CLI_EXIT_OK || help_shown)
        return exit_code;
    exit_code = check_options(&spec, &options);
    if (exit_code != CLI_EXIT_OK)
        return exit_code;
    if (options.threads > 0)
        kd_set_threads(options.threads);

    gpt2_config config;
    kd_status status = options.model_path
                           ? kd_model_config_read(options.model_path, &config)
                           : kd_gpt2_config_read_model_section(options.config_path, &config);
    if (status == KD_OK)
        status = check_sizes(&options, &config);
    bench_timing timing = {0};
    if (status == KD_OK)
        status = run_bench(&options, &config, &timing);
    if (status != KD_OK)
        return cli_fail("bench");
    if (options.json)
        print_json(&options, &config, &timing);
    else
        print_table(&options, &config, &timing);
    return CLI_EXIT_OK;
}
