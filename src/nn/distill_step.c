/* The distillation training step: check everything a micro-batch brings,
 * then the shared optimizer step with the distillation head in place of CE. */
#include "kd/distill.h"
#include "train_step.h"

typedef struct {
    gpt2_model *teacher;          /* NULL: cached rows */
    const distill_batch *micro;
    const distill_config *config;
    distill_parts parts;          /* summed over the micro-batches */
} distill_step_context;

static double distill_micro(gpt2_model *student, int index, float grad_scale, void *context)
{
    distill_step_context *step = context;
    const distill_batch *micro = &step->micro[index];
    const gpt2_batch *b = &micro->batch;
    distill_parts parts;
    double loss;
    kd_gpt2_forward(student, b->tokens, b->batch, b->seq);
    if (step->teacher) {
        kd_gpt2_forward(step->teacher, b->tokens, b->batch, b->seq);
        loss = kd_gpt2_head_distill_live(student, step->teacher, b->targets, b->weights,
                                         step->config, grad_scale, &parts);
    } else {
        loss = kd_gpt2_head_distill_cached(student, micro->teacher_rows, b->targets, b->weights,
                                           step->config, grad_scale, &parts);
    }
    kd_gpt2_backward(student);
    step->parts.cross_entropy += parts.cross_entropy;
    step->parts.divergence += parts.divergence;
    return loss;
}

static int count_nonzero(const float *weights, int n)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += !weights || weights[i] != 0.0f;
    return count;
}

/* Everything the head takes on trust, checked before any parameter moves. */
static kd_status check_micro_batch(const gpt2_model *student, const gpt2_model *teacher,
                                   const distill_batch *micro, int index,
                                   const distill_config *config)
{
    const gpt2_batch *b = &micro->batch;
    if (b->batch > student->max_batch || b->seq > student->max_seq)
        return kd_fail(KD_ERR_INVALID, "micro-batch %d: %d x %d exceeds the prepared %d x %d",
                       index, b->batch, b->seq, student->max_batch, student->max_seq);
    if (teacher) {
        if (b->batch > teacher->max_batch || b->seq > teacher->max_seq)
            return kd_fail(KD_ERR_INVALID,
                           "micro-batch %d: %d x %d exceeds the teacher's prepared %d x %d",
                           index, b->batch, b->seq, teacher->max_batch, teacher->max_seq);
        return KD_OK;
    }
    int counted = count_nonzero(b->weights, b->batch * b->seq);
    if (!micro->teacher_rows || micro->teacher_row_count != counted)
        return kd_fail(KD_ERR_INVALID,
                       "micro-batch %d: %d cached teacher rows for %d counted tokens", index,
                       micro->teacher_rows ? micro->teacher_row_count : 0, counted);
    kd_status status = kd_distill_check_rows(micro->teacher_rows, micro->teacher_row_count,
                                             student->config.vocab_size, config);
    return status == KD_OK ? KD_OK : kd_fail_context(status, "micro-batch %d", index);
}

kd_status kd_gpt2_distill_train_step(gpt2_model *student, gpt2_model *teacher,
                                     const distill_batch *micro, int micro_count,
                                     const distill_config *distill, const gpt2_step_config *config,
                                     int step, distill_step_result *result)
{
    kd_status status = kd_distill_config_validate(distill);
    if (status == KD_OK && teacher && teacher->config.vocab_size != student->config.vocab_size)
        status = kd_fail(KD_ERR_INVALID, "teacher vocabulary %d differs from the student's %d",
                         teacher->config.vocab_size, student->config.vocab_size);
    double counted = 0.0;
    for (int i = 0; status == KD_OK && i < micro_count; i++) {
        status = check_micro_batch(student, teacher, &micro[i], i, distill);
        counted += kd_batch_counted_tokens(&micro[i].batch);
    }
    if (status != KD_OK)
        return kd_fail_context(status, "step %d", step);
    distill_step_context context = {teacher, micro, distill, {0.0, 0.0}};
    status = kd_train_step_run(student, counted, micro_count, distill_micro, &context, config, step,
                               &result->step);
    double parts[2] = {context.parts.cross_entropy, context.parts.divergence};
    if (status == KD_OK && config->reducer)
        status = config->reducer->sum_doubles(parts, 2);
    result->cross_entropy = parts[0] / result->step.counted;
    result->divergence = parts[1] / result->step.counted;
    return status;
}
