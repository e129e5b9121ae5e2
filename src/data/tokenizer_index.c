/* The two hash tables the tokenizer looks things up in: token bytes -> id
 * (loading merges.txt, tokenizer_token_id) and (left, right) -> merge (the
 * inner loop of encoding). Both use open addressing with linear probing at a
 * load factor of at most one half. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* The smallest power of two that is at least twice `count`. */
static size_t table_slots(size_t count, unsigned *log2)
{
    size_t slots = 16;
    unsigned bits = 4;
    while (slots < 2 * count) {
        slots *= 2;
        bits++;
    }
    if (log2)
        *log2 = bits;
    return slots;
}

kd_status token_index_init(token_index *index, int token_count)
{
    size_t slots = table_slots((size_t)token_count, NULL);
    index->slots = kd_alloc(slots, sizeof *index->slots, "token index");
    if (!index->slots)
        return KD_ERR_NOMEM;
    memset(index->slots, 0xFF, slots * sizeof *index->slots); /* every slot -1 */
    index->mask = slots - 1;
    return KD_OK;
}

void token_index_free(token_index *index)
{
    free(index->slots);
    index->slots = NULL;
}

/* The slot holding the token with these bytes, or the empty slot for it. */
static int32_t *index_slot(const kd_tokenizer *tokenizer, const uint8_t *bytes, size_t length)
{
    const token_index *index = &tokenizer->index;
    size_t slot = (size_t)XXH3_64bits(bytes, length) & index->mask;
    for (;; slot = (slot + 1) & index->mask) {
        int32_t id = index->slots[slot];
        if (id < 0)
            return &index->slots[slot];
        size_t start = tokenizer->token_offsets[id];
        if (tokenizer->token_offsets[id + 1] - start == length &&
            memcmp(tokenizer->token_bytes + start, bytes, length) == 0)
            return &index->slots[slot];
    }
}

int tokenizer_find_bytes(const kd_tokenizer *tokenizer, const uint8_t *bytes, size_t length)
{
    return *index_slot(tokenizer, bytes, length);
}

kd_status tokenizer_index_add(kd_tokenizer *tokenizer, int id, int *previous)
{
    size_t start = tokenizer->token_offsets[id];
    int32_t *slot = index_slot(tokenizer, tokenizer->token_bytes + start,
                               tokenizer->token_offsets[id + 1] - start);
    *previous = *slot;
    if (*slot >= 0)
        return kd_fail(KD_ERR_INVALID, "ids %d and %d stand for the same bytes", *slot, id);
    *slot = id;
    return KD_OK;
}

kd_status merge_table_init(merge_table *table, size_t merge_count)
{
    unsigned bits = 0;
    size_t slots = table_slots(merge_count, &bits);
    table->entries = kd_alloc(slots, sizeof *table->entries, "merge table");
    if (!table->entries)
        return KD_ERR_NOMEM;
    for (size_t i = 0; i < slots; i++)
        table->entries[i].pair = MERGE_EMPTY;
    table->mask = slots - 1;
    table->shift = 64 - bits;
    return KD_OK;
}

void merge_table_free(merge_table *table)
{
    free(table->entries);
    table->entries = NULL;
}
