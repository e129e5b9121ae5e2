/* The Pareto front of the size charts: the models no other model beats on
 * both size and the measured figure. A point is dominated when another is
 * at least as good on both axes and better on one. */
#include <math.h>
#include <stdlib.h>

#include "kd/report.h"

static int better_or_equal(double a, double b, int maximize)
{
    return maximize ? a >= b : a <= b;
}

static int dominates(const double *x, const double *y, int maximize_y, int j, int i)
{
    return x[j] <= x[i] && better_or_equal(y[j], y[i], maximize_y) &&
           (x[j] < x[i] || y[j] != y[i]);
}

int kd_pareto_front(const double *x, const double *y, int count, int maximize_y, int *front)
{
    int used = 0;
    for (int i = 0; i < count; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        int dominated = 0;
        for (int j = 0; j < count && !dominated; j++)
            dominated = j != i && isfinite(x[j]) && isfinite(y[j]) &&
                        dominates(x, y, maximize_y, j, i);
        if (!dominated)
            front[used++] = i;
    }
    /* In increasing x (insertion sort: a handful of models). */
    for (int a = 1; a < used; a++)
        for (int b = a; b > 0 && x[front[b]] < x[front[b - 1]]; b--) {
            int swap = front[b];
            front[b] = front[b - 1];
            front[b - 1] = swap;
        }
    return used;
}
