/* kd_dataset_build: data files to a split, cached dataset of examples. */
#include "kd/data.h"

#include "data_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static kd_status check_options(const dataset_options *options)
{
    if (options->path_count == 0)
        return kd_fail(KD_ERR_INVALID, "dataset: no data files given");
    if (options->seq_len == 0)
        return kd_fail(KD_ERR_INVALID, "dataset: sequence length must be at least 1");
    if (options->loss != LOSS_RESPONSE && options->loss != LOSS_ALL)
        return kd_fail(KD_ERR_INVALID, "dataset: unknown loss mode %d", (int)options->loss);
    if (!(options->validation_fraction >= 0.0 && options->validation_fraction < 1.0))
        return kd_fail(KD_ERR_INVALID, "dataset: validation fraction %g is not in [0, 1)",
                       options->validation_fraction);
    return kd_prompt_template_validate(&options->prompt);
}

/* Scratch memory for turning records into examples, reused for each. */
typedef struct {
    rendered_prompt rendered;
    example_tokens tokens;
    int *ids;
    uint8_t *mask;
} example_scratch;

static void count_fit(dataset_counts *counts, fit_result fit)
{
    counts->kept += fit.outcome == FIT_KEPT;
    counts->shortened += fit.outcome == FIT_SHORTENED;
    counts->dropped += fit.outcome == FIT_DROPPED;
    counts->context_tokens_cut += fit.context_cut;
    counts->response_tokens_cut += fit.response_cut;
}

static kd_status add_record(const dataset_options *options, const kd_tokenizer *tokenizer,
                            const data_record *record, example_scratch *scratch, dataset *data,
                            dataset_counts *counts)
{
    kd_status status = kd_template_render(&options->prompt, record, &scratch->rendered);
    if (status == KD_OK)
        status = kd_example_encode(tokenizer, &scratch->rendered, &scratch->tokens);
    if (status != KD_OK)
        return status;
    size_t length;
    fit_result fit = kd_example_fit(scratch->tokens.ids.ids, scratch->tokens.roles,
                                    scratch->tokens.ids.count, options->seq_len, options->loss,
                                    scratch->ids, scratch->mask, &length);
    count_fit(counts, fit);
    if (fit.outcome == FIT_DROPPED)
        return KD_OK;
    uint64_t hash = kd_record_content_hash(record->instruction, record->context, record->response);
    return kd_dataset_append(data, scratch->ids, scratch->mask, length, hash);
}

static kd_status add_records(const dataset_options *options, const kd_tokenizer *tokenizer,
                             const record_list *records, dataset *data)
{
    dataset_counts counts = {.records = records->count, .skipped = records->skipped};
    example_scratch scratch = {0};
    scratch.ids = kd_alloc(options->seq_len + 1, sizeof *scratch.ids, "example ids");
    scratch.mask = kd_alloc(options->seq_len + 1, 1, "example mask");
    kd_status status = scratch.ids && scratch.mask ? KD_OK : KD_ERR_NOMEM;
    for (size_t i = 0; i < records->count && status == KD_OK; i++) {
        const data_record *record = &records->items[i];
        status = add_record(options, tokenizer, record, &scratch, data, &counts);
        if (status != KD_OK)
            kd_fail_context(status, "%s:%zu", records->sources[record->source], record->line);
    }
    kd_rendered_prompt_free(&scratch.rendered);
    kd_example_tokens_free(&scratch.tokens);
    free(scratch.ids);
    free(scratch.mask);
    kd_dataset_set_counts(data, &counts);
    if (status == KD_OK && kd_dataset_size(data) == 0)
        status = kd_fail(KD_ERR_INVALID,
                         "dataset: none of the %zu records fits sequence length %zu",
                         records->count, options->seq_len);
    return status;
}

/* Reads, templates, tokenizes and fits every record of the data files. */
static kd_status build_examples(const dataset_options *options, const kd_tokenizer *tokenizer,
                                dataset **out)
{
    record_list records = {0};
    kd_status status = KD_OK;
    for (size_t i = 0; i < options->path_count && status == KD_OK; i++)
        status = kd_records_read_file(options->paths[i], &options->fields, options->skip_bad,
                                      &records);
    dataset *data = NULL;
    if (status == KD_OK)
        status = kd_dataset_create(options->seq_len, &data);
    if (status == KD_OK)
        status = add_records(options, tokenizer, &records, data);
    kd_record_list_free(&records);
    if (status != KD_OK) {
        kd_dataset_free(data);
        return status;
    }
    *out = data;
    return KD_OK;
}

/* Tries the cache file; a missing, stale or damaged one is not an error,
 * just a reason to build (recorded in report->cache). */
static kd_status load_cached(const char *path, uint64_t key, dataset **out,
                             dataset_report *report)
{
    if (access(path, F_OK) != 0) {
        report->cache = CACHE_MISS;
        return KD_OK;
    }
    kd_status status = kd_dataset_load(path, key, out);
    switch (status) {
    case KD_OK:
        report->cache = CACHE_HIT;
        return KD_OK;
    case KD_ERR_INVALID:
        report->cache = CACHE_STALE;
        return KD_OK;
    case KD_ERR_FORMAT:
        report->cache = CACHE_DAMAGED;
        return KD_OK;
    default:
        return status; /* present but unreadable, or out of memory */
    }
}

static kd_status cache_path(const char *dir, uint64_t key, dataset_report *report)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return kd_fail(KD_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    size_t room = sizeof report->cache_path;
    if ((size_t)snprintf(report->cache_path, room, "%s/dataset-%016llx.bin", dir,
                         (unsigned long long)key) >= room)
        return kd_fail(KD_ERR_INVALID, "%s: cache directory path too long", dir);
    return KD_OK;
}

static void fill_report(const dataset *data, dataset_report *report)
{
    report->counts = kd_dataset_get_counts(data);
    report->examples = kd_dataset_size(data);
    report->tokens = kd_dataset_token_count(data);
    report->loss_tokens = 0;
    for (size_t i = 0; i < report->examples; i++) {
        kd_example example = kd_dataset_example(data, i);
        for (size_t t = 0; t < example.length; t++)
            report->loss_tokens += example.target_mask[t];
    }
    kd_dataset_part_indices(data, DATASET_TRAIN, &report->train_examples);
    kd_dataset_part_indices(data, DATASET_VALIDATION, &report->validation_examples);
}

kd_status kd_dataset_build(const dataset_options *options, const kd_tokenizer *tokenizer,
                           dataset **out, dataset_report *report)
{
    dataset_report unused;
    report = report ? report : &unused;
    memset(report, 0, sizeof *report);
    *out = NULL;
    kd_status status = check_options(options);
    if (status == KD_OK)
        status = kd_dataset_options_key(options, kd_tokenizer_hash(tokenizer), &report->key);
    report->files = options->path_count;
    dataset *data = NULL;
    if (status == KD_OK && options->cache_dir) {
        status = cache_path(options->cache_dir, report->key, report);
        if (status == KD_OK)
            status = load_cached(report->cache_path, report->key, &data, report);
    }
    if (status == KD_OK && !data) {
        status = build_examples(options, tokenizer, &data);
        if (status == KD_OK && options->cache_dir)
            status = kd_dataset_save(data, report->key, report->cache_path);
    }
    if (status == KD_OK)
        status = kd_dataset_split(data, options->split_seed, options->validation_fraction);
    if (status != KD_OK) {
        kd_dataset_free(data);
        return status;
    }
    fill_report(data, report);
    *out = data;
    return KD_OK;
}

void kd_dataset_report_print(const dataset_report *report, FILE *stream)
{
    static const char *const cache_states[] = {"off", "hit", "miss, built", "stale, rebuilt",
                                               "damaged, rebuilt"};
    const dataset_counts *counts = &report->counts;
    fprintf(stream, "dataset: %zu records from %zu file(s), %zu bad skipped\n", counts->records,
            report->files, counts->skipped);
    fprintf(stream,
            "dataset: %zu examples (%zu whole, %zu shortened: %zu context and %zu response "
            "tokens cut), %zu dropped\n",
            report->examples, counts->kept, counts->shortened, counts->context_tokens_cut,
            counts->response_tokens_cut, counts->dropped);
    fprintf(stream, "dataset: %zu tokens, %zu counted in the loss; %zu train, %zu validation\n",
            report->tokens, report->loss_tokens, report->train_examples,
            report->validation_examples);
    if (report->cache != CACHE_UNUSED)
        fprintf(stream, "dataset cache: %s (%s)\n", cache_states[report->cache],
                report->cache_path);
}
