/* kd limits: the sizes and file names that several modules must agree on,
 * defined once so that they cannot drift apart. A size only one file uses
 * stays in that file. Included by kd/core.h, so every module sees it. */
#ifndef KD_LIMITS_H
#define KD_LIMITS_H

/* The number of elements of an array (not of a pointer). */
#define KD_COUNTOF(array) (sizeof(array) / sizeof *(array))

enum {
    /* Every path kd builds (Linux's PATH_MAX); kd_path_join refuses a longer
     * one rather than cut it. */
    KD_PATH_CAPACITY = 4096,
    /* The largest count a file kd reads may declare (tokens in a vocabulary,
     * a sequence length, examples per shard, shards): a larger one is taken
     * as corruption before anything is allocated for it. The cache's writer
     * refuses what its reader would. */
    KD_FILE_MAX_COUNT = 1 << 24,
    /* The largest JSON or text file kd reads whole (config files,
     * merges.txt, the cache's manifest). */
    KD_TEXT_FILE_MAX_BYTES = 256 << 20,
};

/* ---- file names ---------------------------------------------------------- */

/* A Hugging Face model directory (kd/hf.h); kd_tokenizer_load reads the two
 * tokenizer files from any directory. */
#define KD_MODEL_CONFIG_FILE "config.json"
#define KD_MODEL_WEIGHTS_FILE "model.safetensors"
#define KD_TOKENIZER_VOCAB_FILE "vocab.json"
#define KD_TOKENIZER_MERGES_FILE "merges.txt"

/* A training run directory (kd/train.h). */
#define KD_RUN_CONFIG_FILE "config.json"       /* the resolved settings */
#define KD_RUN_BEST_DIR "model"                /* the best model: a model directory */
#define KD_RUN_LAST_DIR "last"                 /* the latest checkpoint */
#define KD_RUN_ADAPTER_DIR "adapter"          /* a LoRA run's best adapter (PEFT) */
#define KD_PEFT_CONFIG_FILE "adapter_config.json"
#define KD_PEFT_WEIGHTS_FILE "adapter_model.safetensors"
#define KD_RUN_METRICS_FILE "metrics.jsonl"
#define KD_RUN_SAMPLES_FILE "samples.md"
#define KD_RUN_DATASET_CACHE_DIR "dataset-cache"

/* A checkpoint: a model directory plus these two. */
#define KD_CHECKPOINT_OPTIMIZER_FILE "optimizer.safetensors"
#define KD_CHECKPOINT_STATE_FILE "state.json"

/* The teacher logit cache (kd/cache.h). */
#define KD_CACHE_MANIFEST_FILE "manifest.json"

/* kd report's output directory (kd/report.h). */
#define KD_REPORT_JSON_FILE "report.json"
#define KD_REPORT_MARKDOWN_FILE "report.md"
#define KD_REPORT_HTML_FILE "report.html"

#endif
