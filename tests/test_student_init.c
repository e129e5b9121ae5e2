/* Starting a student from its teacher: the layer plan, the plain layer copy
 * (a student with every teacher layer computes exactly the teacher's
 * logits), the depth copy tensor by tensor, and the width reduction, which
 * must gather the right rows and columns and keep what the teacher uses:
 * a channel, head or neuron that is dead in the teacher is never kept. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/student.h"

enum { V = 50, P = 16, SEQ = 12 };

static gpt2_config shape(int layers, int width, int heads)
{
    return (gpt2_config){.n_layer = layers, .n_head = heads, .n_embd = width, .n_positions = P,
                         .vocab_size = V, .layer_norm_epsilon = 1e-5f};
}

static void make_model(gpt2_model *model, gpt2_config config, uint64_t seed)
{
    assert_int_equal(kd_gpt2_create(model, &config), KD_OK);
    kd_gpt2_init_random(model, seed);
    /* Non-trivial LayerNorm and bias values, so a misplaced one shows. */
    kd_rng rng;
    kd_rng_seed(&rng, seed + 1);
    for (size_t i = 0; i < model->num_params; i++)
        if (model->params_memory[i] == 0.0f || model->params_memory[i] == 1.0f)
            model->params_memory[i] += 0.1f * (kd_rng_uniform(&rng) - 0.5f);
}

static void test_layer_plan(void **state)
{
    (void)state;
    student_init init;
    kd_student_init_default(&init);
    int layers[STUDENT_MAX_LAYERS];
    assert_int_equal(kd_student_layer_plan(&init, 6, 3, layers), KD_OK);
    assert_int_equal(layers[0], 0);
    assert_int_equal(layers[1], 2);
    assert_int_equal(layers[2], 4);
    assert_int_equal(kd_student_layer_plan(&init, 4, 2, layers), KD_OK);
    assert_int_equal(layers[1], 2);
    assert_int_equal(kd_student_layer_plan(&init, 2, 3, layers), KD_ERR_INVALID);
    init.layer_count = 2;
    init.layers[0] = 5;
    init.layers[1] = 1;
    assert_int_equal(kd_student_layer_plan(&init, 6, 2, layers), KD_OK);
    assert_int_equal(layers[0], 5);
    assert_int_equal(kd_student_layer_plan(&init, 6, 3, layers), KD_ERR_INVALID);
    assert_int_equal(kd_student_layer_plan(&init, 5, 2, layers), KD_ERR_INVALID);
}

static void forward_logits(gpt2_model *model, const int *tokens, float *logits)
{
    kd_gpt2_forward(model, tokens, 1, SEQ);
    kd_gpt2_head_logits(model, 0, SEQ, logits);
}

static void test_full_copy_is_the_teacher(void **state)
{
    (void)state;
    gpt2_model teacher, student;
    make_model(&teacher, shape(3, 16, 2), 7);
    make_model(&student, shape(3, 16, 2), 99);
    student_width_plan plan;
    assert_int_equal(kd_student_width_plan_identity(&teacher.config, &student.config, &plan), KD_OK);
    int layers[] = {0, 1, 2};
    assert_int_equal(kd_student_copy_from_teacher(&student, &teacher, layers, &plan), KD_OK);
    assert_memory_equal(student.params_memory, teacher.params_memory,
                        teacher.num_params * sizeof(float));
    assert_int_equal(kd_gpt2_prepare(&teacher, 1, SEQ, 0), KD_OK);
    assert_int_equal(kd_gpt2_prepare(&student, 1, SEQ, 0), KD_OK);
    int tokens[SEQ];
    for (int t = 0; t < SEQ; t++)
        tokens[t] = (t * 7 + 3) % V;
    static float a[SEQ * V], b[SEQ * V];
    forward_logits(&teacher, tokens, a);
    forward_logits(&student, tokens, b);
    assert_memory_equal(a, b, sizeof a);
    kd_student_width_plan_free(&plan);
    kd_gpt2_free(&teacher);
    kd_gpt2_free(&student);
}

/* Tensor by tensor, by Hugging Face name: h.i of the student is
 * h.layers[i] of the teacher; everything outside the blocks is shared. */
static void test_depth_copy_by_name(void **state)
{
    (void)state;
    gpt2_model teacher, student;
    make_model(&teacher, shape(4, 16, 2), 3);
    make_model(&student, shape(2, 16, 2), 4);
    student_width_plan plan;
    assert_int_equal(kd_student_width_plan_identity(&teacher.config, &student.config, &plan), KD_OK);
    int layers[] = {3, 1};
    assert_int_equal(kd_student_copy_from_teacher(&student, &teacher, layers, &plan), KD_OK);
    for (int i = 0; i < kd_gpt2_tensor_count(&student.config); i++) {
        gpt2_tensor s;
        kd_gpt2_tensor_at(&student.config, &student.params, i, &s);
        char name[64];
        int layer;
        char rest[48];
        if (sscanf(s.name, "h.%d.%47s", &layer, rest) == 2)
            snprintf(name, sizeof name, "h.%d.%s", layers[layer], rest);
        else
            snprintf(name, sizeof name, "%s", s.name);
        int found = 0;
        for (int j = 0; j < kd_gpt2_tensor_count(&teacher.config); j++) {
            gpt2_tensor t;
            kd_gpt2_tensor_at(&teacher.config, &teacher.params, j, &t);
            if (strcmp(t.name, name) != 0)
                continue;
            size_t count = (size_t)s.shape[0] * (size_t)(s.ndim == 2 ? s.shape[1] : 1);
            assert_memory_equal(s.data, t.data, count * sizeof(float));
            found = 1;
        }
        assert_true(found);
    }
    kd_student_width_plan_free(&plan);
    kd_gpt2_free(&teacher);
    kd_gpt2_free(&student);
}

/* A hand-made plan: every weight holds the teacher's entry at the kept
 * (row, column). Teacher 8 wide with 2 heads of 4; student 4 wide, 1 head. */
static void test_width_gather(void **state)
{
    (void)state;
    gpt2_model teacher, student;
    make_model(&teacher, shape(2, 8, 2), 11);
    make_model(&student, shape(1, 4, 1), 12);
    int channels[4] = {1, 2, 5, 7}, heads[1] = {1}, neurons[16];
    for (int j = 0; j < 16; j++)
        neurons[j] = 2 * j + 1;
    student_width_plan plan = {.channels = channels, .heads = heads, .neurons = neurons};
    int layers[] = {1};
    assert_int_equal(kd_student_copy_from_teacher(&student, &teacher, layers, &plan), KD_OK);
    const gpt2_params *t = &teacher.params, *s = &student.params;
    for (int v = 0; v < V; v++)
        for (int c = 0; c < 4; c++)
            assert_true(s->wte[v * 4 + c] == t->wte[v * 8 + channels[c]]);
    for (int r = 0; r < 4; r++) {
        for (int part = 0; part < 3; part++)
            for (int d = 0; d < 4; d++) /* head 1 of part p: teacher column p*8 + 4 + d */
                assert_true(s->qkvw[r * 12 + part * 4 + d] ==
                            t->qkvw[64 * 3 + channels[r] * 24 + part * 8 + 4 + d]);
        for (int c = 0; c < 4; c++) /* c_proj rows: the head's dims 4..7 */
            assert_true(s->attprojw[r * 4 + c] == t->attprojw[64 + (4 + r) * 8 + channels[c]]);
        for (int j = 0; j < 16; j++)
            assert_true(s->fcw[r * 16 + j] == t->fcw[8 * 32 + channels[r] * 32 + neurons[j]]);
    }
    for (int j = 0; j < 16; j++) {
        assert_true(s->fcb[j] == t->fcb[32 + neurons[j]]);
        for (int c = 0; c < 4; c++)
            assert_true(s->fcprojw[j * 4 + c] == t->fcprojw[32 * 8 + neurons[j] * 8 + channels[c]]);
    }
    for (int c = 0; c < 4; c++) {
        assert_true(s->ln1w[c] == t->ln1w[8 + channels[c]]);
        assert_true(s->attprojb[c] == t->attprojb[8 + channels[c]]);
        assert_true(s->lnfb[c] == t->lnfb[channels[c]]);
    }
    kd_gpt2_free(&teacher);
    kd_gpt2_free(&student);
}

/* Kills channel 3 (every LayerNorm's weight and bias), head 0 of layer 0
 * (its values: q, k may stay) and MLP neuron 5 of layer 0 (its inputs and
 * bias: gelu(0) = 0), then checks the ranking drops exactly those. */
static void test_width_ranking_keeps_live_units(void **state)
{
    (void)state;
    gpt2_model teacher;
    make_model(&teacher, shape(1, 8, 2), 21);
    gpt2_params *p = &teacher.params;
    p->ln1w[3] = p->ln1b[3] = p->ln2w[3] = p->ln2b[3] = p->lnfw[3] = p->lnfb[3] = 0.0f;
    for (int r = 0; r < 8; r++) {
        for (int d = 0; d < 4; d++)
            p->qkvw[r * 24 + 16 + d] = 0.0f; /* v columns of head 0 */
        p->fcw[r * 32 + 5] = 0.0f;
    }
    for (int d = 0; d < 4; d++)
        p->qkvb[16 + d] = 0.0f;
    p->fcb[5] = 0.0f;
    dataset *data;
    assert_int_equal(kd_dataset_create(SEQ, &data), KD_OK);
    for (int e = 0; e < 6; e++) {
        int ids[SEQ + 1];
        uint8_t mask[SEQ + 1] = {0};
        for (int t = 0; t <= SEQ; t++)
            ids[t] = (e * 13 + t * 5) % V;
        assert_int_equal(kd_dataset_append(data, ids, mask, SEQ + 1, (uint64_t)e), KD_OK);
    }
    size_t examples[] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(kd_gpt2_prepare(&teacher, 1, SEQ, 0), KD_OK);
    gpt2_config student = shape(1, 4, 1);
    student_width_plan plan;
    int layers[] = {0};
    assert_int_equal(kd_student_width_plan_measure(&teacher, &student, layers, data, examples, 6,
                                                   &plan),
                     KD_OK);
    for (int c = 0; c < 4; c++) {
        assert_int_not_equal(plan.channels[c], 3);
        if (c > 0)
            assert_true(plan.channels[c] > plan.channels[c - 1]);
    }
    assert_int_equal(plan.heads[0], 1);
    for (int j = 0; j < 16; j++)
        assert_int_not_equal(plan.neurons[j], 5);
    kd_student_width_plan_free(&plan);
    gpt2_config wrong_heads = shape(1, 4, 2); /* head size 2, the teacher's is 4 */
    assert_int_equal(kd_student_width_plan_measure(&teacher, &wrong_heads, layers, data, examples, 6,
                                                   &plan),
                     KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "head size"));
    kd_dataset_free(data);
    kd_gpt2_free(&teacher);
}

static void test_incompatible_shapes(void **state)
{
    (void)state;
    gpt2_model teacher, student;
    make_model(&teacher, shape(2, 8, 2), 1);
    gpt2_config other_vocab = shape(1, 8, 2);
    other_vocab.vocab_size = V + 1;
    make_model(&student, other_vocab, 2);
    student_width_plan plan;
    assert_int_equal(kd_student_width_plan_identity(&teacher.config, &student.config, &plan), KD_OK);
    int layers[] = {0};
    assert_int_equal(kd_student_copy_from_teacher(&student, &teacher, layers, &plan), KD_ERR_INVALID);
    assert_non_null(strstr(kd_last_error(), "vocabulary"));
    kd_student_width_plan_free(&plan);
    kd_gpt2_free(&student);
    make_model(&student, shape(1, 8, 2), 2);
    assert_int_equal(kd_student_width_plan_identity(&teacher.config, &student.config, &plan), KD_OK);
    layers[0] = 2;
    assert_int_equal(kd_student_copy_from_teacher(&student, &teacher, layers, &plan), KD_ERR_INVALID);
    kd_student_width_plan_free(&plan);
    kd_gpt2_free(&student);
    kd_gpt2_free(&teacher);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_plan),
        cmocka_unit_test(test_full_copy_is_the_teacher),
        cmocka_unit_test(test_depth_copy_by_name),
        cmocka_unit_test(test_width_gather),
        cmocka_unit_test(test_width_ranking_keeps_live_units),
        cmocka_unit_test(test_incompatible_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
