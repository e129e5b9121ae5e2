/* kd export: a model directory as one GGUF file that llama.cpp (and kd)
 * run. */
#include <stdio.h>

#include "cli.h"

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *type_name = NULL, *adapter = NULL;
    int force = 0;
    const cli_option options[] = {
        {"--model", OPT_STRING, &model, "model directory (config.json, model.safetensors, vocab)"},
        {"--adapter", OPT_STRING, &adapter,
         "a PEFT LoRA adapter to write as a llama.cpp LoRA GGUF (--model: its base)"},
        {"--out", OPT_STRING, &out, "the GGUF file to write"},
        {"--type", OPT_STRING, &type_name, "f32, f16, q8_0 or q4_0: the matrices' type (default f16)"},
        {"--force", OPT_FLAG, &force, "replace an existing file"},
    };
    const cli_command_spec spec = {
        .name = "export",
        .summary =
            "Write a model directory as one GGUF (version 3) file in llama.cpp's gpt2 layout,\n"
            "with the full GPT-2 tokenizer. --type sets how the weight matrices (token\n"
            "embedding, attention and MLP weights) are stored; norms, biases and the position\n"
            "embedding stay f32. Size of a matrix value:\n"
            "  f32   4 bytes             exact\n"
            "  f16   2 bytes             (default) half precision, as llama.cpp's converter writes\n"
            "  q8_0  34 bytes / 32 values (8.5 bits, 0.27x f32): int8 with one fp16 scale a block\n"
            "  q4_0  18 bytes / 32 values (4.5 bits, 0.14x f32): 4-bit with one fp16 scale a block\n"
            "A matrix whose rows are not a multiple of 32 values is stored f16 (and said so).\n"
            "With --adapter, a PEFT LoRA adapter is written instead, as the LoRA GGUF that\n"
            "llama.cpp applies to the base's GGUF (f32 lora_a/lora_b tensors); it is checked\n"
            "against its base: --model, else the adapter's base_model_name_or_path.\n"
            "The file is written atomically: a failed export leaves no partial file.",
        .usage = "kd export --model DIR --out FILE.gguf [--type f32|f16|q8_0|q4_0] [--force]\n"
                 "kd export --adapter DIR [--model BASE] --out FILE.gguf [--force]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (adapter) {
        if (!out || type_name)
            return cli_usage_error(&spec, "--adapter needs --out, and takes no --type");
        if (kd_export_lora_gguf(adapter, model, out, force) != KD_OK)
            return cli_fail("export");
        fprintf(stderr, "kd export: wrote %s (LoRA adapter)\n", out);
        return CLI_EXIT_OK;
    }
    if (!model || !out)
        return cli_usage_error(&spec, "--model and --out are required");
    type_name = type_name ? type_name : "f16";
    ggml_type type;
    if (kd_ggml_type_parse(type_name, &type) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());
    int fallbacks = 0;
    if (kd_export_gguf(model, out, type, force, &fallbacks) != KD_OK)
        return cli_fail("export");
    if (fallbacks > 0)
        fprintf(stderr, "kd export: %d matrices stored f16: their rows are not whole blocks of "
                "%d values\n", fallbacks, GGML_BLOCK_VALUES);
    fprintf(stderr, "kd export: wrote %s (%s)\n", out, type_name);
    return CLI_EXIT_OK;
}
