/* The CPU the numbers were measured on, from /proc/cpuinfo. */
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

void kd_machine_cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *file = fopen("/proc/cpuinfo", "r");
    if (!file)
        return;
    char line[512];
    while (fgets(line, sizeof line, file)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon)
            continue;
        char *value = colon + 1 + strspn(colon + 1, " \t");
        value[strcspn(value, "\r\n")] = '\0';
        snprintf(out, size, "%s", value);
        break;
    }
    fclose(file);
}
