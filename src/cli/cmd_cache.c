/* kd cache verify DIR / kd cache inspect DIR: checking a teacher logit
 * cache and describing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kd/cache.h"
#include "kd/io.h"

int cmd_cache_verify(int argc, char **argv)
{
    const char *dir = NULL;
    const cli_command_spec verify_spec = {
        .name = "cache verify",
        .summary = "Check a teacher logit cache: every shard's size and XXH3 checksum against the\n"
                   "manifest, headers, indexes, counts, and that every record decodes. Any damage\n"
                   "exits 1 naming the shard.",
        .usage = "kd cache verify DIR",
        .operand = &dir,
    };
    int help_shown = 0;
    int status = cli_parse(&verify_spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    if (!dir)
        return cli_usage_error(&verify_spec, "which cache? (DIR is missing)");
    cache_manifest manifest;
    if (kd_cache_verify(dir, &manifest) != KD_OK)
        return cli_fail(verify_spec.name);
    printf("ok %s: %llu examples, %llu cached tokens, %d shards\n", dir,
           (unsigned long long)manifest.examples, (unsigned long long)manifest.positions,
           manifest.shard_count);
    kd_cache_manifest_free(&manifest);
    return CLI_EXIT_OK;
}

int cmd_cache_inspect(int argc, char **argv)
{
    const char *dir = NULL;
    int inspect_json = 0;
    const cli_option inspect_options[] = {
        {"--json", OPT_FLAG, &inspect_json, "print manifest.json itself"},
    };
    const cli_command_spec inspect_spec = {
        .name = "cache inspect",
        .summary = "Print what made a teacher logit cache (hashes, settings, counts) and its stats:\n"
                   "bytes per token, compression ratio, top-k mass, write and read throughput.",
        .usage = "kd cache inspect DIR [--json]",
        .options = inspect_options,
        .option_count = sizeof inspect_options / sizeof *inspect_options,
        .operand = &dir,
    };
    int help_shown = 0;
    int status = cli_parse(&inspect_spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    if (!dir)
        return cli_usage_error(&inspect_spec, "which cache? (DIR is missing)");
    cache_manifest manifest;
    if (kd_cache_manifest_read(dir, &manifest) != KD_OK)
        return cli_fail(inspect_spec.name);
    if (inspect_json) {
        cJSON *root = NULL;
        char path[KD_PATH_CAPACITY];
        snprintf(path, sizeof path, "%s/" KD_CACHE_MANIFEST_FILE, dir);
        if (kd_json_read_file(path, &root) != KD_OK) {
            kd_cache_manifest_free(&manifest);
            return cli_fail(inspect_spec.name);
        }
        char *text = cJSON_Print(root);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(root);
    } else {
        printf("cache               %s\n", dir);
        kd_cache_manifest_print(&manifest, stdout);
    }
    kd_cache_manifest_free(&manifest);
    return CLI_EXIT_OK;
}
