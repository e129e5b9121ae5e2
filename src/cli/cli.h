/* kd's command-line layer: the subcommand table and one option parser that
 * every subcommand shares, so flags, --help and exit codes behave alike. */
#ifndef KD_CLI_H
#define KD_CLI_H

#include "kd/train.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };
enum { CLI_MAX_LIST = 64 };

typedef enum { OPT_STRING, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_STRING_LIST } cli_option_kind;

typedef struct {
    const char *items[CLI_MAX_LIST];
    int count;
} cli_string_list;

typedef struct {
    const char *name;      /* "--seq" */
    cli_option_kind kind;
    void *target;          /* const char **, int *, float *, int * (flag), cli_string_list * */
    const char *help;
} cli_option;

typedef struct {
    const char *name;      /* "tokenize", or "teacher train" */
    const char *summary;
    const char *usage;     /* the synopsis line(s) printed by --help */
    const cli_option *options;
    int option_count;
    const char **operand;  /* receives the one argument that is not an option (e.g. a
                              directory), or NULL when the command takes none */
    const char **second_operand; /* the next such argument, for a command taking two */
} cli_command_spec;

/* Parses argv (after the subcommand words) into the options' targets.
 * Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after printing why; sets *help_shown
 * when --help was asked for and printed (the caller then exits 0). */
int cli_parse(const cli_command_spec *spec, int argc, char **argv, int *help_shown);
void cli_print_help(const cli_command_spec *spec);
/* Prints "kd <command>: <kd_last_error()>" to stderr and returns CLI_EXIT_FAILURE. */
int cli_fail(const char *command);
/* Prints "kd <command>: <message>" and the usage hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_command_spec *spec, const char *message);

/* --precision: the help every command that runs a model shows, and its
 * check: CLI_EXIT_OK with *requested set to the precision asked for (left as
 * is when the flag is absent), or CLI_EXIT_USAGE after printing one line for
 * a bad value or bf16 where the CPU lacks it. */
#define CLI_PRECISION_HELP "fp32, bf16 or auto (bf16 where the CPU has it natively)"
int cli_precision_check(const cli_command_spec *spec, const char *text,
                        kd_precision *requested);

/* The flags of the training commands (teacher train, student train). */
enum { CLI_TRAINING_OPTION_COUNT = 13 };
typedef struct {
    int epochs, max_steps, stop_after, resume, force, seed, threads, log_every, no_group_by_length;
    int zero, no_overlap, bucket_mb;
    const char *precision;
    kd_precision precision_requested;
} cli_training_flags;

/* Sets the flags to "the config's" and fills `options`, which holds
 * count + CLI_TRAINING_OPTION_COUNT rows, with the command's own `count`
 * rows followed by the training flags' (--epochs ... --resume, --force). */
void cli_training_options(cli_training_flags *flags, const cli_option *own, int count,
                          cli_option *options);
/* CLI_EXIT_OK, or a usage error when a count is negative. */
int cli_training_check(const cli_command_spec *spec, cli_training_flags *flags);
/* A usage error when both --resume and --force are given. */
int cli_start_check(const cli_command_spec *spec, int resume, int force);
/* What a writer does with earlier work in its directory, from --resume and --force. */
run_dir_start cli_start(int resume, int force);
/* The flags that replace the config's train settings. */
train_overrides cli_training_overrides(const cli_training_flags *flags);

/* Subcommands: each lives in its own cmd_*.c file. */
int cmd_version(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_teacher_train(int argc, char **argv);
int cmd_teacher_cache(int argc, char **argv);
int cmd_student_train(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);

int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_cache_verify(int argc, char **argv);
int cmd_cache_inspect(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_report_diff(int argc, char **argv);

#endif
