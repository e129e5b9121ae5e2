/* kd bench's pieces (internal): options, timings and the mode runners. */
#ifndef KD_CLI_BENCH_H
#define KD_CLI_BENCH_H

#include "kd/lora.h"
#include "kd/nn.h"
#include "kd/quant.h"
#include "kd/train.h"

typedef enum { BENCH_TRAIN, BENCH_FWD, BENCH_KD, BENCH_GENERATE } bench_mode;

typedef struct {
    const char *config_path;
    const char *model_path;  /* generate: a model directory or GGUF file instead of --config */
    const char *teacher_config_path;
    const char *mode_name;
    bench_mode mode;
    int batch;
    int seq;          /* generate: the prompt's length */
    int steps;
    int warmup;
    int threads;
    int topk;         /* kd: the cached rows' K and samples */
    int samples;
    int new_tokens;   /* generate: tokens decoded after the prompt */
    const char *weights_name;
    kd_qtype weights; /* generate: f32, or the matrices quantized to q8_0 or q4_0 */
    int lora_rank;    /* train: through LoRA adapters of this rank (0: every weight) */
    const char *lora_targets;
    int qlora;        /* train: with LoRA, the base matrices in NF4 */
    gpt2_lora_config lora;
    const char *data_path;  /* train, fwd: batches of this file's examples */
    int no_group_by_length; /* with data_path: batches in plain shuffled order */
    int json;
    const char *precision_name;
    kd_precision precision; /* of the products, resolved (never auto) */
} bench_options;

typedef struct {
    double median_s;       /* the mode's step: train/fwd/kd (cached) step, generate: one token */
    double min_s;
    double max_s;
    double first_loss;
    double last_loss;
    double live_median_s;  /* kd: the same step with the live teacher */
    double ce_median_s;    /* kd: a plain CE step of the student */
    double prefill_tokens_per_s; /* generate */
    size_t matrix_bytes;   /* generate: the weight matrices as stored */
    size_t matrix_f32_bytes; /* generate: the same in f32 */
    kd_qtype weights;      /* generate: how the matrices ran (--quantize, or a quantized file) */
    double real_tokens_per_s; /* data: real input tokens over the timed steps' time */
    double cells_per_s;       /* data: batch cells (tokens and padding) likewise */
    double padding_ratio;     /* data: cells per real input token */
} bench_timing;

enum { BENCH_SEED = 1234 };

/* Sorts `times` and keeps their median, minimum and maximum. */
void bench_summarise(double *times, int count, bench_timing *timing);

/* One train or fwd step on `batch`; *loss gets its mean cross-entropy. */
kd_status bench_step(gpt2_model *model, bench_mode mode, const gpt2_batch *batch, int step,
                     double *loss);
/* train or fwd on batches of options->data_path's examples (bench_data.c). */
kd_status bench_data(const bench_options *options, const gpt2_config *config,
                     bench_timing *timing);
kd_status bench_kd(const bench_options *options, const gpt2_config *student,
                   const gpt2_config *teacher, bench_timing *timing);
kd_status bench_generate(const bench_options *options, const gpt2_config *config,
                         bench_timing *timing);

#endif
