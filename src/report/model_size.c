/* Size figures from the model's shape: parameters with and without the
 * embeddings, and the bytes its weights take at F32 and F16 (the tied
 * lm_head is not stored), beside the file as it is on disk: the model
 * directory's model.safetensors, or the GGUF file. */
#include <stdio.h>
#include <sys/stat.h>

#include "report_internal.h"

void kd_model_size_compute(const gpt2_config *config, const char *model_dir, model_size *size)
{
    double params = (double)kd_gpt2_num_params(config);
    double embeddings = (double)config->vocab_size * config->n_embd +
                        (double)config->n_positions * config->n_embd;
    size->params = params;
    size->non_embedding_params = params - embeddings;
    size->bytes_fp32 = 4.0 * params;
    size->bytes_fp16 = 2.0 * params;
    char path[KD_PATH_CAPACITY];
    struct stat info;
    if (kd_model_path_is_gguf(model_dir))
        snprintf(path, sizeof path, "%s", model_dir);
    else if (kd_path_join(path, sizeof path, model_dir, KD_MODEL_WEIGHTS_FILE) != KD_OK)
        path[0] = '\0';
    size->file_bytes = path[0] && stat(path, &info) == 0 ? (double)info.st_size : 0.0;
}
