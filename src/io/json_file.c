/* Reading a whole JSON file with cJSON, reporting syntax errors by line and
 * column so that a hand-edited config points the user at the mistake. */
#include "kd/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { JSON_FILE_MAX_BYTES = 256 << 20 };

static void locate(const char *text, const char *position, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (const char *c = text; c < position; c++) {
        if (*c == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
}

kd_status json_read_file(const char *path, cJSON **root)
{
    *root = NULL;
    FILE *file = fopen(path, "rb");
    if (!file)
        return kd_fail(KD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(file);
        return kd_fail(KD_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > JSON_FILE_MAX_BYTES) {
        fclose(file);
        return kd_fail(KD_ERR_FORMAT, "%s: %lld bytes is too large for a JSON file (limit %d)",
                       path, (long long)st.st_size, JSON_FILE_MAX_BYTES);
    }
    size_t size = (size_t)st.st_size;
    char *text = kd_alloc(size + 1, 1, path);
    if (!text) {
        fclose(file);
        return KD_ERR_NOMEM;
    }
    size_t got = fread(text, 1, size, file);
    fclose(file);
    if (got != size) {
        free(text);
        return kd_fail(KD_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    kd_status status = KD_OK;
    if (!*root) {
        int line, column;
        locate(text, end ? end : text, &line, &column);
        status = kd_fail(KD_ERR_FORMAT, "%s:%d:%d: malformed JSON", path, line, column);
    }
    free(text);
    return status;
}
