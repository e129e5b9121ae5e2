/* Prompt templates: placeholders and special tokens in a string, rendered
 * into role-tagged segments. Parsing is redone on every render; templates
 * are a hundred bytes and records thousands, so it costs nothing. */
#include "kd/data.h"

#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
    PIECE_TEXT,
    PIECE_INSTRUCTION,
    PIECE_CONTEXT,
    PIECE_RESPONSE,
    PIECE_SPECIAL,       /* <|name|> */
    PIECE_UNKNOWN,       /* {name} that is not a placeholder */
    PIECE_UNTERMINATED   /* <| without |> */
} piece_kind;

typedef struct {
    piece_kind kind;
    const char *text;
    size_t length;
} template_piece;

static const char *const placeholder_names[] = {"{instruction}", "{context}", "{response}"};

void kd_prompt_template_default(prompt_template *prompt)
{
    prompt->with_context = KD_TEMPLATE_WITH_CONTEXT;
    prompt->without_context = KD_TEMPLATE_WITHOUT_CONTEXT;
}

/* Length of "{identifier}" at `text`, or 0 when it is not one. */
static size_t braced_name_length(const char *text)
{
    size_t i = 1;
    while ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_')
        i++;
    return (i > 1 && text[i] == '}') ? i + 1 : 0;
}

/* The piece starting at `text` (not at its end). A '{' that does not open
 * a {name} is ordinary text, so templates may contain JSON or code. */
static template_piece next_piece(const char *text)
{
    template_piece piece = {PIECE_TEXT, text, 0};
    if (text[0] == '<' && text[1] == '|') {
        const char *close = strstr(text + 2, "|>");
        if (!close) {
            piece.kind = PIECE_UNTERMINATED;
            piece.length = strlen(text);
        } else {
            piece.kind = PIECE_SPECIAL;
            piece.length = (size_t)(close + 2 - text);
        }
        return piece;
    }
    size_t name_length = text[0] == '{' ? braced_name_length(text) : 0;
    if (name_length) {
        piece.kind = PIECE_UNKNOWN;
        piece.length = name_length;
        for (int i = 0; i < 3; i++)
            if (strncmp(text, placeholder_names[i], name_length) == 0 &&
                placeholder_names[i][name_length] == '\0')
                piece.kind = (piece_kind)(PIECE_INSTRUCTION + i);
        return piece;
    }
    size_t length = 1;
    while (text[length] && !(text[length] == '<' && text[length + 1] == '|') &&
           !(text[length] == '{' && braced_name_length(text + length)))
        length++;
    piece.length = length;
    return piece;
}

static kd_status validate_one(const char *which, const char *text, int allow_context)
{
    if (!text)
        return kd_fail(KD_ERR_INVALID, "template %s: missing", which);
    size_t text_length = strlen(text);
    size_t bad = kd_utf8_invalid_offset(text, text_length);
    if (bad != text_length)
        return kd_fail(KD_ERR_INVALID, "template %s: not valid UTF-8 (byte %zu)", which, bad);
    int uses[3] = {0, 0, 0};
    for (const char *at = text; *at;) {
        template_piece piece = next_piece(at);
        at += piece.length;
        if (piece.kind == PIECE_UNKNOWN)
            return kd_fail(KD_ERR_INVALID, "template %s: unknown placeholder %.*s", which,
                           (int)piece.length, piece.text);
        if (piece.kind == PIECE_UNTERMINATED)
            return kd_fail(KD_ERR_INVALID, "template %s: \"<|\" without a closing \"|>\"", which);
        if (piece.kind < PIECE_INSTRUCTION || piece.kind > PIECE_RESPONSE)
            continue;
        int index = piece.kind - PIECE_INSTRUCTION;
        const char *name = placeholder_names[index];
        if (uses[index]++)
            return kd_fail(KD_ERR_INVALID, "template %s: %s used twice", which, name);
        if (piece.kind != PIECE_RESPONSE && uses[PIECE_RESPONSE - PIECE_INSTRUCTION])
            return kd_fail(KD_ERR_INVALID, "template %s: %s after {response} (the prompt comes first)",
                           which, name);
        if (piece.kind == PIECE_CONTEXT && !allow_context)
            return kd_fail(KD_ERR_INVALID, "template %s: uses {context}, which is empty there",
                           which);
    }
    if (!uses[PIECE_RESPONSE - PIECE_INSTRUCTION])
        return kd_fail(KD_ERR_INVALID, "template %s: no {response}", which);
    return KD_OK;
}

kd_status kd_prompt_template_validate(const prompt_template *prompt)
{
    kd_status status = validate_one("with_context", prompt->with_context, 1);
    if (status == KD_OK)
        status = validate_one("without_context", prompt->without_context, 0);
    return status;
}

static kd_status reserve_text(rendered_prompt *out, size_t extra)
{
    size_t needed = out->text_length + extra;
    if (needed <= out->text_capacity)
        return KD_OK;
    size_t capacity = out->text_capacity ? out->text_capacity : 256;
    while (capacity < needed)
        capacity *= 2;
    char *text = realloc(out->text, capacity);
    if (!text)
        return kd_fail(KD_ERR_NOMEM, "template: cannot hold %zu bytes of text", capacity);
    out->text = text;
    out->text_capacity = capacity;
    return KD_OK;
}

static kd_status add_segment(rendered_prompt *out, const template_segment *segment)
{
    if (out->count == out->capacity) {
        size_t capacity = out->capacity ? 2 * out->capacity : 16;
        template_segment *segments = realloc(out->segments, capacity * sizeof *segments);
        if (!segments)
            return kd_fail(KD_ERR_NOMEM, "template: cannot hold %zu segments", capacity);
        out->segments = segments;
        out->capacity = capacity;
    }
    out->segments[out->count++] = *segment;
    return KD_OK;
}

/* Appends bytes to the rendering; text joins the last segment when that is
 * text of the same role, so the tokenizer sees it in one piece. */
static kd_status append(rendered_prompt *out, token_role role, const char *bytes, size_t length,
                        int is_special)
{
    if (length == 0)
        return KD_OK;
    kd_status status = reserve_text(out, length);
    if (status != KD_OK)
        return status;
    memcpy(out->text + out->text_length, bytes, length);
    template_segment *last = out->count ? &out->segments[out->count - 1] : NULL;
    out->text_length += length;
    if (!is_special && last && !last->is_special && last->role == role) {
        last->length += length;
        return KD_OK;
    }
    template_segment segment = {role, out->text_length - length, length, is_special};
    return add_segment(out, &segment);
}

kd_status kd_template_render(const prompt_template *prompt, const data_record *record,
                             rendered_prompt *out)
{
    const char *text = record->context[0] ? prompt->with_context : prompt->without_context;
    out->text_length = 0;
    out->count = 0;
    token_role role = ROLE_PROMPT;
    kd_status status = KD_OK;
    for (const char *at = text; *at && status == KD_OK;) {
        template_piece piece = next_piece(at);
        at += piece.length;
        switch (piece.kind) {
        case PIECE_TEXT:
            status = append(out, role, piece.text, piece.length, 0);
            break;
        case PIECE_INSTRUCTION:
            status = append(out, role, record->instruction, strlen(record->instruction), 0);
            break;
        case PIECE_CONTEXT:
            status = append(out, ROLE_CONTEXT, record->context, strlen(record->context), 0);
            break;
        case PIECE_RESPONSE:
            role = ROLE_RESPONSE;
            status = append(out, role, record->response, strlen(record->response), 0);
            break;
        case PIECE_SPECIAL:
            status = append(out, role, piece.text, piece.length, 1);
            break;
        case PIECE_UNKNOWN:
        case PIECE_UNTERMINATED:
            return kd_fail(KD_ERR_INVALID, "template: render called on an invalid template");
        }
    }
    return status;
}

void kd_rendered_prompt_free(rendered_prompt *rendered)
{
    free(rendered->text);
    free(rendered->segments);
    memset(rendered, 0, sizeof *rendered);
}
