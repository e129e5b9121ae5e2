/* mkdir -p for output directories (runs/<name>/teacher/model, ...), and
 * fsync of a directory after entries in it were renamed. */
#include "kd/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

kd_status kd_make_directories(const char *path)
{
    if (!*path)
        return kd_fail(KD_ERR_INVALID, "empty directory name");
    char *partial = strdup(path);
    if (!partial)
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory", path);
    kd_status status = KD_OK;
    /* Create each prefix ending before a '/', then the whole path. */
    for (char *cursor = partial + 1; status == KD_OK; cursor++) {
        if (*cursor != '/' && *cursor != '\0')
            continue;
        char saved = *cursor;
        *cursor = '\0';
        struct stat st;
        if (mkdir(partial, 0755) != 0 && errno != EEXIST)
            status = kd_fail(KD_ERR_IO, "%s: cannot create directory: %s", partial,
                             strerror(errno));
        else if (stat(partial, &st) != 0 || !S_ISDIR(st.st_mode))
            status = kd_fail(KD_ERR_IO, "%s: exists and is not a directory", partial);
        *cursor = saved;
        if (saved == '\0')
            break;
    }
    free(partial);
    return status;
}

kd_status kd_directory_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Some file systems cannot fsync a directory (EINVAL): nothing more to do there. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        kd_status status = kd_fail(KD_ERR_IO, "%s: cannot sync: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return status;
    }
    close(fd);
    return KD_OK;
}
