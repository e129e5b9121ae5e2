/* kd pipeline: teacher training -> logit cache -> students (each KD student
 * and, unless turned off, a hard-label baseline of the same shape) -> report,
 * from one JSON file, under one directory:
 *
 *   {"name": "demo",                       runs/<name>/ unless "out" is given
 *    "threads": 2,                         for every stage (optional)
 *    "teacher": {"config": "teacher-tiny.json", "init": "distilgpt2",
 *                "max_steps": 500, "epochs": 0, "seed": 1234},
 *    "cache":   {"topk": 32, "samples": 0, "zstd_level": 3},
 *    "students": [{"name": "tiny", "config": "student-tiny.json", "max_steps": 300,
 *                  "alpha": 0.5, "temperature": 1.0, "divergence": "forward_kl",
 *                  "baseline": true}, ...],
 *    "report":  {"rouge_examples": 32, "repeats": 3, "quantize": ["q8_0", "q4_0"]}}
 *
 * Config paths are relative to the pipeline file's directory; "init" is a
 * Hugging Face model directory, looked up in the assets directory as data
 * files are. The layout:
 *   runs/<name>/teacher                    the teacher's run directory
 *   runs/<name>/cache                      its logit cache
 *   runs/<name>/students/<s>-kd            each KD student's run directory
 *   runs/<name>/students/<s>-baseline      and its baseline: the same shape trained on
 *                                          hard labels alone from random weights (alpha 1,
 *                                          no teacher init), what one gets without a teacher
 *   runs/<name>/report                     report.json, report.md, charts, and
 *                                          gguf/<model>.<type>.gguf for each "quantize" type
 *
 * runs/<name>/pipeline-stages/<stage>.json records each stage's key, hashing
 * everything the stage depends on (its settings, the bytes of its config and
 * data files, the keys of the stages before it), each of those inputs' own
 * hash, and whether it completed. A stage whose key matches and is complete
 * is skipped; one whose key matches but was interrupted resumes; any other
 * is redone from an emptied directory, and the pipeline says which inputs
 * changed. So adding a student re-uses the teacher and the cache, and
 * changing the teacher redoes everything after it. The pipeline holds
 * runs/<name> locked for writing throughout (kd_dir_lock). */
#ifndef KD_PIPELINE_H
#define KD_PIPELINE_H

#include "kd/core.h"

typedef struct {
    const char *config_path;
    const char *out_dir;   /* NULL: the config's "out", else runs/<name> */
    int threads;           /* > 0 overrides the config's */
    int force;             /* redo every stage, removing what its directory holds */
    const char *quantize;  /* the report's quantized types, "q8_0,q4_0" or "none";
                              NULL: the config's report.quantize */
} pipeline_options;

kd_status kd_pipeline_run(const pipeline_options *options);

#endif
