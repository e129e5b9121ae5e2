/* kd student train: distil the teacher into a smaller GPT-2. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "kd/student.h"

int cmd_student_train(int argc, char **argv)
{
    const char *config = NULL, *cache = NULL, *teacher = NULL, *out = NULL, *divergence = NULL;
    cli_string_list data = {0};
    float alpha = NAN, temperature = NAN; /* not given: the config's */
    int random_init = 0;
    cli_training_flags flags;
    const cli_option own[] = {
        {"--config", OPT_STRING, &config, "student run configuration (model, train, data, "
                                          "distill, init)"},
        {"--cache", OPT_STRING, &cache, "the teacher's logit cache (kd teacher cache)"},
        {"--teacher", OPT_STRING, &teacher, "run this teacher model directory live instead of "
                                            "reading the cache"},
        {"--data", OPT_STRING_LIST, &data, "instruction data file (repeatable; replaces the config's)"},
        {"--out", OPT_STRING, &out, "run directory (default runs/<config name>/student)"},
        {"--alpha", OPT_FLOAT, &alpha, "weight of the hard-label loss, in [0, 1]"},
        {"--temperature", OPT_FLOAT, &temperature, "distillation temperature T > 0"},
        {"--divergence", OPT_STRING, &divergence, "forward_kl, reverse_kl or jsd"},
        {"--random-init", OPT_FLAG, &random_init, "start from random weights whatever the "
                                                  "config's init says"},
    };
    cli_option options[KD_COUNTOF(own) + CLI_TRAINING_OPTION_COUNT];
    cli_training_options(&flags, own, (int)KD_COUNTOF(own), options);
    const cli_command_spec spec = {
        .name = "student train",
        .summary = "Train a shallower or narrower student on alpha * CE(hard labels) +\n"
                   "(1 - alpha) * T^2 * D(teacher || student), with the teacher's probabilities\n"
                   "read from the cache (or computed live with --teacher). Writes <out>/model,\n"
                   "<out>/last, metrics.jsonl, config.json and samples.md like teacher train.",
        .usage = "kd student train --config FILE --cache DIR [--out DIR] [--alpha A] [--temperature T]\n"
                 "                 [--divergence D] [--teacher DIR] [--random-init] [--data FILE]...\n"
                 "                 [--epochs N] [--max-steps N] [--stop-after K] [--seed N]\n"
                 "                 [--log-every N] [--resume | --force]",
        .options = options,
        .option_count = (int)KD_COUNTOF(options),
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!config)
        return cli_usage_error(&spec, "--config is required");
    if (!cache && !teacher)
        return cli_usage_error(&spec, "--cache DIR is required (or --teacher DIR for a live teacher)");
    if ((status = cli_training_check(&spec, &flags)) != CLI_EXIT_OK)
        return status;
    student_train_options train = {
        .config_path = config, .cache_dir = cache, .teacher_dir = teacher,
        .data_files = data.items, .data_count = data.count, .out_dir = out, .alpha = alpha,
        .temperature = temperature, .divergence = divergence, .random_init = random_init,
        .overrides = cli_training_overrides(&flags),
        .stop_after = flags.stop_after, .start = cli_start(flags.resume, flags.force),
    };
    return kd_student_train(&train) == KD_OK ? CLI_EXIT_OK : cli_fail("student train");
}
