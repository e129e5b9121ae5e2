/* Choosing the precision of the matrix products: the names, auto, and the
 * refusal of bf16 where the CPU would only emulate it. */
#include <stdio.h>
#include <string.h>

#include "bf16_gemm.h"
#include "kd/nn.h"

static const char *const precision_names[] = {"fp32", "bf16", "auto"};

const char *kd_precision_name(kd_precision precision)
{
    return precision_names[precision];
}

kd_status kd_precision_parse(const char *text, kd_precision *precision)
{
    for (int i = 0; i < (int)(sizeof precision_names / sizeof *precision_names); i++)
        if (strcmp(text, precision_names[i]) == 0) {
            *precision = (kd_precision)i;
            return KD_OK;
        }
    return kd_fail(KD_ERR_INVALID, "precision \"%s\": expected fp32, bf16 or auto", text);
}

kd_status kd_precision_resolve(kd_precision requested, kd_precision *chosen)
{
    bf16_support support = kd_bf16_support();
    int native = support >= BF16_NATIVE, fast = support == BF16_FAST;
    *chosen = requested == KD_PRECISION_AUTO ? (fast ? KD_PRECISION_BF16 : KD_PRECISION_FP32)
                                             : requested;
    if (*chosen != KD_PRECISION_BF16 || native)
        return KD_OK;
    *chosen = KD_PRECISION_FP32;
#ifdef KD_HAVE_DNNL
    return kd_fail(KD_ERR_UNSUPPORTED,
                   "precision bf16: this CPU has no native bf16 products (no AVX512-BF16 or "
                   "AMX; oneDNN sees %s); --precision auto or fp32 will run",
                   kd_bf16_isa_name());
#else
    return kd_fail(KD_ERR_UNSUPPORTED,
                   "precision bf16: this kd was built without oneDNN (libdnnl-dev); "
                   "--precision auto or fp32 will run");
#endif
}

/* Why auto chose what it did, in a few words. */
static const char *auto_reason(void)
{
    switch (kd_bf16_support()) {
    case BF16_FAST: return "native bf16 outruns fp32 here";
    case BF16_NATIVE: return "native bf16, but no faster than fp32 on this CPU";
    default: return "no native bf16";
    }
}

void kd_precision_describe(kd_precision requested, kd_precision chosen, char *out,
                           size_t capacity)
{
    const char *how = chosen == KD_PRECISION_BF16 ? "oneDNN" : "OpenBLAS";
    const char *isa = chosen == KD_PRECISION_BF16 ? kd_bf16_isa_name() : "sgemm";
    if (requested == KD_PRECISION_AUTO)
        snprintf(out, capacity, "precision %s (auto: %s; %s %s)", kd_precision_name(chosen),
                 auto_reason(), how, isa);
    else
        snprintf(out, capacity, "precision %s (%s %s)", kd_precision_name(chosen), how, isa);
}
