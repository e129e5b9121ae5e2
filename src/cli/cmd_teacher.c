/* kd teacher train: fine-tune a Hugging Face GPT-2 or train one from a config. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kd/teacher.h"

int cmd_teacher_train(int argc, char **argv)
{
    const char *config = NULL, *init = NULL, *out = NULL;
    cli_string_list data = {0};
    int epochs = 0, max_steps = 0, stop_after = 0, resume = 0, seed = -1, threads = 0;
    const cli_option options[] = {
        {"--config", OPT_STRING, &config, "run configuration (model, train, data sections)"},
        {"--init", OPT_STRING, &init, "Hugging Face model directory to fine-tune"},
        {"--data", OPT_STRING_LIST, &data, "instruction data file (repeatable; replaces the config's)"},
        {"--out", OPT_STRING, &out, "run directory (default runs/<config name>/teacher)"},
        {"--epochs", OPT_INT, &epochs, "number of epochs"},
        {"--max-steps", OPT_INT, &max_steps, "run length in optimizer steps (fixes the LR schedule)"},
        {"--stop-after", OPT_INT, &stop_after, "end after this step as if interrupted"},
        {"--seed", OPT_INT, &seed, "seed for initialisation and data order"},
        {"--threads", OPT_INT, &threads, "threads for OpenMP and OpenBLAS"},
        {"--resume", OPT_FLAG, &resume, "continue from <out>/last"},
    };
    const cli_command_spec spec = {
        .name = "teacher train",
        .summary = "Train the teacher on instruction data: fine-tune --init (e.g. distilgpt2) or\n"
                   "train the config's model from scratch. Writes <out>/model (best by validation\n"
                   "loss), <out>/last (checkpoint), metrics.jsonl, config.json.",
        .usage = "kd teacher train --config FILE [--init HF_MODEL_DIR] [--data FILE]... [--out DIR]\n"
                 "                 [--epochs N] [--max-steps N] [--stop-after K] [--seed N] [--resume]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!config)
        return cli_usage_error(&spec, "--config is required");
    if (epochs < 0 || max_steps < 0 || stop_after < 0 || threads < 0)
        return cli_usage_error(&spec, "counts must not be negative");
    teacher_train_options train = {
        .config_path = config, .init_dir = init, .data_files = data.items,
        .data_count = data.count, .out_dir = out,
        .overrides = {.epochs = epochs, .max_steps = max_steps, .seed = seed, .threads = threads},
        .stop_after = stop_after, .resume = resume,
    };
    return teacher_train(&train) == KD_OK ? CLI_EXIT_OK : cli_fail("teacher train");
}
