/* GPT-2 model directories in Hugging Face's layout: config.json,
 * model.safetensors, and the tokenizer's vocab.json and merges.txt.
 *
 * Files on the Hub differ in small ways that all load here: gpt2's
 * model.safetensors names tensors without the "transformer." prefix and
 * carries the causal-mask buffers h.N.attn.bias ([1, 1, 1024, 1024], F32);
 * save_pretrained writes the prefix and no buffers; older conversions also
 * carry h.N.attn.masked_bias and sometimes lm_head.weight, a copy of wte. */
#include "kd/hf.h"
#include "kd/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char transformer_prefix[] = "transformer.";
enum { PREFIX_LENGTH = sizeof transformer_prefix - 1, NAME_CAPACITY = 96 };

static const char *without_prefix(const char *name)
{
    return strncmp(name, transformer_prefix, PREFIX_LENGTH) == 0 ? name + PREFIX_LENGTH : name;
}

/* h.<digits>.attn.bias or h.<digits>.attn.masked_bias: constant buffers
 * (the causal mask and its fill value), not parameters. */
static int is_attention_buffer(const char *name)
{
    if (strncmp(name, "h.", 2) != 0 || !(name[2] >= '0' && name[2] <= '9'))
        return 0;
    const char *rest = name + 2;
    while (*rest >= '0' && *rest <= '9')
        rest++;
    return strcmp(rest, ".attn.bias") == 0 || strcmp(rest, ".attn.masked_bias") == 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t length = strlen(dir) + strlen(name) + 2;
    char *path = malloc(length);
    if (path)
        snprintf(path, length, "%s/%s", dir, name);
    else
        kd_fail(KD_ERR_NOMEM, "%s: out of memory", dir);
    return path;
}

static void format_shape(char *text, size_t capacity, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(text, capacity, "[");
    for (int axis = 0; axis < ndim && used < capacity; axis++)
        used += (size_t)snprintf(text + used, capacity - used, "%s%lld", axis ? ", " : "",
                                 (long long)shape[axis]);
    if (used < capacity)
        snprintf(text + used, capacity - used, "]");
}

static kd_status check_shape(const char *path, const safetensors_tensor *found,
                             const gpt2_tensor *expected)
{
    int same = found->ndim == expected->ndim;
    for (int axis = 0; same && axis < expected->ndim; axis++)
        same = found->shape[axis] == expected->shape[axis];
    if (same)
        return KD_OK;
    char have[128], want[64];
    format_shape(have, sizeof have, found->ndim, found->shape);
    format_shape(want, sizeof want, expected->ndim, expected->shape);
    return kd_fail(KD_ERR_FORMAT, "%s: tensor %s has shape %s, expected %s", path, found->name,
                   have, want);
}

/* The file's tensor for parameter `name`, under either spelling. */
static kd_status find_parameter(const safetensors_file *file, const char *name,
                                const safetensors_tensor **found)
{
    char prefixed[NAME_CAPACITY];
    snprintf(prefixed, sizeof prefixed, "%s%s", transformer_prefix, name);
    const safetensors_tensor *plain = kd_safetensors_find(file, name);
    const safetensors_tensor *with_prefix = kd_safetensors_find(file, prefixed);
    if (plain && with_prefix)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s appears both as %s and %s", file->path, name,
                       name, prefixed);
    *found = plain ? plain : with_prefix;
    return KD_OK;
}

/* Matches every parameter to a file tensor; fails naming the first missing
 * parameter, or the first tensor that is neither a parameter, a buffer nor
 * lm_head.weight. */
static kd_status match_tensors(const safetensors_file *file, const gpt2_model *model,
                               const safetensors_tensor **matched)
{
    int expected = kd_gpt2_tensor_count(&model->config);
    char *used = kd_alloc((size_t)file->tensor_count + 1, 1, file->path);
    if (!used)
        return KD_ERR_NOMEM;
    int missing = 0, first_missing = -1;
    kd_status status = KD_OK;
    for (int i = 0; i < expected && status == KD_OK; i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model->config, &model->params, i, &tensor);
        status = find_parameter(file, tensor.name, &matched[i]);
        if (status == KD_OK && matched[i])
            used[matched[i] - file->tensors] = 1;
        else if (status == KD_OK && missing++ == 0)
            first_missing = i;
    }
    if (status == KD_OK && missing > 0) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model->config, &model->params, first_missing, &tensor);
        status = kd_fail(KD_ERR_FORMAT, "%s: missing tensor %s (%d of %d parameters missing)",
                         file->path, tensor.name, missing, expected);
    }
    for (int i = 0; i < file->tensor_count && status == KD_OK; i++) {
        const char *name = without_prefix(file->tensors[i].name);
        if (!used[i] && !is_attention_buffer(name) && strcmp(file->tensors[i].name,
                                                             "lm_head.weight") != 0)
            status = kd_fail(KD_ERR_FORMAT,
                             "%s: unexpected tensor %s (not a parameter of GPT-2 with "
                             "n_layer %d)",
                             file->path, file->tensors[i].name, model->config.n_layer);
    }
    free(used);
    return status;
}

static kd_status check_finite(const char *path, const gpt2_tensor *tensor, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(tensor->data[i]))
            return kd_fail(KD_ERR_NUMERIC, "%s: tensor %s: element %zu is %g", path,
                           tensor->name, i, (double)tensor->data[i]);
    return KD_OK;
}

/* kd ties lm_head to wte, so a distinct lm_head cannot be represented. */
static kd_status check_lm_head(const safetensors_file *file, const gpt2_model *model)
{
    const safetensors_tensor *lm_head = kd_safetensors_find(file, "lm_head.weight");
    if (!lm_head)
        return KD_OK;
    gpt2_tensor wte;
    kd_gpt2_tensor_at(&model->config, &model->params, 0, &wte);
    snprintf(wte.name, sizeof wte.name, "lm_head.weight");
    kd_status status = check_shape(file->path, lm_head, &wte);
    uint64_t total = kd_safetensors_tensor_elements(lm_head);
    float chunk[4096];
    for (uint64_t first = 0; first < total && status == KD_OK; first += 4096) {
        uint64_t count = total - first < 4096 ? total - first : 4096;
        status = kd_safetensors_read_f32(file, lm_head, first, count, chunk);
        if (status == KD_OK && memcmp(chunk, wte.data + first, count * sizeof *chunk) != 0)
            status = kd_fail(KD_ERR_UNSUPPORTED,
                             "%s: lm_head.weight differs from wte.weight; kd ties them and "
                             "cannot load an untied head",
                             file->path);
    }
    return status;
}

static kd_status read_parameters(const safetensors_file *file, gpt2_model *model)
{
    int count = kd_gpt2_tensor_count(&model->config);
    const safetensors_tensor **matched = kd_alloc((size_t)count, sizeof *matched, file->path);
    if (!matched)
        return KD_ERR_NOMEM;
    kd_status status = match_tensors(file, model, matched);
    for (int i = 0; i < count && status == KD_OK; i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model->config, &model->params, i, &tensor);
        status = check_shape(file->path, matched[i], &tensor);
        uint64_t elements = kd_safetensors_tensor_elements(matched[i]);
        /* QLoRA's NF4 matrices come from the base the run quantized, never
         * from a file's dequantized copy: quantizing that again would not
         * give the same blocks, and a resumed run must be bit-exact. */
        if (!tensor.data)
            continue;
        if (status == KD_OK)
            status = kd_safetensors_read_f32(file, matched[i], 0, elements, tensor.data);
        if (status == KD_OK)
            status = check_finite(file->path, &tensor, (size_t)elements);
    }
    free(matched);
    return status == KD_OK ? check_lm_head(file, model) : status;
}

kd_status kd_model_weights_read(const char *path, gpt2_model *model)
{
    safetensors_file file;
    kd_status status = kd_safetensors_open(&file, path);
    if (status != KD_OK)
        return status;
    status = read_parameters(&file, model);
    kd_safetensors_close(&file);
    kd_gpt2_weights_changed(model);
    return status;
}

/* A QLoRA model's base is written dequantized, from a plain copy. */
static kd_status write_base_copy(const char *path, const gpt2_model *model,
                                 safetensors_dtype dtype)
{
    gpt2_model copy;
    kd_status status = kd_gpt2_base_copy(model, &copy);
    if (status == KD_OK)
        status = kd_model_weights_write(path, &copy, dtype);
    kd_gpt2_free(&copy);
    return status;
}

kd_status kd_model_weights_write(const char *path, const gpt2_model *model, safetensors_dtype dtype)
{
    if (model->nf4)
        return write_base_copy(path, model, dtype);
    int count = kd_gpt2_tensor_count(&model->config);
    safetensors_source *sources = kd_alloc((size_t)count, sizeof *sources, path);
    char (*names)[NAME_CAPACITY] = kd_alloc((size_t)count, sizeof *names, path);
    if (!sources || !names) {
        free(sources);
        free(names);
        return KD_ERR_NOMEM;
    }
    for (int i = 0; i < count; i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model->config, &model->params, i, &tensor);
        snprintf(names[i], sizeof names[i], "%s%s", transformer_prefix, tensor.name);
        sources[i].name = names[i];
        sources[i].data = tensor.data;
        sources[i].ndim = tensor.ndim;
        for (int axis = 0; axis < tensor.ndim; axis++)
            sources[i].shape[axis] = tensor.shape[axis];
    }
    kd_status status = kd_safetensors_write(path, sources, count, dtype);
    free(sources);
    free(names);
    return status;
}

kd_status kd_model_dir_load(const char *dir, gpt2_model *model)
{
    memset(model, 0, sizeof *model);
    char *config_path = join_path(dir, KD_MODEL_CONFIG_FILE);
    char *weights_path = join_path(dir, KD_MODEL_WEIGHTS_FILE);
    kd_status status = config_path && weights_path ? KD_OK : KD_ERR_NOMEM;
    gpt2_config config;
    if (status == KD_OK)
        status = kd_gpt2_config_read(config_path, &config);
    if (status == KD_OK) {
        status = kd_gpt2_create(model, &config);
        if (status != KD_OK)
            kd_fail_context(status, "%s", config_path);
    }
    if (status == KD_OK)
        status = kd_model_weights_read(weights_path, model);
    if (status != KD_OK)
        kd_gpt2_free(model);
    free(config_path);
    free(weights_path);
    return status;
}

static kd_status copy_tokenizer_file(const char *from_dir, const char *to_dir, const char *name)
{
    char *source = join_path(from_dir, name);
    char *destination = join_path(to_dir, name);
    kd_status status = source && destination ? kd_atomic_copy_file(source, destination)
                                              : KD_ERR_NOMEM;
    free(source);
    free(destination);
    return status;
}

kd_status kd_model_dir_save(const char *dir, const gpt2_model *model, const char *tokenizer_dir)
{
    char *weights_path = join_path(dir, KD_MODEL_WEIGHTS_FILE);
    char *config_path = join_path(dir, KD_MODEL_CONFIG_FILE);
    kd_status status = weights_path && config_path ? kd_make_directories(dir) : KD_ERR_NOMEM;
    if (status == KD_OK)
        status = kd_model_weights_write(weights_path, model, SAFETENSORS_F32);
    if (status == KD_OK)
        status = kd_gpt2_config_write(config_path, &model->config);
    if (status == KD_OK && tokenizer_dir)
        status = copy_tokenizer_file(tokenizer_dir, dir, KD_TOKENIZER_VOCAB_FILE);
    if (status == KD_OK && tokenizer_dir)
        status = copy_tokenizer_file(tokenizer_dir, dir, KD_TOKENIZER_MERGES_FILE);
    free(weights_path);
    free(config_path);
    return status;
}
