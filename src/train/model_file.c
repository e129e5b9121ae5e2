/* Models as Hugging Face directories or GGUF files, for every command that
 * reads one, and the export of a directory to GGUF. A GGUF file is replaced
 * only atomically, so it is read without a lock. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kd/hf.h"
#include "kd/peft.h"
#include "kd/train.h"

int kd_model_path_is_gguf(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

kd_status kd_model_config_read(const char *path, gpt2_config *config)
{
    if (!kd_model_path_is_gguf(path)) {
        char config_path[KD_PATH_CAPACITY];
        kd_status status = kd_path_join(config_path, sizeof config_path, path,
                                        KD_MODEL_CONFIG_FILE);
        return status == KD_OK ? kd_gpt2_config_read(config_path, config) : status;
    }
    gguf_file file;
    kd_status status = kd_gguf_open(&file, path);
    if (status == KD_OK) {
        status = kd_gguf_gpt2_config(&file, config);
        kd_gguf_close(&file);
    }
    return status;
}

static kd_status load_gguf_tokenizer(const gguf_file *file, kd_tokenizer **tokenizer)
{
    gguf_vocab vocab;
    kd_status status = kd_gguf_gpt2_vocab(file, &vocab);
    if (status != KD_OK)
        return status;
    tokenizer_spelling spelling = {
        .source = file->path, .tokens = vocab.tokens, .token_count = vocab.token_count,
        .merges = vocab.merges, .merge_count = vocab.merge_count,
    };
    status = kd_tokenizer_from_spelling(&spelling, tokenizer);
    kd_gguf_vocab_free(&vocab);
    return status;
}

/* q8_0 and q4_0 matrices stay in the mapped file; f32 and f16 ones are read
 * into the fp32 model and the file is closed. */
static kd_status load_gguf(const char *path, model_weights *weights, kd_tokenizer **tokenizer)
{
    gguf_file *file = &weights->file;
    kd_status status = kd_gguf_open(file, path);
    if (status != KD_OK)
        return status;
    ggml_type type = kd_gguf_gpt2_matrix_type(file);
    int quantized = type == GGML_Q8_0 || type == GGML_Q4_0;
    status = quantized ? kd_gguf_gpt2_qload(file, &weights->q) : kd_gguf_gpt2_load(file, &weights->model);
    if (status == KD_OK && tokenizer)
        status = load_gguf_tokenizer(file, tokenizer);
    if (!quantized)
        kd_gguf_close(file);
    return status;
}

kd_status kd_model_tokenizer_load(const char *path, kd_tokenizer **tokenizer)
{
    if (!kd_model_path_is_gguf(path))
        return kd_tokenizer_load(path, tokenizer);
    gguf_file file;
    gpt2_config checked; /* the tokenizer keys are read only from a checked file */
    kd_status status = kd_gguf_open(&file, path);
    if (status != KD_OK)
        return status;
    status = kd_gguf_gpt2_config(&file, &checked);
    if (status == KD_OK)
        status = load_gguf_tokenizer(&file, tokenizer);
    kd_gguf_close(&file);
    return status;
}

static kd_status load_dir(const char *dir, gpt2_model *model, kd_tokenizer **tokenizer)
{
    kd_dir_lock lock;
    kd_status status = kd_dir_lock_acquire(dir, KD_LOCK_SHARED, &lock);
    if (status == KD_OK)
        status = kd_model_dir_load(dir, model);
    if (status == KD_OK && tokenizer)
        status = kd_tokenizer_load(dir, tokenizer);
    kd_dir_lock_release(&lock);
    return status;
}

kd_status kd_model_load(const char *path, model_weights *weights, kd_tokenizer **tokenizer)
{
    memset(weights, 0, sizeof *weights);
    if (tokenizer)
        *tokenizer = NULL;
    kd_status status = kd_model_path_is_gguf(path) ? load_gguf(path, weights, tokenizer)
                                                   : load_dir(path, &weights->model, tokenizer);
    if (status != KD_OK) {
        kd_model_unload(weights);
        if (tokenizer) {
            kd_tokenizer_free(*tokenizer);
            *tokenizer = NULL;
        }
    }
    return status;
}

void kd_model_unload(model_weights *weights)
{
    kd_gpt2_free(&weights->model);
    kd_gpt2_qmodel_free(&weights->q);
    if (weights->file.map)
        kd_gguf_close(&weights->file);
}

static kd_status refuse_existing(const char *out, int force)
{
    struct stat info;
    if (!force && lstat(out, &info) == 0)
        return kd_fail(KD_ERR_INVALID, "%s exists; --force replaces it", out);
    return KD_OK;
}

kd_status kd_export_gguf(const char *model_dir, const char *out, ggml_type type, int force,
                         int *f16_fallbacks)
{
    kd_status status = refuse_existing(out, force);
    if (status != KD_OK)
        return status;
    gpt2_model model = {0};
    kd_tokenizer *tokenizer = NULL;
    status = load_dir(model_dir, &model, &tokenizer);
    tokenizer_spelling spelling = {0};
    if (status == KD_OK)
        status = kd_tokenizer_spell(tokenizer, &spelling);
    if (status == KD_OK) {
        gguf_vocab vocab = {
            .tokens = spelling.tokens, .token_count = spelling.token_count,
            .merges = spelling.merges, .merge_count = spelling.merge_count,
            .end_of_text = kd_tokenizer_token_id(tokenizer, "<|endoftext|>"),
        };
        status = kd_gguf_export_gpt2(out, &model, &vocab, type, f16_fallbacks);
    }
    kd_tokenizer_spelling_free(&spelling);
    kd_tokenizer_free(tokenizer);
    kd_gpt2_free(&model);
    return status;
}

/* The base an adapter is checked against: `base`, else the adapter's
 * base_model_name_or_path. */
static kd_status adapter_base(const char *adapter_dir, const char *base, char *out, size_t size)
{
    if (base) {
        snprintf(out, size, "%s", base);
        return KD_OK;
    }
    char path[KD_PATH_CAPACITY];
    gpt2_lora_config config;
    kd_status status = kd_path_join(path, sizeof path, adapter_dir, KD_PEFT_CONFIG_FILE);
    if (status == KD_OK)
        status = kd_peft_config_read(path, &config, out, size);
    if (status == KD_OK && out[0] == '\0')
        status = kd_fail(KD_ERR_INVALID, "%s names no base_model_name_or_path; give the base "
                         "with --model", path);
    return status;
}

kd_status kd_export_lora_gguf(const char *adapter_dir, const char *base, const char *out,
                              int force)
{
    char base_path[KD_PATH_CAPACITY];
    gpt2_config config;
    kd_status status = refuse_existing(out, force);
    if (status == KD_OK)
        status = adapter_base(adapter_dir, base, base_path, sizeof base_path);
    if (status == KD_OK)
        status = kd_model_config_read(base_path, &config);
    /* Only the base's shape is needed: its weights stay unread (zero pages
     * the adapter's checks never touch). */
    gpt2_model model = {0};
    if (status == KD_OK)
        status = kd_gpt2_create(&model, &config);
    if (status == KD_OK)
        status = kd_peft_adapter_load(adapter_dir, &model);
    if (status == KD_OK)
        status = kd_gguf_export_lora(out, &model);
    kd_gpt2_free(&model);
    return status;
}

kd_status kd_model_attach_adapter(model_weights *weights, const char *adapter_dir,
                                  const char *path)
{
    if (!adapter_dir)
        return KD_OK;
    if (weights->q.layers)
        return kd_fail(KD_ERR_INVALID, "%s holds quantized matrices; --adapter needs an f32 or "
                       "f16 model", path);
    return kd_peft_adapter_load(adapter_dir, &weights->model);
}

kd_status kd_model_quantize(model_weights *weights, kd_qtype type, const char *path)
{
    if (weights->q.layers) {
        kd_qtype stored = weights->q.wte.type;
        if (type != KD_QTYPE_F32 && type != stored)
            return kd_fail(KD_ERR_INVALID, "%s holds %s matrices; --quantize %s does not apply",
                           path, kd_qtype_name(stored), kd_qtype_name(type));
        return kd_qkernel_use_env();
    }
    if (type == KD_QTYPE_F32)
        return KD_OK;
    kd_status status = kd_qkernel_use_env();
    if (status == KD_OK)
        status = kd_gpt2_qmodel_quantize(&weights->q, &weights->model, type);
    /* Only the quantized weights stay in memory while it runs. */
    if (status == KD_OK)
        kd_gpt2_free(&weights->model);
    return status;
}
