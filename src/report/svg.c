/* The one SVG writer every report chart uses: a plot area with rounded
 * ticks, axis titles, polylines or markers per series, and a legend to the
 * right. Plain SVG 1.1 text, readable in any browser. */
#include <math.h>
#include <stdio.h>

#include "kd/report.h"
#include "report_internal.h"

enum { WIDTH = 760, HEIGHT = 440, LEFT = 80, RIGHT = 220, TOP = 44, BOTTOM = 64 };
enum { TARGET_TICKS = 5, LEGEND_ROW = 20 };

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};
enum { PALETTE_SIZE = sizeof palette / sizeof *palette };

/* An axis: the data range widened to whole tick steps of 1, 2 or 5 x 10^k. */
typedef struct {
    double low, high, step;
} axis_scale;

static axis_scale scale_for(double low, double high)
{
    if (!(low <= high)) { /* no finite data at all */
        low = 0.0;
        high = 1.0;
    }
    if (high - low < 1e-12 * fmax(fabs(low), 1.0)) {
        double pad = low != 0.0 ? fabs(low) * 0.1 : 1.0;
        low -= pad;
        high += pad;
    }
    double rough = (high - low) / TARGET_TICKS;
    double magnitude = pow(10.0, floor(log10(rough)));
    double ratio = rough / magnitude;
    double step = (ratio < 1.5 ? 1.0 : ratio < 3.0 ? 2.0 : ratio < 7.0 ? 5.0 : 10.0) * magnitude;
    return (axis_scale){floor(low / step) * step, ceil(high / step) * step, step};
}

/* Intervals between the first and last tick (about TARGET_TICKS). */
static int tick_count(const axis_scale *axis)
{
    return (int)lround((axis->high - axis->low) / axis->step);
}

/* "350k", "12.5M", "0.25": as many decimals as the step needs. */
static void tick_label(double value, const axis_scale *axis, char *out, size_t size)
{
    double largest = fmax(fabs(axis->low), fabs(axis->high));
    double divisor = 1.0;
    const char *suffix = "";
    if (largest >= 1e9) {
        divisor = 1e9;
        suffix = "G";
    } else if (largest >= 1e6) {
        divisor = 1e6;
        suffix = "M";
    } else if (largest >= 1e4) {
        divisor = 1e3;
        suffix = "k";
    }
    int decimals = (int)ceil(-log10(axis->step / divisor) - 1e-9);
    decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
    double shown = value / divisor;
    if (fabs(shown) < 0.5 * pow(10.0, -decimals))
        shown = 0.0; /* no "-0" */
    snprintf(out, size, "%.*f%s", decimals, shown, suffix);
}

static void data_range(const svg_chart *chart, int use_x, double *low, double *high)
{
    *low = INFINITY;
    *high = -INFINITY;
    for (int s = 0; s < chart->series_count; s++) {
        const svg_series *series = &chart->series[s];
        for (int i = 0; i < series->count; i++) {
            if (!isfinite(series->x[i]) || !isfinite(series->y[i]))
                continue;
            double v = use_x ? series->x[i] : series->y[i];
            *low = fmin(*low, v);
            *high = fmax(*high, v);
        }
    }
}

static double to_pixel_x(const axis_scale *x, double value)
{
    return LEFT + (value - x->low) / (x->high - x->low) * (WIDTH - LEFT - RIGHT);
}

static double to_pixel_y(const axis_scale *y, double value)
{
    return HEIGHT - BOTTOM - (value - y->low) / (y->high - y->low) * (HEIGHT - TOP - BOTTOM);
}

static void write_axes(text_buffer *svg, const svg_chart *chart, const axis_scale *x,
                       const axis_scale *y)
{
    int right = WIDTH - RIGHT, bottom = HEIGHT - BOTTOM;
    kd_text_printf(svg, "<g class=\"axes\" stroke=\"#333\" stroke-width=\"1\">\n"
                     "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
                     "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n</g>\n",
                LEFT, bottom, right, bottom, LEFT, TOP, LEFT, bottom);
    char label[32];
    kd_text_printf(svg, "<g class=\"ticks\" font-size=\"11\" fill=\"#333\">\n");
    for (int i = 0; i <= tick_count(x); i++) {
        double v = x->low + i * x->step, px = to_pixel_x(x, v);
        tick_label(v, x, label, sizeof label);
        kd_text_printf(svg, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>"
                         "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                    px, bottom, px, bottom + 5, px, bottom + 18, label);
    }
    for (int i = 0; i <= tick_count(y); i++) {
        double v = y->low + i * y->step, py = to_pixel_y(y, v);
        tick_label(v, y, label, sizeof label);
        kd_text_printf(svg, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>"
                         "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    LEFT - 5, py, LEFT, py, LEFT - 8, py + 4, label);
    }
    kd_text_printf(svg, "</g>\n<text class=\"x-title\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                     "font-size=\"13\">",
                (LEFT + right) / 2, HEIGHT - 20);
    kd_text_append_xml(svg, chart->x_label);
    kd_text_printf(svg, "</text>\n<text class=\"y-title\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                     "font-size=\"13\" transform=\"rotate(-90 %d %d)\">",
                22, (TOP + bottom) / 2, 22, (TOP + bottom) / 2);
    kd_text_append_xml(svg, chart->y_label);
    kd_text_printf(svg, "</text>\n");
}

static void write_series(text_buffer *svg, const svg_series *series, const axis_scale *x,
                         const axis_scale *y)
{
    const char *color = palette[(unsigned)series->color % PALETTE_SIZE];
    /* Lines get small markers too: a run evaluated once is a single point. */
    const char *radius = series->style == SVG_POINTS ? "5" : "2.5";
    for (int i = 0; i < series->count; i++)
        if (isfinite(series->x[i]) && isfinite(series->y[i]))
            kd_text_printf(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n",
                           to_pixel_x(x, series->x[i]), to_pixel_y(y, series->y[i]), radius, color);
    if (series->style == SVG_POINTS)
        return;
    kd_text_printf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                   series->style == SVG_DASHED_LINE ? " stroke-dasharray=\"6 4\"" : "");
    for (int i = 0; i < series->count; i++)
        if (isfinite(series->x[i]) && isfinite(series->y[i]))
            kd_text_printf(svg, "%.1f,%.1f ", to_pixel_x(x, series->x[i]),
                           to_pixel_y(y, series->y[i]));
    kd_text_printf(svg, "\"/>\n");
}

static void write_legend(text_buffer *svg, const svg_chart *chart)
{
    int x = WIDTH - RIGHT + 16;
    kd_text_printf(svg, "<g class=\"legend\" font-size=\"12\">\n");
    for (int s = 0; s < chart->series_count; s++) {
        const svg_series *series = &chart->series[s];
        const char *color = palette[(unsigned)series->color % PALETTE_SIZE];
        int y = TOP + 10 + s * LEGEND_ROW;
        if (series->style == SVG_POINTS)
            kd_text_printf(svg, "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"%s\"/>", x + 12, y, color);
        else
            kd_text_printf(svg, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                             "stroke-width=\"2\"%s/>",
                        x, y, x + 24, y, color,
                        series->style == SVG_DASHED_LINE ? " stroke-dasharray=\"6 4\"" : "");
        kd_text_printf(svg, "<text x=\"%d\" y=\"%d\">", x + 32, y + 4);
        kd_text_append_xml(svg, series->label);
        kd_text_printf(svg, "</text>\n");
    }
    kd_text_printf(svg, "</g>\n");
}

kd_status kd_svg_chart_write(const char *path, const svg_chart *chart)
{
    double x_low, x_high, y_low, y_high;
    data_range(chart, 1, &x_low, &x_high);
    data_range(chart, 0, &y_low, &y_high);
    axis_scale x = scale_for(x_low, x_high), y = scale_for(y_low, y_high);
    text_buffer svg = {0};
    kd_text_printf(&svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
                      "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
                      "<text class=\"title\" x=\"%d\" y=\"26\" text-anchor=\"middle\" "
                      "font-size=\"16\">",
                WIDTH, HEIGHT, WIDTH, HEIGHT, WIDTH, HEIGHT, (LEFT + WIDTH - RIGHT) / 2);
    kd_text_append_xml(&svg, chart->title);
    kd_text_printf(&svg, "</text>\n");
    write_axes(&svg, chart, &x, &y);
    for (int s = 0; s < chart->series_count; s++)
        write_series(&svg, &chart->series[s], &x, &y);
    write_legend(&svg, chart);
    kd_text_printf(&svg, "</svg>\n");
    kd_status status = kd_text_buffer_write(&svg, path);
    kd_text_buffer_free(&svg);
    return status;
}
