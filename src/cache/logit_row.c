/* One position's logits reduced to what the cache keeps: the top-K (by
 * partial selection with a K-entry min-heap, never a sort of the whole
 * vocabulary), the log-sum-exp, the entropy, the exact tail mass, and N draws
 * from the tail distribution. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cache_format.h"

kd_status kd_row_scratch_create(row_scratch *scratch, int vocab_size, int topk, int samples)
{
    memset(scratch, 0, sizeof *scratch);
    size_t k = topk > 0 ? (size_t)topk : 1, n = samples > 0 ? (size_t)samples : 1;
    scratch->exps = kd_alloc((size_t)vocab_size, sizeof(float), "cache row scratch");
    scratch->heap_ids = kd_alloc(k, sizeof(int32_t), "cache row scratch");
    scratch->heap_logits = kd_alloc(k, sizeof(float), "cache row scratch");
    scratch->sorted_ids = kd_alloc(k, sizeof(int32_t), "cache row scratch");
    scratch->uniforms = kd_alloc(n, sizeof(double), "cache row scratch");
    if (!scratch->exps || !scratch->heap_ids || !scratch->heap_logits || !scratch->sorted_ids ||
        !scratch->uniforms) {
        kd_row_scratch_free(scratch);
        return KD_ERR_NOMEM;
    }
    return KD_OK;
}

void kd_row_scratch_free(row_scratch *scratch)
{
    free(scratch->exps);
    free(scratch->heap_ids);
    free(scratch->heap_logits);
    free(scratch->sorted_ids);
    free(scratch->uniforms);
    memset(scratch, 0, sizeof *scratch);
}

/* The heap's order: a ranks below b when its logit is lower, or equal with
 * a higher id, so that ties always keep the lower id (deterministic). */
static int ranks_below(float logit_a, int32_t id_a, float logit_b, int32_t id_b)
{
    return logit_a < logit_b || (logit_a == logit_b && id_a > id_b);
}

static void heap_sift_down(float *logits, int32_t *ids, int size, int at)
{
    for (;;) {
        int left = 2 * at + 1, right = left + 1, lowest = at;
        if (left < size && ranks_below(logits[left], ids[left], logits[lowest], ids[lowest]))
            lowest = left;
        if (right < size && ranks_below(logits[right], ids[right], logits[lowest], ids[lowest]))
            lowest = right;
        if (lowest == at)
            return;
        float logit = logits[at];
        int32_t id = ids[at];
        logits[at] = logits[lowest];
        ids[at] = ids[lowest];
        logits[lowest] = logit;
        ids[lowest] = id;
        at = lowest;
    }
}

/* Leaves the K best (logit, id) pairs in descending order. The heap's root
 * is the worst kept; most of the vocabulary fails the one comparison with
 * it, so the selection costs about one pass. */
static void select_topk(const float *logits, int V, int K, float *heap_logits, int32_t *heap_ids)
{
    for (int v = 0; v < K; v++) {
        heap_logits[v] = logits[v];
        heap_ids[v] = v;
    }
    for (int at = K / 2 - 1; at >= 0; at--)
        heap_sift_down(heap_logits, heap_ids, K, at);
    for (int v = K; v < V; v++) {
        if (logits[v] > heap_logits[0]) {
            heap_logits[0] = logits[v];
            heap_ids[0] = v;
            heap_sift_down(heap_logits, heap_ids, K, 0);
        }
    }
    /* Heap sort: moving the worst to the end leaves the best first. */
    for (int end = K - 1; end > 0; end--) {
        float logit = heap_logits[0];
        int32_t id = heap_ids[0];
        heap_logits[0] = heap_logits[end];
        heap_ids[0] = heap_ids[end];
        heap_logits[end] = logit;
        heap_ids[end] = id;
        heap_sift_down(heap_logits, heap_ids, end, 0);
    }
}

static int compare_ids(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sum of exps over [begin, end), vectorised. */
static double segment_sum(const float *exps, int begin, int end)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int v = begin; v < end; v++)
        sum += exps[v];
    return sum;
}

/* Sum of exps outside the top-K: the runs between the sorted top-K ids. */
static double tail_sum(const float *exps, int V, const int32_t *sorted_ids, int K)
{
    double sum = 0.0;
    int begin = 0;
    for (int k = 0; k < K; k++) {
        sum += segment_sum(exps, begin, sorted_ids[k]);
        begin = sorted_ids[k] + 1;
    }
    return sum + segment_sum(exps, begin, V);
}

/* Inverse-CDF sampling of N draws from the tail in one sweep: the sorted
 * uniforms in [0, tail) are matched against the running tail sum. */
static void sample_tail(const float *exps, int V, const int32_t *sorted_ids, int K, int N,
                        double tail, kd_rng *rng, double *uniforms, row_summary *out)
{
    for (int j = 0; j < N; j++)
        uniforms[j] = (double)(kd_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * tail;
    qsort(uniforms, (size_t)N, sizeof *uniforms, compare_doubles);
    double running = 0.0;
    int drawn = 0, next_topk = 0, last_positive = -1, unique = 0;
    for (int v = 0; v < V && drawn < N; v++) {
        if (next_topk < K && sorted_ids[next_topk] == v) {
            next_topk++;
            continue;
        }
        if (exps[v] <= 0.0f)
            continue;
        running += exps[v];
        last_positive = v;
        int hits = 0;
        while (drawn < N && uniforms[drawn] < running) {
            drawn++;
            hits++;
        }
        if (hits > 0) {
            out->sample_ids[unique] = v;
            out->sample_counts[unique++] = (uint8_t)hits;
        }
    }
    /* Rounding can leave the last uniforms just past the final sum: they
     * belong to the last token with any mass. */
    if (drawn < N && last_positive >= 0) {
        if (unique > 0 && out->sample_ids[unique - 1] == last_positive) {
            out->sample_counts[unique - 1] = (uint8_t)(out->sample_counts[unique - 1] + N - drawn);
        } else {
            out->sample_ids[unique] = last_positive;
            out->sample_counts[unique++] = (uint8_t)(N - drawn);
        }
    }
    out->sample_unique = unique;
}

kd_status kd_row_summarise(const float *logits, int vocab_size, int topk, int samples, kd_rng *rng,
                           row_scratch *scratch, row_summary *out)
{
    int V = vocab_size, K = topk;
    float max = logits[0];
    int finite = 1;
    for (int v = 0; v < V; v++) {
        finite &= isfinite(logits[v]) != 0;
        max = logits[v] > max ? logits[v] : max;
    }
    if (!finite)
        return kd_fail(KD_ERR_NUMERIC, "teacher logits are not finite");

    float *exps = scratch->exps;
    /* sum of exp(l - max) * (l - max), for the entropy; its terms reach
     * magnitudes far above the entropy, so they add up in double. */
    double weighted = 0.0;
#pragma omp simd reduction(+ : weighted)
    for (int v = 0; v < V; v++) {
        exps[v] = expf(logits[v] - max);
        weighted += (double)(exps[v] * (logits[v] - max));
    }
    double top = 0.0, tail = 0.0;
    if (K > 0) {
        select_topk(logits, V, K, scratch->heap_logits, scratch->heap_ids);
        memcpy(scratch->sorted_ids, scratch->heap_ids, (size_t)K * sizeof(int32_t));
        qsort(scratch->sorted_ids, (size_t)K, sizeof(int32_t), compare_ids);
        for (int k = 0; k < K; k++)
            top += exps[scratch->heap_ids[k]];
    }
    tail = tail_sum(exps, V, scratch->sorted_ids, K);
    /* Normalising by top + tail makes the two masses sum to one exactly. */
    double total = top + tail;
    double log_total = log(total);
    for (int k = 0; k < K; k++) {
        out->topk_ids[k] = scratch->heap_ids[k];
        out->topk_logprobs[k] = (float)((double)(scratch->heap_logits[k] - max) - log_total);
    }
    out->topk_mass = top / total;
    out->tail_mass = tail / total;
    out->entropy = log_total - weighted / total;
    out->sample_unique = 0;
    if (samples > 0 && tail > 0.0)
        sample_tail(exps, V, scratch->sorted_ids, K, samples, tail, rng, scratch->uniforms, out);
    return KD_OK;
}
