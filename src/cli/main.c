/* kd: the command-line entry point. Resolves the subcommand (one or two
 * words) and hands the remaining arguments to it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kd/core.h"
#include "kd/dist.h"

typedef struct {
    const char *words;   /* "tokenize" or "teacher train" */
    const char *summary;
    int (*run)(int argc, char **argv);
    int data_parallel;   /* runs as the ranks of an mpirun job */
} command_entry;

static const command_entry commands[] = {
    {"teacher train", "train or fine-tune the teacher on instruction data", cmd_teacher_train, 1},
    {"teacher cache", "store the teacher's soft targets for the training split", cmd_teacher_cache, 1},
    {"student train", "distil the teacher into a smaller student (cached or live logits)", cmd_student_train, 1},
    {"merge", "merge a PEFT LoRA adapter into its base model directory", cmd_merge, 0},
    {"eval", "loss, perplexity and accuracy of a model directory or GGUF file", cmd_eval, 0},
    {"generate", "continue a prompt with a model (KV cache, top-k/top-p sampling)", cmd_generate, 0},
    {"export", "write a model directory as one GGUF file (f32, f16, q8_0, q4_0) for llama.cpp", cmd_export, 0},
    {"tokenize", "text to GPT-2 token ids and back", cmd_tokenize, 0},
    {"cache verify", "check a teacher logit cache: checksums, counts, every record", cmd_cache_verify, 0},
    {"cache inspect", "describe a teacher logit cache and its stats", cmd_cache_inspect, 0},
    {"report diff", "compare two reports: settings and results, model by model", cmd_report_diff, 0},
    {"report", "size, speed, memory and quality of a teacher and its students", cmd_report, 0},
    {"pipeline", "teacher, cache, students and baselines, report: every stage from one config", cmd_pipeline, 0},
    {"estimate", "predict a training run's memory, FLOPs and time", cmd_estimate, 0},
    {"bench", "time training or inference of a GPT-2 shape on random tokens", cmd_bench, 0},
    {"version", "print kd's version and the BLAS kernels in use", cmd_version, 0},
};
enum { COMMAND_COUNT = sizeof commands / sizeof *commands };

static void print_overview(FILE *out)
{
    fprintf(out, "kd — knowledge distillation for GPT-2 models\n\nusage: kd <command> [options]\n\n"
                 "commands:\n");
    for (int i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-16s %s\n", commands[i].words, commands[i].summary);
    fprintf(out, "\n'kd <command> --help' describes each command.\n");
}

/* Runs a command as one rank of an MPI job when mpirun started kd. */
static int run_command(const command_entry *entry, int argc, char **argv)
{
    if (kd_dist_start(&argc, &argv) != KD_OK) {
        fprintf(stderr, "kd %s: %s\n", entry->words, kd_last_error());
        return CLI_EXIT_FAILURE;
    }
    if (kd_dist_size() > 1 && !entry->data_parallel) {
        if (kd_dist_rank() == 0)
            fprintf(stderr, "kd %s: runs as one process; under mpirun only teacher train, "
                    "teacher cache and student train run on several ranks\n", entry->words);
        kd_dist_stop(0);
        return CLI_EXIT_USAGE;
    }
    int code = entry->run(argc, argv);
    kd_dist_stop(code != CLI_EXIT_OK);
    return code;
}

/* Matches argv against a command of one or two words; returns words used. */
static int match_command(const command_entry *entry, int argc, char **argv)
{
    const char *space = strchr(entry->words, ' ');
    if (!space)
        return strcmp(argv[0], entry->words) == 0 ? 1 : 0;
    size_t first = (size_t)(space - entry->words);
    if (strlen(argv[0]) != first || strncmp(argv[0], entry->words, first) != 0)
        return 0;
    return argc > 1 && strcmp(argv[1], space + 1) == 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    kd_runtime_tune(argc, argv);
    if (argc < 2) {
        print_overview(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    for (int i = 0; i < COMMAND_COUNT; i++) {
        int used = match_command(&commands[i], argc - 1, argv + 1);
        if (used > 0)
            return run_command(&commands[i], argc - 1 - used, argv + 1 + used);
    }
    fprintf(stderr, "kd: unknown command '%s'\n\n", argv[1]);
    print_overview(stderr);
    return CLI_EXIT_USAGE;
}
