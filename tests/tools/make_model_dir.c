/* Test fixture maker: a model directory holding a randomly initialised GPT-2,
 * for the CLI tests and benchmarks that need one without trained weights.
 *
 *     make_model_dir CONFIG OUT_DIR TOKENIZER_DIR SEED
 *
 * CONFIG is a kd configuration (its "model" object is used) or a Hugging
 * Face config.json; TOKENIZER_DIR holds the vocab.json and merges.txt that
 * are copied next to the weights. */
#include <stdio.h>
#include <stdlib.h>

#include "kd/hf.h"
#include "kd/nn.h"

static kd_status make_model_dir(const char *config_path, const char *out_dir,
                                const char *tokenizer_dir, uint64_t seed)
{
    cJSON *root = NULL;
    kd_status status = kd_json_read_file(config_path, &root);
    if (status != KD_OK)
        return status;
    const cJSON *model_object = cJSON_GetObjectItemCaseSensitive(root, "model");
    gpt2_config config;
    status = kd_gpt2_config_from_json(model_object ? model_object : root, &config);
    cJSON_Delete(root);
    if (status != KD_OK)
        return kd_fail_context(status, "%s", config_path);
    gpt2_model model;
    if ((status = kd_gpt2_create(&model, &config)) != KD_OK)
        return status;
    kd_gpt2_init_random(&model, seed);
    status = kd_model_dir_save(out_dir, &model, tokenizer_dir);
    kd_gpt2_free(&model);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: make_model_dir CONFIG OUT_DIR TOKENIZER_DIR SEED\n");
        return 2;
    }
    char *end = NULL;
    unsigned long long seed = strtoull(argv[4], &end, 10);
    if (*end) {
        fprintf(stderr, "make_model_dir: seed '%s' is not a number\n", argv[4]);
        return 2;
    }
    if (make_model_dir(argv[1], argv[2], argv[3], seed) != KD_OK) {
        fprintf(stderr, "make_model_dir: %s\n", kd_last_error());
        return 1;
    }
    return 0;
}
