/* kd tokenizer: GPT-2 byte-level BPE read from vocab.json + merges.txt, with
 * GPT-2's pre-tokenizer regex run through PCRE2 in UTF mode. */
#ifndef KD_TOKENIZER_H
#define KD_TOKENIZER_H

#include "kd/core.h"

#include <stddef.h>
#include <stdint.h>

enum { GPT2_END_OF_TEXT = 50256 };

typedef struct kd_tokenizer kd_tokenizer;

/* A growable list of token ids. */
typedef struct {
    int *ids;
    size_t count;
    size_t capacity;
} kd_token_buffer;

kd_status kd_token_buffer_push(kd_token_buffer *buffer, int id);
void kd_token_buffer_clear(kd_token_buffer *buffer);   /* count = 0, keeps memory */
void kd_token_buffer_free(kd_token_buffer *buffer);

/* Loads dir/vocab.json and dir/merges.txt. A loaded tokenizer is read-only:
 * any number of threads may encode and decode with it at once. */
kd_status kd_tokenizer_load(const char *dir, kd_tokenizer **out);
kd_status kd_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                                  kd_tokenizer **out);
void kd_tokenizer_free(kd_tokenizer *tokenizer);

/* A vocabulary and its merges as GPT-2 spells them (what vocab.json,
 * merges.txt and GGUF files hold): tokens in id order, merges "left right"
 * by rank. `source` names where they came from in messages. */
typedef struct {
    const char *source;
    char **tokens;
    int token_count;
    char **merges;
    int merge_count;
} tokenizer_spelling;

/* A tokenizer from spellings, checked as kd_tokenizer_load checks its files;
 * the same vocabulary and merges give the same kd_tokenizer_hash. */
kd_status kd_tokenizer_from_spelling(const tokenizer_spelling *spelling, kd_tokenizer **out);
/* The spellings of a tokenizer's vocabulary and merges (source NULL);
 * release them with kd_tokenizer_spelling_free. */
kd_status kd_tokenizer_spell(const kd_tokenizer *tokenizer, tokenizer_spelling *spelling);
void kd_tokenizer_spelling_free(tokenizer_spelling *spelling);

/* Appends the ids of `text` (UTF-8, `length` bytes) to `out`. Special-token
 * strings such as "<|endoftext|>" in the text are encoded as ordinary text;
 * callers that want the special token push its id themselves. Invalid UTF-8
 * is an error (KD_ERR_FORMAT naming the byte offset); on any error `out`
 * keeps just the ids it had. */
kd_status kd_tokenizer_encode(const kd_tokenizer *tokenizer, const char *text, size_t length,
                              kd_token_buffer *out);
/* Appends the ids written in `text` (`length` bytes, no terminator needed):
 * decimal numbers in 0..2^31-1 separated by white space, as `kd tokenize`
 * prints them. Anything else (a sign, a letter, a NUL byte, a number too
 * big) is KD_ERR_INVALID quoting the word; `ids` then keeps just the ids it
 * had. Whether the ids fit a vocabulary is kd_tokenizer_decode's check. */
kd_status kd_token_ids_parse(const char *text, size_t length, kd_token_buffer *ids);
/* Decodes ids to UTF-8 bytes in a malloc'd, NUL-terminated buffer. An id
 * outside the vocabulary is KD_ERR_INVALID naming it. */
kd_status kd_tokenizer_decode(const kd_tokenizer *tokenizer, const int *ids, size_t count,
                              char **text, size_t *length);
int kd_tokenizer_vocab_size(const kd_tokenizer *tokenizer);
/* The id of an exact vocabulary entry (e.g. "<|endoftext|>"), or -1. The
 * entry is given as the text it stands for (" the"), not as vocab.json
 * spells it ("\u0120the"). */
int kd_tokenizer_token_id(const kd_tokenizer *tokenizer, const char *token);
/* A hash of the vocabulary and merges, recorded by caches that depend on them:
 * XXH3-64 of the tokens' bytes in id order and the merges in order, so it
 * does not change with the files' formatting or key order. */
uint64_t kd_tokenizer_hash(const kd_tokenizer *tokenizer);

#endif
