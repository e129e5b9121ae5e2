/* --precision, shared by every command that runs a model: a bad value is a
 * usage error, and so is bf16 on a CPU that lacks native bf16 products, so
 * both exit 2 before any work starts. */
#include <stdio.h>

#include "cli.h"

int cli_precision_check(const cli_command_spec *spec, const char *text, kd_precision *requested)
{
    if (!text)
        return CLI_EXIT_OK;
    kd_precision precision, chosen;
    if (kd_precision_parse(text, &precision) != KD_OK)
        return cli_usage_error(spec, kd_last_error());
    if (kd_precision_resolve(precision, &chosen) != KD_OK) {
        fprintf(stderr, "kd %s: %s\n", spec->name, kd_last_error());
        return CLI_EXIT_USAGE;
    }
    *requested = precision;
    return CLI_EXIT_OK;
}
