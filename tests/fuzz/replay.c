/* Runs a fuzz target over files, without libFuzzer: every committed corpus
 * input and crash regression replays as an ordinary test, in the plain and
 * the sanitizer builds.
 *
 *     replay_<target> PATH...
 *
 * A PATH is a file or a directory of files (not recursive, in name order);
 * a directory that does not exist counts as empty, so that a target with no
 * regressions yet needs none. Running no input at all is a failure. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    char *data = NULL;
    size_t size = 0;
    if (kd_read_file(path, (size_t)1 << 30, &data, &size) != KD_OK) {
        fprintf(stderr, "replay: %s\n", kd_last_error());
        return 0;
    }
    kd_clear_error();
    LLVMFuzzerTestOneInput((const uint8_t *)data, size);
    free(data);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the number of files run, or -1 when one could not be read. */
static long run_directory(const char *dir_path)
{
    DIR *dir = opendir(dir_path);
    if (!dir) {
        perror(dir_path);
        return -1;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char **grown = realloc(names, (count + 1) * sizeof *names);
        if (!grown || !(grown[count] = malloc(strlen(dir_path) + strlen(entry->d_name) + 2))) {
            fprintf(stderr, "replay: out of memory\n");
            exit(1);
        }
        names = grown;
        sprintf(names[count++], "%s/%s", dir_path, entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof *names, compare_names);
    long run = 0;
    for (size_t i = 0; i < count; i++) {
        if (run >= 0)
            run = run_file(names[i]) ? run + 1 : -1;
        free(names[i]);
    }
    free(names);
    return run;
}

int main(int argc, char **argv)
{
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long run = 0;
        if (stat(argv[i], &st) != 0)
            run = 0; /* no regressions yet */
        else if (S_ISDIR(st.st_mode))
            run = run_directory(argv[i]);
        else
            run = run_file(argv[i]) ? 1 : -1;
        if (run < 0)
            return 1;
        printf("replay: %ld inputs from %s\n", run, argv[i]);
        total += run;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    return 0;
}
