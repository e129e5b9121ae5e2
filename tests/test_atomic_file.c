/* Atomic replacement: the new content appears whole, a failed write leaves
 * the old file as it was and no temporary file behind. Also the directory
 * and JSON-file helpers that live beside it. */
#include "test_support.h"

#include "kd/io.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_entries(const char *dir)
{
    DIR *handle = opendir(dir);
    assert_non_null(handle);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(handle));)
        count += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    closedir(handle);
    return count;
}

static void assert_file_is(const char *path, const char *expected)
{
    size_t size;
    char *data = test_read_file(path, &size);
    assert_int_equal(size, strlen(expected));
    assert_memory_equal(data, expected, size);
    free(data);
}

static void test_write_creates_and_replaces(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "file.txt");
    assert_int_equal(kd_atomic_write_file(path, "first", 5), KD_OK);
    assert_file_is(path, "first");
    assert_int_equal(kd_atomic_write_file(path, "second version", 14), KD_OK);
    assert_file_is(path, "second version");
    assert_int_equal(count_entries(dir), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_abort_keeps_old_file(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "file.txt");
    assert_int_equal(kd_atomic_write_file(path, "old", 3), KD_OK);
    atomic_file file;
    assert_int_equal(kd_atomic_file_open(&file, path), KD_OK);
    assert_int_equal(kd_atomic_file_write(&file, "half-written", 12), KD_OK);
    assert_int_equal(count_entries(dir), 2); /* the temporary file exists meanwhile */
    kd_atomic_file_abort(&file);
    assert_file_is(path, "old");
    assert_int_equal(count_entries(dir), 1);
    free(path);
    test_remove_temp_dir(dir);
}

/* A write that fails half-way (file size limit, EFBIG) must not touch the old file. */
static void test_failed_write_keeps_old_file(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "model.bin");
    assert_int_equal(kd_atomic_write_file(path, "old", 3), KD_OK);
    struct rlimit saved, limited;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limited = saved;
    limited.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);
    size_t size = 1 << 16;
    char *big = calloc(size, 1);
    assert_non_null(big);
    kd_status status = kd_atomic_write_file(path, big, size);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(status, KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "model.bin: write failed"));
    assert_file_is(path, "old");
    assert_int_equal(count_entries(dir), 1);
    free(big);
    free(path);
    test_remove_temp_dir(dir);
}

/* A writer killed mid-write leaves ".<name>.tmp-XXXXXX"; the next write of
 * the same file removes it, and nothing that merely looks alike. */
static void test_write_removes_abandoned_temporaries(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    const char *names[] = {".file.txt.tmp-Ab3dEf", ".file.txt.tmp-short", ".other.txt.tmp-Ab3dEf"};
    char *paths[3];
    for (int i = 0; i < 3; i++) {
        paths[i] = test_path(dir, names[i]);
        test_write_file(paths[i], "left", 4);
    }
    char *path = test_path(dir, "file.txt");
    assert_int_equal(kd_atomic_write_file(path, "new", 3), KD_OK);
    assert_file_is(path, "new");
    assert_int_equal(access(paths[0], F_OK), -1);
    assert_int_equal(access(paths[1], F_OK), 0);
    assert_int_equal(access(paths[2], F_OK), 0);
    assert_int_equal(count_entries(dir), 3);
    for (int i = 0; i < 3; i++)
        free(paths[i]);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_missing_directory_fails_cleanly(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "no/such/dir/file.txt");
    assert_int_equal(kd_atomic_write_file(path, "x", 1), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "cannot create a temporary file"));
    assert_int_equal(count_entries(dir), 0);
    free(path);
    test_remove_temp_dir(dir);
}

static void test_copy_file(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *source = test_path(dir, "source.txt");
    char *destination = test_path(dir, "copy.txt");
    size_t size = 200000; /* more than one copy buffer */
    char *data = malloc(size + 1);
    assert_non_null(data);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)('a' + i % 23);
    data[size] = '\0';
    test_write_file(source, data, size);
    assert_int_equal(kd_atomic_copy_file(source, destination), KD_OK);
    assert_file_is(destination, data);
    char *missing = test_path(dir, "missing.txt");
    assert_int_equal(kd_atomic_copy_file(missing, destination), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "missing.txt: cannot open"));
    assert_file_is(destination, data);
    free(data);
    free(missing);
    free(source);
    free(destination);
    test_remove_temp_dir(dir);
}

static void test_make_directories(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *nested = test_path(dir, "a/b/c");
    assert_int_equal(kd_make_directories(nested), KD_OK);
    assert_int_equal(kd_make_directories(nested), KD_OK); /* already there */
    struct stat st;
    assert_int_equal(stat(nested, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char *file = test_path(dir, "plain");
    test_write_file(file, "x", 1);
    char *under_file = test_path(file, "sub");
    assert_int_equal(kd_make_directories(under_file), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "plain"));
    free(nested);
    free(file);
    free(under_file);
    test_remove_temp_dir(dir);
}

static void test_json_read_file_reports_position(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "bad.json");
    const char *text = "{\n  \"a\": 1,\n  \"b\": ]\n}\n";
    test_write_file(path, text, strlen(text));
    cJSON *root;
    assert_int_equal(kd_json_read_file(path, &root), KD_ERR_FORMAT);
    assert_null(root);
    assert_non_null(strstr(kd_last_error(), "bad.json:3:"));
    test_write_file(path, "{\"a\": [1, 2]}", 13);
    assert_int_equal(kd_json_read_file(path, &root), KD_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "a")), 2);
    cJSON_Delete(root);
    free(path);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_creates_and_replaces),
        cmocka_unit_test(test_abort_keeps_old_file),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_write_removes_abandoned_temporaries),
        cmocka_unit_test(test_missing_directory_fails_cleanly),
        cmocka_unit_test(test_copy_file),
        cmocka_unit_test(test_make_directories),
        cmocka_unit_test(test_json_read_file_reports_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
