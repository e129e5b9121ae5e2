/* Synthetic material for the logit cache tests: examples with loss masks,
 * deterministic logits for any (example, position), and a helper that
 * writes a cache from them. */
#ifndef KD_TEST_CACHE_FIXTURE_H
#define KD_TEST_CACHE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "kd/cache.h"

typedef struct {
    int vocab_size;
    int seq_len;
    size_t count;
    int **ids;
    uint8_t **masks;
    size_t *lengths;
    uint32_t *examples;  /* dataset indices: 3 * i + 1, so they differ from i */
} cache_fixture;

/* `count` examples of 2..seq_len+1 tokens: a prompt (mask 0) then a response
 * (mask 1), from `seed`. */
void cache_fixture_create(cache_fixture *fixture, size_t count, int seq_len, int vocab_size,
                          uint64_t seed);
void cache_fixture_free(cache_fixture *fixture);

/* A plan over every fixture example with the given encoding settings. */
void cache_fixture_plan(cache_plan *plan, const cache_fixture *fixture, int topk, int samples,
                        int shard_examples);

/* Logits for one position: Gaussian with a scale that varies from nearly
 * flat to sharply peaked, plus a few exact ties. */
void cache_fixture_logits(float *out, int vocab_size, uint32_t example, int position);

/* Writes the examples of `plan` that are pending, in order, with fixture
 * logits, stopping after `limit` examples (without finishing); with
 * limit == SIZE_MAX it writes them all and finishes. Asserts on failure. */
void cache_fixture_write(const char *dir, const cache_plan *plan, const cache_fixture *fixture,
                         size_t limit);

/* The brute-force truth about one row of logits, in double over the whole
 * vocabulary: every id sorted by logit (ties to the lower id), the
 * log-sum-exp and the entropy of the softmax. */
typedef struct {
    int *order;
    double log_sum_exp;
    double entropy;
} reference_row;
void reference_row_compute(reference_row *reference, const float *logits, int V);
void reference_row_free(reference_row *reference);

/* Bytes of a file (asserts it exists). */
size_t cache_fixture_file_size(const char *path);

#endif
