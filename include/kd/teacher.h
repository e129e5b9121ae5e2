/* kd teacher: training (fine-tuning or from scratch) the model students
 * learn from. */
#ifndef KD_TEACHER_H
#define KD_TEACHER_H

#include "kd/cache.h"
#include "kd/core.h"
#include "kd/train.h"

typedef struct {
    const char *config_path;
    const char *init_dir;            /* HF model directory to fine-tune, or NULL */
    const char *const *data_files;   /* replace the config's files when count > 0 */
    int data_count;
    const char *out_dir;             /* NULL: runs/<config name>/teacher */
    train_overrides overrides;       /* epochs, max steps, seed, threads */
    lora_overrides lora;             /* --lora-*: fine-tune through LoRA adapters */
    int stop_after;
    run_dir_start start;             /* over earlier work in out_dir: refuse, resume, redo */
} teacher_train_options;

kd_status kd_teacher_train(const teacher_train_options *options);

/* kd teacher cache: the teacher's soft targets for every counted position
 * of the training split, written once for every student run to read. */
typedef struct {
    const char *model_dir;           /* the teacher (a model directory) */
    const char *config_path;         /* NULL: model_dir/../config.json (its training run's) */
    const char *const *data_files;   /* replace the config's files when count > 0 */
    int data_count;
    const char *out_dir;
    cache_encoding encoding;
    int batch_size;                  /* examples per forward pass; 0: the config's */
    int threads;                     /* 0: the config's */
    kd_precision precision;          /* of the teacher's products (0: fp32) */
    int no_group_by_length;          /* 1: the train part's order even when the config
                                        groups by length */
    run_dir_start start;             /* over an earlier cache in out_dir: refuse, keep its
                                        finished shards of the same plan, redo */
} teacher_cache_options;

/* Builds the same dataset and split as training (the run config's data
 * section, sequence length and split), runs the teacher over the train part
 * in batches and writes the cache, holding out_dir (exclusive) and the
 * teacher's run directory (shared) locked. `manifest`
 * (may be NULL) receives the finished cache's manifest. */
kd_status kd_teacher_cache(const teacher_cache_options *options, cache_manifest *manifest);

#endif
