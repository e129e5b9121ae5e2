/* kd train: the training run shared by the teacher and the student — the
 * settings, the run directory, checkpoints that resume bit for bit, the
 * evaluation, metrics.jsonl and the epoch table.
 *
 * A run directory holds
 *   model/         the best model by validation loss (a HF model directory)
 *   last/          the latest checkpoint: a model directory plus
 *                  optimizer.safetensors (AdamW moments) and state.json
 *                  (step, data position, best loss, patience, elapsed time)
 *   metrics.jsonl  one JSON object per evaluation
 *   config.json    the resolved settings
 *   samples.md     generations before and after training */
#ifndef KD_TRAIN_H
#define KD_TRAIN_H

#include "kd/core.h"
#include "kd/data.h"
#include "kd/gguf.h"
#include "kd/io.h"
#include "kd/lora.h"
#include "kd/nn.h"
#include "kd/qgpt2.h"
#include "kd/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* What a step whose loss or gradient is NaN or Inf does to the run. */
typedef enum {
    NONFINITE_STOP = 0,      /* end the run (exit 1); the last checkpoint stays */
    NONFINITE_SKIP = 1,      /* count the step without its update, as llm.c
                                skips loss spikes; stop after nonfinite_max_skips
                                such steps in a row */
} nonfinite_policy;

typedef struct {
    int epochs;              /* used when max_steps is 0 */
    int max_steps;           /* fixes the run's length and so its LR schedule */
    int batch_size;          /* rows per micro-batch */
    int grad_accum;          /* micro-batches per optimizer step */
    int seq_len;
    float learning_rate;     /* peak */
    float min_lr_ratio;      /* the schedule's floor as a fraction of the peak */
    int warmup_steps;
    lr_schedule schedule;
    float weight_decay;
    int decay_all;           /* also decay biases, LayerNorm and embeddings */
    float beta1, beta2, eps;
    float grad_clip;
    nonfinite_policy nonfinite;
    int nonfinite_max_skips; /* consecutive skipped steps that end the run anyway */
    int eval_interval;       /* steps between evaluations (0: once per epoch) */
    int log_every;           /* steps between training rows of metrics.jsonl */
    int eval_batches;        /* 0: the whole validation split */
    int patience;            /* stop after this many evaluations without
                                improvement; 0 never stops early */
    uint64_t seed;           /* model init and data order */
    int group_by_length;     /* 1: batches of examples of like length (docs/batching.md) */
    int threads;
    kd_precision precision;  /* of the matrix products; auto: bf16 where native */
    double validation_fraction;
    uint64_t split_seed;
    /* 1: AdamW's moments sharded over the ranks of a data-parallel run
     * (ZeRO stage 1). Given by --zero alone, not kept in config files: it
     * changes where the optimizer's state lives, not what is computed. */
    int zero_stage;
    /* 1 (the default): a data-parallel step starts summing each layer's
     * gradients over the ranks while the backward pass computes the layers
     * below it; 0 (--no-overlap): after the pass. The same bits either way,
     * so, like zero_stage, it is not kept in config files. */
    int overlap_sums;
    /* Overlapped sums go in buckets of consecutive layers of at least this
     * many MB of gradients (--bucket-mb, default 16, like PyTorch DDP's
     * 25 MB cap it is a trade: fewer, larger messages against a later
     * start); 0: every layer its own. */
    int bucket_mb;
} train_settings;

void kd_train_settings_default(train_settings *settings);
/* Reads the keys present in a config's "train" object over `settings`;
 * unknown keys and out-of-range values are errors naming the key. */
kd_status kd_train_settings_from_json(const cJSON *object, train_settings *settings);
cJSON *kd_train_settings_to_json(const train_settings *settings);
kd_status kd_train_settings_validate(const train_settings *settings);

/* Training figures summed over the steps of a window. */
typedef struct {
    double steps;
    double loss_sum;          /* the objective */
    double ce_sum;            /* its hard-label cross-entropy */
    double divergence_sum;    /* a distillation run's divergence term */
    double tokens;            /* real input tokens fed, and the batch cells */
    double cells;             /* holding them (padding included) */
} train_window;

/* Where a run stands; saved in last/state.json. */
typedef struct {
    int step;                 /* optimizer steps done */
    int total_steps;
    batcher_position data;    /* next training batch */
    double best_val_loss;     /* +inf before the first evaluation */
    int best_step;
    int evals_without_improvement;
    double elapsed_s;         /* training time before this process */
    double epoch_loss_sum;    /* the current epoch's training loss so far */
    double epoch_loss_count;
    double epoch_elapsed_s;
    train_window eval_window; /* steps since the last evaluation */
    train_window log_window;  /* steps since the last training row of metrics.jsonl */
    double tokens_seen;       /* real input tokens fed (padding not counted) up to this step */
    double epoch_tokens;      /* the current epoch's real input tokens and batch cells */
    double epoch_cells;
    int skipped_steps;        /* steps dropped for a non-finite loss or gradient */
    int consecutive_skips;    /* of them, those just before this step */
    int world_size;           /* ranks of the data-parallel job that trained it */
} train_state;

/* Checkpoints: `dir` becomes a model directory plus the optimizer moments
 * and the state. The directory is replaced as a whole (written beside it,
 * then renamed), so a crash leaves the previous checkpoint intact. */
kd_status kd_checkpoint_save(const char *dir, const gpt2_model *model, const train_state *state,
                             const char *tokenizer_dir);
/* Loads into a model created for the checkpoint's config and prepared for
 * training. Falls back to the previous checkpoint when a crash interrupted
 * the replacement. */
kd_status kd_checkpoint_load(const char *dir, gpt2_model *model, train_state *state);
int kd_checkpoint_exists(const char *dir);

/* Mean loss over counted tokens, perplexity and next-token accuracy. */
typedef struct {
    double loss;
    double ppl;
    double accuracy;
    double tokens;          /* counted tokens */
    double tokens_per_s;    /* real input tokens (not padding) per second */
    double padding_ratio;   /* batch cells per real input token */
} eval_result;

/* Evaluates `model` (prepared for the batcher's shape) over the first
 * `max_batches` batches of one epoch of `batches` (0: all of them); the
 * batcher should not shuffle, so every evaluation sees the same examples. */
kd_status kd_evaluate_model(gpt2_model *model, batcher *batches, int max_batches,
                            eval_result *result);
/* The same for a quantized model over every batch; state holds sequences of
 * the batcher's length. */
kd_status kd_evaluate_qmodel(const gpt2_qmodel *model, gpt2_qstate *state, batcher *batches,
                             eval_result *result);

/* The batcher options of a run with these settings: B, T, the seed, widths
 * trimmed to the longest row, grouped by length as the
 * settings say. */
void kd_train_batcher_options(const train_settings *settings, batcher_options *options);
/* Unshuffled batches for evaluating the first `max_batches` batches of a
 * part (0: all); grouped, each sorts the examples the ungrouped order would
 * evaluate, so the loss is the same sum. */
void kd_eval_batcher_options(size_t batch_size, size_t seq_len, int group_by_length,
                             int max_batches, batcher_options *options);

/* What one optimizer step reports to the run. */
typedef struct {
    gpt2_step_result step;   /* step.loss: the objective's mean per counted token */
    int has_parts;           /* the objective is a distillation loss: */
    double cross_entropy;    /*   its mean hard-label CE per counted token */
    double divergence;       /*   and its mean divergence (before (1 - alpha) T^2) */
} train_step_report;

/* What training minimises. The run hands each step's micro-batches to
 * `step`, with examples[i * batch_size + r] the dataset example of row r
 * of micro[i], so an objective can fetch per-example targets (the student's
 * cached teacher logits). NULL in train_run_options: the hard-label
 * cross-entropy of kd_gpt2_train_step. */
typedef struct {
    kd_status (*step)(void *context, gpt2_model *model, const gpt2_batch *micro,
                      const size_t *examples, int micro_count, const gpt2_step_config *config,
                      int step, train_step_report *report);
    void *context;
} train_objective;

typedef struct {
    const char *out_dir;
    const char *tokenizer_dir;  /* copied into every saved model directory */
    const train_objective *objective; /* NULL: hard-label cross-entropy */
    const char *model_name;     /* for the epoch table, e.g. "teacher-tiny" */
    /* With LoRA adapters on the model: base_model_name_or_path of the
     * adapter saved beside the merged best model (out_dir/adapter). */
    const char *base_model;
    int resume;                 /* continue from out_dir/last */
    int stop_after;             /* end after this step as if interrupted; 0: no */
    const cJSON *resolved_config; /* written to out_dir/config.json */
    /* samples.md: prompts answered before training and by the best model after. */
    const kd_tokenizer *tokenizer;
    const prompt_template *template;
    const char *const *prompts;
    int prompt_count;
} train_run_options;

typedef struct {
    int steps;               /* steps done when the run ended */
    int total_steps;
    int stopped_early;       /* patience ran out */
    int interrupted;         /* --stop-after ended it */
    double best_val_loss;
    int best_step;
    double elapsed_s;
} train_summary;

/* Trains `model` (created and initialised, or to be overwritten from the
 * checkpoint when resuming) on the train part of `data`, evaluating on its
 * validation part, keeping out_dir/model (best) and out_dir/last. */
kd_status kd_train_run(gpt2_model *model, const dataset *data, const train_settings *settings,
                       const train_run_options *options, train_summary *summary);

/* ---- models as directories or GGUF files ---------------------------------
 *
 * Wherever a command reads a model, the path may name a Hugging Face model
 * directory or a GGUF file (kd export's, or another tool's in llama.cpp's
 * gpt2 conventions); a directory is read under a shared lock. */

int kd_model_path_is_gguf(const char *path);
kd_status kd_model_config_read(const char *path, gpt2_config *config);

/* A model read for inference. */
typedef struct {
    gpt2_model model;  /* f32 weights: a directory, or a GGUF file of f32/f16 matrices */
    gpt2_qmodel q;     /* or, from a q8_0/q4_0 GGUF file, its matrices in place (q.layers set) */
    gguf_file file;    /* that file, mapped while q uses it */
} model_weights;

/* Loads the model and its tokenizer (tokenizer NULL: only the model). On
 * failure both are left freed. */
kd_status kd_model_load(const char *path, model_weights *weights, kd_tokenizer **tokenizer);
void kd_model_unload(model_weights *weights);
/* The tokenizer alone: a directory's vocab.json and merges.txt, or a GGUF
 * file's tokenizer keys. */
kd_status kd_model_tokenizer_load(const char *path, kd_tokenizer **tokenizer);
/* Makes the model run quantized when `type` is q8_0 or q4_0: the f32 model
 * is quantized and freed. A model read quantized runs as it is stored, and
 * another `type` is an error naming `path`. Afterwards q.layers is set
 * exactly when the quantized model runs. */
kd_status kd_model_quantize(model_weights *weights, kd_qtype type, const char *path);
/* Attaches the PEFT LoRA adapter in `adapter_dir` (NULL: none) to the f32
 * model, to run unmerged; call before kd_model_quantize. A model read
 * quantized has no f32 matrices to adapt: an error naming `path`. */
kd_status kd_model_attach_adapter(model_weights *weights, const char *adapter_dir,
                                  const char *path);

/* Writes a model directory (config.json, model.safetensors, vocab.json,
 * merges.txt) as one GGUF file: see kd/gguf.h. Unless `force`, an existing
 * `out` is refused. *f16_fallbacks counts matrices stored f16 because their
 * rows are not whole 32-value blocks. */
kd_status kd_export_gguf(const char *model_dir, const char *out, ggml_type type, int force,
                         int *f16_fallbacks);
/* Writes the PEFT LoRA adapter in `adapter_dir` as a llama.cpp LoRA GGUF
 * (kd_gguf_export_lora), after checking it against its base: `base` (a
 * model directory or GGUF file; only its shape is read), else the adapter's
 * base_model_name_or_path. */
kd_status kd_export_lora_gguf(const char *adapter_dir, const char *base, const char *out,
                              int force);

/* Evaluates a model directory or GGUF file: on the given files (every
 * record, no split), or, with no files, on the validation split of the run
 * that trained it (model_dir/../config.json). */
typedef struct {
    const char *model_dir;
    const char *adapter_dir;     /* a PEFT LoRA adapter run unmerged on model_dir, or NULL */
    const char *const *data_files;
    int data_count;
    int batch_size;
    int seq_len;            /* 0: the run's, else min(n_positions, 1024) */
    kd_qtype weights;       /* f32, or the matrices quantized (kd/qgpt2.h) */
    kd_precision precision; /* of the products (0: fp32) */
    int no_group_by_length; /* 1: batches in the data's order, not sorted by length */
} eval_options;

kd_status kd_eval_model_dir(const eval_options *options, eval_result *result);

/* The cost of training, after "Transformer Math 101" (see estimate.c). */
typedef struct {
    double params;
    double trainable_params;    /* params, or a LoRA run's adapters (and biases) */
    double flops_per_token;     /* training: ~6N plus attention (LoRA: ~4N, see below) */
    double flops_saved_per_token; /* LoRA: the frozen matrices' weight gradients, ~2N */
    double weights_bytes;
    double grads_bytes;
    double optimizer_bytes;
    double activation_bytes;    /* activations, their gradients and head scratch */
    double total_bytes;
    double machine_bytes;
    double measured_flops;      /* FLOP/s of a short measured run (0 if not measured) */
    double tokens_per_s;        /* predicted training tokens per second */
} train_cost;

double kd_train_flops_per_token(const gpt2_config *config, int seq);
/* KD_ERR_NOMEM, stating the estimate, when the weights plus what
 * kd_gpt2_prepare(batch, seq, training) allocates plus `extra_bytes` (the
 * caller's own buffers) exceed 90% of physical memory. Call it before
 * allocating any of them; `what` names the work ("training"). */
kd_status kd_memory_check(const gpt2_config *config, int batch, int seq, int training,
                          double extra_bytes, const char *what);
/* Fills `cost` for training at (batch, seq), through LoRA adapters when
 * `lora` is not NULL; with `measure`, times two steps of the model on this
 * machine to predict its speed. */
kd_status kd_train_estimate(const gpt2_config *config, const gpt2_lora_config *lora, int batch,
                            int seq, int measure, train_cost *cost);

/* The greedy answer (temperature 0, stopping at <|endoftext|>) of `model`
 * to the prompt tokens, at most max_new_tokens, decoded into *text (the
 * caller frees it); generated holds room for max_new_tokens ids. What
 * samples.md and kd report both show. */
kd_status kd_greedy_answer(gpt2_model *model, gpt2_kv_cache *cache, const kd_tokenizer *tokenizer,
                           const kd_token_buffer *prompt, int max_new_tokens, int *generated,
                           char **text);
/* The same through any engine (kd report's runs q8_0/q4_0 models too):
 * `generate` is called as kd_gpt2_generate_tokens is, on `engine`. */
typedef kd_status (*kd_generate_fn)(void *engine, const int *prompt, int count,
                                    const gpt2_sampling *sampling, kd_rng *rng, int *out,
                                    gpt2_generate_stats *stats);
kd_status kd_greedy_answer_of(kd_generate_fn generate, void *engine,
                              const kd_tokenizer *tokenizer, const kd_token_buffer *prompt,
                              int max_new_tokens, int *generated, char **text);

/* Writes (or, with `append`, adds to) samples.md: a "## heading" section
 * with the greedy answer of `model` (prepared for training or inference)
 * to each prompt, rendered through the instruction template. A section
 * with the same heading already in the file is replaced with what follows
 * it, so rerunning after a crash does not repeat it. The file is replaced
 * atomically. */
kd_status kd_samples_write(const char *path, const char *heading, gpt2_model *model,
                           const kd_tokenizer *tokenizer, const prompt_template *template,
                           const char *const *prompts, int prompt_count, int append);

/* A run configuration file: {"model": {...}, "train": {...}, "data": {...}}.
 *   model  GPT-2 config keys (may be absent when the model comes from --init)
 *   train  train_settings keys
 *   data   {"files": [...], "tokenizer": DIR, "loss": "response" | "all",
 *           "template": {"with_context": ..., "without_context": ...},
 *           "fields": {"instruction": ..., "context": ..., "response": ...},
 *           "skip_bad": false, "prompts": [...]}
 *   distill, init  student runs only (kd/student.h reads them)
 * Relative data files and the tokenizer directory that do not exist as
 * given are looked up in the assets directory (kd_assets_dir). */
enum { RUN_CONFIG_MAX_FILES = 64, RUN_CONFIG_MAX_PROMPTS = 16 };

typedef struct {
    cJSON *root;                 /* owns every string below */
    int has_model;
    gpt2_config model;
    train_settings train;
    dataset_options data;
    const char *data_files[RUN_CONFIG_MAX_FILES];  /* as written in the config */
    int data_file_count;
    char *resolved_files[RUN_CONFIG_MAX_FILES];
    char *tokenizer_dir;
    const char *prompts[RUN_CONFIG_MAX_PROMPTS];
    int prompt_count;
    const cJSON *distill;        /* a student's "distill" section, or NULL */
    const cJSON *init;           /* "init": a student's object, a teacher's string, or NULL */
    int has_lora;                /* "lora": fine-tune through adapters (kd/lora.h) */
    gpt2_lora_config lora;
} run_config;

kd_status kd_run_config_load(const char *path, run_config *config);
/* Copies the train settings the data depends on (seq_len, the split) into
 * the dataset options; call after changing them. */
void kd_run_config_sync_data(run_config *config);
/* Finds the config's data files (as given, or in the assets directory) and
 * points data.paths at them. Separate from loading so that commands that
 * need no data (kd estimate without data) work offline. */
kd_status kd_run_config_resolve_files(run_config *config);
/* Uses `files` (from --data flags) instead of the config's. */
kd_status kd_run_config_set_files(run_config *config, const char *const *files, int count);
void kd_run_config_free(run_config *config);
/* The resolved configuration as JSON, for out/config.json. */
cJSON *kd_run_config_to_json(const run_config *config);

/* Command-line values that replace a config's: 0 (seed: -1) keeps it. */
typedef struct {
    int epochs;
    int max_steps;
    long long seed;
    int threads;
    int log_every;
    int precision_given;
    kd_precision precision;
    int no_group_by_length;  /* 1: batches in plain shuffled order */
    int zero;                /* --zero: the ZeRO stage */
    int no_overlap;          /* --no-overlap */
    int bucket_mb_given;
    int bucket_mb;           /* --bucket-mb */
} train_overrides;

/* Resolves `requested` (kd_precision_resolve), runs `model` (prepared) in
 * it and prints the choice on stderr as "<who>: precision ... ". */
kd_status kd_model_use_precision(gpt2_model *model, kd_precision requested, const char *who);

/* The "lora" section: rank, alpha, dropout, targets (module names), rslora,
 * bias ("none" | "all"), qlora; unknown keys are errors naming them. */
kd_status kd_lora_settings_from_json(const cJSON *object, gpt2_lora_config *lora);
cJSON *kd_lora_settings_to_json(const gpt2_lora_config *lora);

/* --lora-* flags: zeros and NULL keep the config's (so does a negative
 * dropout); a rank turns LoRA on. */
typedef struct {
    int rank;
    float alpha;
    float dropout;
    const char *targets;     /* "attn.c_attn,mlp.c_fc" */
    int rslora;
    const char *bias;        /* "none" | "all" */
    int qlora;               /* --qlora: the base matrices in NF4 */
} lora_overrides;

kd_status kd_run_config_apply_lora(run_config *config, const lora_overrides *overrides);

/* Applies `overrides` to the config's train settings (epochs clear
 * max_steps) and re-syncs the data options. */
void kd_run_config_apply_overrides(run_config *config, const train_overrides *overrides);
/* The run's tokenizer, found in one order by every command:
 *   1. the config's data.tokenizer;
 *   2. else `model_dir` when it holds vocab.json: the model the command
 *      starts from or runs (teacher train --init, kd teacher cache's teacher,
 *      student train --teacher), or NULL when there is none;
 *   3. else GPT-2's tokenizer in the assets directory.
 * Sets config->tokenizer_dir to the one chosen (every model directory the
 * run saves copies its files) and loads it. */
kd_status kd_run_tokenizer_load(run_config *config, const char *model_dir, kd_tokenizer **tokenizer);
/* KD_ERR_INVALID when the tokenizer has more tokens than the model called
 * `name`, with `vocab_size` rows of embeddings, can take. */
kd_status kd_run_tokenizer_check(const kd_tokenizer *tokenizer, int vocab_size, const char *name);
/* The config's dataset and split, cached in out_dir/dataset-cache; prints
 * what became of the records. */
kd_status kd_run_dataset_build(const run_config *config, const kd_tokenizer *tokenizer,
                               const char *out_dir, dataset **data);
/* How a writer treats a directory that already holds work (a started or
 * finished run, a cache): */
typedef enum {
    RUN_DIR_NEW = 0,   /* refuse it, naming --resume and --force */
    RUN_DIR_RESUME,    /* continue it */
    RUN_DIR_FORCE      /* empty it first (kd_dir_clear: all of it or nothing) */
} run_dir_start;

/* Locks `dir` for writing (creating it) for as long as `lock` is held, and
 * applies `start` to what it holds; `what` names that work in messages ("a
 * training run"). On failure nothing is held. */
kd_status kd_run_dir_claim(const char *dir, run_dir_start start, const char *what,
                           kd_dir_lock *lock);

/* Whether a training run claimed with `start` continues from dir/last:
 * --resume before the first checkpoint starts from step 0, and says so. */
int kd_run_dir_resumes(const char *dir, run_dir_start start);

/* "runs/<config file name without extension>/<role>". */
void kd_run_default_out_dir(const char *config_path, const char *role, char *out, size_t size);

/* The assets directory: $KD_ASSETS when set, else the first that exists of
 * ./assets, <kd's directory>/../assets (the repository's, for build/kd),
 * <kd's directory>/../share/kd/assets (installed) and the assets/ of the
 * source tree kd was built from; NULL when none exists. */
const char *kd_assets_dir(void);
/* `path` as given when it exists, else inside $KD_ASSETS when set, else
 * inside the first of those directories that holds it; a malloc'd string, or
 * NULL with a message when none does. */
char *kd_resolve_asset(const char *path);

#endif
