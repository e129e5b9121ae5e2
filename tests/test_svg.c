/* The SVG chart writer: a well-formed document (every element closed and
 * nested), axes, ticks with rounded labels, one polyline point per finite
 * value, a legend with escaped labels, and sane output for degenerate data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "kd/report.h"

/* Checks that start and end tags nest and balance (comments, processing
 * instructions and attribute values hold no '<' in this writer's output). */
static void assert_well_formed(const char *text)
{
    const char *stack[64];
    size_t lengths[64];
    int depth = 0, roots = 0;
    for (const char *c = strchr(text, '<'); c; c = strchr(c + 1, '<')) {
        const char *end = strchr(c, '>');
        assert_non_null(end);
        if (c[1] == '?')
            continue;
        if (c[1] == '/') {
            size_t length = strcspn(c + 2, " >");
            assert_true(depth > 0);
            depth--;
            assert_int_equal(length, lengths[depth]);
            assert_memory_equal(c + 2, stack[depth], length);
            continue;
        }
        if (end[-1] == '/')
            continue; /* self-closing */
        assert_true(depth < 64);
        if (depth == 0)
            roots++;
        stack[depth] = c + 1;
        lengths[depth++] = strcspn(c + 1, " >");
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
}

static int count_of(const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        count++;
    return count;
}

static char *write_chart(const svg_chart *chart)
{
    char *dir = test_make_temp_dir();
    char *path = test_path(dir, "chart.svg");
    assert_int_equal(kd_svg_chart_write(path, chart), KD_OK);
    size_t size = 0;
    char *text = test_read_file(path, &size);
    free(path);
    test_remove_temp_dir(dir);
    return text;
}

static void test_line_and_points(void **state)
{
    (void)state;
    const double steps[] = {0, 25, 50, 75, 100};
    const double loss[] = {4.0, 3.1, NAN, 2.2, 2.0};
    const double params[] = {3e6};
    const double speed[] = {250};
    const svg_series series[] = {
        {"teacher <val> & co", steps, loss, 5, SVG_LINE, 0, SVG_MARKER_CIRCLE, NULL},
        {"student", params, speed, 1, SVG_POINTS, 1, SVG_MARKER_CIRCLE, NULL},
    };
    svg_chart chart = {"Loss", "step", "loss", series, 2};
    char *text = write_chart(&chart);
    assert_well_formed(text);
    assert_non_null(strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(text, "class=\"axes\""));
    assert_non_null(strstr(text, "class=\"legend\""));
    assert_non_null(strstr(text, ">step</text>"));
    assert_non_null(strstr(text, ">loss</text>"));
    assert_non_null(strstr(text, "teacher &lt;val&gt; &amp; co"));
    assert_null(strstr(text, "nan"));
    /* The NaN point is left out of the polyline: 4 of 5 points drawn. */
    const char *points = strstr(text, "points=\"");
    assert_non_null(points);
    const char *close = strchr(points + 8, '"');
    int commas = 0;
    for (const char *c = points; c < close; c++)
        commas += *c == ',';
    assert_int_equal(commas, 4);
    /* Markers: the line's 4 finite points, the scatter point, its legend entry. */
    assert_int_equal(count_of(text, "<circle"), 6);
    /* Rounded ticks over 0..3M on x and 2..250 on y, SI-suffixed. */
    assert_non_null(strstr(text, ">0</text>"));
    assert_non_null(strstr(text, ">3.0M</text>"));
    assert_non_null(strstr(text, ">250</text>"));
    free(text);
}

/* No data, or one constant value: the axes still get a finite range. */
static void test_degenerate_data(void **state)
{
    (void)state;
    svg_chart empty = {"Nothing", "x", "y", NULL, 0};
    char *text = write_chart(&empty);
    assert_well_formed(text);
    assert_null(strstr(text, "nan"));
    assert_null(strstr(text, "inf"));
    free(text);

    const double x[] = {5, 5}, y[] = {2, 2};
    const svg_series flat = {"flat", x, y, 2, SVG_DASHED_LINE, 9, SVG_MARKER_CIRCLE, NULL};
    svg_chart constant = {"Flat", "x", "y", &flat, 1};
    text = write_chart(&constant);
    assert_well_formed(text);
    assert_non_null(strstr(text, "stroke-dasharray"));
    assert_null(strstr(text, "nan"));
    free(text);
}

static int boxes_overlap(const svg_box *a, const svg_box *b)
{
    return a->x < b->x + b->width && b->x < a->x + a->width && a->y < b->y + b->height &&
           b->y < a->y + a->height;
}

/* Every finite point lies within the axes, and no two labels overlap or
 * leave the plot. */
static void assert_sound_layout(const svg_chart *chart, int labels)
{
    svg_layout layout;
    kd_svg_chart_layout(chart, &layout);
    for (int s = 0; s < chart->series_count; s++)
        for (int i = 0; i < chart->series[s].count; i++) {
            double x = chart->series[s].x[i], y = chart->series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            assert_true(layout.x_low <= x && x <= layout.x_high);
            assert_true(layout.y_low <= y && y <= layout.y_high);
        }
    assert_int_equal(layout.label_count, labels);
    for (int a = 0; a < layout.label_count; a++) {
        const svg_box *box = &layout.labels[a];
        assert_true(box->width > 0);
        assert_true(box->y >= layout.plot.y);
        assert_true(box->y + box->height <= layout.plot.y + layout.plot.height);
        for (int b = 0; b < a; b++)
            if (boxes_overlap(box, &layout.labels[b]))
                fail_msg("labels %d and %d overlap", a, b);
    }
}

/* Four students of one size and nearly one loss, and the teacher: the
 * markers coincide, the labels may not. */
static void test_coinciding_points_get_apart_labels(void **state)
{
    (void)state;
    const double params[] = {6.96e6, 6.96e6, 6.96e6, 6.96e6, 16.29e6};
    const double loss[] = {7.3699, 7.3702, 7.3710, 7.5362, 7.0375};
    const char *names[] = {"tiny-kd", "tiny-sampled", "tiny-live", "tiny-baseline", "teacher"};
    svg_series series[5];
    for (int i = 0; i < 5; i++)
        series[i] = (svg_series){names[i], &params[i], &loss[i], 1, SVG_POINTS, i,
                                 SVG_MARKER_CIRCLE, names[i]};
    svg_chart chart = {"Size", "parameters", "loss", series, 5};
    assert_sound_layout(&chart, 5);
    char *svg = kd_svg_chart_render(&chart);
    assert_non_null(svg);
    assert_well_formed(svg);
    assert_int_equal(count_of(svg, ">tiny-sampled</text>"), 2); /* the plot and the legend */
    assert_true(count_of(svg, "stroke=\"#999\"") >= 2); /* leader lines of moved labels */
    free(svg);
}

/* Curves that end at one spot, and a label near the right edge, which goes
 * to the left of its point. */
static void test_curve_end_labels(void **state)
{
    (void)state;
    const double tokens[] = {0, 1e5, 2e5, 3e5};
    const double a[] = {10.0, 8.0, 7.5, 7.30}, b[] = {10.5, 8.2, 7.6, 7.31},
                 c[] = {10.2, 8.1, 7.4, 7.29}, d[] = {NAN, 9.0, 8.0, NAN};
    const svg_series series[] = {
        {"a validation", tokens, a, 4, SVG_LINE, 0, SVG_MARKER_CIRCLE, "a much longer model name"},
        {"b validation", tokens, b, 4, SVG_LINE, 1, SVG_MARKER_CIRCLE, "b"},
        {"c validation", tokens, c, 4, SVG_LINE, 2, SVG_MARKER_CIRCLE, "c"},
        {"d validation", tokens, d, 4, SVG_DASHED_LINE, 3, SVG_MARKER_CIRCLE, "d"},
        {"no label", tokens, a, 4, SVG_DASHED_LINE, 0, SVG_MARKER_CIRCLE, NULL},
    };
    svg_chart chart = {"Curves", "tokens", "loss", series, 5};
    assert_sound_layout(&chart, 4);
    svg_layout layout;
    kd_svg_chart_layout(&chart, &layout);
    /* "a" ends at the right edge: its label is left of the point */
    assert_true(layout.labels[0].x + layout.labels[0].width <= layout.anchor_x[0]);
    /* "d" is named at its last finite point, 2e5 */
    assert_true(layout.anchor_x[3] < layout.anchor_x[1]);
}

/* A quantized model's marker is a diamond, on the plot and in the legend;
 * the front is dotted and grey. */
static void test_markers_and_front(void **state)
{
    (void)state;
    const double x[] = {1e6, 2e6}, y[] = {3.0, 2.0};
    const svg_series series[] = {
        {"q8", &x[0], &y[0], 1, SVG_POINTS, 0, SVG_MARKER_DIAMOND, "q8"},
        {"fp32", &x[1], &y[1], 1, SVG_POINTS, 1, SVG_MARKER_CIRCLE, "fp32"},
        {"Pareto front", x, y, 2, SVG_FRONT, 0, SVG_MARKER_CIRCLE, NULL},
    };
    svg_chart chart = {"Size", "parameters", "loss", series, 3};
    char *svg = kd_svg_chart_render(&chart);
    assert_non_null(svg);
    assert_well_formed(svg);
    assert_int_equal(count_of(svg, "<path d=\"M"), 2);
    assert_int_equal(count_of(svg, "<circle"), 2);
    assert_int_equal(count_of(svg, "stroke=\"#888888\""), 2); /* the front and its legend */
    free(svg);
}

static void test_pareto_front(void **state)
{
    (void)state;
    /* size, loss: 2 is beaten by 1 (smaller, lower); 4 by 3 (equal size, lower) */
    const double x[] = {3, 1, 2, 4, 4, NAN}, y[] = {1, 2, 2.5, 0.5, 0.7, 0};
    int front[6];
    int n = kd_pareto_front(x, y, 6, 0, front);
    assert_int_equal(n, 3);
    assert_int_equal(front[0], 1);
    assert_int_equal(front[1], 0);
    assert_int_equal(front[2], 3);
    /* speed is better large: 1 (fast and small) beats every other */
    const double speed[] = {100, 500, 400, 50, 60, 1};
    n = kd_pareto_front(x, speed, 6, 1, front);
    assert_int_equal(n, 1);
    assert_int_equal(front[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_points),
        cmocka_unit_test(test_degenerate_data),
        cmocka_unit_test(test_coinciding_points_get_apart_labels),
        cmocka_unit_test(test_curve_end_labels),
        cmocka_unit_test(test_markers_and_front),
        cmocka_unit_test(test_pareto_front),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
