/* Refusing work that cannot fit, before anything is allocated: with
 * overcommit, an allocation that succeeds can still end in the OOM killer
 * halfway through a run, so the whole need is compared up front. */
#include "kd/train.h"

kd_status kd_memory_check(const gpt2_config *config, int batch, int seq, int training,
                          double extra_bytes, const char *what)
{
    double needed = (double)kd_gpt2_num_params(config) * sizeof(float) +
                    (double)kd_gpt2_prepare_bytes(config, batch, seq, training) + extra_bytes;
    double available = (double)kd_physical_memory_bytes();
    /* The rest is the system's and the page cache's. */
    if (available > 0 && needed > 0.9 * available)
        return kd_fail(KD_ERR_NOMEM, "%s needs about %.1f GB (weights, %s at batch %d x %d) "
                       "but this machine has %.1f GB; see 'kd estimate'", what, needed / 1e9,
                       training ? "gradients, AdamW state and activations" : "activations",
                       batch, seq, available / 1e9);
    return KD_OK;
}
