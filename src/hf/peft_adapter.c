/* LoRA adapter directories in PEFT's layout: the adapters (and, with bias
 * "all", every bias) under PEFT's names, written from and read into a
 * model; and the merged model directory a LoRA run leaves for everything
 * downstream. */
#include "kd/hf.h"
#include "kd/peft.h"

#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/limits.h"

static const char peft_prefix[] = "base_model.model.transformer.";
enum { NAME_CAPACITY = 128 };

static int is_bias(const char *name)
{
    size_t length = strlen(name);
    return length > 5 && strcmp(name + length - 5, ".bias") == 0;
}

/* The adapter file's tensors: every adapter matrix, then with bias "all"
 * every bias of the model. Returns how many; fills `out` unless NULL. */
static int adapter_tensors(const gpt2_model *model, gpt2_tensor *out)
{
    const gpt2_lora *lora = model->lora;
    int count = 0;
    for (int i = 0; i < kd_gpt2_lora_tensor_count(lora, &model->config); i++, count++)
        if (out)
            kd_gpt2_lora_tensor_at(lora, &model->config, i, &out[count]);
    for (int i = 0; lora->config.train_biases && i < kd_gpt2_tensor_count(&model->config); i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model->config, &model->params, i, &tensor);
        if (!is_bias(tensor.name))
            continue;
        if (out)
            out[count] = tensor;
        count++;
    }
    return count;
}

static char *adapter_path(const char *dir, const char *name)
{
    char *path = malloc(KD_PATH_CAPACITY);
    if (!path || kd_path_join(path, KD_PATH_CAPACITY, dir, name) != KD_OK) {
        free(path);
        return NULL;
    }
    return path;
}

static kd_status write_config(const char *dir, const gpt2_lora_config *config, const char *base)
{
    char *path = adapter_path(dir, KD_PEFT_CONFIG_FILE);
    cJSON *json = kd_peft_config_to_json(config, base);
    char *text = json ? cJSON_Print(json) : NULL;
    kd_status status = path && text ? kd_atomic_write_file(path, text, strlen(text))
                                    : kd_fail(KD_ERR_NOMEM, "%s: cannot format the config", dir);
    free(text);
    cJSON_Delete(json);
    free(path);
    return status;
}

kd_status kd_peft_adapter_save(const char *dir, const gpt2_model *model, const char *base)
{
    if (!model->lora)
        return kd_fail(KD_ERR_INVALID, "%s: the model has no adapters to save", dir);
    int count = adapter_tensors(model, NULL);
    gpt2_tensor *tensors = kd_alloc((size_t)count, sizeof *tensors, dir);
    safetensors_source *sources = kd_alloc((size_t)count, sizeof *sources, dir);
    char (*names)[NAME_CAPACITY] = kd_alloc((size_t)count, sizeof *names, dir);
    char *path = adapter_path(dir, KD_PEFT_WEIGHTS_FILE);
    kd_status status = tensors && sources && names && path ? kd_make_directories(dir)
                                                           : KD_ERR_NOMEM;
    if (status == KD_OK) {
        adapter_tensors(model, tensors);
        for (int i = 0; i < count; i++) {
            snprintf(names[i], sizeof names[i], "%s%s", peft_prefix, tensors[i].name);
            sources[i] = (safetensors_source){.name = names[i], .data = tensors[i].data,
                                              .ndim = tensors[i].ndim};
            for (int axis = 0; axis < tensors[i].ndim; axis++)
                sources[i].shape[axis] = tensors[i].shape[axis];
        }
        status = kd_safetensors_write(path, sources, count, SAFETENSORS_F32);
    }
    if (status == KD_OK)
        status = write_config(dir, &model->lora->config, base);
    free(path);
    free(names);
    free(sources);
    free(tensors);
    return status;
}

static kd_status read_tensor(const safetensors_file *file, const gpt2_tensor *want)
{
    char name[NAME_CAPACITY];
    snprintf(name, sizeof name, "%s%s", peft_prefix, want->name);
    const safetensors_tensor *found = kd_safetensors_find(file, name);
    if (!found)
        return kd_fail(KD_ERR_FORMAT, "%s: missing tensor %s (the adapter does not fit this "
                       "base model)", file->path, name);
    int same = found->ndim == want->ndim;
    for (int axis = 0; same && axis < want->ndim; axis++)
        same = found->shape[axis] == want->shape[axis];
    if (!same)
        return kd_fail(KD_ERR_FORMAT, "%s: tensor %s has shape [%lld, %lld]; the base model "
                       "needs [%lld, %lld]", file->path, name, (long long)found->shape[0],
                       (long long)(found->ndim > 1 ? found->shape[1] : 0),
                       (long long)want->shape[0], (long long)(want->ndim > 1 ? want->shape[1] : 0));
    uint64_t count = kd_safetensors_tensor_elements(found);
    kd_status status = kd_safetensors_read_f32(file, found, 0, count, want->data);
    for (uint64_t i = 0; i < count && status == KD_OK; i++)
        if (!isfinite(want->data[i]))
            status = kd_fail(KD_ERR_NUMERIC, "%s: tensor %s: element %llu is %g", file->path,
                             name, (unsigned long long)i, (double)want->data[i]);
    return status;
}

static kd_status read_tensors(const char *path, gpt2_model *model)
{
    safetensors_file file;
    kd_status status = kd_safetensors_open(&file, path);
    if (status != KD_OK)
        return status;
    int count = adapter_tensors(model, NULL);
    gpt2_tensor *tensors = kd_alloc((size_t)count, sizeof *tensors, path);
    status = tensors ? KD_OK : KD_ERR_NOMEM;
    if (status == KD_OK)
        adapter_tensors(model, tensors);
    for (int i = 0; i < count && status == KD_OK; i++)
        status = read_tensor(&file, &tensors[i]);
    /* Every expected tensor was found, so any other one does not belong. */
    if (status == KD_OK && file.tensor_count != count)
        for (int i = 0; i < file.tensor_count && status == KD_OK; i++) {
            int known = 0;
            for (int j = 0; j < count && !known; j++) {
                char name[NAME_CAPACITY];
                snprintf(name, sizeof name, "%s%s", peft_prefix, tensors[j].name);
                known = strcmp(name, file.tensors[i].name) == 0;
            }
            if (!known)
                status = kd_fail(KD_ERR_FORMAT, "%s: unexpected tensor %s (not part of a rank-%d "
                                 "adapter of a %d-layer GPT-2)", path, file.tensors[i].name,
                                 model->lora->config.rank, model->config.n_layer);
        }
    free(tensors);
    kd_safetensors_close(&file);
    return status;
}

kd_status kd_peft_adapter_load(const char *dir, gpt2_model *model)
{
    gpt2_lora_config config;
    char *path = adapter_path(dir, KD_PEFT_CONFIG_FILE);
    kd_status status = path ? kd_peft_config_read(path, &config, NULL, 0) : KD_ERR_NOMEM;
    free(path);
    if (status == KD_OK && (status = kd_gpt2_lora_attach(model, &config, 0)) != KD_OK)
        kd_fail_context(status, "%s: the adapter does not fit the base model", dir);
    return status == KD_OK ? kd_peft_adapter_read_into(dir, model) : status;
}

kd_status kd_peft_adapter_read_into(const char *dir, gpt2_model *model)
{
    if (!model->lora)
        return kd_fail(KD_ERR_INVALID, "%s: the model has no adapters to read into", dir);
    gpt2_lora_config config;
    const gpt2_lora_config *own = &model->lora->config;
    char *path = adapter_path(dir, KD_PEFT_CONFIG_FILE);
    kd_status status = path ? kd_peft_config_read(path, &config, NULL, 0) : KD_ERR_NOMEM;
    if (status == KD_OK &&
        (config.rank != own->rank || config.alpha != own->alpha ||
         config.targets != own->targets || config.rslora != own->rslora ||
         config.train_biases != own->train_biases))
        status = kd_fail(KD_ERR_INVALID, "%s: r, lora_alpha, target_modules, use_rslora or bias "
                         "differ from this run's adapters", path);
    free(path);
    path = status == KD_OK ? adapter_path(dir, KD_PEFT_WEIGHTS_FILE) : NULL;
    if (status == KD_OK)
        status = path ? read_tensors(path, model) : KD_ERR_NOMEM;
    free(path);
    return status;
}

kd_status kd_model_dir_save_merged(const char *dir, const gpt2_model *model,
                                   const char *tokenizer_dir)
{
    if (!model->lora)
        return kd_model_dir_save(dir, model, tokenizer_dir);
    gpt2_model merged;
    kd_status status = kd_gpt2_base_copy(model, &merged);
    if (status == KD_OK) {
        kd_gpt2_lora_merge_into(model->lora, &model->config, &merged.params);
        status = kd_model_dir_save(dir, &merged, tokenizer_dir);
    }
    kd_gpt2_free(&merged);
    return status;
}

kd_status kd_peft_merge(const char *base_dir, const char *adapter_dir, const char *out_dir)
{
    gpt2_model model;
    kd_status status = kd_model_dir_load(base_dir, &model);
    if (status != KD_OK)
        return status;
    char vocab[KD_PATH_CAPACITY];
    int has_tokenizer = kd_path_join(vocab, sizeof vocab, base_dir, KD_TOKENIZER_VOCAB_FILE) ==
                            KD_OK &&
                        access(vocab, R_OK) == 0;
    status = kd_peft_adapter_load(adapter_dir, &model);
    if (status == KD_OK)
        status = kd_model_dir_save_merged(out_dir, &model, has_tokenizer ? base_dir : NULL);
    kd_gpt2_free(&model);
    return status;
}
