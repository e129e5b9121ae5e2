/* Loss scales and part bookkeeping shared by the live and cached heads. */
#include <string.h>

#include "distill_head.h"

distill_scales kd_distill_row_scales(const distill_config *config, const head_row *row,
                                     float grad_scale)
{
    float scale = row->weight * grad_scale;
    distill_scales scales = {
        1.0f / config->temperature,
        config->alpha * scale,
        (1.0f - config->alpha) * config->temperature * scale,
    };
    return scales;
}

double kd_distill_row_total(distill_head *head, const head_row *row, double cross_entropy,
                            double divergence)
{
    const distill_config *config = head->config;
    double T = config->temperature, weight = row->weight;
    head->cross_entropy[row->slot] = weight * cross_entropy;
    head->divergence[row->slot] = weight * divergence;
    return weight * (config->alpha * cross_entropy + (1.0 - config->alpha) * T * T * divergence);
}

static void add_chunk_parts(const int *positions, int rows, void *context)
{
    (void)positions;
    distill_head *head = context;
    for (int r = 0; r < rows; r++) {
        head->sums.cross_entropy += head->cross_entropy[r];
        head->sums.divergence += head->divergence[r];
    }
}

double kd_distill_head_run(gpt2_model *student, const float *weights, float grad_scale,
                           head_row_loss_fn row_loss, head_chunk_fn chunk_begin,
                           distill_head *head, distill_parts *parts)
{
    memset(&head->sums, 0, sizeof head->sums);
    head_loss loss = {row_loss, chunk_begin, add_chunk_parts, head};
    double total = kd_head_run(student, weights, grad_scale, &loss);
    if (parts)
        *parts = head->sums;
    return total;
}
