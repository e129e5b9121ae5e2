/* LoRA settings: target names, shapes, checks, the scale and the counts of
 * parameters an adapter set adds and trains. */
#include <math.h>
#include <string.h>

#include "kd/lora.h"

static const char *const target_names[GPT2_LORA_TARGETS] = {
    "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};

void kd_gpt2_lora_config_default(gpt2_lora_config *config)
{
    *config = (gpt2_lora_config){.rank = 8, .alpha = 8.0f, .dropout = 0.0f,
                                 .targets = 1u << GPT2_LORA_ATTN_C_ATTN};
}

const char *kd_gpt2_lora_target_name(gpt2_lora_target target)
{
    return target_names[target];
}

kd_status kd_gpt2_lora_target_parse(const char *name, gpt2_lora_target *target)
{
    for (int t = 0; t < GPT2_LORA_TARGETS; t++)
        if (strcmp(name, target_names[t]) == 0) {
            *target = (gpt2_lora_target)t;
            return KD_OK;
        }
    return kd_fail(KD_ERR_INVALID,
                   "lora target \"%s\" is unknown; valid: attn.c_attn, attn.c_proj, mlp.c_fc, "
                   "mlp.c_proj",
                   name);
}

void kd_gpt2_lora_target_shape(const gpt2_config *model, gpt2_lora_target target, int *in,
                               int *out)
{
    static const int in_in_c[GPT2_LORA_TARGETS] = {1, 1, 1, 4};
    static const int out_in_c[GPT2_LORA_TARGETS] = {3, 1, 4, 1};
    *in = in_in_c[target] * model->n_embd;
    *out = out_in_c[target] * model->n_embd;
}

kd_status kd_gpt2_lora_config_validate(const gpt2_lora_config *config, const gpt2_config *model)
{
    if (config->targets == 0 || config->targets >= 1u << GPT2_LORA_TARGETS)
        return kd_fail(KD_ERR_INVALID, "lora targets: at least one of attn.c_attn, attn.c_proj, "
                                       "mlp.c_fc, mlp.c_proj is needed");
    if (config->rank <= 0)
        return kd_fail(KD_ERR_INVALID, "lora rank must be positive, got %d", config->rank);
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        int in, out;
        kd_gpt2_lora_target_shape(model, (gpt2_lora_target)t, &in, &out);
        if ((config->targets >> t & 1u) && (config->rank > in || config->rank > out))
            return kd_fail(KD_ERR_INVALID, "lora rank %d is larger than %s's dimensions %d x %d",
                           config->rank, target_names[t], in, out);
    }
    if (!(config->alpha > 0.0f) || !isfinite(config->alpha))
        return kd_fail(KD_ERR_INVALID, "lora alpha must be a positive number");
    if (!(config->dropout >= 0.0f && config->dropout < 1.0f))
        return kd_fail(KD_ERR_INVALID, "lora dropout must be in [0, 1), got %g",
                       (double)config->dropout);
    return KD_OK;
}

float kd_gpt2_lora_scale(const gpt2_lora_config *config)
{
    return config->rslora ? config->alpha / sqrtf((float)config->rank)
                          : config->alpha / (float)config->rank;
}

size_t kd_gpt2_lora_num_params(const gpt2_lora_config *config, const gpt2_config *model)
{
    size_t total = 0;
    for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
        int in, out;
        kd_gpt2_lora_target_shape(model, (gpt2_lora_target)t, &in, &out);
        if (config->targets >> t & 1u)
            total += (size_t)model->n_layer * (size_t)config->rank * (size_t)(in + out);
    }
    return total;
}

size_t kd_gpt2_lora_num_trainable(const gpt2_lora_config *config, const gpt2_config *model)
{
    /* Biases: ln_1, c_attn (3C), attn.c_proj, ln_2, c_fc (4C), mlp.c_proj per layer; ln_f. */
    size_t C = (size_t)model->n_embd;
    size_t biases = config->train_biases ? (size_t)model->n_layer * 11 * C + C : 0;
    return kd_gpt2_lora_num_params(config, model) + biases;
}
