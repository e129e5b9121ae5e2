/* kd teacher: training (fine-tuning or from scratch) the model students
 * learn from. */
#ifndef KD_TEACHER_H
#define KD_TEACHER_H

#include "kd/core.h"

typedef struct {
    const char *config_path;
    const char *init_dir;            /* HF model directory to fine-tune, or NULL */
    const char *const *data_files;   /* replace the config's files when count > 0 */
    int data_count;
    const char *out_dir;             /* NULL: runs/<config name>/teacher */
    int epochs;                      /* overrides when > 0 */
    int max_steps;
    int stop_after;
    int resume;
    long long seed;                  /* overrides when >= 0 */
    int threads;                     /* overrides when > 0 */
} teacher_train_options;

kd_status teacher_train(const teacher_train_options *options);

#endif
