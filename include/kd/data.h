/* kd data: instruction records (dolly-15k JSON Lines) turned into training
 * examples and batches.
 *
 * Layers, each usable and testable on its own:
 *   records   JSON Lines or JSON array files -> a list of records
 *   template  a record -> text segments tagged prompt / context / response
 *   examples  token ids tagged with those roles -> one example fitted to the
 *             sequence length, with its loss mask
 *   dataset   every example, a stable train/validation split, an on-disk
 *             cache; kd_dataset_build() runs the whole chain
 *   batcher   padded (B, T) tokens / targets / weights, shuffled per epoch,
 *             sharded over data-parallel ranks, resumable
 *
 * Loss-mask convention (used everywhere below). An example is `length` token
 * ids. The model reads inputs ids[0 .. length-2] and predicts targets
 * ids[1 .. length-1]: position t predicts ids[t+1]. target_mask has `length`
 * entries; for t < length-1, target_mask[t] is 1 when the prediction of
 * ids[t+1] counts in the loss and 0 when it does not; target_mask[length-1]
 * is always 0 (nothing follows the last token). With LOSS_RESPONSE the
 * counted targets are exactly the response tokens and everything the
 * template puts after {response} (the final <|endoftext|>): the model learns
 * to answer and to stop, never to reproduce the prompt. */
#ifndef KD_DATA_H
#define KD_DATA_H

#include "kd/core.h"
#include "kd/tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------ records -- */

/* JSON member names of one record. Dolly's by default; e.g. Alpaca's are
 * instruction / input / output. */
typedef struct {
    const char *instruction; /* required string */
    const char *context;     /* required string or null (null = empty); NULL: not read */
    const char *response;    /* required string */
    const char *category;    /* optional string; NULL: not read */
} record_fields;

void kd_record_fields_default(record_fields *fields);

/* One record; every string is NUL-terminated valid UTF-8, never NULL
 * (absent fields are ""). */
typedef struct {
    char *instruction;
    char *context;
    char *response;
    char *category;
    size_t source; /* index into record_list.sources */
    size_t line;   /* JSON Lines: 1-based line; JSON array: 1-based element */
} data_record;

typedef struct {
    data_record *items;
    size_t count;
    size_t capacity;
    char **sources;      /* the names records came from, in reading order */
    size_t source_count;
    size_t skipped;      /* bad records passed over because of skip_bad */
} record_list;

/* Appends the records of one file. The format is detected from the first
 * non-space byte (after an optional UTF-8 BOM): '[' is one JSON array of
 * records, anything else JSON Lines (one object per line). In JSON Lines,
 * lines that are empty or only white space are skipped silently (editors
 * and `cat` leave them) and a CR before the LF is ignored.
 *
 * A bad record fails with KD_ERR_FORMAT and a message naming where and what:
 *     dolly.jsonl:17: field "response" is missing
 *     dolly.jsonl:18: malformed JSON at column 40
 *     dolly.jsonl:19: field "context" is not valid UTF-8 (byte 12)
 *     data.json: record 3: field "instruction" must be a string, not number
 * With skip_bad, bad records are counted in list->skipped instead. A file
 * that yields no record at all is an error either way. */
kd_status kd_records_read_file(const char *path, const record_fields *fields, int skip_bad,
                               record_list *list);
/* The same over text in memory; `name` stands for the file in messages. */
kd_status kd_records_parse(const char *name, const char *text, size_t length,
                           const record_fields *fields, int skip_bad, record_list *list);
void kd_record_list_free(record_list *list);

/* A hash of what a record says (instruction, context, response; not the
 * category or where it was read), so the split of a record depends only on
 * itself and identical records fall on the same side. */
uint64_t kd_record_content_hash(const char *instruction, const char *context, const char *response);

/* ----------------------------------------------------------- template -- */

/* A template is text with the placeholders {instruction}, {context} and
 * {response} (each at most once; {response} exactly once and last) and
 * special tokens written <|name|> (GPT-2 has <|endoftext|>), which encode to
 * their single vocabulary id. Everything from {response} on is the response
 * part; everything before it is the prompt. The context section of an
 * instruction prompt makes no sense without a context, so there are two
 * templates: with_context for records whose context is not empty,
 * without_context (which may not use {context}) for the others. */
#define KD_TEMPLATE_WITH_CONTEXT \
    "### Instruction:\n{instruction}\n\n### Context:\n{context}\n\n### Response:\n{response}<|endoftext|>"
#define KD_TEMPLATE_WITHOUT_CONTEXT \
    "### Instruction:\n{instruction}\n\n### Response:\n{response}<|endoftext|>"

typedef struct {
    const char *with_context;
    const char *without_context;
} prompt_template;

void kd_prompt_template_default(prompt_template *prompt);
/* KD_ERR_INVALID naming the template and the fault (unknown {placeholder},
 * one used twice, no {response}, a placeholder after {response}, an
 * unterminated <|special|>, {context} in without_context). */
kd_status kd_prompt_template_validate(const prompt_template *prompt);

typedef enum {
    ROLE_PROMPT = 0,   /* template text and the instruction */
    ROLE_CONTEXT = 1,  /* the record's context: the first thing shortened */
    ROLE_RESPONSE = 2  /* {response} and everything after it */
} token_role;

/* One piece of a rendered record: text to encode, or the name of a special
 * token ("<|endoftext|>"), at rendered_prompt.text + offset. */
typedef struct {
    token_role role;
    size_t offset;
    size_t length;
    int is_special;
} template_segment;

/* A record rendered through a template. Neighbouring text of the same role
 * forms one segment, so it is tokenized as the whole string would be. */
typedef struct {
    char *text;                 /* the segments' bytes, back to back */
    size_t text_length;
    size_t text_capacity;
    template_segment *segments;
    size_t count;
    size_t capacity;
} rendered_prompt;

/* Renders `record` through the template its context selects (the template
 * must have passed kd_prompt_template_validate). Reuses `out`'s memory. */
kd_status kd_template_render(const prompt_template *prompt, const data_record *record,
                             rendered_prompt *out);
void kd_rendered_prompt_free(rendered_prompt *rendered);

/* ----------------------------------------------------------- examples -- */

typedef enum {
    LOSS_RESPONSE = 0, /* count the response tokens and what follows them */
    LOSS_ALL = 1       /* count every target */
} loss_mode;

/* Token ids with the role each came from. */
typedef struct {
    kd_token_buffer ids;
    uint8_t *roles;     /* token_role of ids.ids[i] */
    size_t roles_capacity;
} example_tokens;

/* Tokenizes a rendered record into `out` (cleared first). Text segments go
 * through kd_tokenizer_encode one by one, special tokens become their id
 * (KD_ERR_INVALID when the vocabulary has no such token). */
kd_status kd_example_encode(const kd_tokenizer *tokenizer, const rendered_prompt *rendered,
                            example_tokens *out);
void kd_example_tokens_free(example_tokens *tokens);

/* The ids of the prompt part alone, ready for generation: the template
 * (chosen by whether context is empty) up to {response}. */
kd_status kd_template_encode_prompt(const kd_tokenizer *tokenizer, const prompt_template *prompt,
                                    const char *instruction, const char *context,
                                    kd_token_buffer *out);

typedef enum { FIT_KEPT, FIT_SHORTENED, FIT_DROPPED } fit_outcome;

typedef struct {
    fit_outcome outcome;
    size_t context_cut;   /* context tokens removed */
    size_t response_cut;  /* response tokens removed */
} fit_result;

/* Fits one tokenized example to sequence length seq_len, which holds
 * examples of up to seq_len + 1 ids (seq_len inputs and seq_len targets).
 * Too long: the context loses tokens from its end first, then the response
 * part loses tokens from its end (its <|endoftext|> goes first: a cut answer
 * must not teach the model to stop there). The example is dropped when even
 * then it does not fit with at least one response token, or when it has no
 * counted target at all. Writes `*out_length` ids and the target mask
 * (convention at the top) to out_ids / out_mask, which have room for
 * seq_len + 1 entries; on FIT_DROPPED, *out_length is 0. */
fit_result kd_example_fit(const int *ids, const uint8_t *roles, size_t count, size_t seq_len,
                          loss_mode loss, int *out_ids, uint8_t *out_mask, size_t *out_length);

/* ------------------------------------------------------------ dataset -- */

typedef struct dataset dataset;

/* One example of a dataset; pointers into the dataset's memory. */
typedef struct {
    const int *ids;
    const uint8_t *target_mask;
    size_t length;
    uint64_t record_hash; /* kd_record_content_hash of its record */
} kd_example;

/* What happened to the records on the way to examples. */
typedef struct {
    size_t records;             /* good records read */
    size_t skipped;             /* bad records skipped (skip_bad) */
    size_t kept;                /* examples used as they were */
    size_t shortened;           /* examples that had to lose tokens */
    size_t dropped;             /* records that could not make an example */
    size_t context_tokens_cut;
    size_t response_tokens_cut;
} dataset_counts;

typedef enum { DATASET_TRAIN, DATASET_VALIDATION, DATASET_ALL } dataset_part;

/* An empty dataset for examples of up to seq_len + 1 ids. */
kd_status kd_dataset_create(size_t seq_len, dataset **out);
/* Copies one example in. Its length must be in [2, seq_len + 1]. Appending
 * undoes an earlier kd_dataset_split (call it again). */
kd_status kd_dataset_append(dataset *data, const int *ids, const uint8_t *target_mask,
                            size_t length, uint64_t record_hash);
void kd_dataset_free(dataset *data);

size_t kd_dataset_size(const dataset *data);
size_t kd_dataset_seq_len(const dataset *data);
size_t kd_dataset_token_count(const dataset *data);
kd_example kd_dataset_example(const dataset *data, size_t index);
dataset_counts kd_dataset_get_counts(const dataset *data);
void kd_dataset_set_counts(dataset *data, const dataset_counts *counts);

/* Whether a record with this content hash is in the validation part. The
 * side depends on (seed, record_hash) only: adding, removing or reordering
 * other records never moves a record across. About `fraction` of distinct
 * records land in validation. */
int kd_split_is_validation(uint64_t record_hash, uint64_t seed, double fraction);
/* Sorts the examples into train and validation parts (index order kept).
 * fraction is in [0, 1): 0 puts everything in train. */
kd_status kd_dataset_split(dataset *data, uint64_t seed, double fraction);
/* Sorts `count` example indices by example length, longest first; equal
 * lengths keep their order. `scratch` has room for `count` indices. */
void kd_dataset_sort_by_length(const dataset *data, size_t *indices, size_t count, size_t *scratch);
/* The indices of one part. DATASET_ALL is every example; the other parts
 * are empty until kd_dataset_split. */
const size_t *kd_dataset_part_indices(const dataset *data, dataset_part part, size_t *count);

/* The on-disk form: a header (magic, version, key, counts), the arrays,
 * and an XXH3 checksum of all of it. Saving is atomic: a temporary file in
 * the same directory is written, fsync'ed and renamed over `path`. */
kd_status kd_dataset_save(const dataset *data, uint64_t key, const char *path);
/* Loads a saved dataset, never trusting it: KD_ERR_IO when it cannot be
 * read, KD_ERR_FORMAT when it is damaged (bad magic or version, sizes that
 * disagree, checksum mismatch, impossible values), KD_ERR_INVALID when it
 * is intact but was made under another key (stale). */
kd_status kd_dataset_load(const char *path, uint64_t expected_key, dataset **out);

/* --------------------------------------------------------------- build -- */

typedef struct {
    const char *const *paths;    /* data files, concatenated in this order */
    size_t path_count;
    record_fields fields;
    prompt_template prompt;
    loss_mode loss;
    size_t seq_len;              /* T: examples keep at most T + 1 ids */
    double validation_fraction;  /* in [0, 1) */
    uint64_t split_seed;
    int skip_bad;
    const char *cache_dir;       /* NULL: no cache; created when missing */
} dataset_options;

/* Dolly fields, the default templates, LOSS_RESPONSE, seq_len 1024 (GPT-2's
 * context), validation 0.2, split seed 42, no skip_bad, no cache, no paths. */
void kd_dataset_options_default(dataset_options *options);

/* The cache key: XXH3 over the format version, the data files' contents,
 * the tokenizer hash, both templates, the field names, the loss mode,
 * seq_len and skip_bad: everything the examples depend on. The split
 * settings are not in it (the split is recomputed on every load). */
kd_status kd_dataset_options_key(const dataset_options *options, uint64_t kd_tokenizer_hash,
                                 uint64_t *key);

typedef enum {
    CACHE_UNUSED,   /* no cache_dir */
    CACHE_HIT,      /* loaded from the cache */
    CACHE_MISS,     /* no cache file for this key: built and saved */
    CACHE_STALE,    /* the file held another key: rebuilt and saved */
    CACHE_DAMAGED   /* the file failed its checks: rebuilt and saved */
} dataset_cache_state;

typedef struct {
    dataset_counts counts;
    size_t files;
    size_t examples;
    size_t tokens;
    size_t loss_tokens;          /* targets that count */
    size_t train_examples;
    size_t validation_examples;
    uint64_t key;
    dataset_cache_state cache;
    char cache_path[1024];       /* "" without a cache */
} dataset_report;

/* Reads, templates, tokenizes, fits, caches and splits: the whole chain.
 * An empty dataset (no records, or every example dropped) is an error.
 * `report` may be NULL. */
kd_status kd_dataset_build(const dataset_options *options, const kd_tokenizer *tokenizer,
                           dataset **out, dataset_report *report);
/* A few human-readable lines ("dataset: 3893 records, ..."). */
void kd_dataset_report_print(const dataset_report *report, FILE *stream);

/* ------------------------------------------------------------- batcher -- */

typedef struct {
    size_t batch_size;     /* B: rows per batch (per rank) */
    size_t seq_len;        /* T: columns; at least the dataset's seq_len */
    int shuffle;           /* a new order every epoch, from (seed, epoch) */
    uint64_t seed;
    int rank;              /* this rank's slice of every global batch */
    int world_size;
    int pad_id;            /* token and target id of padding (weight 0) */
    size_t trim_multiple;  /* 0: every batch has T columns; m > 0: columns =
                              max_length rounded up to a multiple of m (<= T) */
    int group_by_length;   /* batches of examples of like length (below) */
    size_t megabatch;      /* global batches per length-sorted group; 0: the whole part */
} batcher_options;

/* B 8, T 1024, shuffle on, seed 42, rank 0 of 1, pad <|endoftext|>, no trim,
 * no grouping (megabatch 50 when it is turned on).
 *
 * Length grouping (Hugging Face's group_by_length): the epoch's order (shuffled
 * or not) is cut into megabatches of `megabatch` global batches, each is
 * sorted by example length, longest first (ties keep their order), and cut
 * into batches; with shuffle the batches are then shuffled. Short examples
 * share batches with short ones, so trimmed batches hold little padding.
 * The order stays a pure function of (seed, epoch). */
void kd_batcher_options_default(batcher_options *options);

/* Where a batcher is: the epoch and the batch within it that comes next. A
 * checkpoint saves it; kd_batcher_seek restores it. */
typedef struct {
    uint64_t epoch;
    uint64_t batch;
} batcher_position;

/* One batch, row-major (batch_size, columns), one example per row from
 * column 0, right-padded with pad_id and weight 0. The model's causal mask
 * keeps real tokens from attending to the padding after them. */
typedef struct {
    int *tokens;
    int *targets;
    float *weights;             /* 1: the target counts, 0: it does not */
    size_t rows;                /* examples in this batch; later rows are all padding */
    const size_t *examples;     /* (rows) the dataset example index of each row */
    size_t columns;             /* T of this batch */
    size_t max_length;          /* longest row's input length (<= columns) */
    size_t inputs;              /* real input tokens: the rows' input lengths summed */
    size_t counted;             /* weights equal to 1 */
    batcher_position position;  /* of this batch */
} kd_batch;

typedef struct batcher batcher;

/* A batcher over one part of `data`, which must outlive it unchanged (no
 * kd_dataset_append or kd_dataset_split meanwhile). Every epoch orders the part
 * (shuffled or not), cuts it into global batches of batch_size * world_size
 * examples and gives this rank every world_size-th example of each, from
 * its rank on: ranks see disjoint examples, and their row counts differ by
 * at most one (the last batch of an epoch may be short or, for some ranks,
 * empty). All memory is allocated here, none per batch. */
kd_status kd_batcher_create(const dataset *data, dataset_part part, const batcher_options *options,
                            batcher **out);
void kd_batcher_free(batcher *loader);

size_t kd_batcher_batches_per_epoch(const batcher *loader);
/* Fills and returns the next batch (moving to the next epoch after the last
 * batch of one). The batch stays valid until the next call. */
const kd_batch *kd_batcher_next(batcher *loader);
batcher_position kd_batcher_tell(const batcher *loader);
/* KD_ERR_INVALID when position.batch is not a batch of an epoch. */
kd_status kd_batcher_seek(batcher *loader, batcher_position position);

#endif
