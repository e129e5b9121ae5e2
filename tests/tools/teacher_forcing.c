/* Test tool: kd's next-token argmax at every position of given token
 * sequences (teacher forcing), for comparing kd with another runtime.
 *
 *     teacher_forcing MODEL SEQUENCES
 *
 * MODEL is a model directory or a GGUF file (quantized files run in the
 * quantized model); SEQUENCES holds one sequence of token ids a line. Prints
 * one line per sequence: the argmax after each of its tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/train.h"

static int argmax(const float *logits, int count)
{
    int best = 0;
    for (int i = 1; i < count; i++)
        best = logits[i] > logits[best] ? i : best;
    return best;
}

/* logits (count, V) of every position of `ids`. */
static kd_status forward(model_weights *weights, const int *ids, int count, float *logits)
{
    if (weights->q.layers) {
        gpt2_qstate state = {0};
        kd_status status = kd_gpt2_qstate_create(&state, &weights->q.config, count);
        if (status == KD_OK)
            status = kd_gpt2_qforward_logits(&weights->q, &state, ids, count, logits);
        kd_gpt2_qstate_free(&state);
        return status;
    }
    kd_gpt2_forward(&weights->model, ids, 1, count);
    kd_gpt2_head_logits(&weights->model, 0, count, logits);
    return KD_OK;
}

static kd_status run(const char *model_path, const char *sequences_path)
{
    model_weights weights;
    kd_status status = kd_model_load(model_path, &weights, NULL);
    if (status != KD_OK)
        return status;
    const gpt2_config *config = weights.q.layers ? &weights.q.config : &weights.model.config;
    /* The f32 model is prepared once for the longest sequence there can be. */
    if (!weights.q.layers)
        status = kd_gpt2_prepare(&weights.model, 1, config->n_positions, 0);
    FILE *file = fopen(sequences_path, "r");
    char *line = NULL;
    size_t capacity = 0;
    kd_token_buffer ids = {0};
    float *logits = NULL;
    if (status == KD_OK && !file)
        status = kd_fail(KD_ERR_IO, "%s: cannot open", sequences_path);
    while (status == KD_OK && getline(&line, &capacity, file) > 0) {
        kd_token_buffer_clear(&ids);
        if ((status = kd_token_ids_parse(line, strlen(line), &ids)) != KD_OK)
            break;
        int count = (int)ids.count;
        if (count < 1 || count > config->n_positions) {
            status = kd_fail(KD_ERR_INVALID, "a sequence of %d tokens", count);
            break;
        }
        free(logits);
        if (!(logits = kd_alloc((size_t)count * (size_t)config->vocab_size, sizeof *logits,
                                "logits"))) {
            status = KD_ERR_NOMEM;
            break;
        }
        if ((status = forward(&weights, ids.ids, count, logits)) != KD_OK)
            break;
        for (int i = 0; i < count; i++)
            printf(i ? " %d" : "%d", argmax(logits + (size_t)i * config->vocab_size,
                                             config->vocab_size));
        putchar('\n');
    }
    if (file)
        fclose(file);
    free(line);
    free(logits);
    kd_token_buffer_free(&ids);
    kd_model_unload(&weights);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: teacher_forcing MODEL SEQUENCES\n");
        return 2;
    }
    if (run(argv[1], argv[2]) != KD_OK) {
        fprintf(stderr, "teacher_forcing: %s\n", kd_last_error());
        return 1;
    }
    return 0;
}
