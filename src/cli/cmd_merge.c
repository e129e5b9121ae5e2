/* kd merge: a PEFT LoRA adapter merged into its base, as one model directory. */
#include "cli.h"
#include "kd/peft.h"

int cmd_merge(int argc, char **argv)
{
    const char *base = NULL, *adapter = NULL, *out = NULL;
    const cli_option options[] = {
        {"--base", OPT_STRING, &base, "the base model directory the adapter was trained on"},
        {"--adapter", OPT_STRING, &adapter,
         "PEFT adapter directory (adapter_config.json, adapter_model.safetensors)"},
        {"--out", OPT_STRING, &out, "model directory to write"},
    };
    const cli_command_spec spec = {
        .name = "merge",
        .summary = "Merge a LoRA adapter (kd's or Hugging Face PEFT's, for GPT-2) into its base:\n"
                   "W + scale * (B A)^T for every adapted matrix; everything else is copied.",
        .usage = "kd merge --base DIR --adapter DIR --out DIR",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!base || !adapter || !out)
        return cli_usage_error(&spec, "--base, --adapter and --out are required");
    return kd_peft_merge(base, adapter, out) == KD_OK ? CLI_EXIT_OK : cli_fail("merge");
}
