/* kd pipeline: teacher -> cache -> students and baselines -> report. */
#include <stdio.h>

#include "cli.h"
#include "kd/pipeline.h"
#include "kd/report.h"

int cmd_pipeline(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *quantize = NULL;
    int threads = 0, force = 0;
    const cli_option options[] = {
        {"--out", OPT_STRING, &out, "output directory (default: the config's \"out\", else "
                                    "runs/<name>)"},
        {"--threads", OPT_INT, &threads, "threads for every stage"},
        {"--force", OPT_FLAG, &force, "start every stage over, removing what it holds"},
        {"--quantize", OPT_STRING, &quantize,
         "the report's quantized rows: q8_0,q4_0 or none (default: the config's "
         "report.quantize)"},
    };
    const cli_command_spec spec = {
        .name = "pipeline",
        .summary = "Run every stage from one config: teacher training, the logit cache, each\n"
                   "student with its hard-label baseline, and the report. Stages whose outputs\n"
                   "are complete for the same inputs are skipped; an interrupted stage resumes;\n"
                   "a stage whose inputs changed is redone (the pipeline says why).",
        .usage = "kd pipeline [CONFIG] [--out DIR] [--threads N] [--quantize q8_0,q4_0|none] "
                 "[--force]\n"
                 "            (CONFIG: configs/demo.json)",
        .options = options,
        .option_count = sizeof options / sizeof *options,
        .operand = &config,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (threads < 0)
        return cli_usage_error(&spec, "--threads must not be negative");
    kd_qtype types[KD_REPORT_MAX_QUANTIZE];
    int type_count = 0;
    if (quantize && kd_report_quantize_parse(quantize, types, &type_count) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());
    pipeline_options run = {.config_path = config ? config : "configs/demo.json", .out_dir = out,
                            .threads = threads, .force = force, .quantize = quantize};
    return kd_pipeline_run(&run) == KD_OK ? CLI_EXIT_OK : cli_fail("pipeline");
}
