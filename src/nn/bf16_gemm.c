/* bf16 products through oneDNN's matmul, each shape's primitive created once
 * and kept, and the fp32 -> bf16 rounding that feeds them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_gemm.h"

/* Round to nearest, ties to even, as PyTorch and oneDNN round; a NaN keeps a
 * quiet-NaN payload bit so that it cannot round into an infinity. */
static inline bf16 round_to_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return (bf16)((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (bf16)(bits >> 16);
}

float kd_bf16_to_float(bf16 value)
{
    uint32_t bits = (uint32_t)value << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

void kd_bf16_from_float(bf16 *out, const float *in, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++)
        out[i] = round_to_bf16(in[i]);
}

void kd_bf16_from_float_rows(bf16 *out, const float *in, int rows, int cols, size_t in_stride)
{
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= (1u << 16))
    for (int r = 0; r < rows; r++) {
        const float *row = in + (size_t)r * in_stride;
        bf16 *dst = out + (size_t)r * cols;
#pragma omp simd
        for (int c = 0; c < cols; c++)
            dst[c] = round_to_bf16(row[c]);
    }
}

#ifdef KD_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

/* One shape's primitive and the memory objects its calls point at their data. */
typedef struct {
    bf16_gemm_shape shape;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, bias, c;
    unsigned long last_use;
} gemm_entry;

/* A model uses a dozen shapes in its blocks (four products forward, eight
 * backward) and three per padded head chunk size (at most 16 sizes); a
 * teacher and a student twice that. Past this many the least recently used
 * one is dropped. */
enum { GEMM_CACHE_SIZE = 128 };

static struct {
    int ready;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    gemm_entry entries[GEMM_CACHE_SIZE];
    int count;
    unsigned long clock;
} dnnl_state;

static kd_status check(dnnl_status_t status, const char *what)
{
    if (status == dnnl_success)
        return KD_OK;
    if (status == dnnl_unimplemented)
        return kd_fail(KD_ERR_UNSUPPORTED, "oneDNN has no bf16 matmul for this CPU (%s)", what);
    if (status == dnnl_out_of_memory)
        return kd_fail(KD_ERR_NOMEM, "oneDNN ran out of memory (%s)", what);
    return kd_fail(KD_ERR_INVALID, "oneDNN failed: %s (status %d)", what, (int)status);
}

static kd_status state_start(void)
{
    if (dnnl_state.ready)
        return KD_OK;
    kd_status status = check(dnnl_engine_create(&dnnl_state.engine, dnnl_cpu, 0), "engine");
    if (status == KD_OK)
        status = check(dnnl_stream_create(&dnnl_state.stream, dnnl_state.engine,
                                          dnnl_stream_default_flags), "stream");
    dnnl_state.ready = status == KD_OK;
    return status;
}

/* A (rows, cols) matrix stored row-major `ld` apart, or transposed. */
static dnnl_status_t matrix_desc(dnnl_memory_desc_t *desc, int rows, int cols, int ld,
                                 int transposed, dnnl_data_type_t type)
{
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {ld, 1};
    if (transposed) {
        strides[0] = 1;
        strides[1] = ld;
    }
    return dnnl_memory_desc_init_by_strides(desc, 2, dims, type, strides);
}

static kd_status primitive_create(const bf16_gemm_shape *s, gemm_entry *entry)
{
    dnnl_memory_desc_t a, b, bias, c;
    kd_status status = check(matrix_desc(&a, s->M, s->K, s->lda, s->trans_a, dnnl_bf16), "A");
    if (status == KD_OK)
        status = check(matrix_desc(&b, s->K, s->N, s->ldb, s->trans_b, dnnl_bf16), "B");
    if (status == KD_OK)
        status = check(matrix_desc(&bias, 1, s->N, s->N, 0, dnnl_f32), "bias");
    if (status == KD_OK)
        status = check(matrix_desc(&c, s->M, s->N, s->ldc, 0, dnnl_f32), "C");
    if (status != KD_OK)
        return status;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    status = check(dnnl_matmul_desc_init(&desc, &a, &b, s->has_bias ? &bias : NULL, &c),
                   "matmul descriptor");
    if (status == KD_OK)
        status = check(dnnl_primitive_attr_create(&attr), "attributes");
    if (status == KD_OK && s->accumulate) {
        status = check(dnnl_post_ops_create(&post_ops), "post-ops");
        if (status == KD_OK)
            status = check(dnnl_post_ops_append_sum(post_ops, 1.0f), "sum post-op");
        if (status == KD_OK)
            status = check(dnnl_primitive_attr_set_post_ops(attr, post_ops), "post-ops");
    }
    if (status == KD_OK)
        status = check(dnnl_primitive_desc_create(&pd, &desc, attr, dnnl_state.engine, NULL),
                       "matmul");
    if (status == KD_OK)
        status = check(dnnl_primitive_create(&entry->primitive, pd), "primitive");
    dnnl_engine_t e = dnnl_state.engine;
    if (status == KD_OK)
        status = check(dnnl_memory_create(&entry->a, &a, e, DNNL_MEMORY_NONE), "memory");
    if (status == KD_OK)
        status = check(dnnl_memory_create(&entry->b, &b, e, DNNL_MEMORY_NONE), "memory");
    if (status == KD_OK)
        status = check(dnnl_memory_create(&entry->bias, &bias, e, DNNL_MEMORY_NONE), "memory");
    if (status == KD_OK)
        status = check(dnnl_memory_create(&entry->c, &c, e, DNNL_MEMORY_NONE), "memory");
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (post_ops)
        dnnl_post_ops_destroy(post_ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    entry->shape = *s;
    return status;
}

static void entry_destroy(gemm_entry *entry)
{
    dnnl_memory_t memories[] = {entry->a, entry->b, entry->bias, entry->c};
    for (size_t i = 0; i < sizeof memories / sizeof *memories; i++)
        if (memories[i])
            dnnl_memory_destroy(memories[i]);
    if (entry->primitive)
        dnnl_primitive_destroy(entry->primitive);
    memset(entry, 0, sizeof *entry);
}

/* The cached entry for `shape`, created (in the least recently used slot
 * when the cache is full) on first use. */
static kd_status entry_for(const bf16_gemm_shape *shape, gemm_entry **out)
{
    kd_status status = state_start();
    if (status != KD_OK)
        return status;
    gemm_entry *slot = NULL;
    for (int i = 0; i < dnnl_state.count; i++) {
        gemm_entry *entry = &dnnl_state.entries[i];
        if (memcmp(&entry->shape, shape, sizeof *shape) == 0) {
            entry->last_use = ++dnnl_state.clock;
            *out = entry;
            return KD_OK;
        }
        if (!slot || entry->last_use < slot->last_use)
            slot = entry;
    }
    if (dnnl_state.count < GEMM_CACHE_SIZE)
        slot = &dnnl_state.entries[dnnl_state.count++];
    else
        entry_destroy(slot);
    status = primitive_create(shape, slot);
    if (status != KD_OK) {
        entry_destroy(slot);
        /* An empty slot must never match: mark it unused and oldest. */
        slot->shape.M = -1;
        return status;
    }
    slot->last_use = ++dnnl_state.clock;
    *out = slot;
    return KD_OK;
}

static kd_status gemm_run(const bf16_gemm_shape *shape, const bf16 *A, const bf16 *B,
                          const float *bias, float *C)
{
    gemm_entry *entry;
    kd_status status = entry_for(shape, &entry);
    if (status != KD_OK)
        return status;
    dnnl_memory_set_data_handle(entry->a, (void *)A);
    dnnl_memory_set_data_handle(entry->b, (void *)B);
    dnnl_memory_set_data_handle(entry->c, C);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, entry->a}, {DNNL_ARG_WEIGHTS, entry->b},
                               {DNNL_ARG_DST, entry->c}, {DNNL_ARG_BIAS, entry->bias}};
    if (shape->has_bias)
        dnnl_memory_set_data_handle(entry->bias, (void *)bias);
    status = check(dnnl_primitive_execute(entry->primitive, dnnl_state.stream,
                                          shape->has_bias ? 4 : 3, args), "matmul");
    if (status == KD_OK)
        status = check(dnnl_stream_wait(dnnl_state.stream), "stream");
    return status;
}

void kd_bf16_gemm(const bf16_gemm_shape *shape, const bf16 *A, const bf16 *B, const float *bias,
                  float *C)
{
    if (gemm_run(shape, A, B, bias, C) == KD_OK)
        return;
    fprintf(stderr, "kd: bf16 product %dx%dx%d: %s\n", shape->M, shape->N, shape->K,
            kd_last_error());
    abort();
}

/* Whether oneDNN builds a bf16 matmul here at all (with fp32 arithmetic when
 * the CPU has no bf16 instructions). */
static int probe_product(void)
{
    enum { SIZE = 16 };
    bf16 a[SIZE * SIZE] = {0}, b[SIZE * SIZE] = {0};
    float c[SIZE * SIZE];
    bf16_gemm_shape shape = {SIZE, SIZE, SIZE, 0, 0, SIZE, SIZE, SIZE, 0, 0};
    return gemm_run(&shape, a, b, NULL, c) == KD_OK;
}

static int isa_has(dnnl_cpu_isa_t isa, dnnl_cpu_isa_t feature)
{
    return ((unsigned)isa & (unsigned)feature) == (unsigned)feature;
}

/* AMX multiplies bf16 tiles at many times fp32's rate. AVX512-BF16's
 * VDPBF16PS does 64 FLOPs per instruction against FMA's 32: AMD's Zen 4 and
 * Zen 5 issue two a cycle, twice fp32's FLOPs, but Intel issues one (port 0),
 * the same FLOPs as its two FMA ports, and oneDNN's bf16 products ran at
 * 0.6-0.75x OpenBLAS's sgemm on an Emerald Rapids without AMX
 * (docs/precision.md). */
static int bf16_outruns_fp32(dnnl_cpu_isa_t isa)
{
    __builtin_cpu_init();
    return isa_has(isa, dnnl_cpu_isa_avx512_core_amx) || __builtin_cpu_is("amd");
}

bf16_support kd_bf16_support(void)
{
    static int known;
    static bf16_support support;
    if (!known) {
        dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        if (!probe_product())
            support = BF16_NONE;
        else if (!isa_has(isa, dnnl_cpu_isa_avx512_core_bf16))
            support = BF16_EMULATED;
        else
            support = bf16_outruns_fp32(isa) ? BF16_FAST : BF16_NATIVE;
        known = 1;
    }
    return support;
}

const char *kd_bf16_isa_name(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (isa_has(isa, dnnl_cpu_isa_avx512_core_amx))
        return "avx512_core_amx";
    if (isa_has(isa, dnnl_cpu_isa_avx512_core_bf16))
        return "avx512_core_bf16";
    if (isa_has(isa, dnnl_cpu_isa_avx512_core))
        return "avx512_core";
    if (isa_has(isa, dnnl_cpu_isa_avx2))
        return "avx2";
    return "sse41";
}

#else /* built without oneDNN: fp32 only */

void kd_bf16_gemm(const bf16_gemm_shape *shape, const bf16 *A, const bf16 *B, const float *bias,
                  float *C)
{
    (void)shape, (void)A, (void)B, (void)bias, (void)C;
    fprintf(stderr, "kd: a bf16 product in a build without oneDNN\n");
    abort();
}

bf16_support kd_bf16_support(void)
{
    return BF16_NONE;
}

const char *kd_bf16_isa_name(void)
{
    return "none";
}

#endif
