/* The tied lm_head fused with its loss. Rows that carry no loss weight are
 * skipped entirely, and counted rows are processed in chunks of R: gather
 * their hidden states, one sgemm for the (R, V) logits, a per-row loss that
 * turns the logits into their gradient in place, then two sgemms for the
 * gradients of the hidden states and of wte. The (B, T, V) logits tensor
 * never exists. Optional per-chunk hooks let a loss bring more rows of its
 * own, e.g. a live teacher's logits for the same chunk. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_gemm.h"
#include "head.h"
#include "nn_limits.h"
#include "vector_math.h"

float kd_logits_max(const float *logits, int V)
{
    float max = -FLT_MAX;
#pragma omp simd reduction(max : max)
    for (int v = 0; v < V; v++)
        max = logits[v] > max ? logits[v] : max;
    return max;
}

float kd_logits_scaled_sum_exp(const float *logits, int V, float max, float scale)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++)
        sum += expf((logits[v] - max) * scale);
    return sum;
}

float kd_logits_log_sum_exp(const float *logits, int V)
{
    float max = kd_logits_max(logits, V);
    return max + logf(kd_logits_scaled_sum_exp(logits, V, max, 1.0f));
}

/* Collects the rows with a nonzero weight; returns how many. */
static int collect_counted_rows(int *rows, const float *weights, int N)
{
    int count = 0;
    for (int n = 0; n < N; n++)
        if (!weights || weights[n] != 0.0f)
            rows[count++] = n;
    return count;
}

/* The head scratch holds logits (R, V), then gathered rows (R, C) and
 * HEAD_VOCAB_PARTS partial gradients of them (R, C) each. */
static float *scratch_hidden(const gpt2_model *model)
{
    return model->head_scratch + (size_t)model->head_chunk_rows * model->config.vocab_size;
}

static int uses_bf16(const gpt2_model *model)
{
    return model->products.precision == KD_PRECISION_BF16;
}

static const bf16 *wte_bf16(const gpt2_model *model)
{
    return model->products.params_bf16 + (model->params.wte - model->params_memory);
}

/* logits (rows, V) = hidden (rows, C) . wte^T with bf16 operands. */
static void logits_bf16(const gpt2_model *model, const bf16 *hidden, int rows, float *logits)
{
    int C = model->config.n_embd, V = model->config.vocab_size;
    bf16_gemm_shape shape = {rows, V, C, 0, 1, C, C, V, 0, 0};
    kd_bf16_gemm(&shape, hidden, wte_bf16(model), NULL, logits);
}

/* The bf16 head works on chunks padded with zero rows to `padded`: their
 * logits are computed and never read, and their zero gradients add nothing
 * to wte's. The hidden states are rounded into the start of the scratch,
 * the logit gradients after them. */
static bf16 *chunk_hidden_bf16(const gpt2_model *model)
{
    return model->products.scratch;
}

static bf16 *chunk_dlogits_bf16(const gpt2_model *model, int padded)
{
    return model->products.scratch + (size_t)padded * model->config.n_embd;
}

static float *chunk_logits_bf16(gpt2_model *model, const int *positions, int rows)
{
    int C = model->config.n_embd, padded = kd_head_padded_rows(rows);
    bf16 *hidden = chunk_hidden_bf16(model);
#pragma omp parallel for if ((size_t)rows * C >= PARALLEL_MIN_FLOATS)
    for (int r = 0; r < rows; r++)
        kd_bf16_from_float(hidden + (size_t)r * C, model->acts.lnf + (size_t)positions[r] * C,
                           (size_t)C);
    memset(hidden + (size_t)rows * C, 0, (size_t)(padded - rows) * C * sizeof(bf16));
    logits_bf16(model, hidden, padded, model->head_scratch);
    return model->head_scratch;
}

/* dhidden (padded, C) = dlogits . wte and dwte += dlogits^T . hidden, with
 * the chunk's logit gradients (rows, V) rounded to bf16. One product over
 * the whole vocabulary: oneDNN's reduction order depends on the shape and
 * thread count only, as the fp32 path's fixed vocabulary parts do. */
static void head_gradients_bf16(gpt2_model *model, const float *dlogits, int rows,
                                float *dhidden)
{
    int C = model->config.n_embd, V = model->config.vocab_size;
    int padded = kd_head_padded_rows(rows);
    bf16 *hidden = chunk_hidden_bf16(model), *dlogits16 = chunk_dlogits_bf16(model, padded);
    kd_bf16_from_float_rows(dlogits16, dlogits, rows, V, (size_t)V);
    memset(dlogits16 + (size_t)rows * V, 0, (size_t)(padded - rows) * V * sizeof(bf16));
    bf16_gemm_shape input = {padded, C, V, 0, 0, V, C, C, 0, 0};
    kd_bf16_gemm(&input, dlogits16, wte_bf16(model), NULL, dhidden);
    bf16_gemm_shape weights = {V, C, padded, 1, 0, V, C, C, 0, 1};
    if (model->grads.wte) /* NULL when adapters froze wte */
        kd_bf16_gemm(&weights, dlogits16, hidden, NULL, model->grads.wte);
}

float *kd_head_chunk_logits(gpt2_model *model, const int *positions, int rows)
{
    if (uses_bf16(model))
        return chunk_logits_bf16(model, positions, rows);
    int C = model->config.n_embd, V = model->config.vocab_size;
    float *logits = model->head_scratch, *hidden = scratch_hidden(model);
    for (int r = 0; r < rows; r++)
        memcpy(hidden + (size_t)r * C, model->acts.lnf + (size_t)positions[r] * C,
               (size_t)C * sizeof(float));
    /* logits (rows, V) = hidden (rows, C) . wte^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, V, C, 1.0f, hidden, C,
                model->params.wte, C, 0.0f, logits, V);
    return logits;
}

/* dhidden (rows, C) = dlogits (rows, V) . wte (V, C), into partials[0].
 * As one sgemm with K = V, OpenBLAS's threads meet after every block of K
 * and both pack all of wte; cut into fixed vocabulary ranges, one
 * single-threaded sgemm each, it runs ~10% faster at 2 threads, and adding
 * the partial products in range order keeps the result independent of the
 * thread count. */
static void head_hidden_gradient(float *partials, const float *dlogits, const float *wte,
                                 int rows, int C, int V)
{
    size_t part_floats = (size_t)rows * C;
#pragma omp parallel for schedule(static)
    for (int part = 0; part < HEAD_VOCAB_PARTS; part++) {
        int begin = (int)((long)V * part / HEAD_VOCAB_PARTS);
        int end = (int)((long)V * (part + 1) / HEAD_VOCAB_PARTS);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, C, end - begin, 1.0f,
                    dlogits + begin, V, wte + (size_t)begin * C, C, 0.0f,
                    partials + part * part_floats, C);
    }
#pragma omp parallel for
    for (size_t i = 0; i < part_floats; i++) {
        float sum = partials[i];
        for (int part = 1; part < HEAD_VOCAB_PARTS; part++)
            sum += partials[part * part_floats + i];
        partials[i] = sum;
    }
}

double kd_head_run(gpt2_model *model, const float *weights, float grad_scale,
                   const head_loss *loss)
{
    const gpt2_config *cfg = &model->config;
    int C = cfg->n_embd, V = cfg->vocab_size, N = model->batch * model->seq;
    int R = model->head_chunk_rows;
    float *hidden = scratch_hidden(model);
    float *dhidden = hidden + (size_t)R * C;
    int count = collect_counted_rows(model->head_rows, weights, N);
    /* Per-row losses are summed in row order after the parallel loop, so the
     * total is the same whatever the thread count. */
    double row_losses[HEAD_MAX_ROWS];
    double total = 0.0;

    if (grad_scale != 0.0f)
        memset(model->acts.dlnf, 0, (size_t)N * C * sizeof(float));
    /* Equal chunks rather than full ones and a sliver: 600 rows run as two
     * of 300, not 512 and 88. */
    int chunks = (count + R - 1) / R;
    int chunk_rows = chunks ? (count + chunks - 1) / chunks : 0;
    for (int begin = 0; begin < count; begin += chunk_rows) {
        int rows = count - begin < chunk_rows ? count - begin : chunk_rows;
        const int *index = model->head_rows + begin;
        float *logits = kd_head_chunk_logits(model, index, rows);
        if (loss->chunk_begin)
            loss->chunk_begin(index, rows, loss->context);
#pragma omp parallel for
        for (int r = 0; r < rows; r++) {
            head_row row = {index[r], begin + r, r, weights ? weights[index[r]] : 1.0f};
            row_losses[r] = loss->row_loss(logits + (size_t)r * V, V, &row, grad_scale,
                                           loss->context);
        }
        if (loss->chunk_end)
            loss->chunk_end(index, rows, loss->context);
        for (int r = 0; r < rows; r++)
            total += row_losses[r];
        if (grad_scale == 0.0f)
            continue;
        if (uses_bf16(model)) {
            head_gradients_bf16(model, logits, rows, dhidden);
        } else {
            head_hidden_gradient(dhidden, logits, model->params.wte, rows, C, V);
            /* dwte (V, C) += dlogits^T . hidden, unless adapters froze wte */
            if (model->grads.wte)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, rows, 1.0f, logits, V,
                            hidden, C, 1.0f, model->grads.wte, C);
        }
        for (int r = 0; r < rows; r++)
            memcpy(model->acts.dlnf + (size_t)index[r] * C, dhidden + (size_t)r * C,
                   (size_t)C * sizeof(float));
    }
    return total;
}

/* Cross-entropy: loss = lse - logit[target]; d/dlogits = softmax - onehot.
 * With a gradient to write, the exponentials are stored on the way to their
 * sum and then scaled, so each logit costs one expf rather than two. */
static double cross_entropy_row(float *logits, int V, const head_row *row, float grad_scale,
                                void *context)
{
    int target = ((const int *)context)[row->position];
    float target_logit = logits[target], weight = row->weight;
    if (grad_scale == 0.0f)
        return (double)weight * (double)(kd_logits_log_sum_exp(logits, V) - target_logit);
    float max = kd_logits_max(logits, V);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) {
        logits[v] = expf(logits[v] - max);
        sum += logits[v];
    }
    float scale = weight * grad_scale, factor = scale / sum;
#pragma omp simd
    for (int v = 0; v < V; v++)
        logits[v] *= factor;
    logits[target] -= scale;
    return (double)weight * (double)(max + logf(sum) - target_logit);
}

double kd_gpt2_head_cross_entropy(gpt2_model *model, const int *targets, const float *weights,
                                  float grad_scale)
{
    head_loss loss = {cross_entropy_row, NULL, NULL, (void *)targets};
    return kd_head_run(model, weights, grad_scale, &loss);
}

typedef struct {
    const int *targets;
    float *hits; /* (B*T): 1 where the argmax equals the target */
} evaluate_context;

/* The first v with logits[v] == value, or V if none; blocks of 16 are
 * tested with vector compares before the scalar search inside the block. */
static int first_index_of(const float *logits, int V, float value)
{
    enum { BLOCK = 16 };
    int begin = 0;
    for (; begin + BLOCK <= V; begin += BLOCK) {
        int found = 0;
#pragma omp simd reduction(| : found)
        for (int j = 0; j < BLOCK; j++)
            found |= logits[begin + j] == value;
        if (found)
            break;
    }
    while (begin < V && logits[begin] != value)
        begin++;
    return begin;
}

double kd_logits_evaluate(const float *logits, int V, int target, int *hit)
{
    /* The argmax is the first position holding the (vectorised) maximum; a
     * row with a NaN may have none, and then counts as a miss. */
    float max = kd_logits_max(logits, V);
    *hit = first_index_of(logits, V, max) == target;
    return (double)(max + logf(kd_logits_scaled_sum_exp(logits, V, max, 1.0f)) - logits[target]);
}

static double evaluate_row(float *logits, int V, const head_row *row, float grad_scale,
                           void *context)
{
    (void)grad_scale;
    evaluate_context *eval = context;
    int hit;
    double loss = kd_logits_evaluate(logits, V, eval->targets[row->position], &hit);
    eval->hits[row->position] = hit ? row->weight : 0.0f;
    return (double)row->weight * loss;
}

void kd_gpt2_head_evaluate(gpt2_model *model, const int *targets, const float *weights,
                           gpt2_eval_sums *sums)
{
    int N = model->batch * model->seq;
    evaluate_context context = {targets, model->head_row_values};
    memset(context.hits, 0, (size_t)N * sizeof(float));
    head_loss loss = {evaluate_row, NULL, NULL, &context};
    sums->loss_sum += kd_head_run(model, weights, 0.0f, &loss);
    for (int n = 0; n < N; n++) {
        sums->counted += weights ? weights[n] : 1.0f;
        sums->correct += context.hits[n];
    }
}

/* The whole multiples of HEAD_ROW_ALIGN rows go straight into `out`; the
 * rest, padded with zero rows, through the head scratch. So a caller's
 * varying row counts meet a few product shapes. */
static void head_logits_bf16(gpt2_model *model, int row_begin, int rows, float *out)
{
    int C = model->config.n_embd, V = model->config.vocab_size;
    int whole = rows / HEAD_ROW_ALIGN * HEAD_ROW_ALIGN, rest = rows - whole;
    bf16 *hidden = chunk_hidden_bf16(model);
    kd_bf16_from_float(hidden, model->acts.lnf + (size_t)row_begin * C, (size_t)rows * C);
    if (whole)
        logits_bf16(model, hidden, whole, out);
    if (!rest)
        return;
    bf16 *tail = hidden + (size_t)whole * C;
    memset(tail + (size_t)rest * C, 0, (size_t)(HEAD_ROW_ALIGN - rest) * C * sizeof(bf16));
    logits_bf16(model, tail, HEAD_ROW_ALIGN, model->head_scratch);
    memcpy(out + (size_t)whole * V, model->head_scratch, (size_t)rest * V * sizeof(float));
}

void kd_gpt2_head_logits(gpt2_model *model, int row_begin, int rows, float *out)
{
    if (uses_bf16(model)) {
        head_logits_bf16(model, row_begin, rows, out);
        return;
    }
    int C = model->config.n_embd, V = model->config.vocab_size;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, V, C, 1.0f,
                model->acts.lnf + (size_t)row_begin * C, C, model->params.wte, C, 0.0f, out, V);
}
