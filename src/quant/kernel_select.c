/* Which dot-product kernel runs: the fastest the CPU supports, or the one
 * KD_QKERNEL names (so that tests and benchmarks can run each path on one
 * machine). The choice is one atomic index into a table of functions. */
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

typedef struct {
    const char *name;
    kd_dot_q8_0_fn q8_0;
    kd_dot_q4_0_fn q4_0;
    const kd_qgemm_kernel *gemm;
} kernel_entry;

static const kernel_entry kernels[KD_QKERNEL_COUNT] = {
    [KD_QKERNEL_PORTABLE] = {"portable", kd_dot_q8_0_portable, kd_dot_q4_0_portable, NULL},
#if defined(__x86_64__)
    /* AVX-512 without VNNI has no byte product wider than AVX2's */
    [KD_QKERNEL_AVX2] = {"avx2", kd_dot_q8_0_avx2, kd_dot_q4_0_avx2, &kd_qgemm_avx2},
    [KD_QKERNEL_AVX512] = {"avx512", kd_dot_q8_0_avx512, kd_dot_q4_0_avx512, &kd_qgemm_avx2},
    [KD_QKERNEL_VNNI] = {"vnni", kd_dot_q8_0_vnni, kd_dot_q4_0_vnni, &kd_qgemm_vnni},
#else
    [KD_QKERNEL_AVX2] = {"avx2", NULL, NULL, NULL},
    [KD_QKERNEL_AVX512] = {"avx512", NULL, NULL, NULL},
    [KD_QKERNEL_VNNI] = {"vnni", NULL, NULL, NULL},
#endif
};

/* -1 until chosen. */
static atomic_int current_kernel = -1;

const char *kd_qkernel_name(kd_qkernel kernel)
{
    return kernels[kernel].name;
}

#if defined(__x86_64__)
/* F16C, through cpuid: clang's __builtin_cpu_supports does not know it. */
static int has_f16c(void)
{
    unsigned int eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
}
#endif

int kd_qkernel_supported(kd_qkernel kernel)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    switch (kernel) {
    case KD_QKERNEL_PORTABLE:
        return 1;
    case KD_QKERNEL_AVX2:
        return avx2;
    case KD_QKERNEL_AVX512:
        return avx512;
    case KD_QKERNEL_VNNI:
        return avx512 && __builtin_cpu_supports("avx512vnni");
    default:
        return 0;
    }
#else
    return kernel == KD_QKERNEL_PORTABLE;
#endif
}

kd_qkernel kd_qkernel_best(void)
{
    for (int k = KD_QKERNEL_COUNT - 1; k > KD_QKERNEL_PORTABLE; k--)
        if (kd_qkernel_supported((kd_qkernel)k))
            return (kd_qkernel)k;
    return KD_QKERNEL_PORTABLE;
}

kd_status kd_qkernel_use(kd_qkernel kernel)
{
    if (!kd_qkernel_supported(kernel))
        return kd_fail(KD_ERR_UNSUPPORTED, "this CPU cannot run the %s quantized kernels",
                       kd_qkernel_name(kernel));
    atomic_store(&current_kernel, (int)kernel);
    return KD_OK;
}

kd_status kd_qkernel_use_env(void)
{
    const char *name = getenv("KD_QKERNEL");
    if (!name || !*name)
        return kd_qkernel_use(kd_qkernel_best());
    for (int k = 0; k < KD_QKERNEL_COUNT; k++)
        if (strcmp(name, kernels[k].name) == 0)
            return kd_qkernel_use((kd_qkernel)k);
    return kd_fail(KD_ERR_INVALID, "KD_QKERNEL=%s: expected portable, avx2, avx512 or vnni",
                   name);
}

kd_qkernel kd_qkernel_current(void)
{
    int kernel = atomic_load(&current_kernel);
    if (kernel < 0) {
        kernel = (int)kd_qkernel_best();
        atomic_store(&current_kernel, kernel);
    }
    return (kd_qkernel)kernel;
}

kd_dot_q8_0_fn kd_dot_q8_0_current(void)
{
    return kernels[kd_qkernel_current()].q8_0;
}

kd_dot_q4_0_fn kd_dot_q4_0_current(void)
{
    return kernels[kd_qkernel_current()].q4_0;
}

const kd_qgemm_kernel *kd_qgemm_current(void)
{
    return kernels[kd_qkernel_current()].gemm;
}

float kd_vec_dot_q8_0_q8_0(size_t n, const kd_block_q8_0 *x, const kd_block_q8_0 *y)
{
    return kd_dot_q8_0_current()(n, x, y);
}

float kd_vec_dot_q4_0_q8_0(size_t n, const kd_block_q4_0 *x, const kd_block_q8_0 *y)
{
    return kd_dot_q4_0_current()(n, x, y);
}
