/* Shared by the fuzz targets of tests/fuzz: each fuzz_<parser>.c defines
 * LLVMFuzzerTestOneInput, which libFuzzer drives (the KD_FUZZ build) and
 * replay.c runs over the committed corpus and crash regressions (every
 * build, as ordinary tests).
 *
 * A target must never crash, leak or hit undefined behaviour, whatever the
 * bytes; a parser may refuse them, but then with a message. Properties a
 * target checks beyond that (a round trip, an invariant) fail through
 * FUZZ_CHECK, which aborts so that libFuzzer records the input. */
#ifndef KD_FUZZ_H
#define KD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "kd/cache.h"
#include "kd/core.h"
#include "kd/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(condition) \
    ((condition) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #condition))
_Noreturn void fuzz_fail(const char *file, int line, const char *condition);

/* A refused input must leave a message (every kd_status failure does). */
void fuzz_check_refusal(kd_status status);

/* A private temporary directory made on first use (under $TMPDIR, else
 * /tmp) and removed, with the files in it, at exit. */
const char *fuzz_temp_dir(void);
/* "DIR/name" in that directory. The string is static: valid until the next
 * call. */
const char *fuzz_temp_path(const char *name);
/* Replaces the temporary file `name` by `size` bytes of `data`; returns its
 * path (as fuzz_temp_path). Aborts when the file cannot be written: that
 * is the harness failing, not the parser. */
const char *fuzz_write_temp(const char *name, const void *data, size_t size);

/* The input cut at each `separator` byte into at most `capacity` parts (the
 * last part keeps any further separators); returns the number of parts. */
size_t fuzz_split(const uint8_t *data, size_t size, uint8_t separator, const uint8_t **parts,
                  size_t *sizes, size_t capacity);

/* Encodes `length` bytes of `text`; when the tokenizer accepts them (valid
 * UTF-8), the ids must decode to the same bytes, and a refusal must carry
 * its message. */
void fuzz_check_round_trip(const kd_tokenizer *tokenizer, const char *text, size_t length);

/* A byte-level BPE with a few merges (tiny_tokenizer/, loaded once). */
const kd_tokenizer *fuzz_tiny_tokenizer(void);

/* What a cache looks like, chosen by FUZZ_CACHE_SHAPE_BYTES bytes of input:
 * top-K 0..32, 0..255 samples, a vocabulary of 64..191 tokens (2-byte ids)
 * or 65664..65791 (4-byte ids), sequence length 1..256. */
enum { FUZZ_CACHE_SHAPE_BYTES = 4 };

typedef struct {
    cache_encoding encoding;
    int vocab_size;
    int seq_len;
} fuzz_cache_shape;

void fuzz_cache_shape_from(const uint8_t *bytes, fuzz_cache_shape *shape);

#endif
