/* report.md and report.html, written once through document.c: the tables
 * a person reads (size, speed, memory, quality, training settings), the
 * charts, then every model's answer to each prompt side by side. */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

static void ratio_cell(document *doc, double value, double teacher)
{
    kd_document_number_cell(doc, "%.2fx", teacher > 0 ? value / teacher : NAN);
}

/* The model's name, with its weights' format when they are quantized. */
static void name_cell(document *doc, const report_model *model)
{
    char name[REPORT_NAME_CAPACITY + 32];
    snprintf(name, sizeof name, model->quantization ? "%s (%s)" : "%s", model->name,
             model->quantization);
    kd_document_cell(doc, name);
}

static void size_table(document *doc, const report *summary)
{
    static const char *const columns[] = {"model", "role", "layers x width (heads)", "params",
                                          "non-embedding", "fp32 MB", "fp16 MB", "on disk MB",
                                          "vs teacher"};
    kd_document_heading(doc, 2, "Size");
    kd_document_table_begin(doc, columns, (int)KD_COUNTOF(columns));
    const model_size *teacher = &summary->models[0].size;
    for (int i = 0; i < summary->model_count; i++) {
        const report_model *model = &summary->models[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%d x %d (%d)", model->config.n_layer, model->config.n_embd,
                 model->config.n_head);
        kd_document_row_begin(doc);
        name_cell(doc, model);
        kd_document_cell(doc, model->role);
        kd_document_cell(doc, shape);
        kd_document_number_cell(doc, "%.2fM", model->size.params / 1e6);
        kd_document_number_cell(doc, "%.2fM", model->size.non_embedding_params / 1e6);
        kd_document_number_cell(doc, "%.1f", model->size.bytes_fp32 / 1e6);
        kd_document_number_cell(doc, "%.1f", model->size.bytes_fp16 / 1e6);
        kd_document_number_cell(doc, "%.1f", model->size.file_bytes / 1e6);
        ratio_cell(doc, model->size.params, teacher->params);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "On disk: the model directory's model.safetensors, or the GGUF "
                               "file a quantized row was measured from (q8_0 and q4_0 matrices; "
                               "norms, biases and position embeddings f32).");
}

static void speed_table(document *doc, const report *summary)
{
    static const char *const columns[] = {"model", "prefill tokens/s", "speed-up",
                                          "generation tokens/s", "speed-up"};
    kd_document_heading(doc, 2, "Speed");
    kd_document_table_begin(doc, columns, 5);
    const model_speed *teacher = &summary->models[0].speed;
    for (int i = 0; i < summary->model_count; i++) {
        const model_speed *speed = &summary->models[i].speed;
        kd_document_row_begin(doc);
        name_cell(doc, &summary->models[i]);
        kd_document_number_cell(doc, "%.0f", speed->prefill_tokens_per_s);
        ratio_cell(doc, speed->prefill_tokens_per_s, teacher->prefill_tokens_per_s);
        kd_document_number_cell(doc, "%.1f", speed->gen_tokens_per_s);
        ratio_cell(doc, speed->gen_tokens_per_s, teacher->gen_tokens_per_s);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "Batch 1, KV cache, greedy; a %d-token prompt, then %d generated "
                               "tokens; one warm-up, median of %d runs. Generation tokens/s counts "
                               "the decode steps (forward pass and argmax) after the prompt.",
                          summary->speed.prompt_tokens, summary->speed.new_tokens,
                          summary->speed.repeats);
}

static void memory_table(document *doc, const report *summary)
{
    static const char *const columns[] = {"model", "peak RSS MB", "above baseline MB",
                                          "vs teacher"};
    kd_document_heading(doc, 2, "Memory");
    kd_document_table_begin(doc, columns, 4);
    const model_speed *teacher = &summary->models[0].speed;
    for (int i = 0; i < summary->model_count; i++) {
        const model_speed *speed = &summary->models[i].speed;
        int known = speed->memory_measured;
        kd_document_row_begin(doc);
        name_cell(doc, &summary->models[i]);
        kd_document_number_cell(doc, "%.1f", known ? speed->peak_rss_mb : NAN);
        kd_document_number_cell(doc, "%.1f", known ? speed->model_rss_mb : NAN);
        ratio_cell(doc, known ? speed->peak_rss_mb : NAN, teacher->peak_rss_mb);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "Peak resident memory of the report process while it loaded the "
                               "model and ran the speed test, the peak reset before each model; "
                               "\"above baseline\" leaves out what the process held before "
                               "loading.");
}

static void quality_table(document *doc, const report *summary)
{
    static const char *const columns[] = {"model", "val loss", "+/- (1 s.e.)", "vs fp32",
                                          "perplexity", "token accuracy", "top-1 agreement",
                                          "agreement with fp32", "ROUGE-L"};
    kd_document_heading(doc, 2, "Quality");
    kd_document_table_begin(doc, columns, (int)KD_COUNTOF(columns));
    for (int i = 0; i < summary->model_count; i++) {
        const model_quality *quality = &summary->models[i].quality;
        kd_document_row_begin(doc);
        name_cell(doc, &summary->models[i]);
        kd_document_number_cell(doc, "%.4f", quality->val_loss);
        kd_document_number_cell(doc, "%.4f", quality->val_loss_stderr);
        kd_document_number_cell(doc, "%+.4f", kd_report_loss_vs_fp32(summary, &summary->models[i]));
        kd_document_number_cell(doc, "%.2f", quality->val_ppl);
        kd_document_number_cell(doc, "%.4f", quality->val_accuracy);
        kd_document_number_cell(doc, "%.4f", quality->top1_agreement);
        kd_document_number_cell(doc, "%.4f", quality->fp32_agreement);
        kd_document_number_cell(doc, "%.4f", quality->rouge_l);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "Validation split of %s: %zu examples, %.0f counted response "
                               "tokens, sequence length %zu%s. +/-: the standard error of the "
                               "validation loss, from the spread of the losses of its %d batches "
                               "(none for a single batch). Top-1 "
                               "agreement: positions where the model's argmax equals the "
                               "teacher's. A quantized row's \"vs fp32\" is its loss minus "
                               "that of the same model in fp32, and its agreement with fp32 "
                               "compares its argmax with that model's. ROUGE-L: mean F-measure of greedy answers (at most %d "
                               "tokens) to the first %d validation records against their "
                               "reference responses.",
                          summary->split_config, summary->validation_examples,
                          summary->validation_tokens, summary->eval_seq_len,
                          summary->options.eval_batches > 0 ? " (first batches only)" : "",
                          summary->eval_batches_used, summary->options.answer_tokens,
                          summary->rouge_count);
}

/* "cache, teacher bf16": where the soft targets came from and how they were
 * computed. */
static void logits_cell(document *doc, const training_summary *training)
{
    char logits[64];
    const char *precision = training->teacher_precision;
    snprintf(logits, sizeof logits, "%s%s%s",
             training->logits_source ? training->logits_source : "-",
             precision ? ", teacher " : "", precision ? precision : "");
    kd_document_cell(doc, logits);
}

static void training_table(document *doc, const report *summary)
{
    static const char *const columns[] = {"model", "steps", "wall s", "tokens/s", "padding",
                                          "batch", "seq", "lr", "seed", "alpha", "temperature",
                                          "divergence", "top-k", "samples", "logits"};
    kd_document_heading(doc, 2, "Training");
    kd_document_table_begin(doc, columns, (int)KD_COUNTOF(columns));
    for (int i = 0; i < summary->model_count; i++) {
        training_summary training;
        if (summary->models[i].base >= 0)
            continue; /* trained as its fp32 model's row says */
        kd_training_summary_read(&summary->models[i], &training);
        kd_document_row_begin(doc);
        name_cell(doc, &summary->models[i]);
        kd_document_number_cell(doc, "%.0f", training.steps);
        kd_document_number_cell(doc, "%.1f", training.wall_s);
        kd_document_number_cell(doc, "%.0f", training.tokens_per_s);
        kd_document_number_cell(doc, "%.2f", training.padding_ratio);
        kd_document_number_cell(doc, "%.0f", training.batch_size *
                                                 (isfinite(training.grad_accum) ? training.grad_accum : 1));
        kd_document_number_cell(doc, "%.0f", training.seq_len);
        kd_document_number_cell(doc, "%g", training.learning_rate);
        kd_document_number_cell(doc, "%.0f", training.seed);
        kd_document_number_cell(doc, "%g", training.alpha);
        kd_document_number_cell(doc, "%g", training.temperature);
        kd_document_cell(doc, training.divergence ? training.divergence : "-");
        kd_document_number_cell(doc, "%.0f", training.topk);
        kd_document_number_cell(doc, "%.0f", training.samples);
        logits_cell(doc, &training);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "Batch: sequences per optimizer step (batch size x gradient "
                               "accumulation). A student's objective is alpha CE + (1 - alpha) "
                               "T^2 D(teacher || student); a baseline trains on hard labels "
                               "alone.");
}

static void generations(document *doc, const report *summary)
{
    kd_document_heading(doc, 2, "Generations");
    kd_document_paragraph(doc, "Greedy answers (at most %d tokens) through the instruction "
                               "template.", summary->options.answer_tokens);
    for (int p = 0; p < summary->prompt_count; p++) {
        kd_document_heading(doc, 3, summary->prompts[p]);
        kd_document_answers_begin(doc);
        for (int i = 0; i < summary->model_count; i++) {
            char label[REPORT_NAME_CAPACITY + 32];
            kd_report_model_label(&summary->models[i], label, sizeof label);
            kd_document_answer(doc, label, summary->models[i].role, summary->models[i].answers[p]);
        }
        kd_document_answers_end(doc);
    }
}

kd_status kd_report_page_write(const report *summary, const report_chart *charts, int html,
                               const char *path)
{
    document doc;
    kd_document_begin(&doc, html, "kd report");
    kd_document_paragraph(&doc, "Teacher %s (%s) and %d student(s), measured on %s with %d "
                                "threads (OpenBLAS %s).",
                          summary->models[0].name, summary->models[0].model_dir,
                          summary->options.student_count, summary->cpu_model, summary->threads,
                          summary->blas_core);
    if (summary->options.quantize_count > 0)
        kd_document_paragraph(&doc, "Each model given as a directory is also exported as a GGUF "
                                    "file of each quantized type and measured from that file, "
                                    "its matrices kept quantized in memory (the %s kernels): "
                                    "the rows marked with the type.",
                              kd_qkernel_name(kd_qkernel_current()));
    size_table(&doc, summary);
    speed_table(&doc, summary);
    memory_table(&doc, summary);
    quality_table(&doc, summary);
    training_table(&doc, summary);
    kd_document_heading(&doc, 2, "Charts");
    for (int i = 0; i < REPORT_CHART_COUNT; i++)
        kd_document_chart(&doc, &charts[i]);
    generations(&doc, summary);
    return kd_document_finish(&doc, path);
}
