/* GGUF: the container's write -> read round trip, GPT-2 exported and read
 * back (weights, hyper-parameters, tokenizer), and one damaged file per kind
 * of bad input, each refused with one line naming the file and the problem. */
#include "test_support.h"

#include "kd/gguf.h"
#include "kd/hf.h"
#include "kd/io.h"
#include "kd/train.h"

#include <stdlib.h>
#include <string.h>

enum { EMBD = 32, TENSOR_ALIGNMENT = 64 };

static void test_container_round_trip(void **state)
{
    (void)state;
    char *path = test_path(test_group_dir, "container.gguf");
    float vector[3] = {1.5f, -2.0f, 1e-30f};
    uint8_t blocks[2 * 34];  /* one q8_0 row of 64 values */
    for (size_t i = 0; i < sizeof blocks; i++)
        blocks[i] = (uint8_t)(i * 7);
    char *names[] = {"a", "", "ĠG"};
    int32_t numbers[] = {-1, 0, 7};
    gguf_writer writer;
    kd_gguf_writer_init(&writer, TENSOR_ALIGNMENT);
    kd_gguf_add_string(&writer, "general.architecture", "test");
    kd_gguf_add_u32(&writer, "count", 41);
    kd_gguf_add_f32(&writer, "epsilon", 1e-5f);
    kd_gguf_add_strings(&writer, "names", names, 3);
    kd_gguf_add_i32s(&writer, "numbers", numbers, 3);
    kd_gguf_add_tensor(&writer, "vector", GGML_F32, 1, (uint64_t[]){3}, vector);
    kd_gguf_add_tensor(&writer, "blocks", GGML_Q8_0, 2, (uint64_t[]){64, 1}, blocks);
    assert_int_equal(kd_gguf_write(&writer, path), KD_OK);
    kd_gguf_writer_free(&writer);

    gguf_file file;
    assert_int_equal(kd_gguf_open(&file, path), KD_OK);
    assert_int_equal(file.alignment, TENSOR_ALIGNMENT);
    uint32_t count = 0;
    float epsilon = 0;
    gguf_string architecture;
    assert_int_equal(kd_gguf_get_u32(&file, "count", &count), KD_OK);
    assert_int_equal(count, 41);
    assert_int_equal(kd_gguf_get_f32(&file, "epsilon", &epsilon), KD_OK);
    assert_true(epsilon == 1e-5f);
    assert_int_equal(kd_gguf_get_string(&file, "general.architecture", &architecture), KD_OK);
    assert_true(kd_gguf_string_equals(architecture, "test"));
    char **strings = NULL;
    uint64_t string_count = 0;
    assert_int_equal(kd_gguf_get_strings(&file, "names", &strings, &string_count), KD_OK);
    assert_int_equal(string_count, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(strings[i], names[i]);
    free(strings);
    assert_int_not_equal(kd_gguf_get_u32(&file, "epsilon", &count), KD_OK);
    assert_non_null(strstr(kd_last_error(), "epsilon is not an integer"));

    const gguf_tensor *read_vector = kd_gguf_find_tensor(&file, "vector");
    const gguf_tensor *read_blocks = kd_gguf_find_tensor(&file, "blocks");
    assert_non_null(read_vector);
    assert_non_null(read_blocks);
    assert_memory_equal(read_vector->data, vector, sizeof vector);
    assert_memory_equal(read_blocks->data, blocks, sizeof blocks);
    assert_int_equal(read_blocks->type, GGML_Q8_0);
    assert_int_equal(read_blocks->bytes, sizeof blocks);
    assert_int_equal((read_blocks->data - file.map) % TENSOR_ALIGNMENT, 0);
    kd_gguf_close(&file);
    free(path);
}

/* A tiny GPT-2 with a byte-level tokenizer of 261 tokens, saved as a model
 * directory under the group directory. */
static char *make_model_dir(gpt2_model *model)
{
    char *dir = test_path(test_group_dir, "model");
    const char *tokens[] = {"he", "ll", "hell", "hello", "<|endoftext|>"};
    assert_int_equal(kd_make_directories(dir), KD_OK);
    test_write_tokenizer(dir, tokens, 5, "h e\nl l\nhe ll\nhell o\n");
    gpt2_config config = {.n_layer = 2, .n_head = 2, .n_embd = EMBD, .n_positions = 16,
                          .vocab_size = 261, .layer_norm_epsilon = 1e-5f};
    assert_int_equal(kd_gpt2_create(model, &config), KD_OK);
    kd_gpt2_init_random(model, 3);
    assert_int_equal(kd_model_dir_save(dir, model, NULL), KD_OK);
    return dir;
}

static void test_gpt2_round_trip(void **state)
{
    (void)state;
    gpt2_model model;
    char *dir = make_model_dir(&model);
    char *path = test_path(test_group_dir, "model-f32.gguf");
    int fallbacks = -1;
    assert_int_equal(kd_export_gguf(dir, path, GGML_F32, 0, &fallbacks), KD_OK);
    assert_int_equal(fallbacks, 0);
    /* An existing file is replaced only when forced. */
    assert_int_equal(kd_export_gguf(dir, path, GGML_F32, 0, &fallbacks), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "--force"));
    assert_int_equal(kd_export_gguf(dir, path, GGML_F32, 1, &fallbacks), KD_OK);

    model_weights weights;
    gpt2_model *loaded = &weights.model;
    kd_tokenizer *tokenizer = NULL, *original = NULL;
    assert_int_equal(kd_model_load(path, &weights, &tokenizer), KD_OK);
    assert_memory_equal(&loaded->config, &model.config, sizeof model.config);
    assert_int_equal(loaded->num_params, model.num_params);
    assert_memory_equal(loaded->params_memory, model.params_memory,
                        model.num_params * sizeof(float));
    assert_int_equal(kd_tokenizer_load(dir, &original), KD_OK);
    assert_int_equal(kd_tokenizer_hash(tokenizer), kd_tokenizer_hash(original));
    kd_token_buffer ids = {0};
    assert_int_equal(kd_tokenizer_encode(tokenizer, "hello hell", 10, &ids), KD_OK);
    assert_int_equal(ids.count, 3);
    assert_int_equal(ids.ids[0], 259);  /* "hello" */
    kd_token_buffer_free(&ids);
    kd_tokenizer_free(original);
    kd_tokenizer_free(tokenizer);
    kd_model_unload(&weights);
    kd_gpt2_free(&model);
    free(path);
    free(dir);
}

static void test_gpt2_f16(void **state)
{
    (void)state;
    gpt2_model model;
    char *dir = make_model_dir(&model);
    char *path = test_path(test_group_dir, "model-f16.gguf");
    int fallbacks = -1;
    assert_int_equal(kd_export_gguf(dir, path, GGML_F16, 1, &fallbacks), KD_OK);
    model_weights weights;
    assert_int_equal(kd_model_load(path, &weights, NULL), KD_OK);
    gpt2_model loaded = weights.model;
    /* Matrices round to f16; norms, biases and positions stay exact. */
    for (size_t i = 0; i < model.num_params; i++) {
        float exact = model.params_memory[i];
        float got = loaded.params_memory[i];
        if (got != exact && got != kd_float16_to_float(kd_float_to_float16(exact)))
            fail_msg("parameter %zu: %g read back as %g", i, exact, got);
    }
    size_t positions = (size_t)model.config.n_positions * EMBD;
    assert_memory_equal(loaded.params.wpe, model.params.wpe, positions * sizeof(float));
    assert_memory_equal(loaded.params.lnfw, model.params.lnfw, EMBD * sizeof(float));
    size_t embedding = (size_t)model.config.vocab_size * EMBD;
    assert_memory_not_equal(loaded.params.wte, model.params.wte, embedding * sizeof(float));
    kd_model_unload(&weights);
    kd_gpt2_free(&model);
    free(path);
    free(dir);
}

/* ---- damaged files -------------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t size;
} file_bytes;

static size_t find(const file_bytes *file, const char *needle)
{
    size_t length = strlen(needle);
    for (size_t at = 0; at + length <= file->size; at++) {
        if (memcmp(file->bytes + at, needle, length) == 0)
            return at;
    }
    fail_msg("\"%s\" is not in the file", needle);
    return 0;
}

static void put_u32(file_bytes *file, size_t at, uint32_t value)
{
    memcpy(file->bytes + at, &value, 4);
}

static void put_u64(file_bytes *file, size_t at, uint64_t value)
{
    memcpy(file->bytes + at, &value, 8);
}

/* Where the fields of a one-dimensional tensor's info record lie. */
static size_t tensor_type_at(const file_bytes *file, const char *name)
{
    return find(file, name) + strlen(name) + 4 + 8;
}

static size_t tensor_offset_at(const file_bytes *file, const char *name)
{
    return tensor_type_at(file, name) + 4;
}

static uint64_t get_u64(const file_bytes *file, size_t at)
{
    uint64_t value;
    memcpy(&value, file->bytes + at, 8);
    return value;
}

static void wrong_magic(file_bytes *f) { f->bytes[0] = 'X'; }
static void wrong_version(file_bytes *f) { put_u32(f, 4, 2); }
static void truncated_header(file_bytes *f) { f->size = 40; }
static void truncated_data(file_bytes *f) { f->size -= 1; }
static void huge_key_length(file_bytes *f) { put_u64(f, 24, (uint64_t)1 << 50); }
static void unknown_value_type(file_bytes *f)
{
    put_u32(f, find(f, "gpt2.block_count") + strlen("gpt2.block_count"), 77);
}
static void huge_array(file_bytes *f)
{
    put_u64(f, find(f, "tokenizer.ggml.tokens") + strlen("tokenizer.ggml.tokens") + 8,
            (uint64_t)1 << 40);
}
static void offset_past_end(file_bytes *f)
{
    put_u64(f, tensor_offset_at(f, "output_norm.bias"), (uint64_t)1 << 40);
}
static void overlapping(file_bytes *f)
{
    put_u64(f, tensor_offset_at(f, "output_norm.bias"),
            get_u64(f, tensor_offset_at(f, "output_norm.weight")));
}
static void unknown_tensor_type(file_bytes *f)
{
    put_u32(f, tensor_type_at(f, "output_norm.bias"), 99);
}
static void shape_disagrees(file_bytes *f)
{
    put_u32(f, find(f, "gpt2.embedding_length") + strlen("gpt2.embedding_length") + 4, 64);
    put_u32(f, find(f, "gpt2.feed_forward_length") + strlen("gpt2.feed_forward_length") + 4,
            256);
}
static void missing_merges(file_bytes *f)
{
    f->bytes[find(f, "tokenizer.ggml.merges") + strlen("tokenizer.ggml.merges") - 1] = 'z';
}
static void other_architecture(file_bytes *f)
{
    size_t value = find(f, "general.architecture") + strlen("general.architecture") + 4 + 8;
    memcpy(f->bytes + value, "bert", 4);
}

typedef struct {
    const char *what;
    void (*damage)(file_bytes *file);
    const char *message;
} damage_case;

static void test_damaged_files(void **state)
{
    (void)state;
    static const damage_case CASES[] = {
        {"wrong magic", wrong_magic, "not a GGUF file (wrong magic)"},
        {"wrong version", wrong_version, "GGUF version 2; kd reads version 3"},
        {"truncated header", truncated_header, "truncated"},
        {"truncated data", truncated_data, "run past the end of the file"},
        {"string longer than the file", huge_key_length, "truncated: a key needs"},
        {"unknown value type", unknown_value_type, "unknown value type 77"},
        {"array longer than the file", huge_array, "cannot fit in the"},
        {"tensor past the end", offset_past_end, "run past the end of the file"},
        {"overlapping tensors", overlapping, "overlap"},
        {"unknown tensor type", unknown_tensor_type, "ggml type 99"},
        {"shape against metadata", shape_disagrees, "the metadata make it 64 x 261"},
        {"missing tokenizer key", missing_merges, "missing tokenizer key tokenizer.ggml.merges"},
        {"other architecture", other_architecture, "architecture \"bert\"; kd runs"},
    };
    gpt2_model model;
    char *dir = make_model_dir(&model);
    kd_gpt2_free(&model);
    char *good = test_path(test_group_dir, "good.gguf");
    char *bad = test_path(test_group_dir, "bad.gguf");
    int fallbacks = 0;
    assert_int_equal(kd_export_gguf(dir, good, GGML_F16, 1, &fallbacks), KD_OK);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        file_bytes file;
        file.bytes = test_read_file(good, &file.size);
        CASES[i].damage(&file);
        test_write_file(bad, file.bytes, file.size);
        free(file.bytes);
        model_weights weights;
        kd_tokenizer *tokenizer = NULL;
        kd_status status = kd_model_load(bad, &weights, &tokenizer);
        const char *message = kd_last_error();
        if (status == KD_OK || !strstr(message, CASES[i].message) || !strstr(message, bad) ||
            strchr(message, '\n'))
            fail_msg("%s: got %s \"%s\", wanted a line with the path and \"%s\"", CASES[i].what,
                     kd_status_name(status), message, CASES[i].message);
        assert_null(tokenizer);
    }
    free(good);
    free(bad);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_round_trip),
        cmocka_unit_test(test_gpt2_round_trip),
        cmocka_unit_test(test_gpt2_f16),
        cmocka_unit_test(test_damaged_files),
    };
    return cmocka_run_group_tests(tests, test_group_dir_setup, test_group_dir_teardown);
}
