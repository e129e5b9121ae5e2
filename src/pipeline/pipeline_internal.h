/* The pipeline's pieces (internal): its configuration and the stage
 * records that let a rerun skip or resume finished work. */
#ifndef KD_PIPELINE_INTERNAL_H
#define KD_PIPELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kd/cache.h"
#include "kd/nn.h"
#include "kd/pipeline.h"
#include "kd/report.h"

enum { PIPELINE_MAX_STUDENTS = 16 };

typedef struct {
    const char *name;
    char *config_path;       /* resolved */
    float alpha;             /* < 0: the config's */
    float temperature;       /* <= 0: the config's */
    const char *divergence;  /* NULL: the config's */
    int max_steps;
    int epochs;
    int baseline;            /* also train the same student on hard labels alone */
} pipeline_student;

typedef struct {
    cJSON *root;             /* owns the strings above and below */
    const char *name;
    const char *out;         /* NULL: runs/<name> */
    int threads;
    const char *precision_name; /* NULL: each stage's own (its config's, else auto) */
    kd_precision precision;
    char *teacher_config;    /* resolved */
    char *teacher_init;      /* resolved HF model directory, or NULL */
    int teacher_max_steps;
    int teacher_epochs;
    long long teacher_seed;  /* -1: the config's */
    cache_encoding cache;
    pipeline_student students[PIPELINE_MAX_STUDENTS];
    int student_count;
    int rouge_examples;      /* 0: the report's defaults */
    int repeats;
    int eval_batches;
    kd_qtype quantize[KD_REPORT_MAX_QUANTIZE]; /* the report's quantized rows */
    int quantize_count;
} pipeline_config;

kd_status kd_pipeline_config_load(const char *path, pipeline_config *config);
void kd_pipeline_config_free(pipeline_config *config);

/* A stage's key: an XXH3 hash of everything the stage depends on, and each
 * named input's own hash, to tell which of them changed. */
enum { STAGE_MAX_PARTS = 40 }; /* the report: the teacher, 32 student runs, 4 settings */

typedef struct {
    char name[96];     /* "teacher config teacher.json", "max_steps", ... */
    uint64_t hash;
} stage_part;

typedef struct {
    uint64_t value;
    stage_part parts[STAGE_MAX_PARTS];
    int part_count;
} stage_key;

void kd_stage_key_begin(stage_key *key, const char *stage);
void kd_stage_key_add_text(stage_key *key, const char *name, const char *text); /* NULL: a marker */
void kd_stage_key_add_number(stage_key *key, const char *name, double value);
/* The file's contents (its XXH3), so an edited config or data file counts. */
kd_status kd_stage_key_add_file(stage_key *key, const char *name, const char *path);

typedef enum {
    STAGE_FRESH,        /* no record */
    STAGE_CHANGED,      /* a record of other inputs (or a damaged one) */
    STAGE_INTERRUPTED,  /* these inputs, not finished */
    STAGE_DONE          /* these inputs, finished */
} stage_status;

/* What the record at `record_path` says about a stage with this key; for
 * STAGE_CHANGED, `why` receives which inputs changed. */
stage_status kd_stage_check(const char *record_path, const stage_key *key, char *why,
                            size_t why_size);
/* Records the key and its inputs (written atomically), complete or not yet. */
kd_status kd_stage_mark(const char *record_path, const stage_key *key, int complete);

#endif
