/* Emptying a run directory in one step, for --force: a crash must leave the
 * old run or an empty directory, never half of the old run, which a later
 * --resume would take for a run of its own. */
#define _GNU_SOURCE /* renameat2 and RENAME_EXCHANGE; nftw's FTW_PHYS */
#include "kd/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPEN_DIRECTORIES = 32 };

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *walk)
{
    (void)st;
    (void)walk;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

kd_status kd_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? KD_OK : kd_fail(KD_ERR_IO, "%s: %s", path, strerror(errno));
    /* Children before their directory (FTW_DEPTH), links as links (FTW_PHYS). */
    if (nftw(path, remove_entry, OPEN_DIRECTORIES, FTW_DEPTH | FTW_PHYS) != 0)
        return kd_fail(KD_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return KD_OK;
}

int kd_dir_holds_files(const char *dir, const char *except)
{
    DIR *handle = opendir(dir);
    if (!handle)
        return 0;
    int holds = 0;
    for (struct dirent *entry; !holds && (entry = readdir(handle));)
        holds = strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
                strcmp(entry->d_name, KD_LOCK_FILE) != 0 &&
                (!except || strcmp(entry->d_name, except) != 0);
    closedir(handle);
    return holds;
}

/* "<dir>.kd-trash", without any trailing slash of `dir`. */
static kd_status trash_path(char *out, const char *dir)
{
    size_t length = strlen(dir);
    while (length > 1 && dir[length - 1] == '/')
        length--;
    if (snprintf(out, KD_PATH_CAPACITY, "%.*s.kd-trash", (int)length, dir) >= KD_PATH_CAPACITY)
        return kd_fail(KD_ERR_INVALID, "path too long: %s.kd-trash", dir);
    return KD_OK;
}

kd_status kd_dir_remove_trash(const char *dir)
{
    char trash[KD_PATH_CAPACITY];
    kd_status status = trash_path(trash, dir);
    return status == KD_OK ? kd_remove_tree(trash) : status;
}

kd_status kd_dir_clear(const char *dir, kd_dir_lock *lock)
{
    char trash[KD_PATH_CAPACITY], parent[KD_PATH_CAPACITY];
    kd_dir_lock fresh;
    kd_status status;
    if ((status = trash_path(trash, dir)) != KD_OK ||
        (status = kd_path_parent(parent, sizeof parent, trash)) != KD_OK ||
        (status = kd_remove_tree(trash)) != KD_OK ||
        (status = kd_dir_lock_acquire(trash, KD_LOCK_EXCLUSIVE, &fresh)) != KD_OK)
        return status;
    /* The one step: `dir` is the old run before it and the empty directory
     * after it. Both lock files stay locked by this process throughout. */
    if (renameat2(AT_FDCWD, trash, AT_FDCWD, dir, RENAME_EXCHANGE) != 0) {
        status = kd_fail(KD_ERR_IO, "cannot exchange %s with an empty %s: %s", dir, trash,
                         strerror(errno));
        kd_dir_lock_release(&fresh);
        kd_remove_tree(trash);
        return status;
    }
    kd_dir_lock_release(lock);
    *lock = fresh;
    status = kd_directory_sync(parent); /* the exchange survives a power cut */
    return status == KD_OK ? kd_remove_tree(trash) : status;
}
