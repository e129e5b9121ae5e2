/* nftw() needs X/Open; the feature macro must come before any header. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *path = test_path(base && *base ? base : "/tmp", "kd-test-XXXXXX");
    assert_non_null(mkdtemp(path));
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_remove_temp_dir(char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

char *test_group_dir;

int test_group_dir_setup(void **state)
{
    (void)state;
    test_group_dir = test_make_temp_dir();
    return 0;
}

int test_group_dir_teardown(void **state)
{
    (void)state;
    test_remove_temp_dir(test_group_dir);
    test_group_dir = NULL;
    return 0;
}

char *test_path(const char *dir, const char *name)
{
    size_t length = strlen(dir) + strlen(name) + 2;
    char *path = malloc(length);
    assert_non_null(path);
    snprintf(path, length, "%s/%s", dir, name);
    return path;
}

void test_write_file(const char *path, const void *data, size_t size)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

void *test_read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long length = ftell(file);
    assert_true(length >= 0);
    rewind(file);
    char *data = malloc((size_t)length + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)length, file), (size_t)length);
    data[length] = '\0';
    fclose(file);
    *size = (size_t)length;
    return data;
}

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
 * the other 68 bytes for U+0100.. in increasing order. Written as in
 * encoder.py, independently of the library's inverse table. */
static unsigned byte_character(int byte)
{
    int shifted = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (b == byte)
            return printable ? (unsigned)b : 256u + (unsigned)shifted;
        shifted += !printable;
    }
    return 0;
}

static void write_json_character(FILE *file, unsigned character)
{
    if (character == '"' || character == '\\')
        fprintf(file, "\\%c", (char)character);
    else if (character < 0x80)
        fputc((int)character, file);
    else
        fprintf(file, "\\u%04x", character);
}

void test_write_tokenizer(const char *dir, const char *const *tokens, int token_count,
                          const char *merges)
{
    char *vocab_path = test_path(dir, "vocab.json");
    FILE *vocab = fopen(vocab_path, "wb");
    assert_non_null(vocab);
    fputc('{', vocab);
    for (int id = 0; id < 256 + token_count; id++) {
        fputs(id ? ", \"" : "\"", vocab);
        if (id < 256) {
            write_json_character(vocab, byte_character(id));
        } else {
            for (const char *c = tokens[id - 256]; *c; c++)
                write_json_character(vocab, byte_character((unsigned char)*c));
        }
        fprintf(vocab, "\": %d", id);
    }
    fputs("}\n", vocab);
    assert_int_equal(fclose(vocab), 0);
    free(vocab_path);

    char *merges_path = test_path(dir, "merges.txt");
    FILE *file = fopen(merges_path, "wb");
    assert_non_null(file);
    fprintf(file, "#version: 0.2\n%s", merges);
    assert_int_equal(fclose(file), 0);
    free(merges_path);
}

void test_need_asset(const char *name)
{
    char *path = test_path(KD_ASSETS_DIR, name);
    if (access(path, R_OK) != 0)
        fail_msg("%s: missing (the repository's assets/ is incomplete)", path);
    free(path);
}

kd_tokenizer *test_gpt2_tokenizer(void)
{
    test_need_asset("gpt2");
    char *dir = test_path(KD_ASSETS_DIR, "gpt2");
    kd_tokenizer *tokenizer = NULL;
    if (kd_tokenizer_load(dir, &tokenizer) != KD_OK)
        fail_msg("%s", kd_last_error());
    free(dir);
    return tokenizer;
}
