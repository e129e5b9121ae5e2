/* Directory locks and kd_dir_clear: one writer or many readers, a refusal
 * that names the holder, release when the holder is killed, the reader's
 * fallback to the parent's lock file, and clearing in one step. flock locks
 * of two open() calls conflict even inside one process, so most cases need
 * no second process; the kill -9 case forks one. And kd_path_parent, which
 * finds a model directory's run directory. */
#include "test_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kd/io.h"

static void assert_refused(const char *dir, kd_lock_mode mode, long pid, const char *doing)
{
    char expected[64];
    kd_dir_lock lock;
    assert_int_equal(kd_dir_lock_acquire(dir, mode, &lock), KD_ERR_IO);
    assert_int_equal(lock.fd, -1);
    snprintf(expected, sizeof expected, "in use by process %ld (%s it)", pid, doing);
    if (!strstr(kd_last_error(), expected) || strncmp(kd_last_error(), dir, strlen(dir)) != 0)
        fail_msg("expected \"%s: ...%s...\", got \"%s\"", dir, expected, kd_last_error());
    assert_null(strchr(kd_last_error(), '\n'));
}

static char *read_text(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    size_t size = 0;
    char *text = test_read_file(path, &size);
    char *copy = calloc(1, size + 1);
    assert_non_null(copy);
    memcpy(copy, text, size);
    free(text);
    free(path);
    return copy;
}

static void test_one_writer_or_many_readers(void **state)
{
    (void)state;
    char *dir = test_path(test_group_dir, "run");
    long self = (long)getpid();
    kd_dir_lock writer, reader, second_reader;
    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, &writer), KD_OK);
    char *pid = read_text(dir, KD_LOCK_FILE);
    assert_int_equal(atol(pid), self); /* the writer's pid, for people to read */
    free(pid);
    assert_refused(dir, KD_LOCK_EXCLUSIVE, self, "writing");
    assert_refused(dir, KD_LOCK_SHARED, self, "writing");
    kd_dir_lock_release(&writer);
    assert_int_equal(writer.fd, -1);
    char *empty = read_text(dir, KD_LOCK_FILE);
    assert_string_equal(empty, ""); /* released: no pid left behind */
    free(empty);

    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_SHARED, &reader), KD_OK);
    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_SHARED, &second_reader), KD_OK);
    assert_refused(dir, KD_LOCK_EXCLUSIVE, self, "reading");
    kd_dir_lock_release(&reader);
    kd_dir_lock_release(&second_reader);
    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, &writer), KD_OK);
    kd_dir_lock_release(&writer);
    kd_dir_lock_release(&writer); /* twice is harmless */
    free(dir);
}

static void test_reader_uses_the_run_directory_lock(void **state)
{
    (void)state;
    char *run = test_path(test_group_dir, "owner"), *model = test_path(run, "model");
    char *elsewhere = test_path(test_group_dir, "plain");
    kd_dir_lock writer, reader;
    assert_int_equal(kd_dir_lock_acquire(run, KD_LOCK_EXCLUSIVE, &writer), KD_OK);
    assert_int_equal(kd_make_directories(model), KD_OK);
    /* runs/x/model is read under runs/x's lock, which its writer holds. */
    assert_refused(model, KD_LOCK_SHARED, (long)getpid(), "writing");
    kd_dir_lock_release(&writer);
    assert_int_equal(kd_dir_lock_acquire(model, KD_LOCK_SHARED, &reader), KD_OK);
    assert_true(reader.fd >= 0);
    kd_dir_lock_release(&reader);
    /* A directory no writer ever locked is read without a lock, and a
     * reader creates no lock file. */
    assert_int_equal(kd_make_directories(elsewhere), KD_OK);
    assert_int_equal(kd_dir_lock_acquire(elsewhere, KD_LOCK_SHARED, &reader), KD_OK);
    assert_int_equal(reader.fd, -1);
    assert_false(kd_dir_holds_files(elsewhere, NULL));
    free(run);
    free(model);
    free(elsewhere);
}

static void test_lock_dies_with_its_process(void **state)
{
    (void)state;
    char *dir = test_path(test_group_dir, "killed");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        kd_dir_lock lock;
        char ok = kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, &lock) == KD_OK ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        pause(); /* until killed */
        _exit(0);
    }
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    assert_refused(dir, KD_LOCK_EXCLUSIVE, (long)child, "writing");
    assert_int_equal(kill(child, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    kd_dir_lock lock;
    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, &lock), KD_OK);
    kd_dir_lock_release(&lock);
    close(ready[0]);
    close(ready[1]);
    free(dir);
}

static void test_clear_empties_in_one_step(void **state)
{
    (void)state;
    char *dir = test_path(test_group_dir, "forced"), *trash = test_path(test_group_dir, "forced.kd-trash");
    char *sub = test_path(dir, "last"), *file = test_path(dir, "metrics.jsonl");
    char *nested = test_path(sub, "state.json");
    kd_dir_lock lock;
    assert_int_equal(kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, &lock), KD_OK);
    assert_false(kd_dir_holds_files(dir, NULL)); /* the lock file does not count */
    assert_int_equal(kd_make_directories(sub), KD_OK);
    test_write_file(file, "{}\n", 3);
    test_write_file(nested, "{}\n", 3);
    assert_true(kd_dir_holds_files(dir, NULL));
    assert_true(kd_dir_holds_files(dir, "last"));
    assert_int_equal(kd_dir_clear(dir, &lock), KD_OK);
    assert_false(kd_dir_holds_files(dir, NULL));
    struct stat st;
    assert_int_not_equal(stat(trash, &st), 0); /* the old contents are gone */
    /* Still this process's directory: the new lock file is held. */
    assert_refused(dir, KD_LOCK_EXCLUSIVE, (long)getpid(), "writing");
    kd_dir_lock_release(&lock);
    /* What a clear killed before its removal leaves beside the directory goes. */
    assert_int_equal(kd_make_directories(sub), KD_OK);
    char *left = test_path(trash, "model");
    assert_int_equal(kd_make_directories(left), KD_OK);
    assert_int_equal(kd_dir_remove_trash(dir), KD_OK);
    assert_int_not_equal(stat(trash, &st), 0);
    assert_int_equal(stat(sub, &st), 0); /* and only that */
    free(left);
    free(dir);
    free(trash);
    free(sub);
    free(file);
    free(nested);
}

static void test_path_parent(void **state)
{
    (void)state;
    const char *cases[][2] = {{"a/b/c", "a/b"}, {"a/b/", "a"}, {"a//b", "a"}, {"c", "."},
                              {"/c", "/"}, {"/", "/"}, {"runs/x/teacher/model", "runs/x/teacher"}};
    char parent[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(kd_path_parent(parent, sizeof parent, cases[i][0]), KD_OK);
        assert_string_equal(parent, cases[i][1]);
    }
    assert_int_equal(kd_path_parent(parent, 4, "abcdef/g"), KD_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_writer_or_many_readers),
        cmocka_unit_test(test_reader_uses_the_run_directory_lock),
        cmocka_unit_test(test_lock_dies_with_its_process),
        cmocka_unit_test(test_clear_empties_in_one_step),
        cmocka_unit_test(test_path_parent),
    };
    return cmocka_run_group_tests(tests, test_group_dir_setup, test_group_dir_teardown);
}
