/* kd_token_buffer: a growable array of token ids that callers reuse across
 * texts (clear keeps the memory), so steady-state encoding allocates nothing. */
#include "kd/tokenizer.h"

#include <stdlib.h>

kd_status kd_token_buffer_push(kd_token_buffer *buffer, int id)
{
    if (buffer->count == buffer->capacity) {
        size_t capacity = buffer->capacity ? 2 * buffer->capacity : 256;
        size_t bytes = kd_mul_size(capacity, sizeof *buffer->ids);
        int *ids = bytes ? realloc(buffer->ids, bytes) : NULL;
        if (!ids)
            return kd_fail(KD_ERR_NOMEM, "token buffer: cannot grow to %zu ids", capacity);
        buffer->ids = ids;
        buffer->capacity = capacity;
    }
    buffer->ids[buffer->count++] = id;
    return KD_OK;
}

void kd_token_buffer_clear(kd_token_buffer *buffer)
{
    buffer->count = 0;
}

void kd_token_buffer_free(kd_token_buffer *buffer)
{
    free(buffer->ids);
    buffer->ids = NULL;
    buffer->count = 0;
    buffer->capacity = 0;
}
