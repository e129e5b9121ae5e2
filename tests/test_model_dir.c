/* Model directories: save -> load is bit-identical; files shaped like the
 * Hub's (no "transformer." prefix, attention buffers, a tied lm_head, F16)
 * load; missing, mis-shaped, unexpected, untied or non-finite tensors and
 * bad configs fail with a message naming the file and tensor. */
#include "test_support.h"

#include "kd/hf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const gpt2_config small_config = {.n_layer = 2, .n_head = 2, .n_embd = 8,
                                         .n_positions = 16, .vocab_size = 50,
                                         .layer_norm_epsilon = 1e-5f};

static gpt2_model model;

static int setup(void **state)
{
    test_group_dir_setup(state);
    assert_int_equal(kd_gpt2_create(&model, &small_config), KD_OK);
    kd_gpt2_init_random(&model, 1234);
    return 0;
}

static int teardown(void **state)
{
    kd_gpt2_free(&model);
    return test_group_dir_teardown(state);
}

/* The model's tensors under `prefix`, with room for extra entries after them. */
typedef struct {
    safetensors_source sources[64];
    char names[64][96];
    int count;
} tensor_list;

static void list_parameters(tensor_list *list, const char *prefix)
{
    list->count = kd_gpt2_tensor_count(&small_config);
    assert_true(list->count <= 60);
    for (int i = 0; i < list->count; i++) {
        gpt2_tensor tensor;
        kd_gpt2_tensor_at(&model.config, &model.params, i, &tensor);
        snprintf(list->names[i], sizeof list->names[i], "%s%s", prefix, tensor.name);
        safetensors_source *source = &list->sources[i];
        source->name = list->names[i];
        source->data = tensor.data;
        source->ndim = tensor.ndim;
        source->shape[0] = tensor.shape[0];
        source->shape[1] = tensor.shape[1];
    }
}

static void add_tensor(tensor_list *list, const char *name, const float *data, int ndim,
                       const int64_t *shape)
{
    safetensors_source *source = &list->sources[list->count];
    snprintf(list->names[list->count], sizeof list->names[0], "%s", name);
    source->name = list->names[list->count++];
    source->data = data;
    source->ndim = ndim;
    memcpy(source->shape, shape, (size_t)ndim * sizeof *shape);
}

static int find_index(const tensor_list *list, const char *name)
{
    for (int i = 0; i < list->count; i++)
        if (strcmp(list->names[i], name) == 0)
            return i;
    fail_msg("no tensor %s", name);
    return -1;
}

static void remove_tensor(tensor_list *list, const char *name)
{
    int index = find_index(list, name);
    memmove(&list->sources[index], &list->sources[index + 1],
            (size_t)(list->count - index - 1) * sizeof list->sources[0]);
    list->count--;
}

/* A model directory holding our config and the listed tensors. */
static char *write_model_dir(const char *name, const tensor_list *list, safetensors_dtype dtype)
{
    char *dir = test_path(test_group_dir, name);
    assert_int_equal(kd_make_directories(dir), KD_OK);
    char *config_path = test_path(dir, "config.json");
    char *weights_path = test_path(dir, "model.safetensors");
    assert_int_equal(kd_gpt2_config_write(config_path, &small_config), KD_OK);
    assert_int_equal(kd_safetensors_write(weights_path, list->sources, list->count, dtype), KD_OK);
    free(config_path);
    free(weights_path);
    return dir;
}

static void expect_load_failure(const char *dir, kd_status expected, const char *fragment)
{
    gpt2_model loaded;
    kd_status status = kd_model_dir_load(dir, &loaded);
    if (status != expected || !strstr(kd_last_error(), fragment))
        fail_msg("%s: got %s \"%s\", wanted %s containing \"%s\"", dir, kd_status_name(status),
                 kd_last_error(), kd_status_name(expected), fragment);
    assert_null(loaded.params_memory);
}

static void assert_loads_identical(const char *dir)
{
    gpt2_model loaded;
    if (kd_model_dir_load(dir, &loaded) != KD_OK)
        fail_msg("%s", kd_last_error());
    assert_memory_equal(&loaded.config, &model.config, sizeof model.config);
    assert_int_equal(loaded.num_params, model.num_params);
    assert_memory_equal(loaded.params_memory, model.params_memory,
                        model.num_params * sizeof(float));
    kd_gpt2_free(&loaded);
}

static void assert_same_file(const char *a, const char *b)
{
    size_t size_a, size_b;
    char *data_a = test_read_file(a, &size_a);
    char *data_b = test_read_file(b, &size_b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(data_a, data_b, size_a);
    free(data_a);
    free(data_b);
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    char *dir = test_path(test_group_dir, "saved/model");
    char *tokenizer = test_path(test_group_dir, "tokenizer");
    static const char *const tokens[] = {"<|endoftext|>"};
    assert_int_equal(mkdir(tokenizer, 0755), 0);
    test_write_tokenizer(tokenizer, tokens, 1, "");
    assert_int_equal(kd_model_dir_save(dir, &model, tokenizer), KD_OK);
    assert_loads_identical(dir);

    /* HF names with the prefix, nothing else (lm_head is tied). */
    char *weights = test_path(dir, "model.safetensors");
    safetensors_file file;
    assert_int_equal(kd_safetensors_open(&file, weights), KD_OK);
    assert_int_equal(file.tensor_count, kd_gpt2_tensor_count(&small_config));
    for (int i = 0; i < file.tensor_count; i++)
        assert_int_equal(strncmp(file.tensors[i].name, "transformer.", 12), 0);
    assert_non_null(kd_safetensors_find(&file, "transformer.h.1.attn.c_attn.weight"));
    assert_null(kd_safetensors_find(&file, "lm_head.weight"));
    kd_safetensors_close(&file);

    const char *copied[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        char *source = test_path(tokenizer, copied[i]);
        char *destination = test_path(dir, copied[i]);
        assert_same_file(source, destination);
        free(source);
        free(destination);
    }
    /* Saving again over the directory replaces it cleanly. */
    assert_int_equal(kd_model_dir_save(dir, &model, NULL), KD_OK);
    assert_loads_identical(dir);
    free(weights);
    free(tokenizer);
    free(dir);
}

/* gpt2 on the Hub: no prefix, F32, causal-mask buffers h.N.attn.bias of shape
 * [1, 1, P, P]; older files add masked_bias scalars and lm_head = wte. */
static void test_loads_hub_layout(void **state)
{
    (void)state;
    tensor_list list;
    list_parameters(&list, "");
    size_t positions = (size_t)small_config.n_positions;
    float *mask = calloc(positions * positions, sizeof *mask);
    assert_non_null(mask);
    for (size_t row = 0; row < positions; row++)
        for (size_t col = 0; col <= row; col++)
            mask[row * positions + col] = 1.0f;
    float masked_value = -1e4f;
    const int64_t mask_shape[4] = {1, 1, (int64_t)positions, (int64_t)positions};
    add_tensor(&list, "h.0.attn.bias", mask, 4, mask_shape);
    add_tensor(&list, "h.1.attn.bias", mask, 4, mask_shape);
    add_tensor(&list, "h.0.attn.masked_bias", &masked_value, 0, mask_shape);
    add_tensor(&list, "h.1.attn.masked_bias", &masked_value, 0, mask_shape);
    const int64_t head_shape[2] = {small_config.vocab_size, small_config.n_embd};
    add_tensor(&list, "lm_head.weight", model.params.wte, 2, head_shape);
    char *dir = write_model_dir("hub", &list, SAFETENSORS_F32);
    assert_loads_identical(dir);

    /* The same with the prefix on every parameter and buffer. */
    tensor_list prefixed;
    list_parameters(&prefixed, "transformer.");
    add_tensor(&prefixed, "transformer.h.0.attn.bias", mask, 4, mask_shape);
    add_tensor(&prefixed, "transformer.h.1.attn.bias", mask, 4, mask_shape);
    add_tensor(&prefixed, "lm_head.weight", model.params.wte, 2, head_shape);
    char *prefixed_dir = write_model_dir("hub-prefixed", &prefixed, SAFETENSORS_F32);
    assert_loads_identical(prefixed_dir);
    free(mask);
    free(dir);
    free(prefixed_dir);
}

static void test_loads_f16_weights(void **state)
{
    (void)state;
    tensor_list list;
    list_parameters(&list, "transformer.");
    char *dir = write_model_dir("half", &list, SAFETENSORS_F16);
    gpt2_model loaded;
    assert_int_equal(kd_model_dir_load(dir, &loaded), KD_OK);
    for (size_t i = 0; i < model.num_params; i++) {
        float expected = kd_float16_to_float(kd_float_to_float16(model.params_memory[i]));
        assert_memory_equal(&loaded.params_memory[i], &expected, sizeof expected);
    }
    kd_gpt2_free(&loaded);
    free(dir);
}

static void test_missing_and_misshaped_tensors(void **state)
{
    (void)state;
    tensor_list list;
    list_parameters(&list, "transformer.");
    remove_tensor(&list, "transformer.h.1.mlp.c_fc.bias");
    char *dir = write_model_dir("missing", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_FORMAT, "model.safetensors: missing tensor h.1.mlp.c_fc.bias");
    free(dir);

    list_parameters(&list, "transformer.");
    safetensors_source *qkv = &list.sources[find_index(&list, "transformer.h.0.attn.c_attn.weight")];
    qkv->shape[0] = 3 * small_config.n_embd; /* stored [out, in] as an nn.Linear would */
    qkv->shape[1] = small_config.n_embd;
    dir = write_model_dir("transposed", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_FORMAT,
                        "tensor transformer.h.0.attn.c_attn.weight has shape [24, 8], "
                        "expected [8, 24]");
    free(dir);
}

static void test_unexpected_and_duplicate_tensors(void **state)
{
    (void)state;
    tensor_list list;
    list_parameters(&list, "transformer.");
    float extra[8] = {0};
    const int64_t shape[1] = {8};
    add_tensor(&list, "transformer.h.0.attn.rotary", extra, 1, shape);
    char *dir = write_model_dir("extra", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_FORMAT, "unexpected tensor transformer.h.0.attn.rotary");
    free(dir);

    /* A third layer that config.json does not declare. */
    list_parameters(&list, "transformer.");
    add_tensor(&list, "transformer.h.2.ln_1.weight", extra, 1, shape);
    dir = write_model_dir("deeper", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_FORMAT,
                        "unexpected tensor transformer.h.2.ln_1.weight (not a parameter of "
                        "GPT-2 with n_layer 2)");
    free(dir);

    list_parameters(&list, "transformer.");
    add_tensor(&list, "ln_f.bias", model.params.lnfb, 1, shape);
    dir = write_model_dir("both", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_FORMAT, "tensor ln_f.bias appears both as ln_f.bias and "
                                            "transformer.ln_f.bias");
    free(dir);
}

static void test_untied_head_and_non_finite_weights(void **state)
{
    (void)state;
    size_t head_size = (size_t)small_config.vocab_size * (size_t)small_config.n_embd;
    float *head = malloc(head_size * sizeof *head);
    assert_non_null(head);
    memcpy(head, model.params.wte, head_size * sizeof *head);
    head[head_size - 1] += 1.0f;
    tensor_list list;
    list_parameters(&list, "transformer.");
    const int64_t head_shape[2] = {small_config.vocab_size, small_config.n_embd};
    add_tensor(&list, "lm_head.weight", head, 2, head_shape);
    char *dir = write_model_dir("untied", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_UNSUPPORTED, "lm_head.weight differs from wte.weight");
    free(dir);

    list_parameters(&list, "transformer.");
    float broken[8];
    memcpy(broken, model.params.lnfw, sizeof broken);
    broken[3] = NAN;
    list.sources[find_index(&list, "transformer.ln_f.weight")].data = broken;
    dir = write_model_dir("nan", &list, SAFETENSORS_F32);
    expect_load_failure(dir, KD_ERR_NUMERIC, "tensor ln_f.weight: element 3 is nan");
    free(dir);
    free(head);
}

static void test_bad_config_and_missing_files(void **state)
{
    (void)state;
    char *dir = test_path(test_group_dir, "bad-config");
    assert_int_equal(kd_model_dir_save(dir, &model, NULL), KD_OK);
    char *config_path = test_path(dir, "config.json");
    const char *bad = "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, "
                      "\"vocab_size\": 50, \"activation_function\": \"gelu\"}";
    test_write_file(config_path, bad, strlen(bad));
    expect_load_failure(dir, KD_ERR_UNSUPPORTED, "config.json: activation_function \"gelu\"");

    /* A config that disagrees with the weights: every tensor is mis-shaped. */
    const char *wider = "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 16, \"n_positions\": 16, "
                        "\"vocab_size\": 50}";
    test_write_file(config_path, wider, strlen(wider));
    expect_load_failure(dir, KD_ERR_FORMAT, "tensor transformer.wte.weight has shape [50, 8], "
                                            "expected [50, 16]");
    char *missing = test_path(test_group_dir, "no-such-model");
    expect_load_failure(missing, KD_ERR_IO, "no-such-model/config.json: cannot open");
    free(missing);
    free(config_path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_loads_hub_layout),
        cmocka_unit_test(test_loads_f16_weights),
        cmocka_unit_test(test_missing_and_misshaped_tensors),
        cmocka_unit_test(test_unexpected_and_duplicate_tensors),
        cmocka_unit_test(test_untied_head_and_non_finite_weights),
        cmocka_unit_test(test_bad_config_and_missing_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
