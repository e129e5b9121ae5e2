/* kd student: a shallower or narrower GPT-2 trained on hard labels and the
 * teacher's soft targets, read from the logit cache or computed by a live
 * teacher.
 *
 * A student's run config is a teacher's (model, train, data; see kd/train.h)
 * plus two sections:
 *   "distill": {"alpha": 0.5, "temperature": 2.0,
 *               "divergence": "forward_kl" | "reverse_kl" | "jsd", "jsd_beta": 0.5}
 *   "init":    {"from": "random" | "teacher", "layers": [0, 2, 4],
 *               "teacher": DIR, "calibration_examples": 64}
 * "model" is the student's shape. Its data, sequence length and split must be
 * those the cache was made with (a mismatch is refused, naming the field). */
#ifndef KD_STUDENT_H
#define KD_STUDENT_H

#include "kd/cache.h"
#include "kd/core.h"
#include "kd/data.h"
#include "kd/distill.h"
#include "kd/nn.h"
#include "kd/train.h"

#include <cjson/cJSON.h>

/* Reads a "distill" section over `config` (unknown keys and values out of
 * range are errors naming the key). */
kd_status kd_distill_config_from_json(const cJSON *object, distill_config *config);
cJSON *kd_distill_config_to_json(const distill_config *config);

/* ---- initialisation ------------------------------------------------------
 *
 * From the teacher, DistilBERT-style: student layer i starts as teacher layer
 * layers[i] (default: spread evenly, round(i * L_teacher / L_student), i.e.
 * 0, 2, 4 of 6), with the teacher's embeddings and final LayerNorm.
 *
 * A narrower student (n_embd below the teacher's) keeps the teacher's most
 * important channels, as NVIDIA's Minitron does (Muralidharan et al.,
 * "Compact Language Models via Pruning and Knowledge Distillation", 2024):
 * the teacher runs forward over calibration examples; a residual-stream
 * channel's importance is the mean |activation| of every LayerNorm's output
 * in it, an attention head's the mean L2 norm of its output, an MLP neuron's
 * the mean |GELU output|. The student keeps the top n_embd channels, the
 * top n_head heads and the top 4 n_embd neurons of each copied layer (in
 * their original order) and the matching rows and columns of every weight.
 * Heads are kept whole, so the head size n_embd / n_head must equal the
 * teacher's. LayerNorm then normalises over the kept channels only; the
 * distillation that follows repairs the difference. With the teacher's
 * width, every channel is kept and this is the plain layer copy. */

enum { STUDENT_MAX_LAYERS = 128 };

typedef enum { STUDENT_INIT_RANDOM = 0, STUDENT_INIT_TEACHER = 1 } student_init_kind;

typedef struct {
    student_init_kind from;
    int layers[STUDENT_MAX_LAYERS]; /* teacher layer of each student layer */
    int layer_count;                /* 0: spread evenly */
    const char *teacher_dir;        /* NULL: --teacher, else the cache's teacher */
    int calibration_examples;       /* train examples that rank channels (narrower students) */
} student_init;

void kd_student_init_default(student_init *init);
/* Reads an "init" section; strings point into `object`. */
kd_status kd_student_init_from_json(const cJSON *object, student_init *init);
cJSON *kd_student_init_to_json(const student_init *init, const char *teacher_dir);

/* Which teacher layer each of the student's n_layer layers copies: the
 * configured list (checked: in range, one per student layer) or the even
 * spread. */
kd_status kd_student_layer_plan(const student_init *init, int teacher_layers, int student_layers,
                                int *layers);

/* What a narrower student keeps of the teacher: sorted teacher indices. */
typedef struct {
    int *channels;   /* (C_student) residual-stream channels */
    int *heads;      /* (L_student, H_student) heads of each copied layer */
    int *neurons;    /* (L_student, 4 C_student) MLP neurons of each copied layer */
    void *memory;
} student_width_plan;

/* Ranks the teacher's channels, heads and neurons over the given examples
 * (the teacher is prepared for batch 1 and their length) and keeps the most
 * important ones for `student` of layers `layers`. */
kd_status kd_student_width_plan_measure(gpt2_model *teacher, const gpt2_config *student,
                                        const int *layers, const dataset *data,
                                        const size_t *examples, size_t example_count,
                                        student_width_plan *plan);
/* Every channel, head and neuron: the plan of a student as wide as the teacher. */
kd_status kd_student_width_plan_identity(const gpt2_config *teacher, const gpt2_config *student,
                                         student_width_plan *plan);
void kd_student_width_plan_free(student_width_plan *plan);

/* Copies the teacher's weights into the student: layer i from teacher layer
 * layers[i], restricted to the plan's channels, heads and neurons. Shapes
 * must be compatible (same vocabulary and head size, no more positions,
 * channels, heads or layers than the teacher). */
kd_status kd_student_copy_from_teacher(gpt2_model *student, const gpt2_model *teacher,
                                       const int *layers, const student_width_plan *plan);

/* ---- the distillation objective ----------------------------------------
 *
 * The train_objective (kd/train.h) of a student run: each step fetches the
 * cached teacher rows of every counted token of its micro-batches (checking
 * that each record belongs to the example it trains on), or runs the live
 * teacher, then takes kd_gpt2_distill_train_step. All buffers are allocated
 * when it is created, none per step. */
typedef struct distill_objective distill_objective;

/* Exactly one of `reader` (cached logits) and `teacher` (a live teacher,
 * prepared for (batch_size, seq_len) inference) is given; both outlive it.
 * Steps carry up to grad_accum micro-batches of batch_size x seq_len. */
kd_status kd_distill_objective_create(cache_reader *reader, gpt2_model *teacher,
                                      const dataset *data, const distill_config *config,
                                      int batch_size, int seq_len, int grad_accum,
                                      distill_objective **out);
void kd_distill_objective_free(distill_objective *objective);
train_objective kd_distill_objective_as_train(distill_objective *objective);

/* ---- training ------------------------------------------------------------ */

typedef struct {
    const char *config_path;
    const char *cache_dir;           /* the teacher's logits; NULL only with teacher_dir */
    const char *teacher_dir;         /* live teacher (full vocabulary) instead of the cache */
    const char *const *data_files;   /* replace the config's files when count > 0 */
    int data_count;
    const char *out_dir;             /* NULL: runs/<config name>/student */
    float alpha;                     /* overrides unless NaN; checked like the config's */
    float temperature;               /* overrides unless NaN */
    const char *divergence;          /* override when not NULL */
    int random_init;                 /* random weights whatever the config's init says: a
                                        baseline that owes the teacher nothing */
    train_overrides overrides;
    int stop_after;
    run_dir_start start;             /* over earlier work in out_dir: refuse, resume, redo */
} student_train_options;

/* Everything kd student train does: load the config, check the cache (or
 * live teacher) against the student's data, tokenizer and vocabulary, build
 * and initialise the student, and train it with kd_train_run. */
kd_status kd_student_train(const student_train_options *options);

#endif
