/* Atomic file replacement: write a temporary file in the target's directory,
 * fsync it, rename it over the target, fsync the directory. A crash at any
 * point leaves either the complete old file or the complete new one, and
 * perhaps a temporary file, which the next write of the same target
 * removes. */
#include "kd/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* dirname() may modify its argument; this copies. "a/b" -> "a", "b" -> ".". */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Removes the temporaries ".<base>.tmp-XXXXXX" that a killed writer of the
 * same target left in `dir`, all but `own`. kd has one writer per output
 * file, so they are abandoned; removing them is best effort. */
static void remove_abandoned_temporaries(const char *dir, const char *base, const char *own)
{
    char prefix[PATH_MAX], path[PATH_MAX];
    int prefix_length = snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    DIR *handle = opendir(dir);
    if (!handle || prefix_length >= (int)sizeof prefix) {
        if (handle)
            closedir(handle);
        return;
    }
    for (struct dirent *entry; (entry = readdir(handle));) {
        const char *name = entry->d_name;
        if (strncmp(name, prefix, (size_t)prefix_length) != 0 ||
            strlen(name) != (size_t)prefix_length + 6 || strcmp(name, own) == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path)
            unlink(path);
    }
    closedir(handle);
}

kd_status kd_atomic_file_open(atomic_file *file, const char *path)
{
    memset(file, 0, sizeof *file);
    file->fd = -1;
    char *dir = directory_of(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t length = dir ? strlen(dir) + strlen(base) + 16 : 0;
    file->path = strdup(path);
    file->temp_path = length ? malloc(length) : NULL;
    if (!dir || !file->path || !file->temp_path) {
        free(dir);
        kd_atomic_file_abort(file);
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(file->temp_path, length, "%s/.%s.tmp-XXXXXX", dir, base);
    file->fd = mkstemp(file->temp_path);
    if (file->fd < 0) {
        kd_status status = kd_fail(KD_ERR_IO, "%s: cannot create a temporary file: %s", path,
                                   strerror(errno));
        free(dir);
        free(file->temp_path);
        file->temp_path = NULL; /* nothing was created, so nothing to remove */
        kd_atomic_file_abort(file);
        return status;
    }
    remove_abandoned_temporaries(dir, base, strrchr(file->temp_path, '/') + 1);
    free(dir);
    /* mkstemp makes the file private (0600); models are ordinary files. */
    fchmod(file->fd, 0644);
    return KD_OK;
}

kd_status kd_atomic_file_write(atomic_file *file, const void *data, size_t size)
{
    const char *bytes = data;
    while (size > 0) {
        ssize_t written = write(file->fd, bytes, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return kd_fail(KD_ERR_IO, "%s: write failed: %s", file->path, strerror(errno));
        bytes += written;
        size -= (size_t)written;
    }
    return KD_OK;
}

static kd_status sync_directory(const char *path)
{
    char *dir = directory_of(path);
    if (!dir)
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    kd_status status = KD_OK;
    /* Some file systems cannot fsync a directory (EINVAL): nothing more to do there. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        status = kd_fail(KD_ERR_IO, "%s: cannot sync directory %s: %s", path, dir,
                         strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return status;
}

kd_status kd_atomic_file_commit(atomic_file *file)
{
    if (fsync(file->fd) != 0) {
        kd_status status = kd_fail(KD_ERR_IO, "%s: fsync failed: %s", file->path, strerror(errno));
        kd_atomic_file_abort(file);
        return status;
    }
    int closed = close(file->fd);
    file->fd = -1;
    if (closed != 0 || rename(file->temp_path, file->path) != 0) {
        kd_status status = kd_fail(KD_ERR_IO, "%s: cannot replace the file: %s", file->path,
                                   strerror(errno));
        kd_atomic_file_abort(file);
        return status;
    }
    kd_status status = sync_directory(file->path);
    free(file->temp_path);
    free(file->path);
    memset(file, 0, sizeof *file);
    file->fd = -1;
    return status;
}

void kd_atomic_file_abort(atomic_file *file)
{
    if (file->fd >= 0)
        close(file->fd);
    if (file->temp_path)
        unlink(file->temp_path);
    free(file->temp_path);
    free(file->path);
    memset(file, 0, sizeof *file);
    file->fd = -1;
}

kd_status kd_atomic_write_file(const char *path, const void *data, size_t size)
{
    atomic_file file;
    kd_status status = kd_atomic_file_open(&file, path);
    if (status != KD_OK)
        return status;
    status = kd_atomic_file_write(&file, data, size);
    if (status != KD_OK) {
        kd_atomic_file_abort(&file);
        return status;
    }
    return kd_atomic_file_commit(&file);
}

kd_status kd_atomic_copy_file(const char *source, const char *destination)
{
    int fd = open(source, O_RDONLY);
    if (fd < 0)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", source, strerror(errno));
    atomic_file file;
    kd_status status = kd_atomic_file_open(&file, destination);
    char buffer[1 << 16];
    while (status == KD_OK) {
        ssize_t got = read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            status = kd_fail(KD_ERR_IO, "%s: read failed: %s", source, strerror(errno));
        else if (got == 0)
            break;
        else
            status = kd_atomic_file_write(&file, buffer, (size_t)got);
        if (status != KD_OK)
            kd_atomic_file_abort(&file);
    }
    close(fd);
    return status == KD_OK ? kd_atomic_file_commit(&file) : status;
}

kd_status kd_file_read_at(int fd, const char *path, void *buffer, size_t size, uint64_t offset)
{
    char *bytes = buffer;
    while (size > 0) {
        ssize_t got = pread(fd, bytes, size, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return kd_fail(KD_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (got == 0)
            return kd_fail(KD_ERR_FORMAT, "%s: file ended early (truncated)", path);
        bytes += got;
        size -= (size_t)got;
        offset += (uint64_t)got;
    }
    return KD_OK;
}
