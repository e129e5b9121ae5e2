/* kd report diff: two report.json files side by side. Models are matched by
 * name, role and quantization (a quantized row with the same model's row of
 * that type); for each pair the settings that differ and every result,
 * with B - A, B / A and, for the validation loss, whether the change is
 * larger than the noise of the two evaluations. The rows are gathered once
 * and written as diff.json and, through document.c, as Markdown and HTML. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { VALUE_CAPACITY = 96 };
#define NOISE_MULTIPLE 2.0 /* about 95% of evaluation noise stays below it */

typedef struct {
    const char *key;
    const char *label;
} setting_field;

/* What was chosen: a change here explains a change below. */
static const setting_field setting_fields[] = {
    {"alpha", "alpha"}, {"temperature", "temperature"}, {"divergence", "divergence"},
    {"topk", "cache top-K"}, {"samples", "cache samples"},
    {"logits_from_cache", "logits from the cache"}, {"steps", "steps"}, {"seed", "seed"},
    {"learning_rate", "learning rate"}, {"batch_size", "batch size"},
    {"seq_len", "sequence length"}, {"n_layer", "layers"}, {"n_embd", "width"},
};

typedef struct {
    const char *key;
    const char *label;
    const char *format;
    int higher_is_better;
    const char *noise_key;      /* the value's standard error, or NULL */
} result_field;

static const result_field result_fields[] = {
    {"val_loss", "validation loss", "%.4f", 0, "val_loss_stderr"},
    {"val_accuracy", "token accuracy", "%.4f", 1, NULL},
    {"val_loss_vs_fp32", "validation loss vs fp32", "%+.4f", 0, NULL},
    {"top1_agreement", "top-1 agreement", "%.4f", 1, NULL},
    {"top1_agreement_fp32", "top-1 agreement with fp32", "%.4f", 1, NULL},
    {"rouge_l", "ROUGE-L", "%.4f", 1, NULL},
    {"prefill_tokens_per_s", "prefill tokens/s", "%.0f", 1, NULL},
    {"gen_tokens_per_s", "generation tokens/s", "%.1f", 1, NULL},
    {"params", "parameters", "%.0f", 0, NULL},
    {"file_bytes", "file bytes", "%.0f", 0, NULL},
    {"peak_rss_mb", "peak RSS MB", "%.1f", 0, NULL},
};

typedef struct {
    char model[VALUE_CAPACITY];  /* the name, and the quantization of a quantized row */
    const char *role;
    const char *key;
    const char *label;
    char a[VALUE_CAPACITY], b[VALUE_CAPACITY];
    double a_value, b_value;    /* NaN unless both are numbers */
    double noise;               /* NOISE_MULTIPLE combined standard errors, or NaN */
    int verdict;                /* +1 better, -1 worse beyond the noise; 0 otherwise */
} diff_row;

typedef struct {
    report_file a, b;
    diff_row *settings;
    int setting_count;
    diff_row *results;
    int result_count;
    int matched;
} report_diff;

static double number_of(const cJSON *model, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(model, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

/* Any JSON value as a table shows it: "-" for null or missing. */
static void value_text(const cJSON *model, const char *key, const char *format, char *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(model, key);
    if (cJSON_IsNumber(item) && isfinite(item->valuedouble))
        snprintf(out, VALUE_CAPACITY, format, item->valuedouble);
    else if (cJSON_IsString(item))
        snprintf(out, VALUE_CAPACITY, "%s", item->valuestring);
    else if (cJSON_IsBool(item))
        snprintf(out, VALUE_CAPACITY, "%s", cJSON_IsTrue(item) ? "yes" : "no");
    else
        snprintf(out, VALUE_CAPACITY, "-");
}

/* "tiny-kd", or "tiny-kd q8_0" for a quantized row. */
static void model_label(const cJSON *model, char *out)
{
    const char *quantization = kd_report_file_quantization(model);
    snprintf(out, VALUE_CAPACITY, quantization ? "%s %s" : "%s",
             cJSON_GetObjectItemCaseSensitive(model, "name")->valuestring, quantization);
}

static void fill_row(diff_row *row, const cJSON *a, const cJSON *b, const char *key,
                     const char *label, const char *format)
{
    *row = (diff_row){
        .role = cJSON_GetObjectItemCaseSensitive(a, "role")->valuestring,
        .key = key, .label = label, .a_value = number_of(a, key), .b_value = number_of(b, key),
        .noise = NAN,
    };
    model_label(a, row->model);
    value_text(a, key, format, row->a);
    value_text(b, key, format, row->b);
}

static void judge(diff_row *row, const result_field *field, const cJSON *a, const cJSON *b)
{
    if (!field->noise_key)
        return;
    double se_a = number_of(a, field->noise_key), se_b = number_of(b, field->noise_key);
    row->noise = NOISE_MULTIPLE * sqrt(se_a * se_a + se_b * se_b);
    double change = row->b_value - row->a_value;
    if (isfinite(change) && isfinite(row->noise) && fabs(change) > row->noise)
        row->verdict = (change > 0) == (field->higher_is_better != 0) ? 1 : -1;
}

static void compare_models(report_diff *diff, const cJSON *a, const cJSON *b)
{
    for (size_t i = 0; i < KD_COUNTOF(setting_fields); i++) {
        diff_row *row = &diff->settings[diff->setting_count];
        fill_row(row, a, b, setting_fields[i].key, setting_fields[i].label, "%g");
        diff->setting_count += strcmp(row->a, row->b) != 0; /* only what changed */
    }
    for (size_t i = 0; i < KD_COUNTOF(result_fields); i++) {
        const result_field *field = &result_fields[i];
        diff_row *row = &diff->results[diff->result_count++];
        fill_row(row, a, b, field->key, field->label, field->format);
        judge(row, field, a, b);
    }
}

static kd_status compare(report_diff *diff)
{
    int models = cJSON_GetArraySize(diff->a.models);
    diff->settings = calloc((size_t)models * KD_COUNTOF(setting_fields) + 1, sizeof(diff_row));
    diff->results = calloc((size_t)models * KD_COUNTOF(result_fields) + 1, sizeof(diff_row));
    if (!diff->settings || !diff->results)
        return kd_fail(KD_ERR_NOMEM, "no memory to compare %d models", models);
    const cJSON *a;
    cJSON_ArrayForEach(a, diff->a.models) {
        const cJSON *b = kd_report_file_model(&diff->b, a);
        if (b) {
            compare_models(diff, a, b);
            diff->matched++;
        }
    }
    if (diff->matched == 0)
        return kd_fail(KD_ERR_INVALID, "%s: no model in common with %s (models are matched by "
                       "name, role and quantization)", diff->b.path, diff->a.path);
    return KD_OK;
}

static kd_status read_both(report_diff *diff, const char *a_path, const char *b_path)
{
    kd_status status = kd_report_file_read(a_path, &diff->a);
    if (status == KD_OK)
        status = kd_report_file_read(b_path, &diff->b);
    if (status == KD_OK && diff->a.schema_version != diff->b.schema_version)
        status = kd_fail(KD_ERR_INVALID, "%s: schema version %d, but %s has %d: reports of "
                         "different versions are not compared", b_path,
                         diff->b.schema_version, a_path, diff->a.schema_version);
    if (status == KD_OK && diff->a.schema_version != KD_REPORT_SCHEMA_VERSION)
        status = kd_fail(KD_ERR_INVALID, "%s: schema version %d; this kd compares version %d "
                         "(rerun kd report)", a_path, diff->a.schema_version,
                         KD_REPORT_SCHEMA_VERSION);
    return status;
}

/* ---- output ------------------------------------------------------------- */

static cJSON *row_json(const diff_row *row, int result)
{
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "model", row->model);
    cJSON_AddStringToObject(object, "role", row->role);
    cJSON_AddStringToObject(object, "key", row->key);
    cJSON_AddStringToObject(object, "a", row->a);
    cJSON_AddStringToObject(object, "b", row->b);
    if (!result)
        return object;
    double change = row->b_value - row->a_value;
    kd_json_add_exact_number(object, "difference", change);
    kd_json_add_exact_number(object, "ratio", row->a_value != 0 ? row->b_value / row->a_value : NAN);
    kd_json_add_exact_number(object, "noise", row->noise);
    if (isfinite(row->noise))
        cJSON_AddBoolToObject(object, "beyond_noise", row->verdict != 0);
    else
        cJSON_AddNullToObject(object, "beyond_noise");
    return object;
}

static kd_status write_json(const report_diff *diff, const char *path)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", KD_REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "a", diff->a.path);
    cJSON_AddStringToObject(root, "b", diff->b.path);
    cJSON_AddNumberToObject(root, "noise_multiple", NOISE_MULTIPLE);
    cJSON *settings = cJSON_AddArrayToObject(root, "settings");
    for (int i = 0; i < diff->setting_count; i++)
        cJSON_AddItemToArray(settings, row_json(&diff->settings[i], 0));
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < diff->result_count; i++)
        cJSON_AddItemToArray(results, row_json(&diff->results[i], 1));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    kd_status status = text ? kd_atomic_write_file(path, text, strlen(text))
                            : kd_fail(KD_ERR_NOMEM, "no memory for %s", path);
    free(text);
    return status;
}

static void settings_table(document *doc, const report_diff *diff)
{
    static const char *const columns[] = {"model", "role", "setting", "A", "B"};
    kd_document_heading(doc, 2, "Settings that differ");
    if (diff->setting_count == 0) {
        kd_document_paragraph(doc, "Every compared setting is the same in A and B.");
        return;
    }
    kd_document_table_begin(doc, columns, 5);
    for (int i = 0; i < diff->setting_count; i++) {
        const diff_row *row = &diff->settings[i];
        kd_document_row_begin(doc);
        kd_document_cell(doc, row->model);
        kd_document_cell(doc, row->role);
        kd_document_cell(doc, row->label);
        kd_document_marked_cell(doc, row->a, NULL);
        kd_document_marked_cell(doc, row->b, NULL);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
}

static void noise_cell(document *doc, const diff_row *row)
{
    char text[64] = "-";
    double change = row->b_value - row->a_value;
    if (isfinite(row->noise) && isfinite(change))
        snprintf(text, sizeof text, "%s (%.4f)", row->verdict ? "yes" : "no", row->noise);
    kd_document_marked_cell(doc, text, row->verdict > 0 ? "better" : row->verdict < 0 ? "worse"
                                                                                    : NULL);
}

static void results_table(document *doc, const report_diff *diff)
{
    static const char *const columns[] = {"model", "result", "A", "B", "B - A", "B / A",
                                          "beyond noise (2 s.e.)"};
    kd_document_heading(doc, 2, "Results");
    kd_document_table_begin(doc, columns, 7);
    for (int i = 0; i < diff->result_count; i++) {
        const diff_row *row = &diff->results[i];
        double change = row->b_value - row->a_value;
        kd_document_row_begin(doc);
        kd_document_cell(doc, row->model);
        kd_document_cell(doc, row->label);
        kd_document_marked_cell(doc, row->a, NULL);
        kd_document_marked_cell(doc, row->b, NULL);
        kd_document_number_cell(doc, "%+.4g", change);
        kd_document_number_cell(doc, "%.3fx", row->a_value != 0 ? row->b_value / row->a_value : NAN);
        noise_cell(doc, row);
        kd_document_row_end(doc);
    }
    kd_document_table_end(doc);
    kd_document_paragraph(doc, "A change in validation loss counts as beyond the noise when it "
                               "is larger than %.0f times the two evaluations' standard errors "
                               "combined (the figure in brackets); a report that did not measure "
                               "them shows \"-\".", NOISE_MULTIPLE);
}

static void unmatched(document *doc, const report_file *file, const report_file *other,
                      const char *which)
{
    const cJSON *model;
    cJSON_ArrayForEach(model, file->models) {
        char label[VALUE_CAPACITY];
        model_label(model, label);
        if (!kd_report_file_model(other, model))
            kd_document_paragraph(doc, "Only in %s: %s (%s).", which, label,
                                  cJSON_GetObjectItemCaseSensitive(model, "role")->valuestring);
    }
}

static void write_document(document *doc, const report_diff *diff, int html)
{
    kd_document_begin(doc, html, "kd report diff");
    kd_document_paragraph(doc, "A: %s. B: %s. %d model(s) matched by name, role and "
                               "quantization.",
                          diff->a.path, diff->b.path, diff->matched);
    settings_table(doc, diff);
    results_table(doc, diff);
    unmatched(doc, &diff->a, &diff->b, "A");
    unmatched(doc, &diff->b, &diff->a, "B");
}

static kd_status write_outputs(const report_diff *diff, const char *out_dir, FILE *markdown)
{
    char path[KD_PATH_CAPACITY];
    document doc;
    kd_status status = KD_OK;
    if (markdown) {
        write_document(&doc, diff, 0);
        if (doc.text.failed || fwrite(doc.text.data, 1, doc.text.length, markdown) != doc.text.length)
            status = kd_fail(KD_ERR_IO, "cannot print the diff");
        kd_text_buffer_free(&doc.text);
    }
    if (status != KD_OK || !out_dir)
        return status;
    static const char *const names[] = {"diff.md", "diff.html"};
    status = kd_make_directories(out_dir);
    for (int html = 0; html < 2 && status == KD_OK; html++) {
        if ((status = kd_path_join(path, sizeof path, out_dir, names[html])) != KD_OK)
            break;
        write_document(&doc, diff, html);
        status = kd_document_finish(&doc, path);
    }
    if (status == KD_OK && (status = kd_path_join(path, sizeof path, out_dir, "diff.json")) == KD_OK)
        status = write_json(diff, path);
    return status;
}

kd_status kd_report_diff(const char *a_path, const char *b_path, const char *out_dir,
                         FILE *markdown)
{
    report_diff diff = {0};
    kd_status status = read_both(&diff, a_path, b_path);
    if (status == KD_OK)
        status = compare(&diff);
    if (status == KD_OK)
        status = write_outputs(&diff, out_dir, markdown);
    free(diff.settings);
    free(diff.results);
    kd_report_file_free(&diff.a);
    kd_report_file_free(&diff.b);
    return status;
}
