/* Values read back from a cache equal the live teacher's: the top-K ids
 * exactly, log-probabilities, tail mass and entropy within the stated
 * quantisation error, and the samples consistent with them. The teacher is
 * a tiny random GPT-2 (its embeddings scaled up so that its distributions
 * range from flat to sharp). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cache_fixture.h"
#include "test_support.h"

#include "kd/nn.h"

enum { VOCAB = 1000, SEQ = 48, EXAMPLES = 10, TOPK = 16, DRAWS = 6 };

/* Logits below this read back clamped, so only the clamp is checked. */
#define GRID_FLOOR -31.9f
#define TOLERANCE (CACHE_LOGPROB_MAX_ERROR + 2e-5f)

static void make_teacher(gpt2_model *model)
{
    gpt2_config config = {.n_layer = 1, .n_head = 2, .n_embd = 32, .n_positions = 64,
                          .vocab_size = VOCAB, .layer_norm_epsilon = 1e-5f};
    assert_int_equal(kd_gpt2_create(model, &config), KD_OK);
    kd_gpt2_init_random(model, 3);
    for (size_t i = 0; i < (size_t)VOCAB * 32; i++)
        model->params.wte[i] *= 40.0f;
    assert_int_equal(kd_gpt2_prepare(model, 1, SEQ, 0), KD_OK);
}

/* The teacher's logits at every counted position of example e, in order. */
static int live_logits(gpt2_model *model, const cache_fixture *fixture, size_t e, float *out)
{
    int seq = (int)fixture->lengths[e] - 1, rows = 0;
    kd_gpt2_forward(model, fixture->ids[e], 1, seq);
    for (int t = 0; t < seq; t++)
        if (fixture->masks[e][t])
            kd_gpt2_head_logits(model, t, 1, out + (size_t)rows++ * VOCAB);
    return rows;
}

static void write_cache(const char *dir, gpt2_model *model, const cache_fixture *fixture,
                        const cache_plan *plan, float *logits)
{
    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(dir, plan, &writer), KD_OK);
    for (size_t e = 0; e < fixture->count; e++) {
        int rows = live_logits(model, fixture, e, logits);
        assert_int_equal(kd_cache_writer_begin(writer, e, fixture->ids[e], fixture->masks[e],
                                               fixture->lengths[e]),
                         KD_OK);
        for (int r = 0; r < rows; r++)
            assert_int_equal(kd_cache_writer_add_rows(writer, logits + (size_t)r * VOCAB, 1), KD_OK);
        assert_int_equal(kd_cache_writer_end(writer), KD_OK);
    }
    assert_int_equal(kd_cache_writer_finish(writer, NULL), KD_OK);
    kd_cache_writer_close(writer);
}

static void check_close(float cached, double truth)
{
    if (truth < GRID_FLOOR)
        assert_true(cached < GRID_FLOOR);
    else
        assert_true(fabs(cached - truth) <= TOLERANCE);
}

/* Compares one cached row with the live logits of the same position. */
static void check_row(const cache_record *record, int row, const float *logits, int V)
{
    int K = record->topk;
    reference_row reference;
    reference_row_compute(&reference, logits, V);
    const int *order = reference.order;
    double lse = reference.log_sum_exp, top = 0.0;
    for (int k = 0; k < K; k++) {
        assert_int_equal(record->topk_ids[(size_t)row * K + k], order[k]);
        check_close(record->topk_logprobs[(size_t)row * K + k], logits[order[k]] - lse);
        top += exp(logits[order[k]] - lse);
    }
    check_close(logf(record->tail_mass[row]), log(1.0 - top));
    assert_true(fabs(record->entropy[row] - reference.entropy) <= TOLERANCE);
    /* Samples: outside the top-K, weights summing to the tail mass. */
    double weights = 0.0;
    for (int j = record->sample_offsets[row]; j < record->sample_offsets[row + 1]; j++) {
        for (int k = 0; k < K; k++)
            assert_int_not_equal(record->sample_ids[j], order[k]);
        weights += record->sample_weights[j];
    }
    assert_true(fabs(weights - record->tail_mass[row]) < 1e-6);
    reference_row_free(&reference);
}

static void check_example(const cache_record *record, const cache_fixture *fixture, size_t e,
                          gpt2_model *model, float *logits)
{
    assert_int_equal(record->example, fixture->examples[e]);
    assert_true(record->example_hash ==
                kd_cache_example_hash(fixture->ids[e], fixture->masks[e], fixture->lengths[e]));
    int rows = live_logits(model, fixture, e, logits);
    assert_int_equal(record->positions, rows);
    int row = 0;
    for (size_t t = 0; t + 1 < fixture->lengths[e]; t++)
        if (fixture->masks[e][t])
            assert_int_equal(record->position[row++], (int)t);
    assert_int_equal(record->sample_draws, DRAWS);
    for (int r = 0; r < rows; r++)
        check_row(record, r, logits + (size_t)r * VOCAB, VOCAB);
}

static void test_values_match_the_live_teacher(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    gpt2_model model;
    make_teacher(&model);
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, SEQ, VOCAB, 11);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, TOPK, DRAWS, 4);
    float *logits = malloc((size_t)SEQ * VOCAB * sizeof(float));
    assert_non_null(logits);
    write_cache(dir, &model, &fixture, &plan, logits);

    cache_reader *reader = NULL;
    assert_int_equal(kd_cache_open(dir, &reader), KD_OK);
    assert_int_equal(kd_cache_reader_count(reader), EXAMPLES);
    /* Random access, back to front. */
    for (size_t i = EXAMPLES; i-- > 0;) {
        assert_int_equal(kd_cache_reader_example_at(reader, i), fixture.examples[i]);
        cache_record record;
        assert_int_equal(kd_cache_reader_read(reader, fixture.examples[i], &record), KD_OK);
        check_example(&record, &fixture, i, &model, logits);
    }
    cache_record record;
    assert_int_equal(kd_cache_reader_read(reader, 2, &record), KD_ERR_INVALID); /* not cached */
    kd_cache_close(reader);
    free(logits);
    cache_fixture_free(&fixture);
    kd_gpt2_free(&model);
    test_remove_temp_dir(dir);
}

/* Past 65536 tokens the ids take 32 bits. */
static void test_large_vocabulary_round_trip(void **state)
{
    (void)state;
    enum { BIG = 70000 };
    char *dir = test_make_temp_dir();
    cache_fixture fixture;
    cache_fixture_create(&fixture, 3, 6, BIG, 5);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, 4, 3, 2);
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);
    cache_reader *reader = NULL;
    assert_int_equal(kd_cache_open(dir, &reader), KD_OK);
    float *logits = malloc(BIG * sizeof(float));
    assert_non_null(logits);
    for (size_t e = 0; e < fixture.count; e++) {
        cache_record record;
        assert_int_equal(kd_cache_reader_read(reader, fixture.examples[e], &record), KD_OK);
        for (int r = 0; r < record.positions; r++) {
            cache_fixture_logits(logits, BIG, fixture.examples[e], record.position[r]);
            check_row(&record, r, logits, BIG);
        }
    }
    free(logits);
    kd_cache_close(reader);
    cache_fixture_free(&fixture);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_match_the_live_teacher),
        cmocka_unit_test(test_large_vocabulary_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
