/* kd teacher cache: run the teacher once over the training split and store
 * its soft targets for every student run. */
#include <stdio.h>

#include "cli.h"
#include "kd/cache.h"
#include "kd/dist.h"
#include "kd/teacher.h"

int cmd_teacher_cache(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *config = NULL, *precision = NULL;
    cli_string_list data = {0};
    cache_encoding encoding;
    kd_cache_encoding_default(&encoding);
    int sample_seed = 0, batch = 0, threads = 0, resume = 0, force = 0, no_group = 0;
    const cli_option options[] = {
        {"--model", OPT_STRING, &model, "the teacher's model directory"},
        {"--data", OPT_STRING_LIST, &data, "instruction data file (repeatable; replaces the config's)"},
        {"--out", OPT_STRING, &out, "cache directory"},
        {"--topk", OPT_INT, &encoding.topk, "top-k tokens kept per position (default 32)"},
        {"--samples", OPT_INT, &encoding.samples, "tokens drawn from the rest of the distribution (default 0)"},
        {"--sample-seed", OPT_INT, &sample_seed, "seed of those draws (default 0)"},
        {"--zstd-level", OPT_INT, &encoding.zstd_level, "zstd compression level (default 3)"},
        {"--shard-examples", OPT_INT, &encoding.shard_examples, "examples per shard (default 256)"},
        {"--config", OPT_STRING, &config, "run configuration (default: <model>/../config.json)"},
        {"--batch", OPT_INT, &batch, "examples per forward pass (default: the config's)"},
        {"--threads", OPT_INT, &threads, "threads for OpenMP and OpenBLAS"},
        {"--precision", OPT_STRING, &precision, CLI_PRECISION_HELP},
        {"--no-group-by-length", OPT_FLAG, &no_group,
         "cache in the split's order, not sorted by length"},
        {"--resume", OPT_FLAG, &resume, "continue the cache in --out (keeps its finished shards)"},
        {"--force", OPT_FLAG, &force, "remove the cache in --out and start over"},
    };
    const cli_command_spec spec = {
        .name = "teacher cache",
        .summary = "Run the teacher over the training split (the same examples, template, sequence\n"
                   "length and split as training) and store, for every position that carries loss,\n"
                   "its top-k log-probabilities, tail mass, entropy and optional tail samples, in\n"
                   "zstd-compressed shards with a manifest. --resume continues an interrupted\n"
                   "cache; --force replaces one.",
        .usage = "kd teacher cache --model DIR [--data FILE]... --out DIR [--topk K] [--samples N]\n"
                 "                 [--zstd-level L] [--config FILE] [--precision P]\n"
                 "                 [--no-group-by-length] [--resume | --force]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!model || !out)
        return cli_usage_error(&spec, "--model and --out are required");
    if (sample_seed < 0 || batch < 0 || threads < 0)
        return cli_usage_error(&spec, "seeds and counts must not be negative");
    if ((status = cli_start_check(&spec, resume, force)) != CLI_EXIT_OK)
        return status;
    encoding.sample_seed = (uint64_t)sample_seed;
    teacher_cache_options run = {
        .model_dir = model, .config_path = config, .data_files = data.items,
        .data_count = data.count, .out_dir = out, .encoding = encoding, .batch_size = batch,
        .threads = threads, .precision = KD_PRECISION_AUTO, .no_group_by_length = no_group,
        .start = cli_start(resume, force),
    };
    if ((status = cli_precision_check(&spec, precision, &run.precision)) != CLI_EXIT_OK)
        return status;
    cache_manifest manifest;
    if (kd_teacher_cache(&run, &manifest) != KD_OK)
        return cli_fail(spec.name);
    if (kd_dist_is_writer()) { /* rank 0 wrote the manifest */
        printf("cache               %s\n", out);
        kd_cache_manifest_print(&manifest, stdout);
    }
    kd_cache_manifest_free(&manifest);
    return CLI_EXIT_OK;
}
