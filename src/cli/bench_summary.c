/* The median, minimum and maximum of a benchmark's step times, shared by
 * every kd bench mode (cmd_bench.c, bench_kd.c, bench_generate.c). */
#include <stdlib.h>

#include "bench.h"

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_summarise(double *times, int count, bench_timing *timing)
{
    qsort(times, (size_t)count, sizeof *times, compare_doubles);
    timing->min_s = times[0];
    timing->max_s = times[count - 1];
    timing->median_s = count % 2 ? times[count / 2]
                                 : 0.5 * (times[count / 2 - 1] + times[count / 2]);
}
