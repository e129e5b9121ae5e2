/* The one SVG writer every report chart uses: a plot area with rounded
 * ticks, axis titles, polylines or markers per series, point labels placed
 * by svg_labels.c, and a legend to the right. Plain SVG 1.1 text, readable
 * in any browser and inline in HTML. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kd/report.h"
#include "report_internal.h"

enum { WIDTH = SVG_WIDTH, HEIGHT = SVG_HEIGHT, LEFT = SVG_LEFT, RIGHT = SVG_RIGHT, TOP = SVG_TOP,
       BOTTOM = SVG_BOTTOM };
enum { TARGET_TICKS = 5, LEGEND_ROW = 20 };
static const char *const front_color = "#888888";

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};
enum { PALETTE_SIZE = sizeof palette / sizeof *palette };

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
    /* A margin, so that no marker sits on an axis line; not below zero
     * when the data is not. */
    double margin = (high - low) * 0.04;
    low = low >= 0.0 ? fmax(low - margin, 0.0) : low - margin;
    high += margin;
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
        double v = x->low + i * x->step, px = kd_svg_pixel_x(x, v);
        tick_label(v, x, label, sizeof label);
        kd_text_printf(svg, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>"
                         "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                    px, bottom, px, bottom + 5, px, bottom + 18, label);
    }
    for (int i = 0; i <= tick_count(y); i++) {
        double v = y->low + i * y->step, py = kd_svg_pixel_y(y, v);
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

/* A circle or a diamond of `radius` at (cx, cy). */
static void write_marker(text_buffer *svg, svg_marker marker, double cx, double cy, double radius,
                         const char *color)
{
    if (marker == SVG_MARKER_DIAMOND)
        kd_text_printf(svg, "<path d=\"M%.1f %.1fl%.1f %.1fl%.1f %.1fl%.1f %.1fz\" fill=\"%s\"/>\n",
                       cx, cy - radius * 1.3, radius * 1.3, radius * 1.3, -radius * 1.3,
                       radius * 1.3, -radius * 1.3, -radius * 1.3, color);
    else
        kd_text_printf(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", cx, cy,
                       radius, color);
}

static const char *series_color(const svg_series *series)
{
    return series->style == SVG_FRONT ? front_color
                                      : palette[(unsigned)series->color % PALETTE_SIZE];
}

static const char *dash_attribute(svg_series_style style)
{
    return style == SVG_DASHED_LINE ? " stroke-dasharray=\"6 4\""
           : style == SVG_FRONT     ? " stroke-dasharray=\"2 3\""
                                    : "";
}

static void write_series(text_buffer *svg, const svg_series *series, const axis_scale *x,
                         const axis_scale *y)
{
    const char *color = series_color(series);
    /* Lines get small markers too: a run evaluated once is a single point. */
    double radius = series->style == SVG_POINTS ? 5.0 : 2.5;
    for (int i = 0; series->style != SVG_FRONT && i < series->count; i++)
        if (isfinite(series->x[i]) && isfinite(series->y[i]))
            write_marker(svg, series->marker, kd_svg_pixel_x(x, series->x[i]),
                         kd_svg_pixel_y(y, series->y[i]), radius, color);
    if (series->style == SVG_POINTS)
        return;
    kd_text_printf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"",
                   color, series->style == SVG_FRONT ? "1.5" : "2", dash_attribute(series->style));
    for (int i = 0; i < series->count; i++)
        if (isfinite(series->x[i]) && isfinite(series->y[i]))
            kd_text_printf(svg, "%.1f,%.1f ", kd_svg_pixel_x(x, series->x[i]),
                           kd_svg_pixel_y(y, series->y[i]));
    kd_text_printf(svg, "\"/>\n");
}

/* Each label beside its point; a leader line when it had to move away. */
static void write_point_labels(text_buffer *svg, const svg_chart *chart, const svg_layout *layout)
{
    kd_text_printf(svg, "<g class=\"point-labels\" font-size=\"11\" fill=\"#222\">\n");
    for (int i = 0; i < layout->label_count; i++) {
        const svg_box *box = &layout->labels[i];
        double middle = box->y + box->height / 2;
        double ax = layout->anchor_x[i], ay = layout->anchor_y[i];
        if (fabs(middle - ay) > box->height / 2) {
            double edge = box->x > ax ? box->x - 1 : box->x + box->width + 1;
            kd_text_printf(svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                "stroke=\"#999\" stroke-width=\"0.8\"/>\n",
                           ax, ay, edge, middle);
        }
        kd_text_printf(svg, "<text x=\"%.1f\" y=\"%.1f\">", box->x, middle + 4);
        kd_text_append_xml(svg, chart->series[layout->label_series[i]].point_label);
        kd_text_printf(svg, "</text>\n");
    }
    kd_text_printf(svg, "</g>\n");
}

static void write_legend(text_buffer *svg, const svg_chart *chart)
{
    int x = WIDTH - RIGHT + 16;
    kd_text_printf(svg, "<g class=\"legend\" font-size=\"12\">\n");
    for (int s = 0; s < chart->series_count; s++) {
        const svg_series *series = &chart->series[s];
        const char *color = series_color(series);
        int y = TOP + 10 + s * LEGEND_ROW;
        if (series->style == SVG_POINTS)
            write_marker(svg, series->marker, x + 12, y, 5.0, color);
        else
            kd_text_printf(svg, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                                "stroke-width=\"2\"%s/>",
                           x, y, x + 24, y, color, dash_attribute(series->style));
        kd_text_printf(svg, "<text x=\"%d\" y=\"%d\">", x + 32, y + 4);
        kd_text_append_xml(svg, series->label);
        kd_text_printf(svg, "</text>\n");
    }
    kd_text_printf(svg, "</g>\n");
}

static void chart_scales(const svg_chart *chart, axis_scale *x, axis_scale *y)
{
    double x_low, x_high, y_low, y_high;
    data_range(chart, 1, &x_low, &x_high);
    data_range(chart, 0, &y_low, &y_high);
    *x = scale_for(x_low, x_high);
    *y = scale_for(y_low, y_high);
}

static void layout_on(const svg_chart *chart, axis_scale *x, axis_scale *y, svg_layout *layout)
{
    chart_scales(chart, x, y);
    *layout = (svg_layout){
        .x_low = x->low, .x_high = x->high, .y_low = y->low, .y_high = y->high,
        .plot = {LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM},
    };
    kd_svg_place_labels(chart, x, y, layout);
}

void kd_svg_chart_layout(const svg_chart *chart, svg_layout *layout)
{
    axis_scale x, y;
    layout_on(chart, &x, &y, layout);
}

static void render(text_buffer *svg, const svg_chart *chart)
{
    axis_scale x, y;
    svg_layout layout;
    layout_on(chart, &x, &y, &layout);
    kd_text_printf(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" role=\"img\">\n"
                        "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
                        "<text class=\"title\" x=\"%d\" y=\"26\" text-anchor=\"middle\" "
                        "font-size=\"16\">",
                   WIDTH, HEIGHT, WIDTH, HEIGHT, WIDTH, HEIGHT, (LEFT + WIDTH - RIGHT) / 2);
    kd_text_append_xml(svg, chart->title);
    kd_text_printf(svg, "</text>\n");
    write_axes(svg, chart, &x, &y);
    for (int s = 0; s < chart->series_count; s++)
        write_series(svg, &chart->series[s], &x, &y);
    write_point_labels(svg, chart, &layout);
    write_legend(svg, chart);
    kd_text_printf(svg, "</svg>\n");
}

kd_status kd_svg_file_write(const char *path, const char *svg_element)
{
    text_buffer file = {0};
    kd_text_printf(&file, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n%s", svg_element);
    kd_status status = kd_text_buffer_write(&file, path);
    kd_text_buffer_free(&file);
    return status;
}

kd_status kd_svg_chart_write(const char *path, const svg_chart *chart)
{
    char *svg = kd_svg_chart_render(chart);
    kd_status status = svg ? kd_svg_file_write(path, svg) : KD_ERR_NOMEM;
    free(svg);
    return status;
}

char *kd_svg_chart_render(const svg_chart *chart)
{
    text_buffer svg = {0};
    render(&svg, chart);
    if (svg.failed || !svg.data) {
        kd_text_buffer_free(&svg);
        kd_fail(KD_ERR_NOMEM, "no memory for a chart");
        return NULL;
    }
    return svg.data; /* the buffer's memory becomes the caller's */
}
