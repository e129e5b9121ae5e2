/* Choosing the next token from logits: greedy argmax, or temperature, top-k
 * and top-p (nucleus) sampling with exactly one draw from a seeded kd_rng,
 * so the same seed always gives the same text. */
#include <math.h>
#include <stdlib.h>

#include "kd/nn.h"

void kd_gpt2_sampling_default(gpt2_sampling *sampling)
{
    /* 0.7 keeps small models coherent yet not repetitive; top-k 50 is the
     * usual GPT-2 cut-off and also keeps the sampler's sort short. */
    sampling->temperature = 0.7f;
    sampling->top_k = 50;
    sampling->top_p = 1.0f;
    sampling->max_new_tokens = 128;
    sampling->stop_token = -1;
}

kd_status kd_gpt2_sampling_validate(const gpt2_sampling *sampling)
{
    if (!(sampling->temperature >= 0.0f) || !isfinite(sampling->temperature))
        return kd_fail(KD_ERR_INVALID,
                       "temperature must be a finite number >= 0 (0 = greedy), got %g",
                       (double)sampling->temperature);
    if (sampling->top_k < 0)
        return kd_fail(KD_ERR_INVALID, "top-k must be >= 0 (0 = no limit), got %d",
                       sampling->top_k);
    if (!(sampling->top_p > 0.0f && sampling->top_p <= 1.0f))
        return kd_fail(KD_ERR_INVALID, "top-p must be in (0, 1], got %g", (double)sampling->top_p);
    if (sampling->max_new_tokens < 0)
        return kd_fail(KD_ERR_INVALID, "max-new-tokens must be >= 0, got %d",
                       sampling->max_new_tokens);
    return KD_OK;
}

/* The first largest logit, i.e. the lowest id among equals. */
static int argmax(const float *logits, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        best = logits[v] > logits[best] ? v : best;
    return best;
}

/* A strict order: higher logit first, then lower token id. */
static int ranks_higher(const gpt2_candidate *a, const gpt2_candidate *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->token < b->token);
}

static int compare_rank(const void *a, const void *b)
{
    return ranks_higher(a, b) ? -1 : ranks_higher(b, a) ? 1 : 0;
}

/* Restores the heap property below `i`; the root is the lowest-ranked. */
static void sift_down(gpt2_candidate *heap, int count, int i)
{
    for (;;) {
        int lowest = i, left = 2 * i + 1, right = left + 1;
        if (left < count && ranks_higher(&heap[lowest], &heap[left]))
            lowest = left;
        if (right < count && ranks_higher(&heap[lowest], &heap[right]))
            lowest = right;
        if (lowest == i)
            return;
        gpt2_candidate swap = heap[i];
        heap[i] = heap[lowest];
        heap[lowest] = swap;
        i = lowest;
    }
}

/* The k highest-ranked tokens, best first, in O(V log k): a heap of the k
 * best so far whose root, the worst of them, each newcomer must beat. */
static void select_top_k(const float *logits, int V, int k, gpt2_candidate *out)
{
    for (int v = 0; v < k; v++)
        out[v] = (gpt2_candidate){logits[v], v};
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(out, k, i);
    for (int v = k; v < V; v++) {
        gpt2_candidate candidate = {logits[v], v};
        if (ranks_higher(&candidate, &out[0])) {
            out[0] = candidate;
            sift_down(out, k, 0);
        }
    }
    qsort(out, (size_t)k, sizeof *out, compare_rank);
}

int kd_gpt2_sample_token(const float *logits, int V, const gpt2_sampling *sampling,
                         gpt2_candidate *scratch, kd_rng *rng)
{
    if (sampling->temperature == 0.0f || sampling->top_k == 1)
        return argmax(logits, V);
    int k = sampling->top_k == 0 || sampling->top_k > V ? V : sampling->top_k;
    select_top_k(logits, V, k, scratch);

    /* Unnormalised softmax at the temperature, written over the logits.
     * Dividing (rather than multiplying by 1/T) keeps the best token at
     * exp(0) = 1 even for a temperature so small that 1/T overflows. */
    float best = scratch[0].logit;
    double total = 0.0;
    for (int i = 0; i < k; i++) {
        scratch[i].logit = expf((scratch[i].logit - best) / sampling->temperature);
        total += scratch[i].logit;
    }
    /* Nucleus: the fewest best tokens whose probability reaches top_p. */
    int kept = k;
    if (sampling->top_p < 1.0f) {
        double target = (double)sampling->top_p * total, cumulative = 0.0;
        for (kept = 0; kept < k && cumulative < target; kept++)
            cumulative += scratch[kept].logit;
        total = cumulative;
    }
    double draw = (double)kd_rng_uniform(rng) * total;
    for (int i = 0; i < kept - 1; i++) {
        draw -= scratch[i].logit;
        if (draw < 0.0)
            return scratch[i].token;
    }
    return scratch[kept - 1].token;
}
