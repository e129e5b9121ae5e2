/* Directory locks: flock(2) on "<dir>/.kd-lock". flock belongs to the open
 * file, so the kernel releases it when the process ends, kill -9 included;
 * a lock file left behind by a dead process locks nothing. */
#include "kd/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum { MAX_ATTEMPTS = 16 };

/* Who holds the lock on `fd`'s file: /proc/locks lists every flock with the
 * holder's pid, whether it reads or writes, and the file's device and inode.
 * Without /proc, the pid a writer left in the file. */
static int lock_holder(int fd, const char **doing)
{
    struct stat st;
    int pid = 0;
    *doing = "writing";
    FILE *locks = fopen("/proc/locks", "r");
    if (locks && fstat(fd, &st) == 0) {
        char line[256], kind[16], access[16];
        unsigned major_id, minor_id;
        unsigned long inode;
        int holder;
        while (!pid && fgets(line, sizeof line, locks))
            if (sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%lu", kind, access, &holder, &major_id,
                       &minor_id, &inode) == 6 &&
                strcmp(kind, "FLOCK") == 0 && inode == (unsigned long)st.st_ino &&
                major_id == major(st.st_dev) && minor_id == minor(st.st_dev)) {
                pid = holder;
                *doing = strcmp(access, "READ") == 0 ? "reading" : "writing";
            }
    }
    if (locks)
        fclose(locks);
    char text[32] = {0};
    if (!pid && pread(fd, text, sizeof text - 1, 0) > 0)
        pid = atoi(text);
    return pid;
}

static kd_status refuse(const char *dir, int fd)
{
    const char *doing;
    int pid = lock_holder(fd, &doing);
    if (pid > 0)
        return kd_fail(KD_ERR_IO, "%s: in use by process %d (%s it); wait for it to end or "
                       "stop it", dir, pid, doing);
    return kd_fail(KD_ERR_IO, "%s: in use by another process; wait for it to end or stop it",
                   dir);
}

/* The lock file a reader of `dir` locks: its own, else its parent's. */
static int reader_lock_path(const char *dir, char *path)
{
    if (kd_path_join(path, KD_PATH_CAPACITY, dir, KD_LOCK_FILE) == KD_OK && access(path, F_OK) == 0)
        return 1;
    char parent[KD_PATH_CAPACITY];
    return kd_path_parent(parent, sizeof parent, dir) == KD_OK &&
           kd_path_join(path, KD_PATH_CAPACITY, parent, KD_LOCK_FILE) == KD_OK &&
           access(path, F_OK) == 0;
}

/* Whether `fd` is still the file at `path`: kd_dir_clear swaps the directory
 * holding it, and a process that opened the old file before the swap must
 * not think it locked the new one. */
static int still_current(int fd, const char *path)
{
    struct stat held, current;
    return fstat(fd, &held) == 0 && stat(path, &current) == 0 && held.st_ino == current.st_ino &&
           held.st_dev == current.st_dev;
}

static kd_status record_pid(int fd, const char *path)
{
    char text[32];
    int length = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)length, 0) != length)
        return kd_fail(KD_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return KD_OK;
}

kd_status kd_dir_lock_acquire(const char *dir, kd_lock_mode mode, kd_dir_lock *lock)
{
    lock->fd = -1;
    lock->exclusive = mode == KD_LOCK_EXCLUSIVE;
    char path[KD_PATH_CAPACITY];
    int exclusive = lock->exclusive;
    kd_status status;
    if (exclusive) {
        if ((status = kd_make_directories(dir)) != KD_OK ||
            (status = kd_path_join(path, sizeof path, dir, KD_LOCK_FILE)) != KD_OK)
            return status;
    } else if (!reader_lock_path(dir, path)) {
        return KD_OK;
    }
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        int fd = open(path, exclusive ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
            status = errno == EWOULDBLOCK
                         ? refuse(dir, fd)
                         : kd_fail(KD_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
            close(fd);
            return status;
        }
        if (!still_current(fd, path)) {
            close(fd);
            continue;
        }
        if (exclusive && (status = record_pid(fd, path)) != KD_OK) {
            close(fd);
            return status;
        }
        lock->fd = fd;
        return KD_OK;
    }
    return kd_fail(KD_ERR_IO, "%s: its lock file keeps being replaced", dir);
}

void kd_dir_lock_release(kd_dir_lock *lock)
{
    if (lock->fd < 0)
        return;
    if (lock->exclusive && ftruncate(lock->fd, 0) != 0) {
        /* close still releases the lock, which is what matters; the pid
         * left behind only names a process that no longer holds it. */
    }
    close(lock->fd);
    lock->fd = -1;
}
