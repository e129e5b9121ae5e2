/* Reading a whole JSON file with cJSON, reporting syntax errors by line and
 * column so that a hand-edited config points the user at the mistake; and
 * writing numbers that read back exactly. */
#include "kd/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

kd_status kd_json_read_file(const char *path, cJSON **root)
{
    *root = NULL;
    char *text = NULL;
    size_t size = 0;
    kd_status status = kd_read_file(path, KD_TEXT_FILE_MAX_BYTES, &text, &size);
    if (status != KD_OK)
        return status;
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (!*root) {
        int line, column;
        locate(text, end ? end : text, &line, &column);
        status = kd_fail(KD_ERR_FORMAT, "%s:%d:%d: malformed JSON", path, line, column);
    }
    free(text);
    return status;
}

void kd_json_add_float(cJSON *object, const char *key, float value)
{
    char text[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)value);
        if (strtof(text, NULL) == value)
            break;
    }
    if (isfinite(value))
        cJSON_AddRawToObject(object, key, text);
    else
        cJSON_AddNullToObject(object, key);
}

void kd_json_add_exact_number(cJSON *object, const char *key, double value)
{
    if (!isfinite(value)) {
        cJSON_AddNullToObject(object, key);
        return;
    }
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (strtod(text, NULL) == value)
            break;
    }
    cJSON_AddRawToObject(object, key, text);
}
