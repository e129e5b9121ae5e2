/* The flags teacher train and student train share, written once. */
#include "cli.h"

void cli_training_options(cli_training_flags *flags, const cli_option *own, int count,
                          cli_option *options)
{
    *flags = (cli_training_flags){.seed = -1, .bucket_mb = -1};
    const cli_option rows[CLI_TRAINING_OPTION_COUNT] = {
        {"--epochs", OPT_INT, &flags->epochs, "number of epochs"},
        {"--max-steps", OPT_INT, &flags->max_steps,
         "run length in optimizer steps (fixes the LR schedule)"},
        {"--stop-after", OPT_INT, &flags->stop_after, "end after this step as if interrupted"},
        {"--seed", OPT_INT, &flags->seed, "seed for initialisation and data order"},
        {"--threads", OPT_INT, &flags->threads, "threads for OpenMP and OpenBLAS"},
        {"--log-every", OPT_INT, &flags->log_every,
         "steps between training rows of metrics.jsonl (default 10)"},
        {"--precision", OPT_STRING, &flags->precision, CLI_PRECISION_HELP " (default: the config's)"},
        {"--no-group-by-length", OPT_FLAG, &flags->no_group_by_length,
         "batches in plain shuffled order, not grouped by length"},
        {"--zero", OPT_INT, &flags->zero,
         "1: shard AdamW's moments over the ranks of an mpirun job (ZeRO-1; default 0)"},
        {"--no-overlap", OPT_FLAG, &flags->no_overlap,
         "mpirun jobs: sum the gradients after the backward pass, not during it (same bits)"},
        {"--bucket-mb", OPT_INT, &flags->bucket_mb,
         "mpirun jobs: sum consecutive layers' gradients in buckets of at least this many MB "
         "(default 16; 0: every layer alone)"},
        {"--resume", OPT_FLAG, &flags->resume, "continue the run in <out> from <out>/last"},
        {"--force", OPT_FLAG, &flags->force, "remove the run in <out> and start over"},
    };
    for (int i = 0; i < count; i++)
        options[i] = own[i];
    for (int i = 0; i < CLI_TRAINING_OPTION_COUNT; i++)
        options[count + i] = rows[i];
}

int cli_training_check(const cli_command_spec *spec, cli_training_flags *flags)
{
    if (flags->epochs < 0 || flags->max_steps < 0 || flags->stop_after < 0 || flags->threads < 0 ||
        flags->log_every < 0 || flags->bucket_mb < -1)
        return cli_usage_error(spec, "counts must not be negative");
    if (flags->zero != 0 && flags->zero != 1)
        return cli_usage_error(spec, "--zero takes 0 or 1");
    int status = cli_precision_check(spec, flags->precision, &flags->precision_requested);
    if (status != CLI_EXIT_OK)
        return status;
    return cli_start_check(spec, flags->resume, flags->force);
}

int cli_start_check(const cli_command_spec *spec, int resume, int force)
{
    if (resume && force)
        return cli_usage_error(spec, "--resume and --force exclude each other");
    return CLI_EXIT_OK;
}

run_dir_start cli_start(int resume, int force)
{
    return force ? RUN_DIR_FORCE : resume ? RUN_DIR_RESUME : RUN_DIR_NEW;
}

train_overrides cli_training_overrides(const cli_training_flags *flags)
{
    return (train_overrides){.epochs = flags->epochs, .max_steps = flags->max_steps,
                             .seed = flags->seed, .threads = flags->threads,
                             .log_every = flags->log_every,
                             .precision_given = flags->precision != NULL,
                             .precision = flags->precision_requested,
                             .no_group_by_length = flags->no_group_by_length,
                             .zero = flags->zero, .no_overlap = flags->no_overlap,
                             .bucket_mb_given = flags->bucket_mb >= 0,
                             .bucket_mb = flags->bucket_mb};
}
