/* The progress line: step/total, free-form status and an ETA. On a terminal
 * it redraws one line with '\r'; in a log it prints a plain line at most
 * every PLAIN_INTERVAL_S seconds, so CI logs stay readable. */
#include "kd/core.h"

#include <stdio.h>
#include <unistd.h>

enum { BAR_WIDTH = 24 };
#define PLAIN_INTERVAL_S 10.0

void kd_progress_start(kd_progress *progress, const char *label, long total)
{
    progress->label = label;
    progress->total = total > 0 ? total : 1;
    progress->start_s = kd_now_seconds();
    progress->last_print_s = 0.0;
    progress->interactive = isatty(STDERR_FILENO);
    progress->drawn = 0;
}

static void format_duration(char *out, size_t size, double seconds)
{
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(out, size, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
}

void kd_progress_update(kd_progress *progress, long done, const char *status)
{
    double now = kd_now_seconds(), elapsed = now - progress->start_s;
    int finished = done >= progress->total;
    if (!progress->interactive && !finished && now - progress->last_print_s < PLAIN_INTERVAL_S)
        return;
    progress->last_print_s = now;
    char eta[32];
    format_duration(eta, sizeof eta, done > 0 ? elapsed * (double)(progress->total - done) / done : 0);
    if (!progress->interactive) {
        fprintf(stderr, "%s %ld/%ld | %s | eta %s\n", progress->label, done, progress->total,
                status, eta);
        return;
    }
    char bar[BAR_WIDTH + 1];
    int filled = (int)((double)done / progress->total * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %ld/%ld | %s | eta %s\033[K", progress->label, bar, done,
            progress->total, status, eta);
    fflush(stderr);
    progress->drawn = 1;
}

void kd_progress_clear(kd_progress *progress)
{
    if (!progress->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    progress->drawn = 0;
}

/* The last bar stays on screen as the run's summary line. */
void kd_progress_finish(kd_progress *progress)
{
    if (progress->drawn)
        fputc('\n', stderr);
    progress->drawn = 0;
}
