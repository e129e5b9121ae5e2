/* The shared option parser: "--name value" or "--name=value", flags, and
 * repeatable list options. Numbers must parse completely ("12x" is an error). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/core.h"
#include "kd/dist.h"

void cli_print_help(const cli_command_spec *spec)
{
    printf("usage: %s\n\n%s\n", spec->usage, spec->summary);
    if (spec->option_count > 0)
        printf("\noptions:\n");
    for (int i = 0; i < spec->option_count; i++)
        printf("  %-22s %s\n", spec->options[i].name, spec->options[i].help);
    printf("  %-22s %s\n", "--help", "show this help");
}

int cli_fail(const char *command)
{
    /* In an MPI job the rank that failed says why; the others stay quiet. */
    if (kd_dist_failure_is_remote())
        return CLI_EXIT_FAILURE;
    if (kd_dist_rank() > 0)
        fprintf(stderr, "kd %s (rank %d): %s\n", command, kd_dist_rank(), kd_last_error());
    else
        fprintf(stderr, "kd %s: %s\n", command, kd_last_error());
    return CLI_EXIT_FAILURE;
}

int cli_usage_error(const cli_command_spec *spec, const char *message)
{
    fprintf(stderr, "kd %s: %s\nusage: %s\n(see 'kd %s --help')\n", spec->name, message,
            spec->usage, spec->name);
    return CLI_EXIT_USAGE;
}

static const cli_option *find_option(const cli_command_spec *spec, const char *name, size_t length)
{
    for (int i = 0; i < spec->option_count; i++) {
        const char *candidate = spec->options[i].name;
        if (strlen(candidate) == length && strncmp(candidate, name, length) == 0)
            return &spec->options[i];
    }
    return NULL;
}

static int store_value(const cli_command_spec *spec, const cli_option *option, const char *value)
{
    char message[256];
    char *end = NULL;
    errno = 0;
    switch (option->kind) {
    case OPT_STRING:
        *(const char **)option->target = value;
        return CLI_EXIT_OK;
    case OPT_STRING_LIST: {
        cli_string_list *list = option->target;
        if (list->count >= CLI_MAX_LIST) {
            snprintf(message, sizeof message, "%s given more than %d times", option->name,
                     CLI_MAX_LIST);
            return cli_usage_error(spec, message);
        }
        list->items[list->count++] = value;
        return CLI_EXIT_OK;
    }
    case OPT_INT: {
        long parsed = strtol(value, &end, 10);
        if (errno || end == value || *end || parsed < -2147483647L || parsed > 2147483647L)
            break;
        *(int *)option->target = (int)parsed;
        return CLI_EXIT_OK;
    }
    case OPT_FLOAT: {
        float parsed = strtof(value, &end);
        if (errno || end == value || *end)
            break;
        *(float *)option->target = parsed;
        return CLI_EXIT_OK;
    }
    case OPT_FLAG:
        break;
    }
    snprintf(message, sizeof message, "%s: '%s' is not a valid %s", option->name, value,
             option->kind == OPT_INT ? "integer" : "number");
    return cli_usage_error(spec, message);
}

int cli_parse(const cli_command_spec *spec, int argc, char **argv, int *help_shown)
{
    char message[256];
    *help_shown = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(spec);
            *help_shown = 1;
            return CLI_EXIT_OK;
        }
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        const cli_option *option = strncmp(arg, "--", 2) == 0 ? find_option(spec, arg, name_length)
                                                              : NULL;
        if (!option && spec->operand && !*spec->operand && arg[0] != '-') {
            *spec->operand = arg;
            continue;
        }
        if (!option && spec->second_operand && !*spec->second_operand && arg[0] != '-') {
            *spec->second_operand = arg;
            continue;
        }
        if (!option) {
            snprintf(message, sizeof message, "unknown argument '%s'", arg);
            return cli_usage_error(spec, message);
        }
        if (option->kind == OPT_FLAG) {
            if (equals) {
                snprintf(message, sizeof message, "%s takes no value", option->name);
                return cli_usage_error(spec, message);
            }
            *(int *)option->target = 1;
            continue;
        }
        const char *value = equals ? equals + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            snprintf(message, sizeof message, "%s needs a value", option->name);
            return cli_usage_error(spec, message);
        }
        int status = store_value(spec, option, value);
        if (status != CLI_EXIT_OK)
            return status;
    }
    return CLI_EXIT_OK;
}
