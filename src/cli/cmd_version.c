/* kd version: what was built, which kernels it runs on and where it finds
 * its assets. */
#include <stdio.h>

#include "cli.h"
#include "kd/core.h"
#include "kd/train.h"

static const cli_command_spec version_spec = {
    .name = "version",
    .summary = "Print kd's version, the OpenBLAS core in use, the thread count, the "
               "assets directory\nand the precision --precision auto picks here.",
    .usage = "kd version",
};

int cmd_version(int argc, char **argv)
{
    int help_shown = 0;
    int status = cli_parse(&version_spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    const char *assets = kd_assets_dir();
    char wait[128];
    printf("kd 0.1.0\nblas_core %s\nomp_wait %s\nthreads %d\nassets %s\n", kd_blas_core_name(),
           kd_omp_wait_setting(wait, sizeof wait), kd_threads(), assets ? assets : "none (set KD_ASSETS)");
    kd_precision chosen;
    char line[160];
    kd_precision_resolve(KD_PRECISION_AUTO, &chosen); /* auto always resolves */
    kd_precision_describe(KD_PRECISION_AUTO, chosen, line, sizeof line);
    printf("%s\n", line);
    return CLI_EXIT_OK;
}
