/* Fuzz target: the GGUF reader (header, keys, values, tensor records,
 * ranges), every typed lookup on what it accepted, and the GPT-2 checks and
 * loading behind --model FILE.gguf: hyper-parameters, tokenizer keys, tensor
 * names and shapes, the fp32 or quantized model and the tokenizer.
 * Input: the whole .gguf file. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "kd/gguf.h"
#include "kd/train.h"

static void look_up_everything(const gguf_file *file)
{
    for (uint64_t i = 0; i < file->kv_count; i++) {
        const gguf_kv *kv = &file->kvs[i];
        char key[128];
        size_t length = kv->key.length < sizeof key - 1 ? (size_t)kv->key.length : sizeof key - 1;
        memcpy(key, kv->key.data, length);
        key[length] = '\0';
        uint32_t integer;
        float number;
        gguf_string string;
        char **strings = NULL;
        uint64_t count = 0;
        (void)kd_gguf_get_u32(file, key, &integer);
        (void)kd_gguf_get_f32(file, key, &number);
        (void)kd_gguf_get_string(file, key, &string);
        if (kd_gguf_get_strings(file, key, &strings, &count) == KD_OK)
            free(strings);
    }
    for (uint64_t i = 0; i < file->tensor_count; i++) {
        const gguf_tensor *tensor = &file->tensors[i];
        /* Every accepted tensor lies inside the file. */
        FUZZ_CHECK(tensor->data >= file->map && tensor->bytes <= file->size &&
                   (uint64_t)(tensor->data - file->map) <= file->size - tensor->bytes);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("model.gguf", data, size);
    gguf_file file;
    kd_status status = kd_gguf_open(&file, path);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    look_up_everything(&file);
    kd_gguf_close(&file);
    model_weights weights;
    kd_tokenizer *tokenizer = NULL;
    status = kd_model_load(path, &weights, &tokenizer);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    kd_tokenizer_free(tokenizer);
    kd_model_unload(&weights);
    return 0;
}
