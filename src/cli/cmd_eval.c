/* kd eval: loss, perplexity and next-token accuracy of a model directory. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kd/train.h"

static void print_json(const char *model, kd_qtype weights, const eval_result *result)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "model", model);
    cJSON_AddStringToObject(json, "weights", kd_qtype_name(weights));
    cJSON_AddNumberToObject(json, "loss", result->loss);
    cJSON_AddNumberToObject(json, "ppl", result->ppl);
    cJSON_AddNumberToObject(json, "accuracy", result->accuracy);
    cJSON_AddNumberToObject(json, "tokens", result->tokens);
    cJSON_AddNumberToObject(json, "tokens_per_s", result->tokens_per_s);
    cJSON_AddNumberToObject(json, "padding_ratio", result->padding_ratio);
    char *text = cJSON_PrintUnformatted(json);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(json);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *adapter = NULL;
    cli_string_list data = {0};
    int json = 0, batch = 8, seq = 0, threads = 0, no_group = 0;
    const char *weights = "f32";
    const char *precision = NULL;
    const cli_option options[] = {
        {"--model", OPT_STRING, &model, "model directory (config.json, model.safetensors, vocab) or GGUF file"},
        {"--adapter", OPT_STRING, &adapter, "PEFT LoRA adapter to run unmerged on --model"},
        {"--data", OPT_STRING_LIST, &data, "data file, every record evaluated (repeatable)"},
        {"--batch", OPT_INT, &batch, "sequences per forward pass (default 8)"},
        {"--seq", OPT_INT, &seq, "sequence length (default: the run's, else up to 1024)"},
        {"--threads", OPT_INT, &threads, "threads for OpenMP and OpenBLAS"},
        {"--quantize", OPT_STRING, &weights,
         "evaluate with the weight matrices in q8_0 or q4_0 blocks (default f32)"},
        {"--precision", OPT_STRING, &precision, CLI_PRECISION_HELP},
        {"--no-group-by-length", OPT_FLAG, &no_group,
         "batches in the data's order, not sorted by length"},
        {"--json", OPT_FLAG, &json, "print one JSON object"},
    };
    const cli_command_spec spec = {
        .name = "eval",
        .summary = "Evaluate a model on instruction data with the default template and loss mask\n"
                   "(response tokens). Without --data, evaluates the validation split of the run\n"
                   "whose model/ directory --model is.",
        .usage = "kd eval --model DIR|FILE.gguf [--adapter DIR] [--data FILE]... [--quantize q8_0|q4_0]\n"
                 "        [--precision P] [--no-group-by-length] [--json]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!model)
        return cli_usage_error(&spec, "--model is required");
    if (batch < 1 || seq < 0 || threads < 0)
        return cli_usage_error(&spec, "--batch must be positive, --seq and --threads not negative");
    eval_options eval = {model, adapter, data.items, data.count, batch, seq, KD_QTYPE_F32,
                         KD_PRECISION_AUTO, no_group};
    if (kd_qtype_parse(weights, &eval.weights) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());
    if ((status = cli_precision_check(&spec, precision, &eval.precision)) != CLI_EXIT_OK)
        return status;
    if (threads > 0)
        kd_set_threads(threads);
    eval_result result;
    if (kd_eval_model_dir(&eval, &result) != KD_OK)
        return cli_fail("eval");
    if (json)
        print_json(model, eval.weights, &result);
    else
        printf("loss %.4f  ppl %.2f  accuracy %.4f  tokens %.0f  %.0f tokens/s  padding %.2f\n",
               result.loss, result.ppl, result.accuracy, result.tokens, result.tokens_per_s,
               result.padding_ratio);
    return CLI_EXIT_OK;
}
