/* LoRA adapters in PEFT's layout: an adapter written the way Hugging Face
 * PEFT writes it (tests/gen_peft_fixture.py, independent of kd's writer)
 * merges to torch's weights; kd's own adapters round-trip bit for bit; a
 * merge is the base plus scale (B A)^T of rank <= r with every other
 * tensor bit-identical; and configs or tensors kd cannot use are refused
 * naming the field or tensor. */
#include "test_support.h"
#include "reference_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kd/hf.h"
#include "kd/peft.h"

#define PEFT_DIR KD_FIXTURES_DIR "/peft"

static const gpt2_config tiny = {
    .n_layer = 2, .n_head = 2, .n_embd = 8, .n_positions = 8, .vocab_size = 11,
    .layer_norm_epsilon = 1e-5f,
};

/* A random tiny base with adapters whose B is nonzero. */
static void make_adapted(gpt2_model *model, unsigned targets, int train_biases)
{
    assert_int_equal(kd_gpt2_create(model, &tiny), KD_OK);
    kd_gpt2_init_random(model, 3);
    gpt2_lora_config config;
    kd_gpt2_lora_config_default(&config);
    config.rank = 3;
    config.alpha = 6.0f;
    config.targets = targets;
    config.train_biases = train_biases;
    assert_int_equal(kd_gpt2_lora_attach(model, &config, 9), KD_OK);
    kd_rng rng;
    kd_rng_seed(&rng, 4);
    for (size_t i = 0; i < model->lora->num_params; i++)
        model->lora->params_memory[i] += 0.05f * kd_rng_normal(&rng);
    for (size_t i = 0; i < model->num_params; i++)
        model->params_memory[i] += 0.01f * cosf((float)i);
}

static void test_peft_layout_merges_to_torch(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir(), *out = test_path(dir, "merged");
    if (kd_peft_merge(PEFT_DIR "/base", PEFT_DIR "/adapter", out) != KD_OK)
        fail_msg("%s", kd_last_error());
    gpt2_model merged, base;
    assert_int_equal(kd_model_dir_load(out, &merged), KD_OK);
    assert_int_equal(kd_model_dir_load(PEFT_DIR "/base", &base), KD_OK);
    reference_fixture want;
    reference_open(&want, PEFT_DIR "/merged.safetensors");
    int changed = 0;
    for (int i = 0; i < kd_gpt2_tensor_count(&merged.config); i++) {
        gpt2_tensor got, before;
        kd_gpt2_tensor_at(&merged.config, &merged.params, i, &got);
        kd_gpt2_tensor_at(&base.config, &base.params, i, &before);
        size_t count = reference_tensor_elements(&got);
        float *expected = malloc(count * sizeof *expected);
        assert_non_null(expected);
        reference_like_into(&want, "merged", &got, expected);
        int adapted = strstr(got.name, "c_attn.weight") || strstr(got.name, "c_proj.weight");
        if (adapted) {
            expect_within(got.name, max_abs_difference(got.data, expected, count) /
                                        max_abs(expected, count), 1e-6);
            changed += memcmp(got.data, before.data, count * sizeof(float)) != 0;
        } else {
            assert_memory_equal(got.data, before.data, count * sizeof(float));
        }
        free(expected);
    }
    assert_int_equal(changed, 3 * merged.config.n_layer);
    kd_safetensors_close(&want.file);
    kd_gpt2_free(&base);
    kd_gpt2_free(&merged);
    free(out);
    test_remove_temp_dir(dir);
}


/* Rank of a (rows, cols) matrix by Gaussian elimination with partial
 * pivoting in double; pivots below tolerance * the largest entry count as 0. */
static int matrix_rank(const float *m, int rows, int cols, double tolerance)
{
    double *a = malloc((size_t)rows * cols * sizeof *a), largest = 0.0;
    assert_non_null(a);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        largest = fmax(largest, fabs(a[i] = m[i]));
    int rank = 0;
    for (int col = 0; col < cols && rank < rows; col++) {
        int pivot = rank;
        for (int r = rank; r < rows; r++)
            if (fabs(a[(size_t)r * cols + col]) > fabs(a[(size_t)pivot * cols + col]))
                pivot = r;
        if (fabs(a[(size_t)pivot * cols + col]) <= tolerance * largest)
            continue;
        for (int c = 0; c < cols; c++) {
            double t = a[(size_t)pivot * cols + c];
            a[(size_t)pivot * cols + c] = a[(size_t)rank * cols + c];
            a[(size_t)rank * cols + c] = t;
        }
        for (int r = rank + 1; r < rows; r++) {
            double f = a[(size_t)r * cols + col] / a[(size_t)rank * cols + col];
            for (int c = col; c < cols; c++)
                a[(size_t)r * cols + c] -= f * a[(size_t)rank * cols + c];
        }
        rank++;
    }
    free(a);
    return rank;
}

static void test_merge_is_base_plus_low_rank(void **state)
{
    (void)state;
    gpt2_model model;
    unsigned targets = 1u << GPT2_LORA_ATTN_C_ATTN | 1u << GPT2_LORA_MLP_C_FC;
    make_adapted(&model, targets, 0);
    float *merged_memory = malloc(model.num_params * sizeof(float));
    assert_non_null(merged_memory);
    memcpy(merged_memory, model.params_memory, model.num_params * sizeof(float));
    gpt2_params merged;
    kd_gpt2_params_point(&merged, merged_memory, &tiny);
    kd_gpt2_lora_merge_into(model.lora, &tiny, &merged);
    int r = model.lora->config.rank;
    float scale = model.lora->scale;
    for (int i = 0; i < kd_gpt2_tensor_count(&tiny); i++) {
        gpt2_tensor before, after;
        kd_gpt2_tensor_at(&tiny, &model.params, i, &before);
        kd_gpt2_tensor_at(&tiny, &merged, i, &after);
        size_t count = reference_tensor_elements(&before);
        int layer = -1;
        gpt2_lora_target target = GPT2_LORA_TARGETS;
        for (int t = 0; t < GPT2_LORA_TARGETS; t++) {
            char name[64];
            for (int l = 0; l < tiny.n_layer; l++) {
                snprintf(name, sizeof name, "h.%d.%s.weight", l,
                         kd_gpt2_lora_target_name((gpt2_lora_target)t));
                if (strcmp(name, before.name) == 0 && (targets >> t & 1u))
                    layer = l, target = (gpt2_lora_target)t;
            }
        }
        if (layer < 0) {
            assert_memory_equal(before.data, after.data, count * sizeof(float));
            continue;
        }
        int in = (int)before.shape[0], out = (int)before.shape[1];
        const float *A = model.lora->a[target] + (size_t)layer * r * in;
        const float *B = model.lora->b[target] + (size_t)layer * out * r;
        float *delta = malloc(count * sizeof *delta);
        assert_non_null(delta);
        double error = 0.0;
        for (int x = 0; x < in; x++)
            for (int y = 0; y < out; y++) {
                double want = 0.0;
                for (int k = 0; k < r; k++)
                    want += (double)B[(size_t)y * r + k] * A[(size_t)k * in + x];
                size_t at = (size_t)x * out + y;
                delta[at] = after.data[at] - before.data[at];
                error = fmax(error, fabs(delta[at] - scale * want));
            }
        expect_within(before.name, error, 1e-6);
        int rank = matrix_rank(delta, in, out, 1e-4);
        print_message("%s: rank of the change %d (r = %d)\n", before.name, rank, r);
        assert_int_equal(rank, r); /* random A and B: exactly r */
        free(delta);
    }
    free(merged_memory);
    kd_gpt2_free(&model);
}

static void test_adapter_round_trips(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    gpt2_model saved, loaded;
    make_adapted(&saved, (1u << GPT2_LORA_TARGETS) - 1, 1);
    assert_int_equal(kd_peft_adapter_save(dir, &saved, "some/base"), KD_OK);
    assert_int_equal(kd_gpt2_create(&loaded, &tiny), KD_OK);
    if (kd_peft_adapter_load(dir, &loaded) != KD_OK)
        fail_msg("%s", kd_last_error());
    assert_memory_equal(&loaded.lora->config, &saved.lora->config, sizeof saved.lora->config);
    assert_memory_equal(loaded.lora->params_memory, saved.lora->params_memory,
                        saved.lora->num_params * sizeof(float));
    assert_memory_equal(loaded.params.qkvb, saved.params.qkvb, 3 * 8 * 2 * sizeof(float));
    gpt2_lora_config config;
    char base[64];
    char *path = test_path(dir, KD_PEFT_CONFIG_FILE);
    assert_int_equal(kd_peft_config_read(path, &config, base, sizeof base), KD_OK);
    assert_string_equal(base, "some/base");
    free(path);
    kd_gpt2_free(&loaded);
    kd_gpt2_free(&saved);
    test_remove_temp_dir(dir);
}

static void expect_config_refused(const char *json, const char *fragment)
{
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    gpt2_lora_config config;
    assert_int_not_equal(kd_peft_config_from_json(root, &config, NULL, 0), KD_OK);
    if (!strstr(kd_last_error(), fragment))
        fail_msg("\"%s\" does not name \"%s\"", kd_last_error(), fragment);
    cJSON_Delete(root);
}

#define LORA_KEYS "\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, "

static void test_unsupported_configs_are_refused(void **state)
{
    (void)state;
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"c_attn\"], \"use_dora\": true}",
                          "use_dora: DoRA");
    expect_config_refused("{\"peft_type\": \"PREFIX_TUNING\", \"r\": 4}", "peft_type");
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"c_attn\"], "
                          "\"modules_to_save\": [\"lm_head\"]}", "modules_to_save");
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"c_attn\"], \"bias\": \"lora_only\"}",
                          "bias");
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"q_proj\"]}",
                          "valid: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj");
    expect_config_refused("{\"peft_type\": \"LORA\", \"r\": 0, \"target_modules\": [\"c_fc\"]}",
                          "r must be a positive integer");
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"c_attn\"], "
                          "\"layers_to_transform\": [0]}", "layers_to_transform");
    expect_config_refused("{" LORA_KEYS "\"target_modules\": [\"c_attn\"], "
                          "\"rank_pattern\": {\"c_attn\": 2}}", "rank_pattern");
}

/* The fixture's adapter (2 layers, width 32, rank 4) on bases it does not fit. */
static void expect_base_refused(int n_layer, int n_embd, const char *fragment)
{
    gpt2_config config = {.n_layer = n_layer, .n_head = 2, .n_embd = n_embd, .n_positions = 16,
                          .vocab_size = 97, .layer_norm_epsilon = 1e-5f};
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &config), KD_OK);
    assert_int_not_equal(kd_peft_adapter_load(PEFT_DIR "/adapter", &model), KD_OK);
    if (!strstr(kd_last_error(), fragment))
        fail_msg("\"%s\" does not name \"%s\"", kd_last_error(), fragment);
    kd_gpt2_free(&model);
}

static void test_adapter_for_another_base_is_refused(void **state)
{
    (void)state;
    expect_base_refused(1, 32, "unexpected tensor base_model.model.transformer.h.1.attn.c_attn");
    expect_base_refused(3, 32, "missing tensor base_model.model.transformer.h.2.attn.c_attn");
    expect_base_refused(2, 64, "h.0.attn.c_attn.lora_A.weight has shape [4, 32]; the base "
                               "model needs [4, 64]");
    expect_base_refused(2, 2, "lora rank 4 is larger than attn.c_attn's dimensions 2 x 6");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peft_layout_merges_to_torch),
        cmocka_unit_test(test_merge_is_base_plus_low_rank),
        cmocka_unit_test(test_adapter_round_trips),
        cmocka_unit_test(test_unsupported_configs_are_refused),
        cmocka_unit_test(test_adapter_for_another_base_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
