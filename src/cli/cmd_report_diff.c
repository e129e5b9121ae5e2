/* kd report diff A/report.json B/report.json [--out DIR]: what changed
 * between two reports, model by model. */
#include <stdio.h>

#include "cli.h"
#include "kd/report.h"

int cmd_report_diff(int argc, char **argv)
{
    const char *a = NULL, *b = NULL, *out = NULL;
    const cli_option options[] = {
        {"--out", OPT_STRING, &out, "directory for diff.md, diff.json and diff.html"},
    };
    const cli_command_spec spec = {
        .name = "report diff",
        .summary = "Compare two report.json files of kd report, matching models by name and role:\n"
                   "the settings that differ (alpha, temperature, divergence, cache top-K and\n"
                   "samples, steps, seed, ...) and every result (losses, ROUGE-L, agreement,\n"
                   "speed, size, memory) with B - A, B / A and, for the validation loss, whether\n"
                   "the change exceeds the noise of the two evaluations. Prints Markdown; --out\n"
                   "also writes diff.md, diff.json and diff.html.",
        .usage = "kd report diff A/report.json B/report.json [--out DIR]",
        .options = options,
        .option_count = (int)KD_COUNTOF(options),
        .operand = &a,
        .second_operand = &b,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!a || !b)
        return cli_usage_error(&spec, "two report.json files are required");
    if (kd_report_diff(a, b, out, stdout) != KD_OK)
        return cli_fail(spec.name);
    return CLI_EXIT_OK;
}
