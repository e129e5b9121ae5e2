/* mkdir -p for output directories (runs/<name>/teacher/model, ...). */
#include "kd/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
