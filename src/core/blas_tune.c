/* Choosing OpenBLAS kernels, OpenMP's waiting and thread counts.
 *
 * Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH but predates some CPUs
 * (AMD Zen 4, recent Xeons) and then falls back to its "Prescott" SSE3
 * kernels: 4x slower sgemm on an AVX-512 machine. The core type is read once,
 * when the library initialises, from OPENBLAS_CORETYPE, so the only reliable
 * fix from inside the program is to set that variable and re-execute.
 *
 * libgomp reads how long an idle thread spins before it sleeps the same way,
 * once, from GOMP_SPINCOUNT or OMP_WAIT_POLICY. Its default (300,000 spins)
 * suits long parallel regions; decoding a token runs ~25 short ones with
 * serial work between them, and on the 2-vCPU virtual machines kd is measured
 * on, 2-thread q8_0 decoding ran at 36 tokens/s with it against 152-184 with
 * 1,000-10,000 spins (1 thread: 78). Training steps were unchanged (the
 * figures are in docs/engine.md), so every kd process gets the short spin. */
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

/* Sets OPENBLAS_CORETYPE when OpenBLAS chose kernels slower than the CPU
 * allows; returns whether it did. */
static int choose_blas_core(void)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return 0;
    int wanted = cpu_best_level();
    if (core_level(kd_blas_core_name()) >= wanted || !core_for_level(wanted))
        return 0;
    setenv("OPENBLAS_CORETYPE", core_for_level(wanted), 1);
    return 1;
}

/* Sets a short OpenMP spin unless the user chose how threads wait; returns
 * whether it did. */
static int choose_omp_spin(void)
{
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY"))
        return 0;
    setenv("GOMP_SPINCOUNT", KD_OMP_SPINCOUNT, 1);
    return 1;
}

const char *kd_omp_wait_setting(char *buf, size_t size)
{
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if (spin && policy)
        snprintf(buf, size, "GOMP_SPINCOUNT=%s OMP_WAIT_POLICY=%s", spin, policy);
    else if (spin || policy)
        snprintf(buf, size, "%s=%s", spin ? "GOMP_SPINCOUNT" : "OMP_WAIT_POLICY", spin ? spin : policy);
    else
        snprintf(buf, size, "libgomp default");
    return buf;
}

void kd_runtime_tune(int argc, char **argv)
{
    (void)argc;
    /* A user's explicit choice wins, and a re-executed process never loops. */
    if (getenv("KD_RUNTIME_TUNED"))
        return;
    int changed = choose_blas_core();
    changed |= choose_omp_spin();
    if (!changed)
        return;
    setenv("KD_RUNTIME_TUNED", "1", 1);
    execv("/proc/self/exe", argv);
    /* execv only returns on failure: carry on with the library defaults. */
    fprintf(stderr, "kd: warning: could not re-execute with OPENBLAS_CORETYPE=%s GOMP_SPINCOUNT=%s\n",
            getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(OpenBLAS's choice)",
            getenv("GOMP_SPINCOUNT") ? getenv("GOMP_SPINCOUNT") : "(default)");
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
