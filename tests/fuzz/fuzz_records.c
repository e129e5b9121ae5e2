/* Fuzz target: instruction records (dolly JSON Lines, or one JSON array),
 * strictly and with skip_bad, then rendered through the default template.
 * Every accepted record must hold valid UTF-8 strings.
 * Input: the data file. */
#include "fuzz.h"

#include <string.h>

#include "kd/data.h"

static void check_record(const data_record *record, const prompt_template *prompt,
                         rendered_prompt *rendered)
{
    FUZZ_CHECK(record->instruction && record->context && record->response && record->category);
    FUZZ_CHECK(kd_template_render(prompt, record, rendered) == KD_OK);
    FUZZ_CHECK(rendered->count > 0);
}

static void parse(const uint8_t *data, size_t size, int skip_bad, const prompt_template *prompt)
{
    record_fields fields;
    kd_record_fields_default(&fields);
    record_list list = {0};
    const char *path = fuzz_write_temp("records.jsonl", data, size);
    kd_status status = kd_records_read_file(path, &fields, skip_bad, &list);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
    } else {
        FUZZ_CHECK(list.count > 0 && list.source_count == 1);
        rendered_prompt rendered = {0};
        for (size_t i = 0; i < list.count; i++)
            check_record(&list.items[i], prompt, &rendered);
        kd_rendered_prompt_free(&rendered);
    }
    kd_record_list_free(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prompt_template prompt;
    kd_prompt_template_default(&prompt);
    parse(data, size, 0, &prompt);
    parse(data, size, 1, &prompt);
    return 0;
}
