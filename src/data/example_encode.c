/* Tokenizer glue: rendered records to role-tagged token ids. */
#include "kd/data.h"

#include <stdlib.h>
#include <string.h>

static kd_status tag_roles(example_tokens *tokens, size_t from, token_role role)
{
    size_t count = tokens->ids.count;
    if (count > tokens->roles_capacity) {
        size_t capacity = tokens->roles_capacity ? tokens->roles_capacity : 256;
        while (capacity < count)
            capacity *= 2;
        uint8_t *roles = realloc(tokens->roles, capacity);
        if (!roles)
            return kd_fail(KD_ERR_NOMEM, "example: cannot hold %zu token roles", capacity);
        tokens->roles = roles;
        tokens->roles_capacity = capacity;
    }
    memset(tokens->roles + from, (int)role, count - from);
    return KD_OK;
}

/* Appends the ids of one segment. A special token is looked up by its
 * exact name: kd_tokenizer_encode would spell "<|endoftext|>" out as text. */
static kd_status encode_segment(const kd_tokenizer *tokenizer, const char *text,
                                const template_segment *segment, kd_token_buffer *ids)
{
    if (!segment->is_special)
        return kd_tokenizer_encode(tokenizer, text + segment->offset, segment->length, ids);
    char name[128];
    if (segment->length >= sizeof name)
        return kd_fail(KD_ERR_INVALID, "template: special token name of %zu bytes",
                       segment->length);
    memcpy(name, text + segment->offset, segment->length);
    name[segment->length] = '\0';
    int id = kd_tokenizer_token_id(tokenizer, name);
    if (id < 0)
        return kd_fail(KD_ERR_INVALID, "template: the vocabulary has no special token %s", name);
    return kd_token_buffer_push(ids, id);
}

kd_status kd_example_encode(const kd_tokenizer *tokenizer, const rendered_prompt *rendered,
                            example_tokens *out)
{
    kd_token_buffer_clear(&out->ids);
    for (size_t i = 0; i < rendered->count; i++) {
        const template_segment *segment = &rendered->segments[i];
        size_t from = out->ids.count;
        kd_status status = encode_segment(tokenizer, rendered->text, segment, &out->ids);
        if (status == KD_OK)
            status = tag_roles(out, from, segment->role);
        if (status != KD_OK)
            return status;
    }
    return KD_OK;
}

void kd_example_tokens_free(example_tokens *tokens)
{
    kd_token_buffer_free(&tokens->ids);
    free(tokens->roles);
    memset(tokens, 0, sizeof *tokens);
}

kd_status kd_template_encode_prompt(const kd_tokenizer *tokenizer, const prompt_template *prompt,
                                    const char *instruction, const char *context,
                                    kd_token_buffer *out)
{
    kd_status status = kd_prompt_template_validate(prompt);
    if (status != KD_OK)
        return status;
    data_record record = {
        .instruction = (char *)instruction,
        .context = (char *)(context ? context : ""),
        .response = "",
        .category = "",
    };
    rendered_prompt rendered = {0};
    status = kd_template_render(prompt, &record, &rendered);
    for (size_t i = 0; i < rendered.count && status == KD_OK; i++)
        if (rendered.segments[i].role != ROLE_RESPONSE)
            status = encode_segment(tokenizer, rendered.text, &rendered.segments[i], out);
    kd_rendered_prompt_free(&rendered);
    return status;
}
