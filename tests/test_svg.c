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
        {"teacher <val> & co", steps, loss, 5, SVG_LINE, 0},
        {"student", params, speed, 1, SVG_POINTS, 1},
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
    const svg_series flat = {"flat", x, y, 2, SVG_DASHED_LINE, 9};
    svg_chart constant = {"Flat", "x", "y", &flat, 1};
    text = write_chart(&constant);
    assert_well_formed(text);
    assert_non_null(strstr(text, "stroke-dasharray"));
    assert_null(strstr(text, "nan"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_points),
        cmocka_unit_test(test_degenerate_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
