/* Temporary files, input splitting, the tokenizer round trip and the tiny
 * tokenizer of the fuzz targets (fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char temp_dir[256];

void fuzz_fail(const char *file, int line, const char *condition)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s (last error: %s)\n", file, line, condition,
            kd_last_error());
    abort();
}

void fuzz_check_refusal(kd_status status)
{
    FUZZ_CHECK(status != KD_OK);
    FUZZ_CHECK(kd_last_error()[0] != '\0');
}

/* Removes the files a target left (the directory is flat) and then it. */
static void remove_temp_dir(void)
{
    DIR *dir = opendir(temp_dir);
    if (!dir)
        return;
    struct dirent *entry;
    char path[512];
    while ((entry = readdir(dir)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
            snprintf(path, sizeof path, "%s/%s", temp_dir, entry->d_name) < (int)sizeof path)
            unlink(path);
    closedir(dir);
    rmdir(temp_dir);
}

const char *fuzz_temp_dir(void)
{
    if (!temp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(temp_dir, sizeof temp_dir, "%s/kd-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(temp_dir)) {
            perror(temp_dir);
            abort();
        }
        atexit(remove_temp_dir);
    }
    return temp_dir;
}

const char *fuzz_temp_path(const char *name)
{
    static char path[512];
    FUZZ_CHECK(kd_path_join(path, sizeof path, fuzz_temp_dir(), name) == KD_OK);
    return path;
}

const char *fuzz_write_temp(const char *name, const void *data, size_t size)
{
    const char *path = fuzz_temp_path(name);
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(data, 1, size, file) != size || fclose(file) != 0) {
        perror(path);
        abort();
    }
    return path;
}

size_t fuzz_split(const uint8_t *data, size_t size, uint8_t separator, const uint8_t **parts,
                  size_t *sizes, size_t capacity)
{
    size_t count = 0;
    while (count + 1 < capacity) {
        const uint8_t *cut = size ? memchr(data, separator, size) : NULL;
        if (!cut)
            break;
        parts[count] = data;
        sizes[count++] = (size_t)(cut - data);
        size -= (size_t)(cut - data) + 1;
        data = cut + 1;
    }
    parts[count] = data;
    sizes[count++] = size;
    return count;
}

void fuzz_check_round_trip(const kd_tokenizer *tokenizer, const char *text, size_t length)
{
    kd_token_buffer ids = {0};
    kd_status status = kd_tokenizer_encode(tokenizer, text, length, &ids);
    if (status == KD_OK) {
        char *decoded = NULL;
        size_t decoded_length = 0;
        FUZZ_CHECK(kd_tokenizer_decode(tokenizer, ids.ids, ids.count, &decoded, &decoded_length) ==
                   KD_OK);
        FUZZ_CHECK(decoded_length == length && memcmp(decoded, text, length) == 0);
        free(decoded);
    } else {
        fuzz_check_refusal(status);
    }
    kd_token_buffer_free(&ids);
}

const kd_tokenizer *fuzz_tiny_tokenizer(void)
{
    static kd_tokenizer *tokenizer;
    if (!tokenizer)
        FUZZ_CHECK(kd_tokenizer_load(KD_FUZZ_DIR "/tiny_tokenizer", &tokenizer) == KD_OK);
    return tokenizer;
}

void fuzz_cache_shape_from(const uint8_t *bytes, fuzz_cache_shape *shape)
{
    kd_cache_encoding_default(&shape->encoding);
    shape->encoding.topk = bytes[0] % 33;
    shape->encoding.samples = bytes[1];
    shape->vocab_size = bytes[2] < 128 ? 64 + bytes[2] : 65536 + bytes[2];
    shape->seq_len = 1 + bytes[3];
}
