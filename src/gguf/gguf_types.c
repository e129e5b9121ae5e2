/* The ggml tensor types kd knows: names and sizes. */
#include "kd/gguf.h"

#include <string.h>

typedef struct {
    ggml_type type;
    const char *name;
    uint64_t block_values;  /* values per block (1 for plain numbers) */
    uint64_t block_bytes;
} ggml_type_info;

static const ggml_type_info TYPES[] = {
    {GGML_F32, "f32", 1, 4},
    {GGML_F16, "f16", 1, 2},
    {GGML_Q4_0, "q4_0", GGML_BLOCK_VALUES, 2 + GGML_BLOCK_VALUES / 2},
    {GGML_Q8_0, "q8_0", GGML_BLOCK_VALUES, 2 + GGML_BLOCK_VALUES},
};

static const ggml_type_info *type_info(int type)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        if ((int)TYPES[i].type == type)
            return &TYPES[i];
    }
    return NULL;
}

const char *kd_ggml_type_name(int type)
{
    const ggml_type_info *info = type_info(type);
    return info ? info->name : NULL;
}

kd_status kd_ggml_type_parse(const char *name, ggml_type *type)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        if (strcmp(TYPES[i].name, name) == 0) {
            *type = TYPES[i].type;
            return KD_OK;
        }
    }
    return kd_fail(KD_ERR_INVALID, "unknown type \"%s\" (expected f32, f16, q8_0 or q4_0)", name);
}

uint64_t kd_ggml_row_bytes(ggml_type type, uint64_t row_length)
{
    const ggml_type_info *info = type_info((int)type);
    if (!info || row_length % info->block_values != 0)
        return 0;
    return row_length / info->block_values * info->block_bytes;
}
