/* What a training run will cost, after EleutherAI's "Transformer Math 101":
 * N parameters, about 6N FLOPs per trained token (2N forward, 4N backward)
 * plus attention's 12 L T C per token, and memory for weights (4N bytes),
 * gradients (4N), AdamW's two moments (8N) and the activations kd keeps for
 * backward. The time is predicted from a short measured run of this very
 * model on this machine, not from a peak FLOP/s figure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/train.h"

static double attention_flops_per_token(const gpt2_config *config, int seq)
{
    /* q.k^T and probs.v: 2 * 2 * T * C per layer forward (full T x T), x3 with backward. */
    return 3.0 * 4.0 * config->n_layer * (double)seq * config->n_embd;
}

/* Weights in matrix products: the blocks' and the tied lm_head's. */
static double matmul_params(const gpt2_config *config)
{
    double C = config->n_embd;
    return 12.0 * config->n_layer * C * C + (double)config->vocab_size * C;
}

double kd_train_flops_per_token(const gpt2_config *config, int seq)
{
    return 6.0 * matmul_params(config) + attention_flops_per_token(config, seq);
}

/* Times `steps` training steps on random tokens at (batch, seq). */
static kd_status measure_step(const gpt2_config *config, const gpt2_lora_config *lora, int batch,
                              int seq, int steps, double *seconds_per_step)
{
    gpt2_model model;
    kd_status status = kd_gpt2_create(&model, config);
    if (status != KD_OK)
        return status;
    kd_gpt2_init_random(&model, 1);
    if (lora && (status = kd_gpt2_lora_attach(&model, lora, 1)) != KD_OK) {
        kd_gpt2_free(&model);
        return status;
    }
    size_t cells = (size_t)batch * seq;
    int *tokens = kd_alloc(cells, sizeof(int), "estimate tokens");
    if ((status = kd_gpt2_prepare(&model, batch, seq, 1)) == KD_OK && tokens) {
        kd_rng rng;
        kd_rng_seed(&rng, 7);
        for (size_t i = 0; i < cells; i++)
            tokens[i] = (int)kd_rng_below(&rng, (uint64_t)config->vocab_size);
        gpt2_batch micro = {tokens, tokens, NULL, batch, seq};
        gpt2_step_config step = {{1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f, 0}, 1e-4f, 1.0f, NULL, 0};
        gpt2_step_result result;
        double start = 0.0;
        for (int i = 0; i <= steps && status == KD_OK; i++) {
            if (i == 1)
                start = kd_now_seconds(); /* the first step warms caches and pools */
            status = kd_gpt2_train_step(&model, &micro, 1, &step, i + 1, &result);
        }
        *seconds_per_step = (kd_now_seconds() - start) / steps;
    } else if (!tokens) {
        status = KD_ERR_NOMEM;
    }
    free(tokens);
    kd_gpt2_free(&model);
    return status;
}

kd_status kd_train_estimate(const gpt2_config *config, const gpt2_lora_config *lora, int batch,
                            int seq, int measure, train_cost *cost)
{
    memset(cost, 0, sizeof *cost);
    cost->params = (double)kd_gpt2_num_params(config);
    cost->trainable_params = lora ? (double)kd_gpt2_lora_num_trainable(lora, config) : cost->params;
    cost->flops_per_token = kd_train_flops_per_token(config, seq);
    if (lora) {
        /* Frozen matrices pass the activation gradient (2N) but compute no
         * weight gradient (2N); the adapters add 6 FLOPs per parameter. */
        cost->flops_saved_per_token = 2.0 * matmul_params(config);
        cost->flops_per_token += 6.0 * (double)kd_gpt2_lora_num_params(lora, config) -
                                 cost->flops_saved_per_token;
    }
    cost->weights_bytes = (double)kd_gpt2_lora_base_bytes(config, lora);
    cost->grads_bytes = 4.0 * cost->trainable_params;
    cost->optimizer_bytes = 8.0 * cost->trainable_params;
    double prepared = lora ? (double)kd_gpt2_lora_prepare_bytes(config, lora, batch, seq)
                           : (double)kd_gpt2_prepare_bytes(config, batch, seq, 1);
    cost->activation_bytes = prepared - cost->grads_bytes - cost->optimizer_bytes;
    cost->total_bytes = cost->weights_bytes + prepared;
    cost->machine_bytes = (double)kd_physical_memory_bytes();
    if (!measure)
        return KD_OK;
    /* A small batch of the real model keeps the measurement quick; with
     * 512 rows its matrix products run near the full batch's FLOP rate. */
    int probe_seq = seq < 128 ? seq : 128, probe_batch = batch < 4 ? batch : 4;
    double seconds = 0.0;
    kd_status status = measure_step(config, lora, probe_batch, probe_seq, 2, &seconds);
    if (status != KD_OK)
        return status;
    double probe_tokens = (double)probe_batch * probe_seq;
    /* LoRA's change of the FLOPs per token does not depend on the length. */
    double probe_flops = kd_train_flops_per_token(config, probe_seq) + cost->flops_per_token -
                         kd_train_flops_per_token(config, seq);
    cost->measured_flops = probe_flops * probe_tokens / seconds;
    cost->tokens_per_s = cost->measured_flops / cost->flops_per_token;
    return KD_OK;
}
