/* Peak resident memory of one model's inference, measured in this process.
 * getrusage's peak only ever grows, and a forked child cannot use OpenMP
 * once the parent has (libgomp's thread pool does not survive fork), so the
 * report resets the kernel's high-water mark instead: writing "5" to
 * /proc/self/clear_refs (Linux 4.0+) restarts VmHWM from the current VmRSS.
 * Freed heap pages are first handed back (malloc_trim), so memory an earlier
 * model used is not counted as resident now. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

kd_status kd_process_memory_mb(double *resident, double *peak)
{
    FILE *file = fopen("/proc/self/status", "r");
    if (!file)
        return kd_fail(KD_ERR_UNSUPPORTED, "cannot read /proc/self/status");
    char line[256];
    long resident_kb = -1, peak_kb = -1;
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            sscanf(line + 6, "%ld", &resident_kb);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            sscanf(line + 6, "%ld", &peak_kb);
    }
    fclose(file);
    if (resident_kb < 0 || peak_kb < 0)
        return kd_fail(KD_ERR_UNSUPPORTED, "/proc/self/status has no VmRSS or VmHWM");
    *resident = (double)resident_kb / 1024.0;
    *peak = (double)peak_kb / 1024.0;
    return KD_OK;
}

kd_status kd_process_memory_reset_peak(void)
{
    malloc_trim(0);
    FILE *file = fopen("/proc/self/clear_refs", "w");
    if (!file)
        return kd_fail(KD_ERR_UNSUPPORTED, "cannot open /proc/self/clear_refs to reset the "
                       "peak resident memory");
    int written = fputs("5", file) >= 0;
    if (fclose(file) != 0 || !written)
        return kd_fail(KD_ERR_UNSUPPORTED, "the kernel refused to reset the peak resident "
                       "memory (/proc/self/clear_refs)");
    return KD_OK;
}
