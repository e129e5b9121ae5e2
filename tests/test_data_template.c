/* Template rendering into role-tagged segments, with and without context,
 * and the checks that keep a template meaningful. */
#include "test_support.h"

#include "kd/data.h"

#include <string.h>

static data_record make_record(char *instruction, char *context, char *response)
{
    data_record record = {instruction, context, response, "", 0, 1};
    return record;
}

static void expect_segment(const rendered_prompt *rendered, size_t index, token_role role,
                           int is_special, const char *text)
{
    assert_true(index < rendered->count);
    const template_segment *segment = &rendered->segments[index];
    assert_int_equal(segment->role, role);
    assert_int_equal(segment->is_special, is_special);
    assert_int_equal(segment->length, strlen(text));
    assert_memory_equal(rendered->text + segment->offset, text, segment->length);
}

static void test_default_with_context(void **state)
{
    (void)state;
    prompt_template prompt;
    kd_prompt_template_default(&prompt);
    assert_int_equal(kd_prompt_template_validate(&prompt), KD_OK);
    data_record record = make_record("Who?", "Ada wrote it.", "Ada.");
    rendered_prompt rendered = {0};
    assert_int_equal(kd_template_render(&prompt, &record, &rendered), KD_OK);
    assert_int_equal(rendered.count, 5);
    expect_segment(&rendered, 0, ROLE_PROMPT, 0, "### Instruction:\nWho?\n\n### Context:\n");
    expect_segment(&rendered, 1, ROLE_CONTEXT, 0, "Ada wrote it.");
    expect_segment(&rendered, 2, ROLE_PROMPT, 0, "\n\n### Response:\n");
    expect_segment(&rendered, 3, ROLE_RESPONSE, 0, "Ada.");
    expect_segment(&rendered, 4, ROLE_RESPONSE, 1, "<|endoftext|>");
    kd_rendered_prompt_free(&rendered);
}

static void test_default_without_context(void **state)
{
    (void)state;
    prompt_template prompt;
    kd_prompt_template_default(&prompt);
    data_record record = make_record("Why?", "", "Because.");
    rendered_prompt rendered = {0};
    assert_int_equal(kd_template_render(&prompt, &record, &rendered), KD_OK);
    assert_int_equal(rendered.count, 3);
    expect_segment(&rendered, 0, ROLE_PROMPT, 0, "### Instruction:\nWhy?\n\n### Response:\n");
    expect_segment(&rendered, 1, ROLE_RESPONSE, 0, "Because.");
    expect_segment(&rendered, 2, ROLE_RESPONSE, 1, "<|endoftext|>");
    /* The rendering reuses its memory and forgets the previous record. */
    data_record second = make_record("A", "", "B");
    assert_int_equal(kd_template_render(&prompt, &second, &rendered), KD_OK);
    assert_int_equal(rendered.count, 3);
    expect_segment(&rendered, 0, ROLE_PROMPT, 0, "### Instruction:\nA\n\n### Response:\n");
    kd_rendered_prompt_free(&rendered);
}

static void test_custom_template_keeps_braces_and_trailing_text(void **state)
{
    (void)state;
    prompt_template prompt = {"{\"q\": {instruction}} ctx={context} -> {response} <|endoftext|>.",
                              "Q: {instruction} A:{response}"};
    assert_int_equal(kd_prompt_template_validate(&prompt), KD_OK);
    data_record record = make_record("x", "y", "z");
    rendered_prompt rendered = {0};
    assert_int_equal(kd_template_render(&prompt, &record, &rendered), KD_OK);
    assert_int_equal(rendered.count, 6);
    expect_segment(&rendered, 0, ROLE_PROMPT, 0, "{\"q\": x} ctx=");
    expect_segment(&rendered, 1, ROLE_CONTEXT, 0, "y");
    expect_segment(&rendered, 2, ROLE_PROMPT, 0, " -> ");
    expect_segment(&rendered, 3, ROLE_RESPONSE, 0, "z ");
    expect_segment(&rendered, 4, ROLE_RESPONSE, 1, "<|endoftext|>");
    expect_segment(&rendered, 5, ROLE_RESPONSE, 0, ".");
    data_record bare = make_record("x", "", "");
    assert_int_equal(kd_template_render(&prompt, &bare, &rendered), KD_OK);
    assert_int_equal(rendered.count, 1); /* an empty response adds nothing */
    expect_segment(&rendered, 0, ROLE_PROMPT, 0, "Q: x A:");
    kd_rendered_prompt_free(&rendered);
}

static void expect_invalid(const char *with_context, const char *without_context,
                           const char *message)
{
    prompt_template prompt = {with_context, without_context};
    assert_int_equal(kd_prompt_template_validate(&prompt), KD_ERR_INVALID);
    assert_string_equal(kd_last_error(), message);
}

static void test_invalid_templates(void **state)
{
    (void)state;
    const char *good = KD_TEMPLATE_WITHOUT_CONTEXT;
    expect_invalid("{instruction} {contxt} {response}", good,
                   "template with_context: unknown placeholder {contxt}");
    expect_invalid("{instruction} {instruction} {response}", good,
                   "template with_context: {instruction} used twice");
    expect_invalid("{instruction} {context}", good, "template with_context: no {response}");
    expect_invalid("{response} {context}", good,
                   "template with_context: {context} after {response} (the prompt comes first)");
    expect_invalid("{instruction} {response}<|endoftext", good,
                   "template with_context: \"<|\" without a closing \"|>\"");
    expect_invalid(KD_TEMPLATE_WITH_CONTEXT, KD_TEMPLATE_WITH_CONTEXT,
                   "template without_context: uses {context}, which is empty there");
    expect_invalid(good, NULL, "template without_context: missing");
    expect_invalid("\xFF{response}", good, "template with_context: not valid UTF-8 (byte 0)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_with_context),
        cmocka_unit_test(test_default_without_context),
        cmocka_unit_test(test_custom_template_keeps_braces_and_trailing_text),
        cmocka_unit_test(test_invalid_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
