/* Choosing OpenBLAS kernels and thread counts.
 *
 * Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH but predates some CPUs
 * (AMD Zen 4, recent Xeons) and then falls back to its "Prescott" SSE3
 * kernels: 4x slower sgemm on an AVX-512 machine. The core type is read once,
 * when the library initialises, from OPENBLAS_CORETYPE, so the only reliable
 * fix from inside the program is to set that variable and re-execute. */
#include "kd/core.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { CORE_SSE = 0, CORE_AVX = 1, CORE_AVX2 = 2, CORE_AVX512 = 3 };

static int cpu_best_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return CORE_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CORE_AVX2;
    if (__builtin_cpu_supports("avx"))
        return CORE_AVX;
    return CORE_SSE;
}

static const char *core_for_level(int level)
{
    switch (level) {
    case CORE_AVX512: return "SkylakeX";
    case CORE_AVX2: return "Haswell";
    case CORE_AVX: return "Sandybridge";
    default: return NULL;
    }
}

/* The vector level of the kernels behind an OpenBLAS core name. */
static int core_level(const char *name)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "Skylake"};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver",
                                      "Steamroller", "Excavator"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(name, avx512[i]) == 0)
            return CORE_AVX512;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcasecmp(name, avx2[i]) == 0)
            return CORE_AVX2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (strcasecmp(name, avx[i]) == 0)
            return CORE_AVX;
    return CORE_SSE;
}

const char *kd_blas_core_name(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

void kd_blas_ensure_fast_core(int argc, char **argv)
{
    (void)argc;
    /* A user's explicit choice wins, and a re-executed process never loops. */
    if (getenv("OPENBLAS_CORETYPE") || getenv("KD_BLAS_TUNED"))
        return;
    int wanted = cpu_best_level();
    if (core_level(kd_blas_core_name()) >= wanted || !core_for_level(wanted))
        return;
    setenv("OPENBLAS_CORETYPE", core_for_level(wanted), 1);
    setenv("KD_BLAS_TUNED", "1", 1);
    execv("/proc/self/exe", argv);
    /* execv only returns on failure: carry on with the slower kernels. */
    fprintf(stderr, "kd: warning: could not re-execute to select OpenBLAS %s kernels\n",
            core_for_level(wanted));
}

void kd_set_threads(int threads)
{
    if (threads < 1)
        threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

int kd_threads(void)
{
    return omp_get_max_threads();
}
