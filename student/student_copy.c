/* The student's first weights, gathered from the teacher: whole layers
 * (depth reduction) restricted to kept channels, heads and neurons (width
 * reduction). Every tensor is a matrix [rows, cols] (a vector is one row),
 * so one gather serves them all. */
#include <stdlib.h>
#include <string.h>

#include "kd/student.h"

/* dst[r][c] = src[rows[r]][cols[c]]; NULL rows means row r itself. */
static void gather(float *dst, const float *src, int src_cols, const int *rows, int row_count,
                   const int *cols, int col_count)
{
    for (int r = 0; r < row_count; r++) {
        const float *from = src + (size_t)(rows ? rows[r] : r) * (size_t)src_cols;
        float *to = dst + (size_t)r * (size_t)col_count;
        for (int c = 0; c < col_count; c++)
            to[c] = from[cols[c]];
    }
}

static kd_status check_compatible(const gpt2_config *s, const gpt2_config *t, const int *layers)
{
    if (s->vocab_size != t->vocab_size)
        return kd_fail(KD_ERR_INVALID, "the student's vocabulary (%d) differs from the "
                       "teacher's (%d)", s->vocab_size, t->vocab_size);
    if (s->n_positions > t->n_positions)
        return kd_fail(KD_ERR_INVALID, "the student has %d positions, the teacher only %d",
                       s->n_positions, t->n_positions);
    if (s->n_embd > t->n_embd || s->n_head > t->n_head ||
        s->n_embd / s->n_head != t->n_embd / t->n_head)
        return kd_fail(KD_ERR_INVALID, "a %d-wide student with %d heads cannot be taken from a "
                       "%d-wide teacher with %d heads (head sizes must match)", s->n_embd,
                       s->n_head, t->n_embd, t->n_head);
    for (int i = 0; i < s->n_layer; i++)
        if (layers[i] < 0 || layers[i] >= t->n_layer)
            return kd_fail(KD_ERR_INVALID, "the teacher has no layer %d", layers[i]);
    return KD_OK;
}

/* Column indices of the kept heads in attention's fused q|k|v output
 * (3 C_student) and in its C_student-wide head outputs. */
static void head_columns(const int *heads, int kept_heads, int head_size, int teacher_width,
                         int *qkv_cols, int *head_dims)
{
    int width = kept_heads * head_size;
    for (int h = 0; h < kept_heads; h++)
        for (int d = 0; d < head_size; d++) {
            int teacher_dim = heads[h] * head_size + d;
            head_dims[h * head_size + d] = teacher_dim;
            for (int part = 0; part < 3; part++)
                qkv_cols[part * width + h * head_size + d] = part * teacher_width + teacher_dim;
        }
}

static void copy_layer(gpt2_params *s, const gpt2_params *t, const gpt2_config *sc,
                       const gpt2_config *tc, int i, int l, const student_width_plan *plan,
                       int *qkv_cols, int *head_dims)
{
    size_t Cs = (size_t)sc->n_embd, Ct = (size_t)tc->n_embd;
    const int *ch = plan->channels, *neurons = plan->neurons + (size_t)i * 4 * Cs;
    int cs = (int)Cs, ct = (int)Ct;
    head_columns(plan->heads + (size_t)i * (size_t)sc->n_head, sc->n_head, cs / sc->n_head, ct,
                 qkv_cols, head_dims);
    gather(s->ln1w + i * Cs, t->ln1w + l * Ct, ct, NULL, 1, ch, cs);
    gather(s->ln1b + i * Cs, t->ln1b + l * Ct, ct, NULL, 1, ch, cs);
    gather(s->qkvw + i * Cs * 3 * Cs, t->qkvw + l * Ct * 3 * Ct, 3 * ct, ch, cs, qkv_cols, 3 * cs);
    gather(s->qkvb + i * 3 * Cs, t->qkvb + l * 3 * Ct, 3 * ct, NULL, 1, qkv_cols, 3 * cs);
    gather(s->attprojw + i * Cs * Cs, t->attprojw + l * Ct * Ct, ct, head_dims, cs, ch, cs);
    gather(s->attprojb + i * Cs, t->attprojb + l * Ct, ct, NULL, 1, ch, cs);
    gather(s->ln2w + i * Cs, t->ln2w + l * Ct, ct, NULL, 1, ch, cs);
    gather(s->ln2b + i * Cs, t->ln2b + l * Ct, ct, NULL, 1, ch, cs);
    gather(s->fcw + i * Cs * 4 * Cs, t->fcw + l * Ct * 4 * Ct, 4 * ct, ch, cs, neurons, 4 * cs);
    gather(s->fcb + i * 4 * Cs, t->fcb + l * 4 * Ct, 4 * ct, NULL, 1, neurons, 4 * cs);
    gather(s->fcprojw + i * 4 * Cs * Cs, t->fcprojw + l * 4 * Ct * Ct, ct, neurons, 4 * cs, ch,
           cs);
    gather(s->fcprojb + i * Cs, t->fcprojb + l * Ct, ct, NULL, 1, ch, cs);
}

kd_status kd_student_copy_from_teacher(gpt2_model *student, const gpt2_model *teacher,
                                       const int *layers, const student_width_plan *plan)
{
    const gpt2_config *sc = &student->config, *tc = &teacher->config;
    kd_status status = check_compatible(sc, tc, layers);
    if (status != KD_OK)
        return status;
    int Cs = sc->n_embd, Ct = tc->n_embd;
    int *qkv_cols = kd_alloc((size_t)4 * (size_t)Cs, sizeof(int), "student head columns");
    if (!qkv_cols)
        return KD_ERR_NOMEM;
    gpt2_params *s = &student->params;
    const gpt2_params *t = &teacher->params;
    gather(s->wte, t->wte, Ct, NULL, sc->vocab_size, plan->channels, Cs);
    gather(s->wpe, t->wpe, Ct, NULL, sc->n_positions, plan->channels, Cs);
    gather(s->lnfw, t->lnfw, Ct, NULL, 1, plan->channels, Cs);
    gather(s->lnfb, t->lnfb, Ct, NULL, 1, plan->channels, Cs);
    for (int i = 0; i < sc->n_layer; i++)
        copy_layer(s, t, sc, tc, i, layers[i], plan, qkv_cols, qkv_cols + 3 * Cs);
    free(qkv_cols);
    return KD_OK;
}
