/* A grouped evaluation is the ungrouped one summed in another order: over
 * all batches and over the first few (the same examples, sorted), the loss,
 * accuracy and counted tokens agree, while the batches hold less padding. */
#include "test_support.h"

#include <math.h>

#include "kd/train.h"

static const gpt2_config tiny = {
    .n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = 32, .vocab_size = 97,
    .layer_norm_epsilon = 1e-5f,
};
enum { EXAMPLES = 53, SEQ_LEN = 30, BATCH = 4 };

/* Example k: 2 + (k * 11) % 29 ids in [0, 97); targets from the third on count. */
static dataset *make_dataset(void)
{
    dataset *data;
    assert_int_equal(kd_dataset_create(SEQ_LEN, &data), KD_OK);
    for (int k = 0; k < EXAMPLES; k++) {
        size_t length = 2 + (size_t)(k * 11) % 29;
        int ids[SEQ_LEN + 1];
        uint8_t mask[SEQ_LEN + 1] = {0};
        for (size_t j = 0; j < length; j++)
            ids[j] = (int)((k * 31 + (int)j * 7) % 97);
        for (size_t j = 0; j + 1 < length; j++)
            mask[j] = j >= 1;
        assert_int_equal(kd_dataset_append(data, ids, mask, length, (uint64_t)k), KD_OK);
    }
    return data;
}

static eval_result evaluate(gpt2_model *model, const dataset *data, int group, int max_batches)
{
    batcher_options options;
    kd_eval_batcher_options(BATCH, SEQ_LEN, group, max_batches, &options);
    options.pad_id = 0; /* <|endoftext|> is past this vocabulary */
    batcher *batches;
    assert_int_equal(kd_batcher_create(data, DATASET_ALL, &options, &batches), KD_OK);
    eval_result result;
    assert_int_equal(kd_evaluate_model(model, batches, max_batches, &result), KD_OK);
    kd_batcher_free(batches);
    return result;
}

static void assert_same_sum(const eval_result *grouped, const eval_result *plain)
{
    assert_true(grouped->tokens == plain->tokens);
    assert_true(fabs(grouped->loss - plain->loss) <= 1e-6 * plain->loss);
    assert_true(fabs(grouped->accuracy - plain->accuracy) <= 1e-12);
    assert_true(grouped->padding_ratio < plain->padding_ratio);
}

static void test_grouped_evaluation_is_the_same_sum(void **state)
{
    (void)state;
    dataset *data = make_dataset();
    gpt2_model model;
    assert_int_equal(kd_gpt2_create(&model, &tiny), KD_OK);
    kd_gpt2_init_random(&model, 11);
    assert_int_equal(kd_gpt2_prepare(&model, BATCH, SEQ_LEN, 0), KD_OK);
    for (int max_batches = 0; max_batches <= 5; max_batches += 5) {
        eval_result grouped = evaluate(&model, data, 1, max_batches);
        eval_result plain = evaluate(&model, data, 0, max_batches);
        assert_same_sum(&grouped, &plain);
    }
    kd_gpt2_free(&model);
    kd_dataset_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_evaluation_is_the_same_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
