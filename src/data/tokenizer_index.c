/* The two hash tables the tokenizer looks things up in: token bytes -> id
 * (loading merges.txt, kd_tokenizer_token_id) and (left, right) -> merge (the
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

kd_status kd_token_index_create(token_index *index, int token_count)
{
    size_t slots = table_slots((size_t)token_count, NULL);
    index->slots = kd_alloc(slots, sizeof *index->slots, "token index");
    if (!index->slots)
        return KD_ERR_NOMEM;
    for (size_t i = 0; i < slots; i++)
        index->slots[i].id = -1;
    index->mask = slots - 1;
    return KD_OK;
}

void kd_token_index_free(token_index *index)
{
    free(index->slots);
    index->slots = NULL;
}

static uint64_t token_head(const uint8_t *bytes, size_t length)
{
    uint64_t head = 0;
    memcpy(&head, bytes, length < sizeof head ? length : sizeof head);
    return head;
}

/* The slot holding the token with these bytes, or the empty slot for it. */
static token_slot *index_slot(const kd_tokenizer *tokenizer, const uint8_t *bytes,
                              size_t length)
{
    const token_index *index = &tokenizer->index;
    uint64_t head = token_head(bytes, length);
    size_t slot = (size_t)XXH3_64bits(bytes, length) & index->mask;
    for (;; slot = (slot + 1) & index->mask) {
        token_slot *candidate = &index->slots[slot];
        if (candidate->id < 0)
            return candidate;
        if (candidate->length != length || candidate->head != head)
            continue;
        if (length <= sizeof head)
            return candidate;
        const uint8_t *token = tokenizer->token_bytes + tokenizer->token_offsets[candidate->id];
        if (memcmp(token + sizeof head, bytes + sizeof head, length - sizeof head) == 0)
            return candidate;
    }
}

int kd_tokenizer_find_bytes(const kd_tokenizer *tokenizer, const uint8_t *bytes, size_t length)
{
    return index_slot(tokenizer, bytes, length)->id;
}

kd_status kd_tokenizer_index_add(kd_tokenizer *tokenizer, int id, int *previous)
{
    size_t start = tokenizer->token_offsets[id];
    const uint8_t *bytes = tokenizer->token_bytes + start;
    size_t length = tokenizer->token_offsets[id + 1] - start;
    token_slot *slot = index_slot(tokenizer, bytes, length);
    *previous = slot->id;
    if (slot->id >= 0)
        return kd_fail(KD_ERR_INVALID, "ids %d and %d stand for the same bytes", slot->id, id);
    *slot = (token_slot){.head = token_head(bytes, length), .id = id, .length = (uint32_t)length};
    return KD_OK;
}

kd_status kd_merge_table_create(merge_table *table, size_t merge_count)
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

void kd_merge_table_free(merge_table *table)
{
    free(table->entries);
    table->entries = NULL;
}
