/* The report's charts from fixture rows: a teacher, a KD student, its
 * hard-label baseline and a quantized copy of the student (quantization
 * "q8_0"). The cross-entropy chart plots training CE from the training rows
 * and validation loss from the evaluation rows against tokens; only the
 * student has a distillation curve; the size charts draw the quantized row
 * as a diamond, every other as a circle, name each model on the plot and
 * draw the Pareto front where it joins two models or more. report.json
 * carries the quantization. */
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
    const char *names[] = {"teacher", "tiny-kd", "tiny-baseline", "tiny-kd-q8"};
    const char *roles[] = {"teacher", "student", "baseline", "student"};
    const double params[] = {16e6, 7e6, 7e6, 7e6}, loss[] = {7.0, 7.37, 7.54, 7.38};
    const double speed[] = {480, 1187, 1049, 1500};
    for (int i = 0; i < 4; i++) {
        models[i] = (report_model){.role = roles[i]};
        snprintf(models[i].name, sizeof models[i].name, "%s", names[i]);
        models[i].size.params = params[i];
        models[i].quality.val_loss = loss[i];
        models[i].speed.gen_tokens_per_s = speed[i];
        models[i].history = (metrics_history){history_rows[i == 1 || i == 3], 3};
    }
    models[3].quantization = "q8_0";
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
    assert_int_equal(count_of(curves, "<polyline"), 8); /* 4 models x training, validation */

    const char *distillation = charts[1].svg;
    assert_int_equal(count_of(distillation, "<polyline"), 2); /* the two students' only */
    assert_null(strstr(distillation, "tiny-baseline"));

    for (int c = 2; c < 4; c++) {
        const char *svg = charts[c].svg;
        assert_int_equal(count_of(svg, "<path d=\"M"), 2); /* the q8_0 point and its legend */
        assert_int_equal(count_of(svg, "<circle"), 6);     /* 3 models, plot and legend */
        assert_int_equal(count_of(svg, ">tiny-kd-q8</text>"), 2);
    }
    /* Loss: the teacher and tiny-kd are the front. Speed: tiny-kd-q8 is
     * smaller than the teacher and faster than all: a front of one point,
     * which needs no line. */
    assert_non_null(strstr(charts[2].svg, ">Pareto front</text>"));
    assert_null(strstr(charts[3].svg, ">Pareto front</text>"));
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
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 3), "quantization")->valuestring, "q8_0");
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
