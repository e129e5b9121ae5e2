/* GPT-2 config.json: write -> read round trip, the keys transformers needs,
 * HF's own files (n_ctx, extra keys), and a one-line error per bad value. */
#include "test_support.h"

#include "kd/hf.h"

#include <stdlib.h>
#include <string.h>

/* A config.json of the form distilgpt2 has on the Hub: the legacy n_ctx
 * beside n_positions, and keys kd ignores (label counts, task parameters). */
static const char distilgpt2_config[] =
    "{\n"
    "  \"_num_labels\": 1,\n"
    "  \"activation_function\": \"gelu_new\",\n"
    "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
    "  \"attn_pdrop\": 0.1,\n"
    "  \"bos_token_id\": 50256,\n"
    "  \"embd_pdrop\": 0.1,\n"
    "  \"eos_token_id\": 50256,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"layer_norm_epsilon\": 1e-05,\n"
    "  \"model_type\": \"gpt2\",\n"
    "  \"n_ctx\": 1024,\n"
    "  \"n_embd\": 768,\n"
    "  \"n_head\": 12,\n"
    "  \"n_layer\": 6,\n"
    "  \"n_positions\": 1024,\n"
    "  \"resid_pdrop\": 0.1,\n"
    "  \"summary_type\": \"cls_index\",\n"
    "  \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}},\n"
    "  \"vocab_size\": 50257\n"
    "}\n";

static kd_status parse(const char *text, gpt2_config *config)
{
    cJSON *json = cJSON_Parse(text);
    assert_non_null(json);
    kd_status status = kd_gpt2_config_from_json(json, config);
    cJSON_Delete(json);
    return status;
}

static void expect_rejected(const char *text, kd_status expected, const char *fragment)
{
    gpt2_config config;
    kd_status status = parse(text, &config);
    if (status != expected || !strstr(kd_last_error(), fragment))
        fail_msg("%s: got %s \"%s\", wanted %s containing \"%s\"", text, kd_status_name(status),
                 kd_last_error(), kd_status_name(expected), fragment);
}

static void test_reads_distilgpt2_config(void **state)
{
    (void)state;
    char *path = test_path(test_group_dir, "config.json");
    test_write_file(path, distilgpt2_config, strlen(distilgpt2_config));
    gpt2_config config;
    assert_int_equal(kd_gpt2_config_read(path, &config), KD_OK);
    assert_int_equal(config.n_layer, 6);
    assert_int_equal(config.n_head, 12);
    assert_int_equal(config.n_embd, 768);
    assert_int_equal(config.n_positions, 1024);
    assert_int_equal(config.vocab_size, 50257);
    assert_true(config.layer_norm_epsilon == 1e-5f);
    free(path);
}

static void test_round_trip_and_required_keys(void **state)
{
    (void)state;
    gpt2_config config = {.n_layer = 3, .n_head = 4, .n_embd = 64, .n_positions = 128,
                          .vocab_size = 50257, .layer_norm_epsilon = 1e-5f};
    char *path = test_path(test_group_dir, "written.json");
    assert_int_equal(kd_gpt2_config_write(path, &config), KD_OK);
    gpt2_config back;
    assert_int_equal(kd_gpt2_config_read(path, &back), KD_OK);
    assert_memory_equal(&back, &config, sizeof config);

    size_t size;
    char *text = test_read_file(path, &size);
    assert_int_equal(text[size - 1], '\n');
    assert_non_null(strstr(text, "1e-05")); /* not 9.99999974737875e-06 */
    cJSON *json = cJSON_Parse(text);
    assert_non_null(json);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "architectures"), 0)
                            ->valuestring, "GPT2LMHeadModel");
    assert_string_equal(cJSON_GetObjectItem(json, "model_type")->valuestring, "gpt2");
    assert_string_equal(cJSON_GetObjectItem(json, "activation_function")->valuestring,
                        "gelu_new");
    assert_int_equal(cJSON_GetObjectItem(json, "n_ctx")->valueint, 128);
    assert_int_equal(cJSON_GetObjectItem(json, "bos_token_id")->valueint, 50256);
    assert_int_equal(cJSON_GetObjectItem(json, "eos_token_id")->valueint, 50256);
    assert_true(cJSON_GetObjectItem(json, "attn_pdrop")->valuedouble == 0.1);
    assert_true(cJSON_GetObjectItem(json, "initializer_range")->valuedouble == 0.02);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "tie_word_embeddings")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "scale_attn_weights")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "use_cache")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "n_inner")));
    /* Keys in sorted order, as save_pretrained writes them. */
    for (cJSON *item = json->child; item->next; item = item->next)
        assert_true(strcmp(item->string, item->next->string) < 0);
    cJSON_Delete(json);
    free(text);
    free(path);
}

static void test_small_vocab_keeps_special_tokens_in_range(void **state)
{
    (void)state;
    gpt2_config config = {.n_layer = 1, .n_head = 1, .n_embd = 4, .n_positions = 8,
                          .vocab_size = 100, .layer_norm_epsilon = 1e-5f};
    cJSON *json = kd_gpt2_config_to_json(&config);
    assert_int_equal(cJSON_GetObjectItem(json, "eos_token_id")->valueint, 99);
    cJSON_Delete(json);
}

static void test_legacy_and_embedded_forms(void **state)
{
    (void)state;
    gpt2_config config;
    /* n_ctx alone, no model_type or epsilon: the "model" object of a training config. */
    assert_int_equal(parse("{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_ctx\": 32, "
                           "\"vocab_size\": 99}",
                           &config),
                     KD_OK);
    assert_int_equal(config.n_positions, 32);
    assert_true(config.layer_norm_epsilon == 1e-5f);
    /* n_positions wins over n_ctx, as in transformers. */
    assert_int_equal(parse("{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"n_ctx\": 32, "
                           "\"n_positions\": 64, \"vocab_size\": 99, \"n_inner\": 32}",
                           &config),
                     KD_OK);
    assert_int_equal(config.n_positions, 64);
}

static void test_rejects_bad_values(void **state)
{
    (void)state;
#define SIZES "\"n_head\": 2, \"n_embd\": 8, \"n_positions\": 16, \"vocab_size\": 10"
    expect_rejected("{\"n_layer\": 0, " SIZES "}", KD_ERR_INVALID, "\"n_layer\" must be positive");
    expect_rejected("{\"n_layer\": -3, " SIZES "}", KD_ERR_INVALID, "must be positive, got -3");
    expect_rejected("{\"n_layer\": 2.5, " SIZES "}", KD_ERR_INVALID, "\"n_layer\" must be an integer");
    expect_rejected("{\"n_layer\": \"6\", " SIZES "}", KD_ERR_INVALID, "must be an integer");
    expect_rejected("{\"n_layer\": 1e12, " SIZES "}", KD_ERR_INVALID, "must be an integer");
    expect_rejected("{" SIZES "}", KD_ERR_FORMAT, "missing key \"n_layer\"");
    expect_rejected("{\"n_layer\": 2, \"n_head\": 3, \"n_embd\": 8, \"n_positions\": 16, "
                    "\"vocab_size\": 10}",
                    KD_ERR_INVALID, "not divisible by n_head");
    expect_rejected("{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 8, \"vocab_size\": 10}",
                    KD_ERR_FORMAT, "missing key \"n_positions\"");
    expect_rejected("{\"n_layer\": 2000, \"n_head\": 8, \"n_embd\": 65536, \"n_positions\": 16, "
                    "\"vocab_size\": 10}",
                    KD_ERR_NOMEM, "this machine has");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"layer_norm_epsilon\": -1}", KD_ERR_INVALID,
                    "layer_norm_epsilon");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"activation_function\": \"relu\"}",
                    KD_ERR_UNSUPPORTED, "activation_function \"relu\" is not supported");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"model_type\": \"llama\"}", KD_ERR_UNSUPPORTED,
                    "model_type \"llama\"");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"tie_word_embeddings\": false}",
                    KD_ERR_UNSUPPORTED, "tie_word_embeddings = false");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"n_inner\": 16}", KD_ERR_UNSUPPORTED,
                    "n_inner must be null or 4 * n_embd = 32");
    /* 4 * n_embd past INT_MAX, checked before the memory check refuses the size. */
    expect_rejected("{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 800000000, \"n_ctx\": 16, "
                    "\"vocab_size\": 300, \"n_inner\": 31}",
                    KD_ERR_UNSUPPORTED, "4 * n_embd = 3200000000");
    expect_rejected("{\"n_layer\": 2, " SIZES ", \"scale_attn_by_inverse_layer_idx\": true}",
                    KD_ERR_UNSUPPORTED, "scale_attn_by_inverse_layer_idx");
    expect_rejected("[1]", KD_ERR_FORMAT, "not a JSON object");
#undef SIZES
}

static void test_read_errors_name_the_file(void **state)
{
    (void)state;
    char *path = test_path(test_group_dir, "config.json");
    const char *bad = "{\"n_layer\": 2, \"n_head\": 3, \"n_embd\": 8, \"n_positions\": 16, "
                      "\"vocab_size\": 10}";
    test_write_file(path, bad, strlen(bad));
    gpt2_config config;
    assert_int_equal(kd_gpt2_config_read(path, &config), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "config.json: n_embd 8 is not divisible by n_head 3"));
    test_write_file(path, "{\n\"n_layer\": 2,\n,}", 18);
    assert_int_equal(kd_gpt2_config_read(path, &config), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "config.json:3:"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_distilgpt2_config),
        cmocka_unit_test(test_round_trip_and_required_keys),
        cmocka_unit_test(test_small_vocab_keeps_special_tokens_in_range),
        cmocka_unit_test(test_legacy_and_embedded_forms),
        cmocka_unit_test(test_rejects_bad_values),
        cmocka_unit_test(test_read_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, test_group_dir_setup, test_group_dir_teardown);
}
