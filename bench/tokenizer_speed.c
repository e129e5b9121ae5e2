/* Tokenizer speed: encodes every instruction, context and response of the
 * dolly files in ASSETS/dolly several times on one thread and prints MB/s.
 *
 *   build/bench_tokenizer [ASSETS_DIR] [REPEATS]     (defaults: assets 5) */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/tokenizer.h"

enum { MAX_TEXTS = 1 << 16 };

static const char *const DOLLY_FILES[] = {"dolly-mixed.jsonl", "dolly-open_qa.jsonl"};
static const char *const FIELDS[] = {"instruction", "context", "response"};

typedef struct {
    char *texts[MAX_TEXTS];
    int count;
    size_t bytes;
} text_set;

static int add_file(text_set *set, const char *assets, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dolly/%s", assets, name);
    char *data = NULL;
    size_t size = 0;
    if (kd_read_file(path, (size_t)1 << 30, &data, &size) != KD_OK)
        return 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *record = cJSON_Parse(line);
        for (int f = 0; record && f < 3; f++) {
            const cJSON *field = cJSON_GetObjectItem(record, FIELDS[f]);
            if (cJSON_IsString(field) && field->valuestring[0] && set->count < MAX_TEXTS) {
                set->texts[set->count++] = strdup(field->valuestring);
                set->bytes += strlen(field->valuestring);
            }
        }
        cJSON_Delete(record);
    }
    free(data);
    return 1;
}

int main(int argc, char **argv)
{
    const char *assets = argc > 1 ? argv[1] : "assets";
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/gpt2", assets);
    kd_tokenizer *tokenizer = NULL;
    double start = kd_now_seconds();
    if (kd_tokenizer_load(dir, &tokenizer) != KD_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", kd_last_error());
        return 1;
    }
    double load_seconds = kd_now_seconds() - start;
    static text_set set;
    for (int i = 0; i < 2; i++) {
        if (!add_file(&set, assets, DOLLY_FILES[i])) {
            fprintf(stderr, "bench_tokenizer: %s\n", kd_last_error());
            return 1;
        }
    }
    kd_token_buffer ids = {0};
    size_t tokens = 0;
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        tokens = 0;
        start = kd_now_seconds();
        for (int i = 0; i < set.count; i++) {
            kd_token_buffer_clear(&ids);
            if (kd_tokenizer_encode(tokenizer, set.texts[i], strlen(set.texts[i]), &ids) != KD_OK) {
                fprintf(stderr, "bench_tokenizer: %s\n", kd_last_error());
                return 1;
            }
            tokens += ids.count;
        }
        double seconds = kd_now_seconds() - start;
        best = seconds < best ? seconds : best;
    }
    printf("load_ms %.1f\ntexts %d\nbytes %zu\ntokens %zu\nbest_of %d\nencode_mb_per_s %.1f\n"
           "tokens_per_s %.0f\n", load_seconds * 1e3, set.count, set.bytes, tokens, repeats,
           (double)set.bytes / best / 1e6, (double)tokens / best);
    for (int i = 0; i < set.count; i++)
        free(set.texts[i]);
    kd_token_buffer_free(&ids);
    kd_tokenizer_free(tokenizer);
    return 0;
}
