/* kd tokenize: text -> GPT-2 token ids, or ids -> text with --decode.
 *
 * Encoding prints the ids on one line, separated by single spaces, ending in
 * a newline. Decoding prints exactly the bytes the ids stand for and nothing
 * else, so that
 *     kd tokenize --decode --text "$(kd tokenize --text X)"
 * prints X, and a file survives --file -> ids -> --decode byte for byte. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kd/tokenizer.h"

enum { INPUT_MAX_BYTES = 1 << 30 };

typedef struct {
    const char *vocab;
    const char *text;
    const char *file;
    int decode;
} tokenize_options;

static const char TOKENIZE_SUMMARY[] =
    "Encode text to GPT-2 token ids (printed space-separated on one line), or with\n"
    "--decode turn whitespace-separated ids back into the exact text (no newline\n"
    "added). Special-token strings such as <|endoftext|> are encoded as text.";
static const char TOKENIZE_USAGE[] = "kd tokenize --vocab DIR (--text TEXT | --file FILE) [--decode]";

static void print_ids(const kd_token_buffer *ids)
{
    for (size_t i = 0; i < ids->count; i++)
        printf(i ? " %d" : "%d", ids->ids[i]);
    putchar('\n');
}

static kd_status run(const tokenize_options *options, const kd_tokenizer *tokenizer,
                     const char *input, size_t length)
{
    kd_token_buffer ids = {0};
    kd_status status;
    if (options->decode) {
        char *text = NULL;
        size_t text_length = 0;
        status = kd_token_ids_parse(input, length, &ids);
        if (status == KD_OK)
            status = kd_tokenizer_decode(tokenizer, ids.ids, ids.count, &text, &text_length);
        if (status == KD_OK)
            fwrite(text, 1, text_length, stdout);
        free(text);
    } else {
        status = kd_tokenizer_encode(tokenizer, input, length, &ids);
        if (status == KD_OK)
            print_ids(&ids);
    }
    kd_token_buffer_free(&ids);
    if (status == KD_OK && fflush(stdout) != 0)
        status = kd_fail(KD_ERR_IO, "cannot write the output: %s", strerror(errno));
    return status;
}

int cmd_tokenize(int argc, char **argv)
{
    tokenize_options options = {0};
    const cli_option table[] = {
        {"--vocab", OPT_STRING, &options.vocab, "directory holding vocab.json and merges.txt"},
        {"--text", OPT_STRING, &options.text, "the input itself"},
        {"--file", OPT_STRING, &options.file, "a file holding the input"},
        {"--decode", OPT_FLAG, &options.decode, "read token ids and print the text they stand for"},
    };
    const cli_command_spec spec = {.name = "tokenize", .summary = TOKENIZE_SUMMARY,
                                   .usage = TOKENIZE_USAGE, .options = table,
                                   .option_count = sizeof table / sizeof *table};
    int help_shown = 0;
    int status = cli_parse(&spec, argc, argv, &help_shown);
    if (status != CLI_EXIT_OK || help_shown)
        return status;
    if (!options.vocab)
        return cli_usage_error(&spec, "--vocab is required");
    if (!options.text == !options.file)
        return cli_usage_error(&spec, "give exactly one of --text and --file");

    char *file_text = NULL;
    size_t length = options.text ? strlen(options.text) : 0;
    if (options.file && kd_read_file(options.file, INPUT_MAX_BYTES, &file_text, &length) != KD_OK)
        return cli_fail("tokenize");
    kd_tokenizer *tokenizer = NULL;
    kd_status result = kd_tokenizer_load(options.vocab, &tokenizer);
    if (result == KD_OK) {
        result = run(&options, tokenizer, options.text ? options.text : file_text, length);
        if (result != KD_OK && options.file)
            kd_fail_context(result, "%s", options.file);
    }
    kd_tokenizer_free(tokenizer);
    free(file_text);
    return result == KD_OK ? CLI_EXIT_OK : cli_fail("tokenize");
}
