/* safetensors: write -> read round trips, the header layout HF expects,
 * F16/BF16 reading, and one malformed file per validation rule, each of
 * which must fail with the right status and a message naming the problem. */
#include "test_support.h"

#include "kd/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes u64 length | header | data_size bytes (0, 1, 2, ...) to `name`. */
static char *write_raw(const char *name, const char *header, size_t data_size)
{
    char *path = test_path(test_group_dir, name);
    size_t length = strlen(header);
    size_t total = 8 + length + data_size;
    unsigned char *bytes = malloc(total);
    assert_non_null(bytes);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)length >> (8 * i));
    memcpy(bytes + 8, header, length);
    for (size_t i = 0; i < data_size; i++)
        bytes[8 + length + i] = (unsigned char)i;
    test_write_file(path, bytes, total);
    free(bytes);
    return path;
}

static void expect_open_failure(const char *header, size_t data_size, kd_status expected,
                                const char *fragment)
{
    char *path = write_raw("bad.safetensors", header, data_size);
    safetensors_file file;
    kd_status status = kd_safetensors_open(&file, path);
    if (status != expected || !strstr(kd_last_error(), fragment) ||
        !strstr(kd_last_error(), "bad.safetensors"))
        fail_msg("header %s: got %s \"%s\", wanted %s containing \"%s\"", header,
                 kd_status_name(status), kd_last_error(), kd_status_name(expected), fragment);
    assert_int_equal(file.fd, -1); /* closed on failure */
    free(path);
}

static void test_round_trip_f32(void **state)
{
    (void)state;
    float matrix[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-40f};
    float vector[3] = {7.0f, 8.0f, 9.0f};
    float scalar = -1e4f;
    safetensors_source sources[] = {
        {"layer.weight", matrix, 2, {2, 3}},
        {"layer.bias", vector, 1, {3}},
        {"masked_bias", &scalar, 0, {0}},
        {"empty", vector, 2, {0, 5}},
    };
    char *path = test_path(test_group_dir, "round.safetensors");
    assert_int_equal(kd_safetensors_write(path, sources, 4, SAFETENSORS_F32), KD_OK);

    safetensors_file file;
    assert_int_equal(kd_safetensors_open(&file, path), KD_OK);
    assert_int_equal(file.tensor_count, 4);
    assert_string_equal(kd_safetensors_metadata(&file, "format"), "pt");
    for (int i = 0; i < 4; i++) {
        const safetensors_tensor *tensor = kd_safetensors_find(&file, sources[i].name);
        assert_non_null(tensor);
        assert_int_equal(tensor->dtype, SAFETENSORS_F32);
        assert_int_equal(tensor->ndim, sources[i].ndim);
        for (int axis = 0; axis < tensor->ndim; axis++)
            assert_int_equal(tensor->shape[axis], sources[i].shape[axis]);
        uint64_t count = kd_safetensors_tensor_elements(tensor);
        float out[8];
        assert_int_equal(kd_safetensors_read_f32(&file, tensor, 0, count, out), KD_OK);
        assert_memory_equal(out, sources[i].data, count * sizeof(float));
    }
    const safetensors_tensor *weight = kd_safetensors_find(&file, "layer.weight");
    float tail[2];
    assert_int_equal(kd_safetensors_read_f32(&file, weight, 4, 2, tail), KD_OK);
    assert_memory_equal(tail, matrix + 4, sizeof tail);
    assert_int_equal(kd_safetensors_read_f32(&file, weight, 5, 2, tail), KD_ERR_INVALID);
    assert_null(kd_safetensors_find(&file, "absent"));
    kd_safetensors_close(&file);
    free(path);
}

/* The header layout HF writes: length a multiple of 8, space padding,
 * __metadata__ first, tensors listed in data order. */
static void test_header_layout(void **state)
{
    (void)state;
    float data[10] = {0};
    safetensors_source sources[] = {
        {"b", data, 1, {3}}, {"a", data, 1, {5}}, {"c", data, 1, {2}}};
    char *path = test_path(test_group_dir, "layout.safetensors");
    assert_int_equal(kd_safetensors_write(path, sources, 3, SAFETENSORS_F32), KD_OK);
    size_t size;
    unsigned char *bytes = test_read_file(path, &size);
    uint64_t length = 0;
    for (int i = 7; i >= 0; i--)
        length = length << 8 | bytes[i];
    assert_int_equal(length % 8, 0);
    assert_int_equal(size, 8 + length + 10 * sizeof(float));
    char *header = (char *)bytes + 8;
    size_t json_end = length;
    while (header[json_end - 1] == ' ')
        json_end--;
    assert_int_equal(header[json_end - 1], '}');
    assert_true(length - json_end < 8);
    cJSON *json = cJSON_ParseWithLength(header, length);
    assert_non_null(json);
    assert_string_equal(json->child->string, "__metadata__");
    const char *order[] = {"b", "a", "c"};
    uint64_t expected_begin = 0;
    int index = 0;
    for (cJSON *entry = json->child->next; entry; entry = entry->next, index++) {
        assert_string_equal(entry->string, order[index]);
        cJSON *offsets = cJSON_GetObjectItem(entry, "data_offsets");
        assert_int_equal((uint64_t)cJSON_GetArrayItem(offsets, 0)->valuedouble, expected_begin);
        expected_begin = (uint64_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
    }
    assert_int_equal(index, 3);
    cJSON_Delete(json);
    free(bytes);
    free(path);
}

static void test_f16_write_rounds_each_value(void **state)
{
    (void)state;
    float values[5] = {0.1f, -3.14159f, 70000.0f, 1e-6f, 2.0f};
    safetensors_source source = {"x", values, 1, {5}};
    char *path = test_path(test_group_dir, "half.safetensors");
    assert_int_equal(kd_safetensors_write(path, &source, 1, SAFETENSORS_F16), KD_OK);
    safetensors_file file;
    assert_int_equal(kd_safetensors_open(&file, path), KD_OK);
    const safetensors_tensor *tensor = kd_safetensors_find(&file, "x");
    assert_int_equal(tensor->dtype, SAFETENSORS_F16);
    assert_int_equal(tensor->data_end - tensor->data_begin, 10);
    float out[5];
    assert_int_equal(kd_safetensors_read_f32(&file, tensor, 0, 5, out), KD_OK);
    for (int i = 0; i < 5; i++) {
        float expected = kd_float16_to_float(kd_float_to_float16(values[i]));
        assert_memory_equal(&out[i], &expected, sizeof expected);
    }
    kd_safetensors_close(&file);
    assert_int_equal(kd_safetensors_write(path, &source, 1, SAFETENSORS_BF16), KD_ERR_UNSUPPORTED);
    free(path);
}

static void test_reads_bf16_and_refuses_integers(void **state)
{
    (void)state;
    /* Data bytes are 0, 1, 2, ...: BF16 elements 0x0100, 0x0302; U8 tensor after them. */
    char *path = write_raw("mixed.safetensors",
                           "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                           "\"mask\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[4,8]}}",
                           8);
    safetensors_file file;
    assert_int_equal(kd_safetensors_open(&file, path), KD_OK);
    assert_null(kd_safetensors_metadata(&file, "format"));
    float out[4];
    assert_int_equal(kd_safetensors_read_f32(&file, kd_safetensors_find(&file, "w"), 0, 2, out), KD_OK);
    assert_true(out[0] == kd_bfloat16_to_float(0x0100));
    assert_true(out[1] == kd_bfloat16_to_float(0x0302));
    assert_int_equal(kd_safetensors_read_f32(&file, kd_safetensors_find(&file, "mask"), 0, 4, out),
                     KD_ERR_UNSUPPORTED);
    assert_non_null(strstr(kd_last_error(), "tensor mask has dtype U8"));
    kd_safetensors_close(&file);
    free(path);
}

static void test_short_and_absurd_lengths(void **state)
{
    (void)state;
    char *path = test_path(test_group_dir, "bad.safetensors");
    safetensors_file file;
    test_write_file(path, "\x10\0\0", 3);
    assert_int_equal(kd_safetensors_open(&file, path), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "too short"));

    unsigned char past_end[16] = {0xe8, 0x03}; /* header length 1000 in a 16-byte file */
    test_write_file(path, past_end, sizeof past_end);
    assert_int_equal(kd_safetensors_open(&file, path), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "header length 1000 runs past the end"));

    unsigned char huge[16] = {0, 0, 0, 0, 0, 0x01}; /* 2^40 */
    test_write_file(path, huge, sizeof huge);
    assert_int_equal(kd_safetensors_open(&file, path), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "is absurd"));

    unsigned char zero[16] = {0};
    test_write_file(path, zero, sizeof zero);
    assert_int_equal(kd_safetensors_open(&file, path), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "header length 0 is absurd"));

    char *missing = test_path(test_group_dir, "missing.safetensors");
    assert_int_equal(kd_safetensors_open(&file, missing), KD_ERR_IO);
    assert_non_null(strstr(kd_last_error(), "missing.safetensors: cannot open"));
    free(missing);
    free(path);
}

static void test_truncated_file(void **state)
{
    (void)state;
    float values[64] = {0};
    safetensors_source source = {"h.0.mlp.c_fc.weight", values, 2, {8, 8}};
    char *path = test_path(test_group_dir, "bad.safetensors");
    assert_int_equal(kd_safetensors_write(path, &source, 1, SAFETENSORS_F32), KD_OK);
    size_t size;
    char *bytes = test_read_file(path, &size);
    test_write_file(path, bytes, size - 5);
    safetensors_file file;
    assert_int_equal(kd_safetensors_open(&file, path), KD_ERR_FORMAT);
    assert_non_null(strstr(kd_last_error(), "tensor h.0.mlp.c_fc.weight: data_offsets end 256 "
                                            "is past the data section (251 bytes)"));
    free(bytes);
    free(path);
}

static void test_malformed_json(void **state)
{
    (void)state;
    expect_open_failure("{\"w\": {\"dtype\": \"F32\",", 0, KD_ERR_FORMAT, "header JSON malformed");
    expect_open_failure("[1, 2, 3]", 0, KD_ERR_FORMAT, "header is not a JSON object");
    expect_open_failure("{}  xx", 0, KD_ERR_FORMAT, "unexpected bytes after the header JSON");
    expect_open_failure("{\"w\": 5}", 0, KD_ERR_FORMAT, "tensor w: entry is not a JSON object");
    expect_open_failure("{\"__metadata__\": {\"format\": 1}}", 0, KD_ERR_FORMAT,
                        "\"__metadata__\" value format is not a string");
    expect_open_failure("{\"__metadata__\": [\"pt\"]}", 0, KD_ERR_FORMAT,
                        "\"__metadata__\" is not a JSON object");
    expect_open_failure("{\"a\\nb\": {}}", 0, KD_ERR_FORMAT, "control character");
}

static void test_bad_tensor_fields(void **state)
{
    (void)state;
    expect_open_failure("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, KD_ERR_FORMAT,
                        "tensor w: \"dtype\" missing");
    expect_open_failure("{\"w\": {\"dtype\": \"Q4_K\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                        4, KD_ERR_UNSUPPORTED, "unsupported dtype Q4_K for tensor w");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4,
                        KD_ERR_FORMAT, "tensor w: \"shape\" missing or not an array");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
                        4, KD_ERR_FORMAT, "tensor w: shape[0] is not a non-negative integer");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}",
                        4, KD_ERR_FORMAT, "shape[0] is not a non-negative integer");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                        "\"data_offsets\": [0, 4]}}",
                        4, KD_ERR_FORMAT, "tensor w: 9 dimensions");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, KD_ERR_FORMAT,
                        "tensor w: \"data_offsets\" must be two non-negative integers");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
                        KD_ERR_FORMAT, "\"data_offsets\" must be two");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}",
                        4, KD_ERR_FORMAT, "\"data_offsets\" must be two");
}

static void test_bad_offsets_and_sizes(void **state)
{
    (void)state;
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}",
                        4, KD_ERR_FORMAT, "tensor w: data_offsets end 0 is before begin 4");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 40]}}",
                        4, KD_ERR_FORMAT, "tensor w: data_offsets end 40 is past the data section");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
                        8, KD_ERR_FORMAT, "tensor w: 8 bytes of data, but shape and dtype F32 need 3");
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [4503599627370496, "
                        "4503599627370496], \"data_offsets\": [0, 8]}}",
                        8, KD_ERR_FORMAT, "tensor w: shape overflows 64 bits");
    /* 2^62 elements of 4 bytes: the byte count itself overflows. */
    expect_open_failure("{\"w\": {\"dtype\": \"F32\", \"shape\": [2147483648, 2147483648], "
                        "\"data_offsets\": [0, 0]}}",
                        0, KD_ERR_FORMAT, "tensor w: 0 bytes of data");
}

static void test_overlaps_gaps_and_duplicates(void **state)
{
    (void)state;
    expect_open_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                        " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                        12, KD_ERR_FORMAT, "tensor b overlaps tensor a");
    expect_open_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                        " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
                        12, KD_ERR_FORMAT, "tensor b: 4 unindexed bytes before it");
    expect_open_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                        10, KD_ERR_FORMAT, "6 bytes after the last tensor");
    expect_open_failure("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                        " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                        8, KD_ERR_FORMAT, "tensor a appears twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_f32),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_f16_write_rounds_each_value),
        cmocka_unit_test(test_reads_bf16_and_refuses_integers),
        cmocka_unit_test(test_short_and_absurd_lengths),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_bad_tensor_fields),
        cmocka_unit_test(test_bad_offsets_and_sizes),
        cmocka_unit_test(test_overlaps_gaps_and_duplicates),
    };
    return cmocka_run_group_tests(tests, test_group_dir_setup, test_group_dir_teardown);
}
