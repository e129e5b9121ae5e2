/* kd version: what was built, which kernels it runs on and where it finds
 * its assets. */
#include <stdio.h>

#include "cli.h"
#include "kd/core.h"
#include "kd/train.h"

static const cli_command_spec version_spec = {
    .name = "version",
    .summary = "Print kd's version, the OpenBLAS core in use, the thread count and the "
               "assets directory.",
    .usage = "kd version",
};

int cmd_version(int argc, char **argv)
{
    int help_shown = 0;
    int status = cli_parse(&version_spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    const char *assets = kd_assets_dir();
    printf("kd 0.1.0\nblas_core %s\nthreads %d\nassets %s\n", kd_blas_core_name(), kd_threads(),
           assets ? assets : "none (set KD_ASSETS)");
    return CLI_EXIT_OK;
}
