/* Width reduction, after Minitron: rank the teacher's residual channels,
 * attention heads and MLP neurons by how strongly they activate on real
 * examples, and keep the strongest (see kd/student.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/student.h"

static kd_status plan_allocate(const gpt2_config *student, student_width_plan *plan)
{
    size_t C = (size_t)student->n_embd, L = (size_t)student->n_layer;
    size_t count = C + L * (size_t)student->n_head + L * 4 * C;
    memset(plan, 0, sizeof *plan);
    plan->memory = kd_alloc(count, sizeof(int), "student width plan");
    if (!plan->memory)
        return KD_ERR_NOMEM;
    plan->channels = plan->memory;
    plan->heads = plan->channels + C;
    plan->neurons = plan->heads + L * (size_t)student->n_head;
    return KD_OK;
}

void kd_student_width_plan_free(student_width_plan *plan)
{
    free(plan->memory);
    memset(plan, 0, sizeof *plan);
}

static kd_status check_shapes(const gpt2_config *teacher, const gpt2_config *student)
{
    int teacher_head = teacher->n_embd / teacher->n_head;
    int student_head = student->n_embd / student->n_head;
    if (student->n_embd > teacher->n_embd || student->n_head > teacher->n_head)
        return kd_fail(KD_ERR_INVALID, "a student initialised from the teacher cannot be wider "
                       "(%d wide, %d heads) than it (%d, %d)", student->n_embd, student->n_head,
                       teacher->n_embd, teacher->n_head);
    if (student_head != teacher_head)
        return kd_fail(KD_ERR_INVALID, "width reduction keeps whole heads: the student's head "
                       "size %d (n_embd / n_head) must equal the teacher's %d", student_head,
                       teacher_head);
    return KD_OK;
}

kd_status kd_student_width_plan_identity(const gpt2_config *teacher, const gpt2_config *student,
                                         student_width_plan *plan)
{
    if (teacher->n_embd != student->n_embd || teacher->n_head != student->n_head)
        return kd_fail(KD_ERR_INVALID, "the student is narrower than the teacher: its channels "
                       "must be measured");
    kd_status status = plan_allocate(student, plan);
    if (status != KD_OK)
        return status;
    int C = student->n_embd, H = student->n_head;
    for (int c = 0; c < C; c++)
        plan->channels[c] = c;
    for (int l = 0; l < student->n_layer; l++) {
        for (int h = 0; h < H; h++)
            plan->heads[l * H + h] = h;
        for (int j = 0; j < 4 * C; j++)
            plan->neurons[(size_t)l * 4 * C + j] = j;
    }
    return KD_OK;
}

/* Mean importances over every position of the calibration examples. */
typedef struct {
    double *channel;   /* (C) */
    double *head;      /* (L, H) */
    double *neuron;    /* (L, 4C) */
    double positions;
} importance;

static void accumulate_example(const gpt2_model *teacher, int n, importance *score)
{
    const gpt2_config *c = &teacher->config;
    int C = c->n_embd, H = c->n_head, hd = C / H;
    const gpt2_acts *a = &teacher->acts;
    for (int l = 0; l < c->n_layer; l++) {
        const float *ln1 = a->ln1 + (size_t)l * n * C, *ln2 = a->ln2 + (size_t)l * n * C;
        const float *atty = a->atty + (size_t)l * n * C;
        const float *gelu = a->fch_gelu + (size_t)l * n * 4 * C;
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < C; i++)
                score->channel[i] += fabsf(ln1[(size_t)t * C + i]) + fabsf(ln2[(size_t)t * C + i]);
            for (int h = 0; h < H; h++) {
                double sum = 0.0;
                for (int d = 0; d < hd; d++) {
                    double v = atty[(size_t)t * C + h * hd + d];
                    sum += v * v;
                }
                score->head[l * H + h] += sqrt(sum);
            }
            for (int j = 0; j < 4 * C; j++)
                score->neuron[(size_t)l * 4 * C + j] += fabsf(gelu[(size_t)t * 4 * C + j]);
        }
    }
    for (int t = 0; t < n; t++)
        for (int i = 0; i < C; i++)
            score->channel[i] += fabsf(a->lnf[(size_t)t * C + i]);
    score->positions += n;
}

typedef struct {
    double score;
    int index;
} ranked;

static int by_score_then_index(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->index - y->index;
}

static int by_index(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The `keep` highest-scoring of n indices, in ascending order. */
static kd_status keep_strongest(const double *scores, int n, int keep, int *out)
{
    ranked *order = kd_alloc((size_t)n, sizeof *order, "importance ranking");
    if (!order)
        return KD_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        order[i] = (ranked){scores[i], i};
    qsort(order, (size_t)n, sizeof *order, by_score_then_index);
    for (int i = 0; i < keep; i++)
        out[i] = order[i].index;
    qsort(out, (size_t)keep, sizeof *out, by_index);
    free(order);
    return KD_OK;
}

static kd_status measure(gpt2_model *teacher, const dataset *data, const size_t *examples,
                         size_t example_count, importance *score)
{
    for (size_t e = 0; e < example_count; e++) {
        kd_example example = kd_dataset_example(data, examples[e]);
        int n = (int)example.length - 1;
        if (n > teacher->max_seq)
            return kd_fail(KD_ERR_INVALID, "calibration example %zu has %d tokens; the teacher "
                           "is prepared for %d", examples[e], n, teacher->max_seq);
        kd_gpt2_forward(teacher, example.ids, 1, n);
        accumulate_example(teacher, n, score);
    }
    return score->positions > 0 ? KD_OK
                                : kd_fail(KD_ERR_INVALID, "no calibration examples to rank the "
                                          "teacher's channels");
}

static kd_status select_kept(const gpt2_config *teacher, const gpt2_config *student,
                             const int *layers, const importance *score, student_width_plan *plan)
{
    int Ct = teacher->n_embd, Ht = teacher->n_head, Cs = student->n_embd, Hs = student->n_head;
    kd_status status = keep_strongest(score->channel, Ct, Cs, plan->channels);
    for (int i = 0; status == KD_OK && i < student->n_layer; i++) {
        int l = layers[i];
        status = keep_strongest(score->head + (size_t)l * Ht, Ht, Hs, plan->heads + i * Hs);
        if (status == KD_OK)
            status = keep_strongest(score->neuron + (size_t)l * 4 * Ct, 4 * Ct, 4 * Cs,
                                    plan->neurons + (size_t)i * 4 * Cs);
    }
    return status;
}

kd_status kd_student_width_plan_measure(gpt2_model *teacher, const gpt2_config *student,
                                        const int *layers, const dataset *data,
                                        const size_t *examples, size_t example_count,
                                        student_width_plan *plan)
{
    const gpt2_config *t = &teacher->config;
    memset(plan, 0, sizeof *plan);
    kd_status status = check_shapes(t, student);
    if (status != KD_OK)
        return status;
    size_t C = (size_t)t->n_embd, L = (size_t)t->n_layer;
    size_t count = C + L * (size_t)t->n_head + L * 4 * C;
    importance score = {.channel = kd_alloc(count, sizeof(double), "importance scores")};
    if (!score.channel)
        return KD_ERR_NOMEM;
    score.head = score.channel + C;
    score.neuron = score.head + L * (size_t)t->n_head;
    status = measure(teacher, data, examples, example_count, &score);
    if (status == KD_OK)
        status = plan_allocate(student, plan);
    if (status == KD_OK)
        status = select_kept(t, student, layers, &score, plan);
    if (status != KD_OK)
        kd_student_width_plan_free(plan);
    free(score.channel);
    return status;
}
