/* NF4 blocks with double-quantized scales, as QLoRA stores a frozen base
 * (arXiv 2305.14314, section 3; bitsandbytes' quantize_4bit with
 * quant_type "nf4" and compress_statistics). The scales' second level is
 * symmetric int8 rather than bitsandbytes' dynamic 8-bit map: one fp32
 * factor per 256 scales either way, and the error it adds stays far below
 * the 4-bit codes' own (tests/test_quant_nf4.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kd/quant.h"

/* bitsandbytes' NF4 table (functional.py, get_4bit_type("nf4")), which the
 * paper builds from the normal quantiles of offset 0.9677 with 8 positive
 * and 7 negative levels around an exact zero; test_quant_nf4 checks it
 * against those quantiles computed by PyTorch. */
const float kd_nf4_codebook[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

static size_t block_count(size_t count)
{
    return (count + KD_NF4_BLOCK - 1) / KD_NF4_BLOCK;
}

static size_t group_count(size_t blocks)
{
    return (blocks + KD_NF4_SCALE_BLOCK - 1) / KD_NF4_SCALE_BLOCK;
}

size_t kd_nf4_bytes(size_t count)
{
    size_t blocks = block_count(count);
    return (count + 1) / 2 + blocks * sizeof(int8_t) + group_count(blocks) * sizeof(float);
}

/* The midpoints between neighbouring levels, bitsandbytes' dQuantizeNF4
 * thresholds. */
static void code_midpoints(float midpoints[15])
{
    for (int k = 0; k < 15; k++)
        midpoints[k] = 0.5f * (kd_nf4_codebook[k] + kd_nf4_codebook[k + 1]);
}

/* The code nearest to x in [-1, 1]: the number of midpoints below it (a
 * count rather than a search, so that it vectorises). */
static uint8_t nearest_code(float x, const float midpoints[15])
{
    int code = 0;
    for (int k = 0; k < 15; k++)
        code += x > midpoints[k];
    return (uint8_t)code;
}

static float block_absmax(const float *x, size_t n)
{
    float absmax = 0.0f;
    for (size_t i = 0; i < n; i++)
        absmax = fmaxf(absmax, fabsf(x[i]));
    return absmax;
}

/* Scales: subtract their mean, then int8 per group of 256 with the group's
 * largest magnitude as its fp32 factor. */
static void quantize_scales(kd_nf4_tensor *tensor, const float *absmax, size_t blocks)
{
    double sum = 0.0;
    for (size_t b = 0; b < blocks; b++)
        sum += absmax[b];
    tensor->offset = (float)(sum / (double)blocks);
    for (size_t g = 0; g < group_count(blocks); g++) {
        size_t begin = g * KD_NF4_SCALE_BLOCK, end = begin + KD_NF4_SCALE_BLOCK;
        end = end < blocks ? end : blocks;
        float range = 0.0f;
        for (size_t b = begin; b < end; b++)
            range = fmaxf(range, fabsf(absmax[b] - tensor->offset));
        tensor->scale_scales[g] = range;
        float inverse = range > 0.0f ? 127.0f / range : 0.0f;
        for (size_t b = begin; b < end; b++)
            tensor->scales[b] = (int8_t)lrintf((absmax[b] - tensor->offset) * inverse);
    }
}

float kd_nf4_block_scale(const kd_nf4_tensor *tensor, size_t block)
{
    float factor = tensor->scale_scales[block / KD_NF4_SCALE_BLOCK];
    return tensor->offset + factor * ((float)tensor->scales[block] * (1.0f / 127.0f));
}

static void set_code(uint8_t *codes, size_t i, uint8_t code)
{
    codes[i / 2] |= (uint8_t)(i % 2 ? code : code << 4);
}

static uint8_t get_code(const uint8_t *codes, size_t i)
{
    return i % 2 ? codes[i / 2] & 0x0f : codes[i / 2] >> 4;
}

/* Codes are taken against the block's own absmax, not the double-quantized
 * scale, as bitsandbytes does: the scale's error then only stretches the
 * block instead of moving values across code boundaries. */
static void quantize_codes(kd_nf4_tensor *tensor, const float *x, const float *absmax,
                           size_t blocks)
{
    float midpoints[15];
    code_midpoints(midpoints);
    memset(tensor->codes, 0, (tensor->count + 1) / 2);
    /* A block's 64 codes fill 32 bytes of their own, so blocks run apart. */
#pragma omp parallel for
    for (size_t b = 0; b < blocks; b++) {
        size_t begin = b * KD_NF4_BLOCK, end = begin + KD_NF4_BLOCK;
        end = end < tensor->count ? end : tensor->count;
        float inverse = absmax[b] > 0.0f ? 1.0f / absmax[b] : 0.0f;
        for (size_t i = begin; i < end; i++)
            set_code(tensor->codes, i, nearest_code(x[i] * inverse, midpoints));
    }
}

kd_status kd_nf4_quantize(kd_nf4_tensor *tensor, const float *x, size_t count)
{
    memset(tensor, 0, sizeof *tensor);
    if (count == 0)
        return kd_fail(KD_ERR_INVALID, "an NF4 tensor needs at least one value");
    size_t blocks = block_count(count), groups = group_count(blocks);
    size_t code_bytes = (count + 1) / 2;
    /* The floats first, so that they are aligned. */
    tensor->memory = kd_alloc(1, groups * sizeof(float) + blocks + code_bytes, "NF4 tensor");
    float *absmax = kd_alloc(blocks, sizeof(float), "NF4 block scales");
    if (!tensor->memory || !absmax) {
        free(absmax);
        kd_nf4_free(tensor);
        return KD_ERR_NOMEM;
    }
    tensor->count = count;
    tensor->scale_scales = tensor->memory;
    tensor->scales = (int8_t *)(tensor->scale_scales + groups);
    tensor->codes = (uint8_t *)(tensor->scales + blocks);
#pragma omp parallel for
    for (size_t b = 0; b < blocks; b++) {
        size_t begin = b * KD_NF4_BLOCK;
        size_t n = count - begin < KD_NF4_BLOCK ? count - begin : KD_NF4_BLOCK;
        absmax[b] = block_absmax(x + begin, n);
    }
    quantize_scales(tensor, absmax, blocks);
    quantize_codes(tensor, x, absmax, blocks);
    free(absmax);
    return KD_OK;
}

void kd_nf4_dequantize(const kd_nf4_tensor *tensor, float *out)
{
    size_t blocks = block_count(tensor->count);
#pragma omp parallel for
    for (size_t b = 0; b < blocks; b++) {
        float scale = kd_nf4_block_scale(tensor, b);
        size_t begin = b * KD_NF4_BLOCK, end = begin + KD_NF4_BLOCK;
        end = end < tensor->count ? end : tensor->count;
        /* A byte at a time (blocks start at even values), the odd last value apart. */
        size_t pairs_end = begin + (end - begin) / 2 * 2;
        for (size_t i = begin; i < pairs_end; i += 2) {
            uint8_t byte = tensor->codes[i / 2];
            out[i] = kd_nf4_codebook[byte >> 4] * scale;
            out[i + 1] = kd_nf4_codebook[byte & 0x0f] * scale;
        }
        if (pairs_end < end)
            out[pairs_end] = kd_nf4_codebook[get_code(tensor->codes, pairs_end)] * scale;
    }
}

void kd_nf4_free(kd_nf4_tensor *tensor)
{
    free(tensor->memory);
    memset(tensor, 0, sizeof *tensor);
}
