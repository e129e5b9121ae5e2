/* Real instruction data: every field listed in fixtures/tokenizer/dolly.jsonl
 * (a few hundred dolly-15k records from the assets folder) must encode to
 * the reference encoder's ids and decode back to the same bytes. */
#include "test_support.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"

enum { MAX_LINES = 4096 };

typedef struct {
    char *name;
    char *text;
    char *lines[MAX_LINES]; /* into text, one per record */
    int line_count;
} jsonl_file;

static void read_jsonl(jsonl_file *file, const char *name)
{
    char *dolly = test_path(KD_ASSETS_DIR, "dolly");
    char *path = test_path(dolly, name);
    size_t size = 0;
    file->name = strdup(name);
    file->text = test_read_file(path, &size);
    file->line_count = 0;
    for (char *line = strtok(file->text, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(file->line_count < MAX_LINES);
        file->lines[file->line_count++] = line;
    }
    free(path);
    free(dolly);
}

/* The text of one expectation: field `field` of line `line` of the asset file. */
static cJSON *expected_record(jsonl_file *files, int *file_count, const cJSON *expectation,
                              const char **text)
{
    const char *name = cJSON_GetObjectItem(expectation, "file")->valuestring;
    int line = cJSON_GetObjectItem(expectation, "line")->valueint;
    jsonl_file *file = NULL;
    for (int i = 0; i < *file_count && !file; i++)
        file = strcmp(files[i].name, name) == 0 ? &files[i] : NULL;
    if (!file) {
        assert_true(*file_count < 4);
        file = &files[(*file_count)++];
        read_jsonl(file, name);
    }
    assert_true(line >= 1 && line <= file->line_count);
    cJSON *record = cJSON_Parse(file->lines[line - 1]);
    assert_non_null(record);
    const cJSON *value = cJSON_GetObjectItem(record, cJSON_GetObjectItem(expectation, "field")
                                                         ->valuestring);
    assert_true(cJSON_IsString(value));
    *text = value->valuestring;
    return record;
}

static void test_dolly_matches_reference_and_round_trips(void **state)
{
    (void)state;
    kd_tokenizer *tokenizer = test_gpt2_tokenizer();
    size_t size = 0;
    char *expectations = test_read_file(KD_FIXTURES_DIR "/tokenizer/dolly.jsonl", &size);
    jsonl_file files[4];
    int file_count = 0, fields = 0;
    kd_token_buffer ids = {0};
    char *saved = NULL;
    for (char *line = strtok_r(expectations, "\n", &saved); line;
         line = strtok_r(NULL, "\n", &saved), fields++) {
        cJSON *expectation = cJSON_Parse(line);
        assert_non_null(expectation);
        const char *text = NULL;
        cJSON *record = expected_record(files, &file_count, expectation, &text);
        kd_token_buffer_clear(&ids);
        assert_int_equal(kd_tokenizer_encode(tokenizer, text, strlen(text), &ids), KD_OK);
        const cJSON *expected = cJSON_GetObjectItem(expectation, "ids");
        int count = cJSON_GetArraySize(expected);
        for (int i = 0; i < count && (size_t)i < ids.count; i++) {
            if (ids.ids[i] != cJSON_GetArrayItem(expected, i)->valueint)
                fail_msg("%s: id %d is %d, expected %d", line, i, ids.ids[i],
                         cJSON_GetArrayItem(expected, i)->valueint);
        }
        assert_int_equal(ids.count, (size_t)count);
        char *decoded = NULL;
        size_t length = 0;
        assert_int_equal(kd_tokenizer_decode(tokenizer, ids.ids, ids.count, &decoded, &length), KD_OK);
        assert_int_equal(length, strlen(text));
        assert_memory_equal(decoded, text, length);
        free(decoded);
        cJSON_Delete(record);
        cJSON_Delete(expectation);
    }
    assert_true(fields >= 600);
    for (int i = 0; i < file_count; i++) {
        free(files[i].name);
        free(files[i].text);
    }
    kd_token_buffer_free(&ids);
    free(expectations);
    kd_tokenizer_free(tokenizer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dolly_matches_reference_and_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
