/* The quantized GPT-2: with f32 matrices it computes what the f32 model
 * computes (prefill in chunks, then decoding); built from blocks it equals
 * the model quantized from f32; and on a small model trained on a Markov
 * chain, q8_0's next-token argmax agrees with f32's on at least 99% of 2048
 * positions (q4_0's agreement is printed). */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/qgpt2.h"

/* n_embd 48: c_attn, attn.c_proj and c_fc rows (48 values) stay f32 while
 * mlp.c_proj rows (192) and wte are quantized, so both kinds run together. */
static const gpt2_config mixed = {
    .n_layer = 2, .n_head = 2, .n_embd = 48, .n_positions = 160, .vocab_size = 67,
    .layer_norm_epsilon = 1e-5f,
};

static void make_random_model(gpt2_model *model, const gpt2_config *config, int max_seq)
{
    assert_int_equal(kd_gpt2_create(model, config), KD_OK);
    kd_gpt2_init_random(model, 9);
    /* Larger weights give peaked, input-dependent distributions. */
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += 0.2f * sinf(0.7f * (float)i);
    assert_int_equal(kd_gpt2_prepare(model, 1, max_seq, 0), KD_OK);
}

static void random_tokens(int *tokens, int count, int V, uint64_t seed)
{
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    for (int t = 0; t < count; t++)
        tokens[t] = (int)kd_rng_below(&rng, (uint64_t)V);
}

static float max_abs_difference(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++)
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
    return worst;
}

/* A 150-token prompt (three chunks, the last partial), then decoding: the
 * logits of every position against the f32 forward pass. */
static void test_f32_matrices_compute_the_f32_model(void **state)
{
    (void)state;
    enum { PROMPT = 150, TOTAL = 160 };
    gpt2_model model;
    make_random_model(&model, &mixed, TOTAL);
    int tokens[TOTAL];
    random_tokens(tokens, TOTAL, mixed.vocab_size, 3);
    int V = mixed.vocab_size;
    float *want = malloc((size_t)TOTAL * V * sizeof(float));
    float *got = malloc((size_t)TOTAL * V * sizeof(float));
    kd_gpt2_forward(&model, tokens, 1, TOTAL);
    kd_gpt2_head_logits(&model, 0, TOTAL, want);

    gpt2_qmodel q;
    gpt2_qstate s;
    assert_int_equal(kd_gpt2_qmodel_quantize(&q, &model, KD_QTYPE_F32), KD_OK);
    assert_int_equal(kd_gpt2_qmodel_check(&q), KD_OK);
    assert_int_equal(kd_gpt2_qstate_create(&s, &mixed, TOTAL), KD_OK);
    assert_int_equal(kd_gpt2_qforward_logits(&q, &s, tokens, TOTAL, got), KD_OK);
    assert_true(max_abs_difference(got, want, (size_t)TOTAL * V) < 1e-4f);

    assert_int_equal(kd_gpt2_qprefill(&q, &s, tokens, PROMPT), KD_OK);
    assert_true(max_abs_difference(s.cache.logits, want + (size_t)(PROMPT - 1) * V, V) < 1e-4f);
    for (int t = PROMPT; t < TOTAL; t++) {
        assert_int_equal(kd_gpt2_qdecode_step(&q, &s, tokens[t]), KD_OK);
        assert_true(max_abs_difference(s.cache.logits, want + (size_t)t * V, V) < 1e-4f);
    }
    /* the cache is full */
    assert_int_equal(kd_gpt2_qdecode_step(&q, &s, 0), KD_ERR_INVALID);
    assert_int_equal(kd_gpt2_qprefill(&q, &s, (int[]){mixed.vocab_size}, 1), KD_ERR_INVALID);
    kd_gpt2_qstate_free(&s);
    kd_gpt2_qmodel_free(&q);
    kd_gpt2_free(&model);
    free(want);
    free(got);
}

/* Quantized decoding gives the logits a full quantized pass over the same
 * tokens gives, and greedy generation follows them. */
static void test_decode_matches_full_pass(void **state)
{
    (void)state;
    enum { PROMPT = 70, NEW = 20 };
    gpt2_model model;
    make_random_model(&model, &mixed, PROMPT + NEW);
    gpt2_qmodel q;
    gpt2_qstate s;
    assert_int_equal(kd_gpt2_qmodel_quantize(&q, &model, KD_QTYPE_Q8_0), KD_OK);
    assert_int_equal(q.layers[0].fcproj.type, KD_QTYPE_Q8_0);
    assert_int_equal(q.layers[0].fc.type, KD_QTYPE_F32); /* rows of 48 */
    assert_int_equal(kd_gpt2_qstate_create(&s, &mixed, PROMPT + NEW), KD_OK);
    int tokens[PROMPT + NEW], out[NEW];
    random_tokens(tokens, PROMPT, mixed.vocab_size, 4);
    gpt2_sampling greedy;
    kd_gpt2_sampling_default(&greedy);
    greedy.temperature = 0.0f;
    greedy.max_new_tokens = NEW;
    kd_rng rng;
    kd_rng_seed(&rng, 1);
    gpt2_generate_stats stats;
    assert_int_equal(kd_gpt2_qgenerate_tokens(&q, &s, tokens, PROMPT, &greedy, &rng, out, NULL,
                                              NULL, &stats),
                     KD_OK);
    assert_int_equal(stats.new_tokens, NEW);
    memcpy(tokens + PROMPT, out, sizeof out);

    int V = mixed.vocab_size;
    float *full = malloc((size_t)(PROMPT + NEW) * V * sizeof(float));
    assert_int_equal(kd_gpt2_qforward_logits(&q, &s, tokens, PROMPT + NEW, full), KD_OK);
    for (int n = 0; n < NEW; n++) {
        const float *row = full + (size_t)(PROMPT - 1 + n) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            best = row[v] > row[best] ? v : best;
        assert_int_equal(out[n], best);
    }
    free(full);
    kd_gpt2_qstate_free(&s);
    kd_gpt2_qmodel_free(&q);
    kd_gpt2_free(&model);
}

/* A model put together from blocks, as a GGUF loader does, runs exactly as
 * the one quantized from f32; one missing matrix is refused by name. */
static void test_built_from_blocks(void **state)
{
    (void)state;
    gpt2_config config = mixed;
    config.n_embd = 64;
    gpt2_model model;
    make_random_model(&model, &config, 40);
    gpt2_qmodel from_f32, from_blocks;
    assert_int_equal(kd_gpt2_qmodel_quantize(&from_f32, &model, KD_QTYPE_Q4_0), KD_OK);
    assert_int_equal(kd_gpt2_qmodel_create(&from_blocks, &config), KD_OK);
    size_t sizes[GPT2_NUM_PARAM_TENSORS];
    kd_gpt2_param_sizes(&config, sizes);
    memcpy(from_blocks.vectors.wpe, model.params.wpe, sizes[1] * sizeof(float));
    memcpy(from_blocks.vectors.ln1w, model.params.ln1w, sizes[2] * sizeof(float));
    memcpy(from_blocks.vectors.ln1b, model.params.ln1b, sizes[3] * sizeof(float));
    memcpy(from_blocks.vectors.qkvb, model.params.qkvb, sizes[5] * sizeof(float));
    memcpy(from_blocks.vectors.attprojb, model.params.attprojb, sizes[7] * sizeof(float));
    memcpy(from_blocks.vectors.ln2w, model.params.ln2w, sizes[8] * sizeof(float));
    memcpy(from_blocks.vectors.ln2b, model.params.ln2b, sizes[9] * sizeof(float));
    memcpy(from_blocks.vectors.fcb, model.params.fcb, sizes[11] * sizeof(float));
    memcpy(from_blocks.vectors.fcprojb, model.params.fcprojb, sizes[13] * sizeof(float));
    memcpy(from_blocks.vectors.lnfw, model.params.lnfw, sizes[14] * sizeof(float));
    memcpy(from_blocks.vectors.lnfb, model.params.lnfb, sizes[15] * sizeof(float));
    int C = config.n_embd;
    kd_qmatrix *const wrapped[] = {&from_blocks.wte};
    assert_int_equal(kd_qmatrix_wrap(wrapped[0], KD_QTYPE_Q4_0, from_f32.wte.data,
                                     config.vocab_size, C),
                     KD_OK);
    for (int l = 0; l < config.n_layer; l++) {
        const gpt2_qlayer *src = &from_f32.layers[l];
        gpt2_qlayer *dst = &from_blocks.layers[l];
        assert_int_equal(kd_qmatrix_wrap(&dst->qkv, KD_QTYPE_Q4_0, src->qkv.data, 3 * C, C), KD_OK);
        assert_int_equal(kd_qmatrix_wrap(&dst->attproj, KD_QTYPE_Q4_0, src->attproj.data, C, C),
                         KD_OK);
        assert_int_equal(kd_qmatrix_wrap(&dst->fc, KD_QTYPE_Q4_0, src->fc.data, 4 * C, C), KD_OK);
        if (l == 1)
            assert_int_equal(kd_gpt2_qmodel_check(&from_blocks), KD_ERR_INVALID);
        assert_int_equal(
            kd_qmatrix_wrap(&dst->fcproj, KD_QTYPE_Q4_0, src->fcproj.data, C, 4 * C), KD_OK);
    }
    assert_non_null(strstr(kd_last_error(), "mlp.c_proj of layer 1 is missing"));
    assert_int_equal(kd_gpt2_qmodel_check(&from_blocks), KD_OK);

    enum { T = 40 };
    int tokens[T], V = config.vocab_size;
    random_tokens(tokens, T, V, 8);
    float *a = malloc((size_t)T * V * sizeof(float)), *b = malloc((size_t)T * V * sizeof(float));
    gpt2_qstate s;
    assert_int_equal(kd_gpt2_qstate_create(&s, &config, T), KD_OK);
    assert_int_equal(kd_gpt2_qforward_logits(&from_f32, &s, tokens, T, a), KD_OK);
    assert_int_equal(kd_gpt2_qforward_logits(&from_blocks, &s, tokens, T, b), KD_OK);
    assert_memory_equal(a, b, (size_t)T * V * sizeof(float));
    size_t stored, f32;
    kd_gpt2_qmodel_matrix_bytes(&from_blocks, &stored, &f32);
    assert_int_equal(stored * 32 * 4, f32 * 18);
    kd_gpt2_qstate_free(&s);
    kd_gpt2_qmodel_free(&from_blocks); /* frees none of from_f32's blocks */
    kd_gpt2_qmodel_free(&from_f32);
    kd_gpt2_free(&model);
    free(a);
    free(b);
}

/* ---- agreement on a trained model --------------------------------------- */

static const gpt2_config trained = {
    .n_layer = 2, .n_head = 4, .n_embd = 64, .n_positions = 128, .vocab_size = 96,
    .layer_norm_epsilon = 1e-5f,
};

/* A Markov chain over the vocabulary: after token a comes next[a] with
 * probability 0.6, second[a] with 0.3, any token with 0.1. */
typedef struct {
    int next[96], second[96];
} markov;

static void markov_sequence(const markov *chain, kd_rng *rng, int *tokens, int count)
{
    tokens[0] = (int)kd_rng_below(rng, 96);
    for (int t = 1; t < count; t++) {
        float u = kd_rng_uniform(rng);
        int prev = tokens[t - 1];
        tokens[t] = u < 0.6f ? chain->next[prev]
                    : u < 0.9f ? chain->second[prev]
                               : (int)kd_rng_below(rng, 96);
    }
}

static void train_on_chain(gpt2_model *model, const markov *chain)
{
    enum { B = 8, T = 64, STEPS = 150 };
    int tokens[B * (T + 1)], inputs[B * T], targets[B * T];
    kd_rng rng;
    kd_rng_seed(&rng, 21);
    gpt2_step_config step = {{3e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0}, 3e-3f, 1.0f, NULL, 0};
    gpt2_step_result result;
    for (int s = 1; s <= STEPS; s++) {
        for (int b = 0; b < B; b++) {
            markov_sequence(chain, &rng, tokens + b * (T + 1), T + 1);
            memcpy(inputs + b * T, tokens + b * (T + 1), T * sizeof(int));
            memcpy(targets + b * T, tokens + b * (T + 1) + 1, T * sizeof(int));
        }
        gpt2_batch batch = {inputs, targets, NULL, B, T};
        assert_int_equal(kd_gpt2_train_step(model, &batch, 1, &step, s, &result), KD_OK);
    }
    /* it learned the chain: the entropy of the chain is about 1.2 nats */
    print_message("trained to loss %.3f\n", result.loss);
    assert_true(result.loss < 2.0);
}

static int argmax(const float *row, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        best = row[v] > row[best] ? v : best;
    return best;
}

/* Fraction of positions of `sequences` (16 x 128) where the quantized
 * model's argmax equals the f32 one's. */
static double agreement(gpt2_model *model, kd_qtype type, const int *sequences)
{
    enum { SEQUENCES = 16, T = 128 };
    int V = trained.vocab_size, agreed = 0;
    gpt2_qmodel q;
    gpt2_qstate s;
    assert_int_equal(kd_gpt2_qmodel_quantize(&q, model, type), KD_OK);
    assert_int_equal(kd_gpt2_qstate_create(&s, &trained, T), KD_OK);
    float *want = malloc((size_t)T * V * sizeof(float)), *got = malloc((size_t)T * V * sizeof(float));
    for (int n = 0; n < SEQUENCES; n++) {
        const int *tokens = sequences + n * T;
        kd_gpt2_forward(model, tokens, 1, T);
        kd_gpt2_head_logits(model, 0, T, want);
        assert_int_equal(kd_gpt2_qforward_logits(&q, &s, tokens, T, got), KD_OK);
        for (int t = 0; t < T; t++)
            agreed += argmax(want + (size_t)t * V, V) == argmax(got + (size_t)t * V, V);
    }
    free(want);
    free(got);
    kd_gpt2_qstate_free(&s);
    kd_gpt2_qmodel_free(&q);
    return agreed / (double)(SEQUENCES * T);
}

static void test_trained_model_agreement(void **state)
{
    (void)state;
    markov chain;
    kd_rng rng;
    kd_rng_seed(&rng, 77);
    for (int a = 0; a < 96; a++) {
        chain.next[a] = (int)kd_rng_below(&rng, 96);
        chain.second[a] = (int)kd_rng_below(&rng, 96);
    }
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &trained), KD_OK);
    kd_gpt2_init_random(&model, 13);
    assert_int_equal(kd_gpt2_prepare(&model, 8, 128, 1), KD_OK);
    train_on_chain(&model, &chain);

    enum { SEQUENCES = 16, T = 128 };
    static int sequences[SEQUENCES * T];
    kd_rng_seed(&rng, 1234); /* held-out sequences */
    for (int n = 0; n < SEQUENCES; n++)
        markov_sequence(&chain, &rng, sequences + n * T, T);
    double q8 = agreement(&model, KD_QTYPE_Q8_0, sequences);
    double q4 = agreement(&model, KD_QTYPE_Q4_0, sequences);
    print_message("top-1 agreement with f32 over %d positions: q8_0 %.4f, q4_0 %.4f\n",
                  SEQUENCES * T, q8, q4);
    assert_true(q8 >= 0.99);
    kd_gpt2_free(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_matrices_compute_the_f32_model),
        cmocka_unit_test(test_decode_matches_full_pass),
        cmocka_unit_test(test_built_from_blocks),
        cmocka_unit_test(test_trained_model_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
