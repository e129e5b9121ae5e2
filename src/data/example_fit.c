/* Fitting one tokenized example to the sequence length, and its loss mask.
 * Pure array work, so the policy is testable with made-up ids. */
#include "kd/data.h"

fit_result kd_example_fit(const int *ids, const uint8_t *roles, size_t count, size_t seq_len,
                          loss_mode loss, int *out_ids, uint8_t *out_mask, size_t *out_length)
{
    fit_result result = {FIT_KEPT, 0, 0};
    *out_length = 0;
    size_t context = 0, response = 0;
    for (size_t i = 0; i < count; i++) {
        context += roles[i] == ROLE_CONTEXT;
        response += roles[i] == ROLE_RESPONSE;
    }
    /* seq_len inputs and seq_len targets need seq_len + 1 ids. */
    size_t excess = count > seq_len + 1 ? count - (seq_len + 1) : 0;
    size_t context_cut = excess < context ? excess : context;
    size_t response_cut = excess - context_cut;
    if (response_cut > 0 && response_cut >= response) {
        result.outcome = FIT_DROPPED;
        return result;
    }
    /* Copy, leaving out the last context_cut context tokens and the last
     * response_cut response tokens. Target t is the id written at t + 1. */
    size_t length = 0, context_seen = 0, response_seen = 0, counted = 0;
    for (size_t i = 0; i < count; i++) {
        if (roles[i] == ROLE_CONTEXT && context_seen++ >= context - context_cut)
            continue;
        if (roles[i] == ROLE_RESPONSE && response_seen++ >= response - response_cut)
            continue;
        if (length > 0) {
            out_mask[length - 1] = loss == LOSS_ALL || roles[i] == ROLE_RESPONSE;
            counted += out_mask[length - 1];
        }
        out_ids[length++] = ids[i];
    }
    if (counted == 0) {
        result.outcome = FIT_DROPPED;
        return result;
    }
    out_mask[length - 1] = 0;
    *out_length = length;
    result.context_cut = context_cut;
    result.response_cut = response_cut;
    result.outcome = excess > 0 ? FIT_SHORTENED : FIT_KEPT;
    return result;
}
