/* Small helpers shared by the cmocka test programs: scratch directories and
 * fixture files, so each test builds its own inputs. */
#ifndef KD_TEST_SUPPORT_H
#define KD_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kd/tokenizer.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
char *test_make_temp_dir(void);
/* rm -r of a directory made by test_make_temp_dir, then free(path). */
void test_remove_temp_dir(char *path);
/* A scratch directory shared by a group of tests: give these two to
 * cmocka_run_group_tests, and the tests find the directory in test_group_dir. */
extern char *test_group_dir;
int test_group_dir_setup(void **state);
int test_group_dir_teardown(void **state);
/* Joins dir and name into a static-free buffer the caller frees. */
char *test_path(const char *dir, const char *name);
void test_write_file(const char *path, const void *data, size_t size);
/* Reads a whole file; *size gets its length. The caller frees the result. */
void *test_read_file(const char *path, size_t *size);

/* Writes dir/vocab.json and dir/merges.txt for a small GPT-2-style tokenizer:
 * ids 0..255 are the single bytes, then `tokens` (plain ASCII without spaces;
 * they are spelled as GPT-2 spells them) from id 256 on. `merges` is the
 * text of merges.txt after its "#version: 0.2" line. */
void test_write_tokenizer(const char *dir, const char *const *tokens, int token_count,
                          const char *merges);

/* Fails the calling test unless KD_ASSETS_DIR/name (a file or directory of
 * the repository's assets/) can be read: the repository carries every asset
 * a test reads, so none is ever skipped. */
void test_need_asset(const char *name);
/* The real GPT-2 tokenizer of KD_ASSETS_DIR/gpt2 (the calling test fails
 * when it does not load). */
kd_tokenizer *test_gpt2_tokenizer(void);

#endif
