/* Byte-pair merging inside one pre-token piece, in O(n log n).
 *
 * GPT-2's encoder repeatedly takes the adjacent pair with the lowest merge
 * rank and merges every occurrence of it, left to right; rescanning the word
 * after each merge is quadratic, which a long run of one character makes
 * painful. Here the symbols form a linked list over byte positions (a merged
 * symbol keeps its left position) and candidate pairs wait in a binary heap
 * ordered by (rank, position), so the occurrences of one rank pop left to
 * right. A candidate remembers the ids it was queued with; if a merge has
 * changed either symbol since, it is stale and skipped (a symbol's id only
 * ever grows into a longer token, so it never comes back).
 *
 * Pairs formed by merges are queued only once every occurrence of the
 * current rank has been merged, as GPT-2's rounds do. That matters only for
 * a merges file that lists a merge before one that forms one of its halves,
 * but then it keeps the result equal to GPT-2's.
 *
 * Most pieces of ordinary text are whole vocabulary tokens (" the",
 * " because"); a token whose own bytes merge back into it (in GPT-2, every
 * token but <|endoftext|>) is found at load, and such a piece is one lookup. */
#include "tokenizer_internal.h"

#include <stdlib.h>

enum { BPE_MAX_PIECE = INT32_MAX / 4 };

void kd_bpe_workspace_free(bpe_workspace *workspace)
{
    free(workspace->ids);
    free(workspace->next);
    free(workspace->prev);
    free(workspace->touched);
    free(workspace->heap);
    *workspace = (bpe_workspace){0};
}

/* Each piece queues at most 3n candidates: n - 1 pairs at the start and two
 * per merge; a round touches at most two positions per merge. */
static kd_status workspace_reserve(bpe_workspace *workspace, size_t length)
{
    if (length <= workspace->capacity)
        return KD_OK;
    if (length > BPE_MAX_PIECE)
        return kd_fail(KD_ERR_UNSUPPORTED, "a pre-token of %zu bytes is longer than kd's "
                       "limit of %d", length, BPE_MAX_PIECE);
    size_t capacity = 2 * workspace->capacity > length ? 2 * workspace->capacity : length;
    if (capacity > BPE_MAX_PIECE)
        capacity = BPE_MAX_PIECE;
    kd_bpe_workspace_free(workspace);
    workspace->ids = kd_alloc(capacity, sizeof(int32_t), "BPE symbols");
    workspace->next = kd_alloc(capacity, sizeof(int32_t), "BPE symbols");
    workspace->prev = kd_alloc(capacity, sizeof(int32_t), "BPE symbols");
    workspace->touched = kd_alloc(2 * capacity, sizeof(int32_t), "BPE symbols");
    workspace->heap = kd_alloc(3 * capacity, sizeof(bpe_candidate), "BPE heap");
    if (!workspace->ids || !workspace->next || !workspace->prev || !workspace->touched ||
        !workspace->heap) {
        kd_bpe_workspace_free(workspace);
        return KD_ERR_NOMEM;
    }
    workspace->capacity = capacity;
    return KD_OK;
}

static void heap_push(bpe_workspace *workspace, bpe_candidate candidate)
{
    bpe_candidate *heap = workspace->heap;
    size_t i = workspace->heap_count++;
    while (i > 0 && heap[(i - 1) / 2].order > candidate.order) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = candidate;
}

static bpe_candidate heap_pop(bpe_workspace *workspace)
{
    bpe_candidate *heap = workspace->heap;
    bpe_candidate top = heap[0];
    size_t count = --workspace->heap_count;
    bpe_candidate last = heap[count];
    size_t i = 0;
    for (size_t child = 1; child < count; child = 2 * i + 1) {
        if (child + 1 < count && heap[child + 1].order < heap[child].order)
            child++;
        if (last.order <= heap[child].order)
            break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

/* Queues the pair starting at `position` if it is a merge. */
static void queue_pair(const kd_tokenizer *tokenizer, bpe_workspace *workspace,
                       int32_t position)
{
    int32_t right = workspace->next[position];
    if (workspace->ids[position] < 0 || right < 0)
        return;
    int32_t left_id = workspace->ids[position], right_id = workspace->ids[right];
    const merge_entry *merge = merge_table_slot(&tokenizer->merges,
                                                merge_pair_key(left_id, right_id));
    if (merge->pair == MERGE_EMPTY)
        return;
    heap_push(workspace, (bpe_candidate){.order = (uint64_t)merge->rank << 32 | (uint32_t)position,
                                         .left = left_id, .right = right_id,
                                         .merged = merge->merged});
}

/* Merges every live candidate of the lowest rank; returns the number of
 * positions whose pairs changed, listed in workspace->touched. */
static size_t merge_lowest_rank(bpe_workspace *workspace)
{
    int32_t *ids = workspace->ids, *next = workspace->next, *prev = workspace->prev;
    uint64_t rank = workspace->heap[0].order >> 32;
    size_t touched = 0;
    while (workspace->heap_count > 0 && workspace->heap[0].order >> 32 == rank) {
        bpe_candidate candidate = heap_pop(workspace);
        int32_t position = (int32_t)(uint32_t)candidate.order;
        int32_t right = next[position];
        if (ids[position] != candidate.left || right < 0 || ids[right] != candidate.right)
            continue;
        ids[position] = candidate.merged;
        ids[right] = -1;
        next[position] = next[right];
        if (next[right] >= 0)
            prev[next[right]] = position;
        if (prev[position] >= 0)
            workspace->touched[touched++] = prev[position];
        workspace->touched[touched++] = position;
    }
    return touched;
}

kd_status kd_bpe_encode_piece(const kd_tokenizer *tokenizer, bpe_workspace *workspace,
                              const uint8_t *piece, size_t length, kd_token_buffer *out)
{
    if (length == 1)
        return kd_token_buffer_push(out, tokenizer->byte_tokens[piece[0]]);
    int whole = kd_tokenizer_find_bytes(tokenizer, piece, length);
    if (whole >= 0 && tokenizer->encodes_to_itself[whole])
        return kd_token_buffer_push(out, whole);
    kd_status status = workspace_reserve(workspace, length);
    if (status != KD_OK)
        return status;
    int32_t count = (int32_t)length;
    for (int32_t i = 0; i < count; i++) {
        workspace->ids[i] = tokenizer->byte_tokens[piece[i]];
        workspace->prev[i] = i - 1;
        workspace->next[i] = i + 1 < count ? i + 1 : -1;
    }
    workspace->heap_count = 0;
    for (int32_t i = 0; i + 1 < count; i++)
        queue_pair(tokenizer, workspace, i);
    while (workspace->heap_count > 0) {
        size_t touched = merge_lowest_rank(workspace);
        for (size_t i = 0; i < touched; i++)
            queue_pair(tokenizer, workspace, workspace->touched[i]);
    }
    for (int32_t position = 0; position >= 0 && status == KD_OK; position = workspace->next[position])
        status = kd_token_buffer_push(out, workspace->ids[position]);
    return status;
}

kd_status kd_bpe_find_whole_tokens(kd_tokenizer *tokenizer)
{
    tokenizer->encodes_to_itself = kd_alloc((size_t)tokenizer->vocab_size, 1, "token flags");
    if (!tokenizer->encodes_to_itself)
        return KD_ERR_NOMEM;
    bpe_workspace workspace = {0};
    kd_token_buffer ids = {0};
    kd_status status = KD_OK;
    for (int id = 0; id < tokenizer->vocab_size && status == KD_OK; id++) {
        size_t start = tokenizer->token_offsets[id];
        kd_token_buffer_clear(&ids);
        status = kd_bpe_encode_piece(tokenizer, &workspace, tokenizer->token_bytes + start,
                                     tokenizer->token_offsets[id + 1] - start, &ids);
        tokenizer->encodes_to_itself[id] = ids.count == 1 && ids.ids[0] == id;
    }
    kd_token_buffer_free(&ids);
    kd_bpe_workspace_free(&workspace);
    return status;
}
