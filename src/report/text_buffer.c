/* A growing text buffer for the report's Markdown and SVG. Appends never
 * fail on the spot: a failed allocation marks the buffer, and the one check
 * at the end (kd_text_buffer_write) reports it, so writers stay linear. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kd/io.h"
#include "report_internal.h"

void kd_text_printf(text_buffer *text, const char *fmt, ...)
{
    if (text->failed)
        return;
    for (;;) {
        size_t room = text->capacity - text->length;
        va_list args;
        va_start(args, fmt);
        int needed = vsnprintf(text->data ? text->data + text->length : NULL, room, fmt, args);
        va_end(args);
        if (needed < 0) {
            text->failed = 1;
            return;
        }
        if ((size_t)needed < room) {
            text->length += (size_t)needed;
            return;
        }
        size_t capacity = 2 * text->capacity + (size_t)needed + 256;
        char *grown = realloc(text->data, capacity);
        if (!grown) {
            text->failed = 1;
            return;
        }
        text->data = grown;
        text->capacity = capacity;
    }
}

/* Text inside SVG elements and attributes: the five XML specials escaped. */
void kd_text_append_xml(text_buffer *text, const char *value)
{
    for (const char *c = value; *c; c++) {
        switch (*c) {
        case '&': kd_text_printf(text, "&amp;"); break;
        case '<': kd_text_printf(text, "&lt;"); break;
        case '>': kd_text_printf(text, "&gt;"); break;
        case '"': kd_text_printf(text, "&quot;"); break;
        case '\'': kd_text_printf(text, "&apos;"); break;
        default: kd_text_printf(text, "%c", *c);
        }
    }
}

kd_status kd_text_buffer_write(const text_buffer *text, const char *path)
{
    if (text->failed)
        return kd_fail(KD_ERR_NOMEM, "%s: out of memory while composing it", path);
    return kd_atomic_write_file(path, text->data ? text->data : "", text->length);
}

void kd_text_buffer_free(text_buffer *text)
{
    free(text->data);
    *text = (text_buffer){0};
}
