/* Whole-file reads for the text formats kd parses in memory (tokenizer
 * files, token id lists), with a size limit checked before allocating. */
#include "kd/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

kd_status kd_read_file(const char *path, size_t max_bytes, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *file = fopen(path, "rb");
    if (!file)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(file);
        return kd_fail(KD_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(file);
        return kd_fail(KD_ERR_FORMAT, "%s: %lld bytes is more than the %zu allowed", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t length = (size_t)st.st_size;
    char *buffer = kd_alloc(length + 1, 1, path);
    if (!buffer) {
        fclose(file);
        return KD_ERR_NOMEM;
    }
    size_t got = fread(buffer, 1, length, file);
    int read_error = ferror(file);
    fclose(file);
    if (read_error || got != length) {
        free(buffer);
        return kd_fail(KD_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, length);
    }
    buffer[length] = '\0';
    *data = buffer;
    *size = length;
    return KD_OK;
}
