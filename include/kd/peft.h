/* kd hf: LoRA adapters for GPT-2 in Hugging Face PEFT's layout, which
 * PeftModel.from_pretrained loads and which kd loads from PEFT:
 *
 *   adapter_config.json        peft_type "LORA", r, lora_alpha, lora_dropout,
 *                              target_modules, fan_in_fan_out, bias, use_rslora,
 *                              base_model_name_or_path, ...
 *   adapter_model.safetensors  base_model.model.transformer.h.<l>.<module>.lora_A.weight
 *                              (r, in) and .lora_B.weight (out, r); with bias
 *                              "all" every bias of the model as well
 *
 * Options kd does not implement (DoRA, other PEFT types, modules_to_save,
 * per-layer patterns, bias "lora_only") are refused naming the key. */
#ifndef KD_PEFT_H
#define KD_PEFT_H

#include "kd/core.h"
#include "kd/lora.h"

#include <cjson/cJSON.h>

/* target_modules entries as PEFT matches them, by the end of the module
 * name: "c_attn" -> attn.c_attn, "c_proj" -> attn.c_proj and mlp.c_proj,
 * "c_fc" -> mlp.c_fc, and the four full names. Others fail, listing these. */
kd_status kd_peft_targets_add(const char *name, unsigned *targets);

/* The same for a JSON list of names, or one name; `key` names it in errors. */
kd_status kd_peft_targets_from_json(const cJSON *item, const char *key, unsigned *targets);
/* The same for a comma-separated list ("attn.c_attn,mlp.c_fc"), which
 * replaces *targets. */
kd_status kd_peft_targets_parse_list(const char *list, unsigned *targets);

/* Reads an adapter_config.json object; base (may be NULL) receives
 * base_model_name_or_path ("" when absent), at most base_size bytes. */
kd_status kd_peft_config_from_json(const cJSON *object, gpt2_lora_config *config, char *base,
                                   size_t base_size);
kd_status kd_peft_config_read(const char *path, gpt2_lora_config *config, char *base,
                              size_t base_size);
cJSON *kd_peft_config_to_json(const gpt2_lora_config *config, const char *base);

/* Writes dir/adapter_config.json and dir/adapter_model.safetensors for the
 * adapters of `model` (creating dir); base names the base model. */
kd_status kd_peft_adapter_save(const char *dir, const gpt2_model *model, const char *base);
/* Attaches the adapter in `dir` to `model` (created, holding its base, not
 * yet prepared) and reads its tensors, which must fit the base: a rank,
 * shape or layer count that does not is an error naming the tensor. */
kd_status kd_peft_adapter_load(const char *dir, gpt2_model *model);
/* Reads the tensors of the adapter in `dir` into the adapters already
 * attached to `model`, whose settings the adapter's config must equal
 * (a checkpoint's, or the best adapter of the run). */
kd_status kd_peft_adapter_read_into(const char *dir, gpt2_model *model);

/* kd merge: base_dir's model with the adapter in adapter_dir merged in,
 * written to out_dir as a model directory (with base_dir's tokenizer files
 * when it has them). */
kd_status kd_peft_merge(const char *base_dir, const char *adapter_dir, const char *out_dir);

/* A model directory holding base + scale (B A)^T for every adapter of
 * `model` (its own weights stay unmerged), as kd_model_dir_save writes. */
kd_status kd_model_dir_save_merged(const char *dir, const gpt2_model *model,
                                   const char *tokenizer_dir);

#endif
