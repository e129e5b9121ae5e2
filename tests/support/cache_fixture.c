#include "cache_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_support.h"

void cache_fixture_create(cache_fixture *fixture, size_t count, int seq_len, int vocab_size,
                          uint64_t seed)
{
    memset(fixture, 0, sizeof *fixture);
    fixture->vocab_size = vocab_size;
    fixture->seq_len = seq_len;
    fixture->count = count;
    fixture->ids = calloc(count, sizeof *fixture->ids);
    fixture->masks = calloc(count, sizeof *fixture->masks);
    fixture->lengths = calloc(count, sizeof *fixture->lengths);
    fixture->examples = calloc(count, sizeof *fixture->examples);
    assert_true(fixture->ids && fixture->masks && fixture->lengths && fixture->examples);
    kd_rng rng;
    kd_rng_seed(&rng, seed);
    for (size_t e = 0; e < count; e++) {
        size_t length = 2 + (size_t)kd_rng_below(&rng, (uint64_t)seq_len);
        size_t prompt = (size_t)kd_rng_below(&rng, length - 1);
        fixture->lengths[e] = length;
        fixture->examples[e] = (uint32_t)(3 * e + 1);
        fixture->ids[e] = calloc(length, sizeof(int));
        fixture->masks[e] = calloc(length, 1);
        assert_true(fixture->ids[e] && fixture->masks[e]);
        for (size_t t = 0; t < length; t++) {
            fixture->ids[e][t] = (int)kd_rng_below(&rng, (uint64_t)vocab_size);
            /* Position t predicts ids[t + 1]: the response starts after the prompt. */
            fixture->masks[e][t] = t >= prompt && t + 1 < length;
        }
    }
}

void cache_fixture_free(cache_fixture *fixture)
{
    for (size_t e = 0; e < fixture->count; e++) {
        free(fixture->ids[e]);
        free(fixture->masks[e]);
    }
    free(fixture->ids);
    free(fixture->masks);
    free(fixture->lengths);
    free(fixture->examples);
}

void cache_fixture_plan(cache_plan *plan, const cache_fixture *fixture, int topk, int samples,
                        int shard_examples)
{
    memset(plan, 0, sizeof *plan);
    plan->identity = (cache_identity){.teacher = 0x1111, .tokenizer = 0x2222, .data = 0x3333,
                                      .template_hash = 0x4444, .seq_len = fixture->seq_len,
                                      .split_seed = 42, .validation_fraction = 0.2,
                                      .part = "train"};
    kd_cache_encoding_default(&plan->encoding);
    plan->encoding.topk = topk;
    plan->encoding.samples = samples;
    plan->encoding.sample_seed = 7;
    plan->encoding.shard_examples = shard_examples;
    plan->vocab_size = fixture->vocab_size;
    plan->examples = fixture->examples;
    plan->example_count = fixture->count;
}

void cache_fixture_logits(float *out, int vocab_size, uint32_t example, int position)
{
    kd_rng rng;
    kd_rng_seed(&rng, (uint64_t)example << 32 | (uint32_t)position);
    float scale = 0.25f + 12.0f * kd_rng_uniform(&rng);
    for (int v = 0; v < vocab_size; v++)
        out[v] = scale * kd_rng_normal(&rng);
    /* Exact ties, which the selection must break by id. */
    for (int v = 1; v + 7 < vocab_size; v += 7)
        out[v + 7] = out[v];
}

void cache_fixture_write(const char *dir, const cache_plan *plan, const cache_fixture *fixture,
                         size_t limit)
{
    cache_writer *writer = NULL;
    assert_int_equal(kd_cache_writer_open(dir, plan, &writer), KD_OK);
    int V = fixture->vocab_size;
    float *logits = malloc((size_t)fixture->seq_len * (size_t)V * sizeof(float));
    assert_non_null(logits);
    size_t written = 0;
    for (size_t e = 0; e < fixture->count && written < limit; e++) {
        if (!kd_cache_writer_pending(writer, e))
            continue;
        int rows = 0;
        for (size_t t = 0; t + 1 < fixture->lengths[e]; t++)
            if (fixture->masks[e][t])
                cache_fixture_logits(logits + (size_t)rows++ * V, V, fixture->examples[e], (int)t);
        assert_int_equal(kd_cache_writer_begin(writer, e, fixture->ids[e], fixture->masks[e],
                                               fixture->lengths[e]),
                         KD_OK);
        /* Two calls, to exercise a row stream split across add_rows. */
        int first = rows / 2;
        assert_int_equal(kd_cache_writer_add_rows(writer, logits, first), KD_OK);
        assert_int_equal(kd_cache_writer_add_rows(writer, logits + (size_t)first * V, rows - first),
                         KD_OK);
        assert_int_equal(kd_cache_writer_end(writer), KD_OK);
        written++;
    }
    if (limit == SIZE_MAX) {
        kd_status status = kd_cache_writer_finish(writer, NULL);
        if (status != KD_OK)
            fail_msg("%s", kd_last_error());
    }
    kd_cache_writer_close(writer);
    free(logits);
}

size_t cache_fixture_file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

/* qsort has no context argument; the row being sorted is held here. */
static const float *sorted_logits;

static int by_logit_then_id(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (sorted_logits[x] != sorted_logits[y])
        return sorted_logits[x] > sorted_logits[y] ? -1 : 1;
    return (x > y) - (x < y);
}

void reference_row_compute(reference_row *reference, const float *logits, int V)
{
    reference->order = malloc((size_t)V * sizeof(int));
    assert_non_null(reference->order);
    double max = -INFINITY, sum = 0.0, entropy = 0.0;
    for (int v = 0; v < V; v++) {
        reference->order[v] = v;
        max = logits[v] > max ? logits[v] : max;
    }
    for (int v = 0; v < V; v++)
        sum += exp(logits[v] - max);
    double lse = max + log(sum);
    for (int v = 0; v < V; v++)
        entropy -= exp(logits[v] - lse) * (logits[v] - lse);
    sorted_logits = logits;
    qsort(reference->order, (size_t)V, sizeof(int), by_logit_then_id);
    reference->log_sum_exp = lse;
    reference->entropy = entropy;
}

void reference_row_free(reference_row *reference)
{
    free(reference->order);
    reference->order = NULL;
}
