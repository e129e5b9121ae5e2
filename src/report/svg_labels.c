/* Point labels that never sit on one another: four students of one size
 * and nearly one loss put their markers in one spot, and only their names
 * tell them apart. Each label goes beside its point (to the left when the
 * right would leave the plot); when that spot is taken, it moves up or
 * down to the nearest free place, and the writer draws a leader line back. */
#include <math.h>

#include "report_internal.h"

enum { LABEL_HEIGHT = 14, LABEL_GAP = 7 };
#define CHARACTER_WIDTH 6.6 /* a generous average for 11 px sans-serif */

static int overlaps(const svg_box *a, const svg_box *b)
{
    return a->x < b->x + b->width && b->x < a->x + a->width && a->y < b->y + b->height &&
           b->y < a->y + a->height;
}

static int is_free(const svg_box *box, const svg_layout *layout)
{
    const svg_box *plot = &layout->plot;
    if (box->y < plot->y || box->y + box->height > plot->y + plot->height)
        return 0;
    for (int i = 0; i < layout->label_count; i++)
        if (overlaps(box, &layout->labels[i]))
            return 0;
    return 1;
}

/* The free height nearest `wanted`: the wanted one, or just above or below
 * a label already placed. The wanted one when nothing is free. */
static double free_height(svg_box box, double wanted, const svg_layout *layout)
{
    double best = wanted, best_distance = INFINITY;
    for (int i = -1; i < layout->label_count; i++) {
        for (int side = 0; side < 2; side++) {
            if (i < 0 && side == 1)
                break;
            const svg_box *placed = i >= 0 ? &layout->labels[i] : NULL;
            box.y = !placed ? wanted : side == 0 ? placed->y - box.height - 1
                                                 : placed->y + placed->height + 1;
            double distance = fabs(box.y - wanted);
            if (distance < best_distance && is_free(&box, layout)) {
                best = box.y;
                best_distance = distance;
            }
        }
    }
    return best;
}

/* The last finite point of a series, or 0 when it has none. */
static int last_point(const svg_series *series, double *x, double *y)
{
    for (int i = series->count - 1; i >= 0; i--)
        if (isfinite(series->x[i]) && isfinite(series->y[i])) {
            *x = series->x[i];
            *y = series->y[i];
            return 1;
        }
    return 0;
}

void kd_svg_place_labels(const svg_chart *chart, const axis_scale *x, const axis_scale *y,
                         svg_layout *layout)
{
    const svg_box *plot = &layout->plot;
    layout->label_count = 0;
    for (int s = 0; s < chart->series_count && layout->label_count < SVG_MAX_LABELS; s++) {
        const svg_series *series = &chart->series[s];
        double px, py;
        if (!series->point_label || !last_point(series, &px, &py))
            continue;
        px = kd_svg_pixel_x(x, px);
        py = kd_svg_pixel_y(y, py);
        int characters = 0;
        for (const unsigned char *c = (const unsigned char *)series->point_label; *c; c++)
            characters += (*c & 0xC0) != 0x80; /* UTF-8 lead bytes only */
        svg_box box = {px + LABEL_GAP, 0, characters * CHARACTER_WIDTH, LABEL_HEIGHT};
        if (box.x + box.width > plot->x + plot->width)
            box.x = px - LABEL_GAP - box.width;
        double wanted = fmin(fmax(py - LABEL_HEIGHT / 2.0, plot->y),
                             plot->y + plot->height - LABEL_HEIGHT);
        box.y = free_height(box, wanted, layout);
        int n = layout->label_count++;
        layout->label_series[n] = s;
        layout->anchor_x[n] = px;
        layout->anchor_y[n] = py;
        layout->labels[n] = box;
    }
}
