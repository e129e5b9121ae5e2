/* report.md: the tables a person reads (size, speed, memory, quality,
 * training), the charts, then every model's answer to each prompt. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

/* A table cell: '|' would end it and a newline the row. */
static void cell(text_buffer *md, const char *value)
{
    kd_text_printf(md, " ");
    for (const char *c = value; *c; c++) {
        if (*c == '|')
            kd_text_printf(md, "\\|");
        else
            kd_text_printf(md, "%c", *c == '\n' || *c == '\r' ? ' ' : *c);
    }
    kd_text_printf(md, " |");
}

/* A number cell, "-" when the value is unknown. */
static void number_cell(text_buffer *md, const char *format, double value)
{
    char text[64] = "-";
    if (isfinite(value))
        snprintf(text, sizeof text, format, value);
    cell(md, text);
}

static void ratio_cell(text_buffer *md, double value, double teacher)
{
    number_cell(md, "%.2fx", teacher > 0 ? value / teacher : NAN);
}

static void header(text_buffer *md, const char *title, const char *const *columns, int count)
{
    kd_text_printf(md, "\n## %s\n\n|", title);
    for (int i = 0; i < count; i++)
        cell(md, columns[i]);
    kd_text_printf(md, "\n|");
    for (int i = 0; i < count; i++)
        kd_text_printf(md, "%s|", i == 0 ? "---" : "---:");
    kd_text_printf(md, "\n");
}

static void size_table(text_buffer *md, const report *summary)
{
    static const char *const columns[] = {"model", "role", "layers x width (heads)", "params",
                                          "non-embedding", "fp32 MB", "fp16 MB", "vs teacher"};
    header(md, "Size", columns, 8);
    const model_size *teacher = &summary->models[0].size;
    for (int i = 0; i < summary->model_count; i++) {
        const report_model *model = &summary->models[i];
        char shape[64];
        snprintf(shape, sizeof shape, "%d x %d (%d)", model->config.n_layer, model->config.n_embd,
                 model->config.n_head);
        kd_text_printf(md, "|");
        cell(md, model->name);
        cell(md, model->role);
        cell(md, shape);
        number_cell(md, "%.2fM", model->size.params / 1e6);
        number_cell(md, "%.2fM", model->size.non_embedding_params / 1e6);
        number_cell(md, "%.1f", model->size.bytes_fp32 / 1e6);
        number_cell(md, "%.1f", model->size.bytes_fp16 / 1e6);
        ratio_cell(md, model->size.params, teacher->params);
        kd_text_printf(md, "\n");
    }
}

static void speed_table(text_buffer *md, const report *summary)
{
    static const char *const columns[] = {"model", "prefill tokens/s", "speed-up",
                                          "generation tokens/s", "speed-up"};
    header(md, "Speed", columns, 5);
    const model_speed *teacher = &summary->models[0].speed;
    for (int i = 0; i < summary->model_count; i++) {
        const model_speed *speed = &summary->models[i].speed;
        kd_text_printf(md, "|");
        cell(md, summary->models[i].name);
        number_cell(md, "%.0f", speed->prefill_tokens_per_s);
        ratio_cell(md, speed->prefill_tokens_per_s, teacher->prefill_tokens_per_s);
        number_cell(md, "%.1f", speed->gen_tokens_per_s);
        ratio_cell(md, speed->gen_tokens_per_s, teacher->gen_tokens_per_s);
        kd_text_printf(md, "\n");
    }
    kd_text_printf(md, "\nBatch 1, KV cache, greedy; a %d-token prompt, then %d generated tokens; "
                    "one warm-up, median of %d runs. Generation tokens/s counts the decode steps "
                    "(forward pass and argmax) after the prompt.\n",
                summary->speed.prompt_tokens, summary->speed.new_tokens, summary->speed.repeats);
}

static void memory_table(text_buffer *md, const report *summary)
{
    static const char *const columns[] = {"model", "peak RSS MB", "above baseline MB",
                                          "vs teacher"};
    header(md, "Memory", columns, 4);
    const model_speed *teacher = &summary->models[0].speed;
    for (int i = 0; i < summary->model_count; i++) {
        const model_speed *speed = &summary->models[i].speed;
        int known = speed->memory_measured;
        kd_text_printf(md, "|");
        cell(md, summary->models[i].name);
        number_cell(md, "%.1f", known ? speed->peak_rss_mb : NAN);
        number_cell(md, "%.1f", known ? speed->model_rss_mb : NAN);
        ratio_cell(md, known ? speed->peak_rss_mb : NAN, teacher->peak_rss_mb);
        kd_text_printf(md, "\n");
    }
    kd_text_printf(md, "\nPeak resident memory of the report process while it loaded the model and "
                    "ran the speed test, the peak reset before each model; \"above baseline\" "
                    "leaves out what the process held before loading.\n");
}

static void quality_table(text_buffer *md, const report *summary)
{
    static const char *const columns[] = {"model", "val loss", "perplexity", "token accuracy",
                                          "top-1 agreement", "ROUGE-L"};
    header(md, "Quality", columns, 6);
    for (int i = 0; i < summary->model_count; i++) {
        const model_quality *quality = &summary->models[i].quality;
        kd_text_printf(md, "|");
        cell(md, summary->models[i].name);
        number_cell(md, "%.4f", quality->val_loss);
        number_cell(md, "%.2f", quality->val_ppl);
        number_cell(md, "%.4f", quality->val_accuracy);
        number_cell(md, "%.4f", quality->top1_agreement);
        number_cell(md, "%.4f", quality->rouge_l);
        kd_text_printf(md, "\n");
    }
    kd_text_printf(md, "\nValidation split of `%s`: %zu examples, %.0f counted response tokens, "
                    "sequence length %zu%s. Top-1 agreement: positions where the model's argmax "
                    "equals the teacher's. ROUGE-L: mean F-measure of greedy answers (at most %d "
                    "tokens) to the first %d validation records against their reference "
                    "responses.\n",
                summary->split_config, summary->validation_examples, summary->validation_tokens,
                summary->eval_seq_len,
                summary->options.eval_batches > 0 ? " (first batches only)" : "",
                summary->options.answer_tokens, summary->rouge_count);
}

static void training_table(text_buffer *md, const report *summary)
{
    static const char *const columns[] = {"model", "steps", "wall s", "tokens/s", "padding",
                                          "alpha", "temperature", "divergence", "top-k",
                                          "samples", "logits"};
    header(md, "Training", columns, 11);
    for (int i = 0; i < summary->model_count; i++) {
        training_summary training;
        kd_training_summary_read(&summary->models[i], &training);
        kd_text_printf(md, "|");
        cell(md, summary->models[i].name);
        number_cell(md, "%.0f", training.steps);
        number_cell(md, "%.1f", training.wall_s);
        number_cell(md, "%.0f", training.tokens_per_s);
        number_cell(md, "%.2f", training.padding_ratio);
        number_cell(md, "%g", training.alpha);
        number_cell(md, "%g", training.temperature);
        cell(md, training.divergence ? training.divergence : "-");
        number_cell(md, "%.0f", training.topk);
        number_cell(md, "%.0f", training.samples);
        cell(md, training.logits_source ? training.logits_source : "-");
        kd_text_printf(md, "\n");
    }
}

/* Each answer as a block quote, so its own line breaks and Markdown stay
 * inside it. */
static void generations(text_buffer *md, const report *summary)
{
    kd_text_printf(md, "\n## Generations\n\nGreedy answers (at most %d tokens) through the "
                    "instruction template.\n", summary->options.answer_tokens);
    for (int p = 0; p < summary->prompt_count; p++) {
        kd_text_printf(md, "\n### %s\n", summary->prompts[p]);
        for (int i = 0; i < summary->model_count; i++) {
            const char *answer = summary->models[i].answers[p];
            kd_text_printf(md, "\n**%s** (%s):\n\n> ", summary->models[i].name,
                           summary->models[i].role);
            for (const char *c = answer; *c; c++)
                kd_text_printf(md, *c == '\n' ? "\n> " : "%c", *c);
            kd_text_printf(md, "%s\n", answer[0] ? "" : "*(empty)*");
        }
    }
}

kd_status kd_report_markdown_write(const report *summary, const char *path)
{
    text_buffer md = {0};
    kd_text_printf(&md, "# kd report\n\nTeacher **%s** (`%s`) and %d student(s), measured on %s "
                     "with %d threads (OpenBLAS %s).\n",
                summary->models[0].name, summary->models[0].model_dir, summary->model_count - 1,
                summary->cpu_model, summary->threads, summary->blas_core);
    size_table(&md, summary);
    speed_table(&md, summary);
    memory_table(&md, summary);
    quality_table(&md, summary);
    training_table(&md, summary);
    kd_text_printf(&md, "\n## Charts\n\n![loss curves](loss_curves.svg)\n\n"
                     "![size against validation loss](size_vs_loss.svg)\n\n"
                     "![size against generation speed](size_vs_speed.svg)\n");
    generations(&md, summary);
    kd_status status = kd_text_buffer_write(&md, path);
    kd_text_buffer_free(&md);
    return status;
}
