/* kd teacher train: fine-tune a Hugging Face GPT-2 or train one from a config. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kd/teacher.h"

int cmd_teacher_train(int argc, char **argv)
{
    const char *config = NULL, *init = NULL, *out = NULL;
    cli_string_list data = {0};
    cli_training_flags flags;
    lora_overrides lora = {.rank = INT_MIN};
    const cli_option own[] = {
        {"--config", OPT_STRING, &config, "run configuration (model, train, data sections)"},
        {"--init", OPT_STRING, &init, "Hugging Face model directory to fine-tune"},
        {"--data", OPT_STRING_LIST, &data, "instruction data file (repeatable; replaces the config's)"},
        {"--out", OPT_STRING, &out, "run directory (default runs/<config name>/teacher)"},
        {"--lora-rank", OPT_INT, &lora.rank, "fine-tune through LoRA adapters of this rank"},
        {"--lora-alpha", OPT_FLOAT, &lora.alpha, "LoRA scale numerator (scale alpha/r; default 8)"},
        {"--lora-dropout", OPT_FLOAT, &lora.dropout, "dropout on the adapters' input"},
        {"--lora-targets", OPT_STRING, &lora.targets,
         "modules: attn.c_attn (default), attn.c_proj, mlp.c_fc, mlp.c_proj, comma-separated"},
        {"--lora-rslora", OPT_FLAG, &lora.rslora, "scale alpha/sqrt(r) (rank-stabilised LoRA)"},
        {"--lora-bias", OPT_STRING, &lora.bias, "none (default) or all: also train every bias"},
        {"--qlora", OPT_FLAG, &lora.qlora,
         "QLoRA: hold the frozen base matrices in NF4, dequantized a layer at a time"},
    };
    cli_option options[KD_COUNTOF(own) + CLI_TRAINING_OPTION_COUNT];
    cli_training_options(&flags, own, (int)KD_COUNTOF(own), options);
    const cli_command_spec spec = {
        .name = "teacher train",
        .summary = "Train the teacher on instruction data: fine-tune --init (e.g. distilgpt2) or\n"
                   "train the config's model from scratch. Writes <out>/model (best by validation\n"
                   "loss), <out>/last (checkpoint), metrics.jsonl, config.json. With --lora-rank\n"
                 "the base is frozen and only adapters train: <out>/adapter (PEFT) and the merged\n"
                 "<out>/model.",
        .usage = "kd teacher train --config FILE [--init HF_MODEL_DIR] [--data FILE]... [--out DIR]\n"
                 "                 [--epochs N] [--max-steps N] [--stop-after K] [--seed N]\n"
                 "                 [--lora-rank R [--lora-alpha A] [--lora-dropout P]\n"
                 "                  [--lora-targets LIST] [--lora-rslora] [--lora-bias none|all]\n"
                 "                  [--qlora]]\n"
                 "                 [--log-every N] [--precision P] [--resume | --force]",
        .options = options,
        .option_count = (int)KD_COUNTOF(options),
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!config)
        return cli_usage_error(&spec, "--config is required");
    if ((status = cli_training_check(&spec, &flags)) != CLI_EXIT_OK)
        return status;
    /* An explicit --lora-rank 0 is an error, not "keep the config's". */
    if (lora.rank != INT_MIN && lora.rank <= 0) {
        kd_fail(KD_ERR_INVALID, "--lora-rank must be positive, got %d", lora.rank);
        return cli_fail("teacher train");
    }
    lora.rank = lora.rank == INT_MIN ? 0 : lora.rank;
    teacher_train_options train = {
        .config_path = config, .init_dir = init, .data_files = data.items,
        .data_count = data.count, .out_dir = out,
        .overrides = cli_training_overrides(&flags), .lora = lora,
        .stop_after = flags.stop_after, .start = cli_start(flags.resume, flags.force),
    };
    return kd_teacher_train(&train) == KD_OK ? CLI_EXIT_OK : cli_fail("teacher train");
}
