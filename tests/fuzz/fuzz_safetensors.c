/* Fuzz target: the safetensors reader (header length, header JSON, tensor
 * table and layout), then reading every tensor it accepted and loading the
 * file as the weights of a tiny GPT-2 (the name mapping of model dirs).
 * Input: the whole .safetensors file. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "kd/hf.h"

/* A tensor this target reads in full; bigger ones are read at both ends. */
enum { READ_MAX_ELEMENTS = 1 << 14 };

static void read_tensor(const safetensors_file *file, const safetensors_tensor *tensor)
{
    static float values[READ_MAX_ELEMENTS];
    uint64_t elements = kd_safetensors_tensor_elements(tensor);
    uint64_t count = elements < READ_MAX_ELEMENTS ? elements : READ_MAX_ELEMENTS;
    kd_status status = kd_safetensors_read_f32(file, tensor, elements - count, count, values);
    int readable = tensor->dtype == SAFETENSORS_F32 || tensor->dtype == SAFETENSORS_F16 ||
                   tensor->dtype == SAFETENSORS_BF16;
    /* The layout was validated, so a readable dtype always reads. */
    FUZZ_CHECK((status == KD_OK) == readable);
    fuzz_check_refusal(kd_safetensors_read_f32(file, tensor, elements, 1, values));
}

/* The smallest model there is: the file rarely fits it, but every name and
 * shape check of kd_model_weights_read runs on the fuzzed tensor table. */
static gpt2_model *tiny_model(void)
{
    static gpt2_model model;
    static int created;
    if (!created) {
        gpt2_config config = {.n_layer = 1, .n_head = 1, .n_embd = 4, .n_positions = 4,
                              .vocab_size = 8, .layer_norm_epsilon = 1e-5f};
        FUZZ_CHECK(kd_gpt2_create(&model, &config) == KD_OK);
        created = 1;
    }
    return &model;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("model.safetensors", data, size);
    safetensors_file file;
    kd_status status = kd_safetensors_open(&file, path);
    if (status != KD_OK) {
        fuzz_check_refusal(status);
        return 0;
    }
    for (int i = 0; i < file.tensor_count; i++) {
        const safetensors_tensor *tensor = &file.tensors[i];
        FUZZ_CHECK(kd_safetensors_find(&file, tensor->name) == tensor);
        read_tensor(&file, tensor);
    }
    (void)kd_safetensors_metadata(&file, "format");
    kd_safetensors_close(&file);
    status = kd_model_weights_read(path, tiny_model());
    if (status != KD_OK)
        fuzz_check_refusal(status);
    return 0;
}
