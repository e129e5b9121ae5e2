/* The student's training objective: cached teacher rows (or a live teacher)
 * for every counted token of a step's micro-batches, then the distillation
 * step. Reading a record is a decompression and a copy; the teacher never
 * runs on the cached path. */
#include <stdlib.h>
#include <string.h>

#include "kd/student.h"

struct distill_objective {
    cache_reader *reader;          /* NULL: live teacher */
    gpt2_model *teacher;
    const dataset *data;
    distill_config config;
    int batch_size, seq_len, grad_accum;
    int topk, samples;             /* the cache's K and N */
    distill_batch *micro;          /* (grad_accum) */
    teacher_row_target *rows;      /* (grad_accum * B * T) one per counted token */
    int *ids;                      /* (grad_accum * B * T, K) */
    float *logprobs;
    int *sample_ids;               /* (grad_accum * B * T, N) */
    float *sample_weights;
};

static kd_status allocate(distill_objective *o)
{
    size_t cells = (size_t)o->grad_accum * (size_t)o->batch_size * (size_t)o->seq_len;
    size_t K = (size_t)o->topk, N = (size_t)o->samples;
    o->micro = kd_alloc((size_t)o->grad_accum, sizeof *o->micro, "distillation micro-batches");
    if (!o->reader)
        return o->micro ? KD_OK : KD_ERR_NOMEM;
    o->rows = kd_alloc(cells, sizeof *o->rows, "teacher rows");
    o->ids = kd_alloc(cells * (K ? K : 1), sizeof *o->ids, "teacher top-k ids");
    o->logprobs = kd_alloc(cells * (K ? K : 1), sizeof *o->logprobs, "teacher log-probabilities");
    o->sample_ids = kd_alloc(cells * (N ? N : 1), sizeof *o->sample_ids, "teacher samples");
    o->sample_weights = kd_alloc(cells * (N ? N : 1), sizeof *o->sample_weights, "sample weights");
    return o->micro && o->rows && o->ids && o->logprobs && o->sample_ids && o->sample_weights
               ? KD_OK
               : KD_ERR_NOMEM;
}

kd_status kd_distill_objective_create(cache_reader *reader, gpt2_model *teacher,
                                      const dataset *data, const distill_config *config,
                                      int batch_size, int seq_len, int grad_accum,
                                      distill_objective **out)
{
    *out = NULL;
    if (!reader == !teacher)
        return kd_fail(KD_ERR_INVALID, "distillation needs either the cache or a live teacher");
    distill_objective *o = kd_alloc(1, sizeof *o, "distillation objective");
    if (!o)
        return KD_ERR_NOMEM;
    *o = (distill_objective){.reader = reader, .teacher = teacher, .data = data,
                             .config = *config, .batch_size = batch_size, .seq_len = seq_len,
                             .grad_accum = grad_accum};
    if (reader) {
        o->topk = kd_cache_reader_manifest(reader)->encoding.topk;
        o->samples = kd_cache_reader_manifest(reader)->encoding.samples;
    }
    kd_status status = allocate(o);
    if (status != KD_OK) {
        kd_distill_objective_free(o);
        return status;
    }
    *out = o;
    return KD_OK;
}

void kd_distill_objective_free(distill_objective *o)
{
    if (!o)
        return;
    free(o->micro);
    free(o->rows);
    free(o->ids);
    free(o->logprobs);
    free(o->sample_ids);
    free(o->sample_weights);
    free(o);
}

/* Copies row j of a record into target slot `at` (the reader's arrays are
 * overwritten by its next read). */
static void take_row(distill_objective *o, const cache_record *record, int j, size_t at)
{
    size_t K = (size_t)o->topk, N = (size_t)o->samples;
    teacher_row_target *row = &o->rows[at];
    int *ids = o->ids + at * K;
    float *logprobs = o->logprobs + at * K;
    for (size_t k = 0; k < K; k++) {
        ids[k] = record->topk_ids[(size_t)j * K + k];
        logprobs[k] = record->topk_logprobs[(size_t)j * K + k];
    }
    int begin = record->sample_draws ? record->sample_offsets[j] : 0;
    int count = record->sample_draws ? record->sample_offsets[j + 1] - begin : 0;
    for (int n = 0; n < count; n++) {
        o->sample_ids[at * N + (size_t)n] = record->sample_ids[begin + n];
        o->sample_weights[at * N + (size_t)n] = record->sample_weights[begin + n];
    }
    *row = (teacher_row_target){
        .k = (int)K, .ids = ids, .logprobs = logprobs, .tail_mass = record->tail_mass[j],
        .n_samples = count, .sample_ids = o->sample_ids + at * N,
        .sample_weights = o->sample_weights + at * N, .entropy = record->entropy[j],
    };
}

/* The rows of one batch row: its counted positions must be exactly the
 * record's, and the record must have been made from this very example. */
static kd_status take_example(distill_objective *o, const gpt2_batch *b, int r, size_t example,
                              size_t *filled)
{
    kd_example ex = kd_dataset_example(o->data, example);
    cache_record record;
    kd_status status = kd_cache_reader_read(o->reader, (uint32_t)example, &record);
    if (status != KD_OK)
        return status;
    if (record.example_hash != kd_cache_example_hash(ex.ids, ex.target_mask, ex.length))
        return kd_fail(KD_ERR_INVALID, "the cached record of example %zu was made from other "
                       "tokens than this run trains on; rebuild the cache", example);
    const float *weights = b->weights + (size_t)r * (size_t)b->seq;
    int j = 0;
    for (int t = 0; t < b->seq; t++) {
        if (weights[t] == 0.0f)
            continue;
        if (j == record.positions || record.position[j] != t)
            return kd_fail(KD_ERR_INVALID, "the cached record of example %zu does not cover "
                           "its position %d", example, t);
        take_row(o, &record, j++, (*filled)++);
    }
    if (j != record.positions)
        return kd_fail(KD_ERR_INVALID, "the cached record of example %zu has %d positions, "
                       "the example counts %d", example, record.positions, j);
    return KD_OK;
}

static kd_status fetch_rows(distill_objective *o, const gpt2_batch *micro, const size_t *examples,
                            int micro_count)
{
    size_t filled = 0;
    for (int i = 0; i < micro_count; i++) {
        size_t first = filled;
        for (int r = 0; r < micro[i].batch; r++) {
            kd_status status = take_example(o, &micro[i], r,
                                            examples[(size_t)i * (size_t)o->batch_size + r],
                                            &filled);
            if (status != KD_OK)
                return status;
        }
        o->micro[i].teacher_rows = o->rows + first;
        o->micro[i].teacher_row_count = (int)(filled - first);
    }
    return KD_OK;
}

static kd_status objective_step(void *context, gpt2_model *model, const gpt2_batch *micro,
                                const size_t *examples, int micro_count,
                                const gpt2_step_config *config, int step,
                                train_step_report *report)
{
    distill_objective *o = context;
    if (micro_count > o->grad_accum)
        return kd_fail(KD_ERR_INVALID, "%d micro-batches for an objective made for %d",
                       micro_count, o->grad_accum);
    for (int i = 0; i < micro_count; i++)
        o->micro[i] = (distill_batch){.batch = micro[i]};
    kd_status status = o->reader ? fetch_rows(o, micro, examples, micro_count) : KD_OK;
    if (status != KD_OK)
        return kd_fail_context(status, "step %d", step);
    distill_step_result result;
    status = kd_gpt2_distill_train_step(model, o->teacher, o->micro, micro_count, &o->config,
                                        config, step, &result);
    if (status != KD_OK)
        return status;
    report->step = result.step;
    report->has_parts = 1;
    report->cross_entropy = result.cross_entropy;
    report->divergence = result.divergence;
    return KD_OK;
}

train_objective kd_distill_objective_as_train(distill_objective *objective)
{
    return (train_objective){.step = objective_step, .context = objective};
}
