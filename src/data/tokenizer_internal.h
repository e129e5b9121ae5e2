/* The tokenizer's internals, shared by its source files and its tests.
 *
 * Tokens are kept as the raw bytes they stand for; GPT-2's files spell each
 * byte as one printable Unicode character, and loading undoes that spelling
 * once. Encoding is two steps: GPT-2's regex cuts the text into pieces
 * (words, numbers, punctuation runs, whitespace runs), then the byte-pair
 * merges of merges.txt run inside each piece. */
#ifndef KD_TOKENIZER_INTERNAL_H
#define KD_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <xxhash.h>

#include "kd/tokenizer.h"

/* ---- GPT-2's byte alphabet ------------------------------------------------ */

/* The byte that a vocab.json character stands for, or -1 when the code point
 * is not one of GPT-2's 256 byte characters. */
int kd_byte_unicode_decode(uint32_t codepoint);
/* The code point GPT-2 spells `byte` (0..255) with. */
uint32_t kd_byte_unicode_encode(int byte);
/* Undoes the byte spelling of a token (`length` bytes of UTF-8) into `out`,
 * which has room for `length` bytes; a character outside the alphabet is a
 * KD_ERR_FORMAT naming it. */
kd_status kd_byte_unicode_to_bytes(const char *spelling, size_t length, uint8_t *out,
                                   size_t *out_length);

/* ---- token bytes -> id ---------------------------------------------------- */

/* Open addressing over the tokens' bytes (XXH3). A slot also holds the
 * token's length and first eight bytes, so that looking up a short token
 * (most of them) reads one cache line, not the slot, offsets and bytes. */
typedef struct {
    uint64_t head;     /* the first eight bytes, zero-padded */
    int32_t id;        /* -1: an empty slot */
    uint32_t length;
} token_slot;

typedef struct {
    token_slot *slots;
    size_t mask;
} token_index;

kd_status kd_token_index_create(token_index *index, int token_count);
void kd_token_index_free(token_index *index);

/* ---- (left id, right id) -> merge ----------------------------------------- */

typedef struct {
    uint64_t pair;    /* left << 32 | right; MERGE_EMPTY marks a free slot */
    int32_t rank;     /* the merge's position in merges.txt: lower merges first */
    int32_t merged;   /* the id of left's bytes followed by right's */
} merge_entry;

#define MERGE_EMPTY UINT64_MAX

typedef struct {
    merge_entry *entries;
    size_t mask;
    unsigned shift;   /* 64 - log2(slot count), for Fibonacci hashing */
} merge_table;

kd_status kd_merge_table_create(merge_table *table, size_t merge_count);
void kd_merge_table_free(merge_table *table);

static inline uint64_t merge_pair_key(int left, int right)
{
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

/* The slot of `pair`: the entry holding it, or the free slot where it goes. */
static inline merge_entry *merge_table_slot(const merge_table *table, uint64_t pair)
{
    size_t slot = (size_t)((pair * 0x9E3779B97F4A7C15ull) >> table->shift);
    while (table->entries[slot].pair != pair && table->entries[slot].pair != MERGE_EMPTY)
        slot = (slot + 1) & table->mask;
    return &table->entries[slot];
}

/* ---- the tokenizer -------------------------------------------------------- */

struct kd_tokenizer {
    int vocab_size;
    int merge_count;
    uint8_t *token_bytes;     /* every token's bytes, concatenated in id order */
    size_t *token_offsets;    /* token i is token_bytes[offsets[i] .. offsets[i + 1]) */
    int byte_tokens[256];     /* the id of each single byte */
    uint8_t *encodes_to_itself; /* per id: BPE of the token's bytes is just the token */
    token_index index;
    merge_table merges;
    pcre2_code *pretokenizer;
    uint64_t hash;
};

/* The id of the token whose bytes are exactly bytes[0 .. length), or -1. */
int kd_tokenizer_find_bytes(const kd_tokenizer *tokenizer, const uint8_t *bytes, size_t length);
/* Adds token `id` (already in token_bytes) to the index; KD_ERR_INVALID when
 * another id has the same bytes (*previous gets that id). */
kd_status kd_tokenizer_index_add(kd_tokenizer *tokenizer, int id, int *previous);

/* Feeds a number to the tokenizer hash in a fixed (little-endian) byte order,
 * so that the hash is the same on every machine. */
static inline void hash_update_u32(XXH3_state_t *hash, uint32_t value)
{
    uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                        (uint8_t)(value >> 24)};
    XXH3_64bits_update(hash, bytes, sizeof bytes);
}

/* Fills vocab_size, token_bytes, token_offsets, index and byte_tokens, and
 * feeds the tokens in id order to `hash`. */
kd_status kd_vocab_parse(kd_tokenizer *tokenizer, const char *path, XXH3_state_t *hash);
/* Fills merge_count and merges, and feeds the merges in order to `hash`. */
kd_status kd_merges_parse(kd_tokenizer *tokenizer, const char *path, XXH3_state_t *hash);
/* The same from spelled tokens in id order and "left right" merges in rank
 * order (a GGUF file's); `source` names them in messages. */
kd_status kd_vocab_store(kd_tokenizer *tokenizer, const char *source, const char *const *tokens,
                         int count, XXH3_state_t *hash);
kd_status kd_merges_store(kd_tokenizer *tokenizer, const char *source, const char *const *merges,
                          int count, XXH3_state_t *hash);
/* Compiles GPT-2's pre-tokenizer regex, JIT-compiled where PCRE2 can. */
kd_status kd_pretokenizer_compile(pcre2_code **out);

/* ---- byte-pair merging ---------------------------------------------------- */

/* One symbol list and candidate heap, reused across the pieces of a text. */
typedef struct {
    uint64_t order;   /* rank << 32 | position: the heap pops the lowest */
    int32_t left;     /* the ids the pair had when queued; a merge since */
    int32_t right;    /* then makes the candidate stale */
    int32_t merged;
} bpe_candidate;

typedef struct {
    int32_t *ids;       /* per byte position: the symbol starting there, -1 once merged away */
    int32_t *next;      /* the next live position, -1 at the end */
    int32_t *prev;      /* the previous live position, -1 at the start */
    int32_t *touched;   /* positions whose pairs changed in the current round */
    bpe_candidate *heap;
    size_t heap_count;
    size_t capacity;    /* the longest piece the arrays hold */
} bpe_workspace;

/* Appends the ids of one pre-token piece to `out`, applying merges exactly as
 * GPT-2's encoder does: lowest rank first, every occurrence left to right. */
kd_status kd_bpe_encode_piece(const kd_tokenizer *tokenizer, bpe_workspace *workspace,
                              const uint8_t *piece, size_t length, kd_token_buffer *out);
void kd_bpe_workspace_free(bpe_workspace *workspace);
/* Fills encodes_to_itself, which lets a piece that is a whole token skip the
 * merge loop (most English words) without changing any result. */
kd_status kd_bpe_find_whole_tokens(kd_tokenizer *tokenizer);

#endif
