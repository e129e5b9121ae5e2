/* The figures a cache records about itself: top-K mass (mean and 5th
 * percentile against a brute-force computation over the same logits),
 * bytes per token against the files on disk, and the manifest on disk
 * agreeing with what the writer returned. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_fixture.h"
#include "test_support.h"

enum { VOCAB = 3000, SEQ = 40, EXAMPLES = 24, TOPK = 8 };

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exact top-K mass of every cached position, sorted. */
static double *exact_masses(const cache_fixture *fixture, size_t *count)
{
    double *masses = malloc((size_t)EXAMPLES * SEQ * sizeof(double));
    float *logits = malloc(VOCAB * sizeof(float));
    assert_true(masses && logits);
    *count = 0;
    for (size_t e = 0; e < fixture->count; e++) {
        for (size_t t = 0; t + 1 < fixture->lengths[e]; t++) {
            if (!fixture->masks[e][t])
                continue;
            cache_fixture_logits(logits, VOCAB, fixture->examples[e], (int)t);
            double max = -INFINITY, sum = 0.0, top = 0.0;
            for (int v = 0; v < VOCAB; v++)
                max = logits[v] > max ? logits[v] : max;
            for (int v = 0; v < VOCAB; v++)
                sum += exp(logits[v] - max);
            /* The K largest by repeated selection (VOCAB is small here). */
            char *taken = calloc(VOCAB, 1);
            assert_non_null(taken);
            for (int k = 0; k < TOPK; k++) {
                int best = -1;
                for (int v = 0; v < VOCAB; v++)
                    if (!taken[v] && (best < 0 || logits[v] > logits[best]))
                        best = v;
                taken[best] = 1;
                top += exp(logits[best] - max) / sum;
            }
            free(taken);
            masses[(*count)++] = top;
        }
    }
    free(logits);
    qsort(masses, *count, sizeof *masses, compare_doubles);
    return masses;
}

static void test_stats_match_the_logits_and_the_files(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    cache_fixture fixture;
    cache_fixture_create(&fixture, EXAMPLES, SEQ, VOCAB, 21);
    cache_plan plan;
    cache_fixture_plan(&plan, &fixture, TOPK, 0, 10);
    cache_fixture_write(dir, &plan, &fixture, SIZE_MAX);

    cache_manifest manifest;
    assert_int_equal(kd_cache_manifest_read(dir, &manifest), KD_OK);
    size_t count = 0;
    double *masses = exact_masses(&fixture, &count);
    double mean = 0.0;
    for (size_t i = 0; i < count; i++)
        mean += masses[i] / (double)count;
    double p5 = masses[(count * 5 + 99) / 100 - 1];
    /* Stats come from the stored values: 0.39 % relative error at most. */
    assert_int_equal(manifest.positions, count);
    assert_true(fabs(manifest.stats.topk_mass_mean - mean) <= 0.004 * mean);
    assert_true(fabs(manifest.stats.topk_mass_p5 - p5) <= 0.004 * p5 + 1e-4);
    assert_true(manifest.stats.topk_mass_p5 < manifest.stats.topk_mass_mean);

    uint64_t bytes = 0;
    for (int s = 0; s < manifest.shard_count; s++) {
        char *path = test_path(dir, manifest.shards[s].file);
        assert_int_equal(cache_fixture_file_size(path), manifest.shards[s].bytes);
        bytes += manifest.shards[s].bytes;
        free(path);
    }
    assert_int_equal(manifest.shard_count, 3); /* 24 examples, 10 per shard */
    assert_true(fabs(manifest.stats.bytes_per_token - (double)bytes / (double)count) < 1e-9);
    /* Raw: per example a 20-byte header and one 8-byte run of positions
     * (the fixture's are contiguous), per token K 2-byte ids and K + 2
     * 12-bit codes. */
    double raw = 0.0;
    for (size_t e = 0; e < fixture.count; e++) {
        size_t n = 0;
        for (size_t t = 0; t + 1 < fixture.lengths[e]; t++)
            n += fixture.masks[e][t];
        raw += 28.0 + 2.0 * TOPK * n + (double)((n * (TOPK + 2) + 1) / 2 * 3);
    }
    assert_true(fabs(manifest.stats.raw_bytes_per_token - raw / (double)count) < 1e-9);
    /* Frames: the files less header (32), index (24 per example), footer (24). */
    double frames = (double)bytes - 3 * (32 + 24) - 24.0 * EXAMPLES;
    assert_true(fabs(manifest.stats.compression_ratio - raw / frames) < 1e-9);
    assert_true(manifest.stats.write_tokens_per_s > 0.0);
    assert_true(manifest.stats.read_tokens_per_s > 0.0);

    /* kd cache inspect's text names every figure. */
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    assert_non_null(out);
    kd_cache_manifest_print(&manifest, out);
    fclose(out);
    assert_non_null(strstr(text, "bytes per token"));
    assert_non_null(strstr(text, "compression ratio"));
    assert_non_null(strstr(text, "5th percentile"));
    assert_non_null(strstr(text, "read throughput"));
    free(text);
    free(masses);
    kd_cache_manifest_free(&manifest);
    cache_fixture_free(&fixture);
    test_remove_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_match_the_logits_and_the_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
