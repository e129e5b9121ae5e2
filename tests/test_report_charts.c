/* The report's charts from fixture rows: a teacher, a KD student, its
 * hard-label baseline and a quantized row of the student (quantization
 * "q8_0"). The cross-entropy chart plots training CE from the training rows
 * and validation loss from the evaluation rows against tokens; only the
 * student has a distillation curve; the size and speed charts put bytes on
 * disk against loss and speed, and speed against loss, draw the quantized
 * row as a diamond in its fp32 model's colour, every other as a circle,
 * name each model on the plot and draw the Pareto front where it joins two
 * models or more. report.json carries the quantization, the fp32 model and
 * the changes against it. */
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/report/report_internal.h"

static int count_of(const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        count++;
    return count;
}

/* Rows at steps 10, 20 (training) and an evaluation at 20; a student's
 * rows carry a divergence. */
static metrics_point history_rows[2][3] = {
    {{1, 10, 1280, 9.0, 9.0, NAN, NAN, 1, NAN, NAN},
     {1, 20, 2560, 8.5, 8.5, NAN, NAN, 2, NAN, NAN},
     {0, 20, 2560, 8.6, 8.6, NAN, 8.7, 2, NAN, NAN}},
    {{1, 10, 1280, 5.0, 9.2, 0.4, NAN, 1, NAN, NAN},
     {1, 20, 2560, 4.6, 8.8, 0.3, NAN, 2, NAN, NAN},
     {0, 20, 2560, 4.7, 8.9, 0.3, 8.8, 2, NAN, NAN}},
};

static void fixture(report *summary, report_model *models)
{
    const char *names[] = {"teacher", "tiny-kd", "tiny-baseline", "tiny-kd"};
    const char *roles[] = {"teacher", "student", "baseline", "student"};
    const double params[] = {16e6, 7e6, 7e6, 7e6}, loss[] = {7.0, 7.37, 7.54, 7.38};
    const double file_bytes[] = {65e6, 28e6, 28e6, 7.5e6};
    const double speed[] = {480, 1187, 1049, 1500};
    for (int i = 0; i < 4; i++) {
        models[i] = (report_model){.role = roles[i], .base = -1, .family = i};
        snprintf(models[i].name, sizeof models[i].name, "%s", names[i]);
        snprintf(models[i].model_dir, sizeof models[i].model_dir, "runs/%d/model", i);
        models[i].size.params = params[i];
        models[i].size.file_bytes = file_bytes[i];
        models[i].quality.val_loss = loss[i];
        models[i].quality.fp32_agreement = NAN;
        models[i].speed.gen_tokens_per_s = speed[i];
        models[i].history = (metrics_history){history_rows[i == 1], i == 3 ? 0 : 3};
    }
    models[3].quantization = "q8_0";
    models[3].base = models[3].family = 1;
    models[3].quality.fp32_agreement = 0.97;
    *summary = (report){.models = models, .model_count = 4, .blas_core = "Haswell"};
}

static void test_charts_from_fixture_rows(void **state)
{
    (void)state;
    report summary;
    report_model models[4];
    fixture(&summary, models);
    report_chart charts[REPORT_CHART_COUNT];
    assert_int_equal(kd_report_charts_render(&summary, charts), KD_OK);

    const char *curves = charts[0].svg;
    assert_non_null(strstr(curves, "training tokens seen"));
    assert_non_null(strstr(curves, ">tiny-kd training</text>"));
    assert_non_null(strstr(curves, ">tiny-baseline validation</text>"));
    assert_int_equal(count_of(curves, "<polyline"), 6); /* 3 runs x training, validation */

    const char *distillation = charts[1].svg;
    assert_int_equal(count_of(distillation, "<polyline"), 1); /* the student run's only */
    assert_null(strstr(distillation, "tiny-baseline"));

    for (int c = 2; c < 5; c++) {
        const char *svg = charts[c].svg;
        assert_int_equal(count_of(svg, "<path d=\"M"), 2); /* the q8_0 point and its legend */
        assert_int_equal(count_of(svg, "<circle"), 6);     /* 3 models, plot and legend */
        assert_int_equal(count_of(svg, ">tiny-kd q8_0</text>"), 2);
        /* tiny-kd's colour, the second of the palette. */
        assert_int_equal(count_of(svg, "z\" fill=\"#d62728\""), 2);
    }
    assert_non_null(strstr(charts[2].svg, ">MB on disk</text>"));
    assert_non_null(strstr(charts[4].svg, ">generation tokens/s (batch 1)</text>"));
    /* Size and loss: the q8_0 file, tiny-kd and the teacher are the front.
     * Size and speed: the q8_0 file is the smallest and the fastest: a
     * front of one point, which needs no line. Speed and loss: the q8_0
     * file, tiny-kd and the teacher again. */
    assert_non_null(strstr(charts[2].svg, ">Pareto front</text>"));
    assert_null(strstr(charts[3].svg, ">Pareto front</text>"));
    assert_non_null(strstr(charts[4].svg, ">Pareto front</text>"));
    kd_report_charts_free(charts);
}

static void test_json_carries_quantization(void **state)
{
    (void)state;
    report summary;
    report_model models[4];
    fixture(&summary, models);
    cJSON *json = kd_report_to_json(&summary);
    const cJSON *rows = cJSON_GetObjectItem(json, "models");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "quantization")));
    const cJSON *quantized = cJSON_GetArrayItem(rows, 3), *student = cJSON_GetArrayItem(rows, 1);
    assert_string_equal(cJSON_GetObjectItem(quantized, "quantization")->valuestring, "q8_0");
    assert_string_equal(cJSON_GetObjectItem(quantized, "quantized_from")->valuestring,
                        "runs/1/model");
    assert_true(fabs(cJSON_GetObjectItem(quantized, "val_loss_vs_fp32")->valuedouble - 0.01) <
                1e-12);
    assert_true(cJSON_GetObjectItem(quantized, "top1_agreement_fp32")->valuedouble == 0.97);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(student, "quantized_from")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(student, "val_loss_vs_fp32")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(student, "top1_agreement_fp32")));
    assert_int_equal(cJSON_GetObjectItem(json, "schema_version")->valueint,
                     KD_REPORT_SCHEMA_VERSION);
    cJSON_Delete(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charts_from_fixture_rows),
        cmocka_unit_test(test_json_carries_quantization),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
