/* kd hf: GPT-2 as Hugging Face stores it. It sits above both the neural
 * engine (kd/nn.h), whose gpt2_config and gpt2_model it fills, and the file
 * layer (kd/io.h), whose JSON, atomic files and safetensors it uses; so the
 * tokenizer, the data and the logit cache, which need files but no model,
 * stay below the neural engine.
 *
 *   config.json      GPT-2's HF configuration keys <-> gpt2_config
 *   model dirs       config.json + model.safetensors (+ tokenizer files) in
 *                    the layout GPT2LMHeadModel.from_pretrained reads
 *
 * Like kd/io.h, every reader checks what it finds before using it and fails
 * with a one-line message naming the file and the tensor or key. */
#ifndef KD_HF_H
#define KD_HF_H

#include "kd/core.h"
#include "kd/io.h"
#include "kd/nn.h"

#include <cjson/cJSON.h>

/* ---- GPT-2 config.json ------------------------------------------------ */

/* Reads n_layer, n_head, n_embd, n_positions (or the legacy n_ctx),
 * vocab_size and layer_norm_epsilon (default 1e-5) from a JSON object, and
 * refuses keys that would change the computation kd implements
 * (activation_function other than gelu_new, untied embeddings, n_inner other
 * than 4 n_embd, ...). Also used for the "model" object of training configs;
 * its messages name the key, and callers prefix the file (kd_fail_context). */
kd_status kd_gpt2_config_from_json(const cJSON *object, gpt2_config *config);
kd_status kd_gpt2_config_read(const char *path, gpt2_config *config);
/* The "model" object of a kd run configuration file. */
kd_status kd_gpt2_config_read_model_section(const char *path, gpt2_config *config);
/* A complete HF config.json that GPT2LMHeadModel.from_pretrained accepts. */
cJSON *kd_gpt2_config_to_json(const gpt2_config *config);
kd_status kd_gpt2_config_write(const char *path, const gpt2_config *config);

/* ---- model directories ------------------------------------------------ */

/* Writes the parameters of `model` to a safetensors file with HF names
 * ("transformer.h.0.attn.c_attn.weight", ...; lm_head is tied, so omitted). */
kd_status kd_model_weights_write(const char *path, const gpt2_model *model,
                                 safetensors_dtype dtype);
/* Loads a safetensors file into a model already created for its config.
 * Accepts names with or without the "transformer." prefix, skips the
 * h.N.attn.bias / h.N.attn.masked_bias buffers of older checkpoints, and
 * accepts lm_head.weight only when it equals wte (kd ties them). Missing,
 * mis-shaped, unexpected or non-finite tensors are errors. */
kd_status kd_model_weights_read(const char *path, gpt2_model *model);

/* Creates `model` from dir/config.json and dir/model.safetensors. On
 * failure the model is left freed. */
kd_status kd_model_dir_load(const char *dir, gpt2_model *model);
/* Writes dir/model.safetensors and dir/config.json (creating dir), and copies
 * vocab.json and merges.txt from `tokenizer_dir` unless it is NULL. Each
 * file is replaced atomically. */
kd_status kd_model_dir_save(const char *dir, const gpt2_model *model, const char *tokenizer_dir);

#endif
