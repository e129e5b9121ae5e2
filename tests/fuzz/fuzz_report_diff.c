/* Fuzz target: kd report diff's reading of two report.json files and
 * everything it writes from them (diff.md, diff.json, diff.html). A pair it
 * accepts must yield all three files; a refusal must carry its message.
 * Input: report A, a 0x00 byte, report B (without the byte, A is diffed
 * against itself). */
#include "fuzz.h"

#include <stdio.h>
#include <unistd.h>

#include "kd/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *parts[2];
    size_t sizes[2];
    size_t count = fuzz_split(data, size, 0, parts, sizes, 2);
    const char *a = fuzz_write_temp("a.json", parts[0], sizes[0]);
    char a_path[4096];
    snprintf(a_path, sizeof a_path, "%s", a);
    const char *b = count > 1 ? fuzz_write_temp("b.json", parts[1], sizes[1]) : a_path;
    char out[4096];
    snprintf(out, sizeof out, "%s/diff", fuzz_temp_dir());
    kd_status status = kd_report_diff(a_path, b, out, NULL);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    FUZZ_CHECK(access(fuzz_temp_path("diff/diff.md"), R_OK) == 0);
    FUZZ_CHECK(access(fuzz_temp_path("diff/diff.json"), R_OK) == 0);
    FUZZ_CHECK(access(fuzz_temp_path("diff/diff.html"), R_OK) == 0);
    return 0;
}
