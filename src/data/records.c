/* Instruction records from JSON Lines or one JSON array, parsed by cJSON.
 * The whole file is read first: dolly-15k is 13 MB, and a line of any
 * length then needs no special handling. */
#include "kd/data.h"

#include "data_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { RECORD_PLACE_CAPACITY = 1100 };

typedef enum {
    FIELD_REQUIRED,  /* must be a string */
    FIELD_NULLABLE,  /* must be present; a string or null */
    FIELD_OPTIONAL   /* may be absent or null */
} field_need;

void kd_record_fields_default(record_fields *fields)
{
    fields->instruction = "instruction";
    fields->context = "context";
    fields->response = "response";
    fields->category = "category";
}

/* JSON's white space, plus the \v and \f that text editors leave. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The first byte of text[0 .. length) that is not white space, or the end. */
static const char *skip_space(const char *text, size_t length)
{
    const char *end = text + length;
    while (text < end && is_space(*text))
        text++;
    return text;
}

static int is_blank(const char *text, size_t length)
{
    return skip_space(text, length) == text + length;
}

static const char *json_type_name(const cJSON *item)
{
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsArray(item))
        return "an array";
    return "an object";
}

static char *copy_text(const char *text)
{
    size_t length = strlen(text);
    char *copy = kd_alloc(length + 1, 1, "record text");
    if (copy)
        memcpy(copy, text, length + 1);
    return copy;
}

/* Copies member `name` of `object` to *out ("" when absent and allowed). */
static kd_status read_field(const cJSON *object, const char *name, field_need need,
                            const char *place, char **out)
{
    const cJSON *item = name ? cJSON_GetObjectItemCaseSensitive(object, name) : NULL;
    const char *text = "";
    if (!item) {
        if (name && need != FIELD_OPTIONAL)
            return kd_fail(KD_ERR_FORMAT, "%s: field \"%s\" is missing", place, name);
    } else if (cJSON_IsNull(item) && need != FIELD_REQUIRED) {
        text = "";
    } else if (!cJSON_IsString(item)) {
        return kd_fail(KD_ERR_FORMAT, "%s: field \"%s\" must be a string, not %s", place, name,
                       json_type_name(item));
    } else {
        text = item->valuestring;
        size_t length = strlen(text);
        size_t bad = kd_utf8_invalid_offset(text, length);
        if (bad != length)
            return kd_fail(KD_ERR_FORMAT, "%s: field \"%s\" is not valid UTF-8 (byte %zu)", place,
                           name, bad);
    }
    *out = copy_text(text);
    return *out ? KD_OK : KD_ERR_NOMEM;
}

static void record_free(data_record *record)
{
    free(record->instruction);
    free(record->context);
    free(record->response);
    free(record->category);
}

static kd_status record_from_json(const cJSON *json, const record_fields *fields,
                                  const char *place, data_record *record)
{
    memset(record, 0, sizeof *record);
    if (!cJSON_IsObject(json))
        return kd_fail(KD_ERR_FORMAT, "%s: a record must be a JSON object, not %s", place,
                       json_type_name(json));
    kd_status status = read_field(json, fields->instruction, FIELD_REQUIRED, place,
                                  &record->instruction);
    if (status == KD_OK)
        status = read_field(json, fields->context, FIELD_NULLABLE, place, &record->context);
    if (status == KD_OK)
        status = read_field(json, fields->response, FIELD_REQUIRED, place, &record->response);
    if (status == KD_OK)
        status = read_field(json, fields->category, FIELD_OPTIONAL, place, &record->category);
    if (status != KD_OK)
        record_free(record);
    return status;
}

static kd_status list_push(record_list *list, const data_record *record)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 256;
        data_record *items = realloc(list->items, kd_mul_size(capacity, sizeof *items));
        if (!items)
            return kd_fail(KD_ERR_NOMEM, "records: cannot grow to %zu", capacity);
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = *record;
    return KD_OK;
}

/* Turns one parsed JSON value into a record of the list. A bad record is
 * counted and passed over under skip_bad; anything else stops the read. */
static kd_status take_record(record_list *list, const cJSON *json, const record_fields *fields,
                             const char *place, size_t line, int skip_bad)
{
    data_record record;
    kd_status status = record_from_json(json, fields, place, &record);
    if (status == KD_ERR_FORMAT && skip_bad) {
        list->skipped++;
        return KD_OK;
    }
    if (status != KD_OK)
        return status;
    record.source = list->source_count - 1;
    record.line = line;
    status = list_push(list, &record);
    if (status != KD_OK)
        record_free(&record);
    return status;
}

static kd_status bad_json(const char *place, size_t column, int skip_bad, record_list *list)
{
    if (skip_bad) {
        list->skipped++;
        return KD_OK;
    }
    return kd_fail(KD_ERR_FORMAT, "%s: malformed JSON at column %zu", place, column);
}

static kd_status parse_line(const char *name, size_t line_number, const char *line, size_t length,
                            const record_fields *fields, int skip_bad, record_list *list)
{
    if (is_blank(line, length))
        return KD_OK;
    char place[RECORD_PLACE_CAPACITY];
    snprintf(place, sizeof place, "%s:%zu", name, line_number);
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(line, length, &end, 0);
    if (!json)
        return bad_json(place, (size_t)(end - line) + 1, skip_bad, list);
    const char *after = skip_space(end, length - (size_t)(end - line));
    kd_status status;
    if (after != line + length)
        status = bad_json(place, (size_t)(after - line) + 1, skip_bad, list);
    else
        status = take_record(list, json, fields, place, line_number, skip_bad);
    cJSON_Delete(json);
    return status;
}

static kd_status parse_json_lines(const char *name, const char *text, size_t length,
                                  const record_fields *fields, int skip_bad, record_list *list)
{
    const char *cursor = text;
    const char *end = text + length;
    size_t line_number = 0;
    while (cursor < end) {
        const char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        const char *line_end = newline ? newline : end;
        kd_status status = parse_line(name, ++line_number, cursor, (size_t)(line_end - cursor),
                                      fields, skip_bad, list);
        if (status != KD_OK)
            return status;
        cursor = newline ? newline + 1 : end;
    }
    return KD_OK;
}

/* 1-based line and column of `at` within `text`. */
static void text_position(const char *text, const char *at, size_t *line, size_t *column)
{
    *line = 1;
    const char *line_start = text;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            line_start = p + 1;
        }
    }
    *column = (size_t)(at - line_start) + 1;
}

/* A JSON array is all or nothing: one syntax error loses the structure of
 * everything after it, so skip_bad applies to its records, not its syntax. */
static kd_status parse_json_array(const char *name, const char *text, size_t length,
                                  const record_fields *fields, int skip_bad, record_list *list)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, length, &end, 0);
    if (root)
        end = skip_space(end, length - (size_t)(end - text));
    if (!root || end != text + length) {
        size_t line, column;
        text_position(text, end, &line, &column);
        cJSON_Delete(root);
        return kd_fail(KD_ERR_FORMAT, "%s:%zu: malformed JSON at column %zu", name, line, column);
    }
    kd_status status = KD_OK;
    size_t index = 0;
    const cJSON *element;
    cJSON_ArrayForEach(element, root) {
        char place[RECORD_PLACE_CAPACITY];
        snprintf(place, sizeof place, "%s: record %zu", name, ++index);
        status = take_record(list, element, fields, place, index, skip_bad);
        if (status != KD_OK)
            break;
    }
    cJSON_Delete(root);
    return status;
}

static kd_status add_source(record_list *list, const char *name)
{
    char **sources = realloc(list->sources, kd_mul_size(list->source_count + 1, sizeof *sources));
    if (!sources)
        return kd_fail(KD_ERR_NOMEM, "records: cannot add source %s", name);
    list->sources = sources;
    char *copy = copy_text(name);
    if (!copy)
        return KD_ERR_NOMEM;
    list->sources[list->source_count++] = copy;
    return KD_OK;
}

kd_status kd_records_parse(const char *name, const char *text, size_t length,
                           const record_fields *fields, int skip_bad, record_list *list)
{
    if (!fields->instruction || !fields->response)
        return kd_fail(KD_ERR_INVALID, "records: the instruction and response fields need names");
    kd_status status = add_source(list, name);
    if (status != KD_OK)
        return status;
    static const char bom[] = "\xEF\xBB\xBF";
    if (length >= 3 && memcmp(text, bom, 3) == 0) {
        text += 3;
        length -= 3;
    }
    const char *first = skip_space(text, length);
    size_t records_before = list->count;
    size_t skipped_before = list->skipped;
    if (first < text + length && *first == '[')
        status = parse_json_array(name, text, length, fields, skip_bad, list);
    else
        status = parse_json_lines(name, text, length, fields, skip_bad, list);
    size_t skipped = list->skipped - skipped_before;
    if (status == KD_OK && list->count == records_before)
        status = skipped ? kd_fail(KD_ERR_FORMAT, "%s: no records left after skipping %zu bad ones",
                                   name, skipped)
                         : kd_fail(KD_ERR_FORMAT, "%s: no records", name);
    return status;
}

kd_status kd_records_read_file(const char *path, const record_fields *fields, int skip_bad,
                               record_list *list)
{
    char *text;
    size_t length;
    kd_status status = kd_read_file(path, DATA_MAX_FILE_BYTES, &text, &length);
    if (status != KD_OK)
        return status;
    status = kd_records_parse(path, text, length, fields, skip_bad, list);
    free(text);
    return status;
}

void kd_record_list_free(record_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        record_free(&list->items[i]);
    for (size_t i = 0; i < list->source_count; i++)
        free(list->sources[i]);
    free(list->items);
    free(list->sources);
    memset(list, 0, sizeof *list);
}
