/* Finding the assets (tokenizer files, dolly data) without a network. The
 * repository carries the demo's assets in assets/, so a clone finds them
 * whatever the working directory: $KD_ASSETS when set (and then only there),
 * else the first of ./assets, the source tree's assets/ beside the build
 * directory of the running kd (<exe dir>/../assets), an installed kd's
 * <prefix>/share/kd/assets, and the assets/ of the source tree kd was built
 * from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd/train.h"

#ifndef KD_SOURCE_ASSETS
#define KD_SOURCE_ASSETS ""
#endif

static int is_directory(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of the running program (resolved, so build/kd run through a
 * symlink or from any working directory gives the build directory). */
static int executable_dir(char *out, size_t size)
{
    char *exe = realpath("/proc/self/exe", NULL);
    if (!exe)
        return 0;
    char *slash = strrchr(exe, '/');
    int fits = slash && (size_t)(slash - exe) < size;
    if (fits) {
        *slash = '\0';
        snprintf(out, size, "%s", exe);
    }
    free(exe);
    return fits;
}

/* How many places are searched when KD_ASSETS is unset. */
enum { CANDIDATE_COUNT = 4 };

/* The index-th place searched when KD_ASSETS is unset, resolved into a
 * malloc'd path; NULL when it does not exist. */
static char *candidate_dir(int index)
{
    char exe_dir[KD_PATH_CAPACITY], path[KD_PATH_CAPACITY];
    switch (index) {
    case 0:
        snprintf(path, sizeof path, "assets");
        break;
    case 1:
    case 2:
        if (!executable_dir(exe_dir, sizeof exe_dir) ||
            kd_path_join(path, sizeof path, exe_dir,
                         index == 1 ? "../assets" : "../share/kd/assets") != KD_OK)
            return NULL;
        break;
    default:
        snprintf(path, sizeof path, "%s", KD_SOURCE_ASSETS);
        break;
    }
    return is_directory(path) ? realpath(path, NULL) : NULL;
}

const char *kd_assets_dir(void)
{
    const char *from_environment = getenv("KD_ASSETS");
    if (from_environment && *from_environment)
        return is_directory(from_environment) ? from_environment : NULL;
    static char found[KD_PATH_CAPACITY];
    for (int i = 0; i < CANDIDATE_COUNT; i++) {
        char *dir = candidate_dir(i);
        if (dir) {
            snprintf(found, sizeof found, "%s", dir);
            free(dir);
            return found;
        }
    }
    return NULL;
}

/* `path` inside `dir` when it exists there: a malloc'd string, else NULL. */
static char *existing_in(const char *dir, const char *path)
{
    char joined[KD_PATH_CAPACITY];
    if (kd_path_join(joined, sizeof joined, dir, path) != KD_OK || access(joined, F_OK) != 0)
        return NULL;
    return strdup(joined);
}

char *kd_resolve_asset(const char *path)
{
    if (access(path, F_OK) == 0)
        return strdup(path);
    const char *from_environment = getenv("KD_ASSETS");
    if (path[0] == '/') {
        kd_fail(KD_ERR_IO, "%s: not found", path);
        return NULL;
    }
    if (from_environment && *from_environment) {
        char *found = existing_in(from_environment, path);
        if (!found)
            kd_fail(KD_ERR_IO, "%s: not found, nor in KD_ASSETS=%s", path, from_environment);
        return found;
    }
    /* Every existing candidate in turn, as PATH is searched: an unrelated
     * ./assets does not hide the repository's files. */
    for (int i = 0; i < CANDIDATE_COUNT; i++) {
        char *dir = candidate_dir(i);
        char *found = dir ? existing_in(dir, path) : NULL;
        free(dir);
        if (found)
            return found;
    }
    const char *first = kd_assets_dir();
    if (first)
        kd_fail(KD_ERR_IO, "%s: not found, nor in the assets directory %s", path, first);
    else
        kd_fail(KD_ERR_IO, "%s: not found, and no assets directory (set KD_ASSETS)", path);
    return NULL;
}
