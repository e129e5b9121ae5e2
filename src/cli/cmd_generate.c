/* kd generate: continue a prompt with a model directory's model. The prompt
 * goes through the training template (unless --raw), the continuation is
 * streamed to stdout token by token, and the speed goes to stderr. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kd/data.h"
#include "kd/nn.h"
#include "kd/qgpt2.h"
#include "kd/tokenizer.h"

typedef struct {
    const char *model_dir;
    const char *adapter_dir;
    const char *prompt;
    int raw;
    float temperature;
    int top_k;
    float top_p;
    int max_new_tokens;
    int seed;
    kd_qtype weights;
    const char *precision_name;
    kd_precision precision;
} generate_args;

/* Everything a run holds, released in one place. */
typedef struct {
    model_weights weights; /* weights.q runs when set (--quantize, or a quantized file) */
    gpt2_kv_cache cache;
    gpt2_qstate state;
    kd_tokenizer *tokenizer;
    kd_token_buffer prompt;
} generate_run;

static kd_status encode_prompt(const generate_args *args, generate_run *run)
{
    if (args->raw)
        return kd_tokenizer_encode(run->tokenizer, args->prompt, strlen(args->prompt), &run->prompt);
    /* The instruction template the model was trained with, without context. */
    prompt_template prompt;
    kd_prompt_template_default(&prompt);
    return kd_template_encode_prompt(run->tokenizer, &prompt, args->prompt, "", &run->prompt);
}

/* Writes one token's bytes to stdout as soon as it is sampled. A token may
 * hold part of a UTF-8 character; the bytes of consecutive tokens join up. */
static kd_status print_token(int token, void *context)
{
    const kd_tokenizer *tokenizer = context;
    char *text = NULL;
    size_t length = 0;
    kd_status status = kd_tokenizer_decode(tokenizer, &token, 1, &text, &length);
    if (status != KD_OK)
        return status;
    int written = fwrite(text, 1, length, stdout) == length && fflush(stdout) == 0;
    free(text);
    return written ? KD_OK : kd_fail(KD_ERR_IO, "cannot write the generated text to stdout");
}

static const char *stop_reason(const gpt2_generate_stats *stats, const gpt2_sampling *sampling)
{
    if (stats->stopped)
        return "<|endoftext|>";
    return stats->new_tokens == sampling->max_new_tokens ? "--max-new-tokens"
                                                         : "the model's context length";
}

static double per_second(double count, double seconds)
{
    return seconds > 0.0 ? count / seconds : 0.0;
}

static void report_speed(const gpt2_generate_stats *stats, const gpt2_sampling *sampling)
{
    int samples = stats->new_tokens + stats->stopped; /* the stop token was sampled too */
    fprintf(stderr,
            "kd generate: %d new tokens (stopped by %s); prefill %d tokens in %.3f s "
            "(%.0f tokens/s), decode %.1f tokens/s, sampling %.2f ms/token\n",
            stats->new_tokens, stop_reason(stats, sampling), stats->prompt_tokens,
            stats->prefill_seconds, per_second(stats->prompt_tokens, stats->prefill_seconds),
            per_second(stats->decode_steps, stats->decode_seconds),
            samples ? 1e3 * stats->sample_seconds / samples : 0.0);
}

static kd_status run_generation(const generate_args *args, const gpt2_sampling *base,
                                generate_run *run)
{
    kd_status status = kd_model_load(args->model_dir, &run->weights, &run->tokenizer);
    if (status == KD_OK)
        status = kd_model_attach_adapter(&run->weights, args->adapter_dir, args->model_dir);
    if (status == KD_OK)
        status = kd_model_quantize(&run->weights, args->weights, args->model_dir);
    if (status == KD_OK)
        status = encode_prompt(args, run);
    int count = run->prompt.count < INT_MAX ? (int)run->prompt.count : INT_MAX;
    const gpt2_qmodel *q = run->weights.q.layers ? &run->weights.q : NULL;
    gpt2_model *model = &run->weights.model;
    gpt2_config shape = q ? q->config : model->config;
    const gpt2_config *config = &shape;
    if (status == KD_OK)
        status = kd_gpt2_prompt_check(config, count);
    if (status != KD_OK)
        return status;

    gpt2_sampling sampling = *base;
    sampling.stop_token = kd_tokenizer_token_id(run->tokenizer, "<|endoftext|>");
    /* Room for the prompt and every new token, within the model's context. */
    int room = config->n_positions - count;
    int max_len = count + (sampling.max_new_tokens < room ? sampling.max_new_tokens : room);
    fprintf(stderr, "kd generate: %d layers, %d wide, %zu parameters (%s); prompt of %d tokens\n",
            config->n_layer, config->n_embd, kd_gpt2_num_params(config),
            kd_qtype_name(q ? q->wte.type : KD_QTYPE_F32), count);

    kd_rng rng;
    kd_rng_seed(&rng, (uint64_t)args->seed);
    gpt2_generate_stats stats;
    if (!q) {
        if ((status = kd_gpt2_prepare(model, 1, count, 0)) != KD_OK ||
            (status = kd_model_use_precision(model, args->precision, "kd generate")) != KD_OK ||
            (status = kd_gpt2_kv_cache_create(&run->cache, config, max_len)) != KD_OK)
            return status;
        status = kd_gpt2_generate_tokens(model, &run->cache, run->prompt.ids, count, &sampling,
                                         &rng, NULL, print_token, run->tokenizer, &stats);
    } else {
        if ((status = kd_gpt2_qstate_create(&run->state, config, max_len)) != KD_OK)
            return status;
        status = kd_gpt2_qgenerate_tokens(q, &run->state, run->prompt.ids, count, &sampling,
                                          &rng, NULL, print_token, run->tokenizer, &stats);
    }
    if (isatty(STDOUT_FILENO))
        putchar('\n'); /* only for the eye: piped output is exactly the continuation */
    if (status == KD_OK)
        report_speed(&stats, &sampling);
    return status;
}

int cmd_generate(int argc, char **argv)
{
    gpt2_sampling sampling;
    kd_gpt2_sampling_default(&sampling);
    const char *weights = "f32";
    generate_args args = {
        .temperature = sampling.temperature, .top_k = sampling.top_k, .top_p = sampling.top_p,
        .max_new_tokens = sampling.max_new_tokens, .seed = 1, .precision = KD_PRECISION_AUTO,
    };
    const cli_option options[] = {
        {"--model", OPT_STRING, &args.model_dir,
         "model directory (config.json, model.safetensors, vocab.json, merges.txt) or GGUF file"},
        {"--adapter", OPT_STRING, &args.adapter_dir,
         "PEFT LoRA adapter to run unmerged on --model"},
        {"--prompt", OPT_STRING, &args.prompt,
         "the instruction (or, with --raw, the text) to continue"},
        {"--raw", OPT_FLAG, &args.raw, "feed the prompt as is, without the instruction template"},
        {"--temperature", OPT_FLOAT, &args.temperature,
         "divide the logits by T; 0 = greedy (default 0.7)"},
        {"--top-k", OPT_INT, &args.top_k,
         "sample among the K most likely tokens; 0 = all (default 50)"},
        {"--top-p", OPT_FLOAT, &args.top_p,
         "then among the fewest reaching probability P (default 1 = off)"},
        {"--max-new-tokens", OPT_INT, &args.max_new_tokens, "stop after N tokens (default 128)"},
        {"--seed", OPT_INT, &args.seed, "random seed: same seed, same text (default 1)"},
        {"--quantize", OPT_STRING, &weights,
         "run with the weight matrices in q8_0 or q4_0 blocks (default f32)"},
        {"--precision", OPT_STRING, &args.precision_name,
         CLI_PRECISION_HELP "; the prompt's pass only"},
    };
    const cli_command_spec spec = {
        .name = "generate",
        .summary = "Continue a prompt. Unless --raw is given, the prompt is the instruction of "
                   "the template training\nuses (### Instruction: ... ### Response:). Generation "
                   "stops at <|endoftext|>, --max-new-tokens\nor the model's context length. stdout "
                   "holds only the generated text; progress and speed go\nto stderr.",
        .usage = "kd generate --model DIR|FILE.gguf [--adapter DIR] --prompt TEXT [--raw]\n"
                 "                   [--temperature T] [--top-k K] [--top-p P] [--max-new-tokens N]\n"
                 "                   [--seed N] [--quantize q8_0|q4_0] [--precision P]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help_shown = 0;
    int exit_code = cli_parse(&spec, argc, argv, &help_shown);
    if (exit_code != CLI_EXIT_OK || help_shown)
        return exit_code;
    if (!args.model_dir)
        return cli_usage_error(&spec, "--model is required");
    if (!args.prompt)
        return cli_usage_error(&spec, "--prompt is required");
    if (args.seed < 0)
        return cli_usage_error(&spec, "--seed must be >= 0");
    if (kd_qtype_parse(weights, &args.weights) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());
    if ((exit_code = cli_precision_check(&spec, args.precision_name, &args.precision)) !=
        CLI_EXIT_OK)
        return exit_code;
    sampling.temperature = args.temperature;
    sampling.top_k = args.top_k;
    sampling.top_p = args.top_p;
    sampling.max_new_tokens = args.max_new_tokens;
    if (kd_gpt2_sampling_validate(&sampling) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());

    generate_run run = {0};
    kd_status status = run_generation(&args, &sampling, &run);
    kd_gpt2_kv_cache_free(&run.cache);
    kd_gpt2_qstate_free(&run.state);
    kd_model_unload(&run.weights);
    kd_tokenizer_free(run.tokenizer);
    kd_token_buffer_free(&run.prompt);
    return status == KD_OK ? CLI_EXIT_OK : cli_fail("generate");
}
