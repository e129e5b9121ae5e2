/* kd version: what was built and which kernels it runs on. */
#include <stdio.h>

#include "cli.h"
#include "kd/core.h"

static const cli_command_spec version_spec = {
    .name = "version",
    .summary = "Print kd's version, the OpenBLAS core in use and the thread count.",
    .usage = "kd version",
};

int cmd_version(int argc, char **argv)
{
    int help_shown = 0;
    int status = cli_parse(&version_spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    printf("kd 0.1.0\nblas_core %s\nthreads %d\n", kd_blas_core_name(), kd_threads());
    return CLI_EXIT_OK;
}
