/* kd cache verify DIR / kd cache inspect DIR: checking a teacher logit
 * cache and describing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kd/cache.h"
#include "kd/io.h"

static const cli_command_spec verify_spec = {
    .name = "cache verify",
    .summary = "Check a teacher logit cache: every shard's size and XXH3 checksum against the\n"
               "manifest, headers, indexes, counts, and that every record decodes. Any damage\n"
               "exits 1 naming the shard.",
    .usage = "kd cache verify DIR",
};

static int inspect_json;
static const cli_option inspect_options[] = {
    {"--json", OPT_FLAG, &inspect_json, "print manifest.json itself"},
};
static const cli_command_spec inspect_spec = {
    .name = "cache inspect",
    .summary = "Print what made a teacher logit cache (hashes, settings, counts) and its stats:\n"
               "bytes per token, compression ratio, top-k mass, write and read throughput.",
    .usage = "kd cache inspect DIR [--json]",
    .options = inspect_options,
    .option_count = sizeof inspect_options / sizeof *inspect_options,
};

/* Takes the one DIR operand (anywhere among the options), then parses the
 * rest. Returns CLI_EXIT_OK with *dir set, or the exit code to return. */
static int parse_dir_operand(const cli_command_spec *spec, int argc, char **argv,
                             const char **dir, int *help_shown)
{
    char *rest[CLI_MAX_LIST];
    int rest_count = 0;
    *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-' && !*dir) {
            *dir = argv[i];
        } else if (rest_count < CLI_MAX_LIST) {
            rest[rest_count++] = argv[i];
        } else {
            return cli_usage_error(spec, "too many arguments");
        }
    }
    int status = cli_parse(spec, rest_count, rest, help_shown);
    if (status != CLI_EXIT_OK || *help_shown)
        return status;
    return *dir ? CLI_EXIT_OK : cli_usage_error(spec, "which cache? (DIR is missing)");
}

int cmd_cache_verify(int argc, char **argv)
{
    const char *dir = NULL;
    int help_shown = 0;
    int status = parse_dir_operand(&verify_spec, argc, argv, &dir, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    cache_manifest manifest;
    if (cache_verify(dir, &manifest) != KD_OK)
        return cli_fail(verify_spec.name);
    printf("ok %s: %llu examples, %llu cached tokens, %d shards\n", dir,
           (unsigned long long)manifest.examples, (unsigned long long)manifest.positions,
           manifest.shard_count);
    cache_manifest_free(&manifest);
    return CLI_EXIT_OK;
}

int cmd_cache_inspect(int argc, char **argv)
{
    const char *dir = NULL;
    int help_shown = 0;
    inspect_json = 0;
    int status = parse_dir_operand(&inspect_spec, argc, argv, &dir, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    cache_manifest manifest;
    if (cache_manifest_read(dir, &manifest) != KD_OK)
        return cli_fail(inspect_spec.name);
    if (inspect_json) {
        cJSON *root = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        if (json_read_file(path, &root) != KD_OK) {
            cache_manifest_free(&manifest);
            return cli_fail(inspect_spec.name);
        }
        char *text = cJSON_Print(root);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(root);
    } else {
        printf("cache               %s\n", dir);
        cache_manifest_print(&manifest, stdout);
    }
    cache_manifest_free(&manifest);
    return CLI_EXIT_OK;
}
