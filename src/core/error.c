/* Status names and the thread-local last-error message. */
#include "kd/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KD_ERROR_CAPACITY = 1024 };
static _Thread_local char error_message[KD_ERROR_CAPACITY];

const char *kd_status_name(kd_status status)
{
    switch (status) {
    case KD_OK: return "ok";
    case KD_ERR_IO: return "i/o error";
    case KD_ERR_FORMAT: return "format error";
    case KD_ERR_INVALID: return "invalid value";
    case KD_ERR_NOMEM: return "out of memory";
    case KD_ERR_NUMERIC: return "numeric error";
    case KD_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

kd_status kd_fail(kd_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, args);
    va_end(args);
    return status;
}

kd_status kd_fail_context(kd_status status, const char *fmt, ...)
{
    char context[KD_ERROR_CAPACITY];
    char previous[KD_ERROR_CAPACITY];
    va_list args;
    va_start(args, fmt);
    vsnprintf(context, sizeof context, fmt, args);
    va_end(args);
    memcpy(previous, error_message, sizeof previous);
    /* Truncation is fine: a long message keeps its beginning. */
    size_t used = strnlen(context, sizeof context - 1);
    memcpy(error_message, context, used);
    snprintf(error_message + used, sizeof error_message - used, ": %s", previous);
    return status;
}

const char *kd_last_error(void)
{
    return error_message[0] ? error_message : "no error recorded";
}

void kd_clear_error(void)
{
    error_message[0] = '\0';
}

size_t kd_mul_size(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return 0;
    return count * size;
}

void *kd_alloc(size_t count, size_t size, const char *what)
{
    size_t bytes = kd_mul_size(count, size);
    if (bytes == 0 && count != 0 && size != 0) {
        kd_fail(KD_ERR_NOMEM, "%s: size overflows (%zu x %zu bytes)", what, count, size);
        return NULL;
    }
    void *memory = calloc(bytes ? bytes : 1, 1);
    if (!memory)
        kd_fail(KD_ERR_NOMEM, "%s: cannot allocate %.1f MB", what, (double)bytes / 1e6);
    return memory;
}

kd_status kd_path_join(char *out, size_t capacity, const char *dir, const char *name)
{
    int written = snprintf(out, capacity, "%s/%s", dir, name);
    if (written < 0 || (size_t)written >= capacity)
        return kd_fail(KD_ERR_INVALID, "path too long: %s/%s", dir, name);
    return KD_OK;
}

kd_status kd_path_parent(char *out, size_t capacity, const char *path)
{
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    while (length > 0 && path[length - 1] != '/')
        length--;
    while (length > 1 && path[length - 1] == '/')
        length--;
    int written = length == 0 ? snprintf(out, capacity, ".")
                              : snprintf(out, capacity, "%.*s", (int)length, path);
    if (written < 0 || (size_t)written >= capacity)
        return kd_fail(KD_ERR_INVALID, "path too long: %s", path);
    return KD_OK;
}
