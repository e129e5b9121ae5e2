/* kd report: size, speed, memory and quality of a teacher and its students,
 * measured on this machine, as report.json, report.md and SVG charts. */
#include <stdio.h>

#include "cli.h"
#include "kd/report.h"

int cmd_report(int argc, char **argv)
{
    report_options report;
    kd_report_options_default(&report);
    cli_string_list students = {0};
    const char *quantize = NULL;
    const cli_option options[] = {
        {"--teacher", OPT_STRING, &report.teacher_dir,
         "the teacher: a run or model directory, or a GGUF file"},
        {"--student", OPT_STRING_LIST, &students,
         "a student: a run or model directory, or a GGUF file (repeatable)"},
        {"--model", OPT_STRING_LIST, &students, "the same as --student"},
        {"--quantize", OPT_STRING, &quantize,
         "also export each directory as GGUF of these types (q8_0,q4_0; none) and measure "
         "the files"},
        {"--out", OPT_STRING, &report.out_dir, "directory for report.json, report.md and charts"},
        {"--prompt-tokens", OPT_INT, &report.prompt_tokens, "speed: prompt length (default 128)"},
        {"--new-tokens", OPT_INT, &report.new_tokens, "speed: tokens generated (default 64)"},
        {"--repeats", OPT_INT, &report.repeats, "speed: timed runs, median reported (default 5)"},
        {"--rouge-examples", OPT_INT, &report.rouge_examples,
         "validation records answered for ROUGE-L (default 32)"},
        {"--answer-tokens", OPT_INT, &report.answer_tokens,
         "most tokens of a greedy answer (default 64)"},
        {"--eval-batches", OPT_INT, &report.eval_batches,
         "validation batches of 8 for loss and agreement; 0 = all (default)"},
        {"--threads", OPT_INT, &report.threads, "threads for OpenMP and OpenBLAS"},
    };
    const cli_command_spec spec = {
        .name = "report",
        .summary = "Measure a teacher and its students on this machine: parameters and bytes, "
                   "prefill and\ngeneration speed (batch 1, KV cache), peak memory, validation "
                   "loss and perplexity,\ntop-1 agreement with the teacher and ROUGE-L of greedy "
                   "answers on the teacher's\nvalidation split, and what training cost. DIR is a "
                   "training run directory or a model\ndirectory (inside a run, the run is used), "
                   "or a GGUF file (q8_0 and q4_0 run quantized).\nWith --quantize, each "
                   "directory is also exported to OUT/gguf/ as a GGUF file of each\ntype, and "
                   "measured from it: a row per model and type, compared with the model in fp32.",
        .usage = "kd report --teacher DIR --student DIR [--student DIR]... --out DIR\n"
                 "                 [--quantize q8_0,q4_0] [--prompt-tokens N] [--new-tokens N] "
                 "[--repeats N]\n"
                 "                 [--rouge-examples N] [--answer-tokens N] [--eval-batches N] "
                 "[--threads N]",
        .options = options,
        .option_count = sizeof options / sizeof *options,
    };
    int help = 0, status = cli_parse(&spec, argc, argv, &help);
    if (status != CLI_EXIT_OK || help)
        return status;
    if (!report.teacher_dir || students.count == 0 || !report.out_dir)
        return cli_usage_error(&spec, "--teacher, at least one --student and --out are required");
    if (report.prompt_tokens < 1 || report.new_tokens < 1 || report.repeats < 1 ||
        report.answer_tokens < 1)
        return cli_usage_error(&spec, "--prompt-tokens, --new-tokens, --repeats and "
                                      "--answer-tokens must be positive");
    if (report.rouge_examples < 0 || report.eval_batches < 0 || report.threads < 0)
        return cli_usage_error(&spec, "--rouge-examples, --eval-batches and --threads must not "
                                      "be negative");
    if (quantize &&
        kd_report_quantize_parse(quantize, report.quantize, &report.quantize_count) != KD_OK)
        return cli_usage_error(&spec, kd_last_error());
    report.student_dirs = students.items;
    report.student_count = students.count;
    if (kd_report_write(&report) != KD_OK)
        return cli_fail("report");
    printf("%s/report.md\n%s/report.json\n", report.out_dir, report.out_dir);
    return CLI_EXIT_OK;
}
