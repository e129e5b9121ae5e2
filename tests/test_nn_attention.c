/* Causal attention against a plain double-precision reference at a length
 * that spans several query blocks (the model tests use short sequences, which
 * fit in one block and never exercise the skipped upper triangle). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../src/nn/ops.h"
#include "kd/core.h"

enum { B = 2, T = 150, C = 32, H = 2, D = C / H };

typedef struct {
    float qkv[B * T * 3 * C], dout[B * T * C];
    double out[B * T * C], dqkv[B * T * 3 * C];
} attention_case;

static double q_at(const attention_case *c, int b, int t, int h, int part, int i)
{
    return c->qkv[((size_t)b * T + t) * 3 * C + part * C + h * D + i];
}

/* Probabilities of query t over keys 0..t, in double. */
static void reference_probs(const attention_case *c, int b, int h, int t, double *p)
{
    double max = -INFINITY, sum = 0.0;
    for (int j = 0; j <= t; j++) {
        double dot = 0.0;
        for (int i = 0; i < D; i++)
            dot += q_at(c, b, t, h, 0, i) * q_at(c, b, j, h, 1, i);
        p[j] = dot / sqrt((double)D);
        max = p[j] > max ? p[j] : max;
    }
    for (int j = 0; j <= t; j++)
        sum += p[j] = exp(p[j] - max);
    for (int j = 0; j <= t; j++)
        p[j] /= sum;
}

static void reference_head(attention_case *c, int b, int h)
{
    double p[T], dp[T];
    for (int t = 0; t < T; t++) {
        reference_probs(c, b, h, t, p);
        const float *dy = c->dout + ((size_t)b * T + t) * C + h * D;
        double *y = c->out + ((size_t)b * T + t) * C + h * D;
        double dot = 0.0;
        for (int j = 0; j <= t; j++) {
            dp[j] = 0.0;
            for (int i = 0; i < D; i++) {
                y[i] += p[j] * q_at(c, b, j, h, 2, i);
                dp[j] += dy[i] * q_at(c, b, j, h, 2, i);
            }
            dot += p[j] * dp[j];
        }
        double *dq = c->dqkv + ((size_t)b * T + t) * 3 * C + h * D;
        for (int j = 0; j <= t; j++) {
            double ds = p[j] * (dp[j] - dot) / sqrt((double)D);
            double *dk = c->dqkv + ((size_t)b * T + j) * 3 * C + C + h * D;
            for (int i = 0; i < D; i++) {
                dq[i] += ds * q_at(c, b, j, h, 1, i);
                dk[i] += ds * q_at(c, b, t, h, 0, i);
                dk[C + i] += p[j] * dy[i]; /* dv */
            }
        }
    }
}

static void fill(float *x, size_t n, unsigned *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)(*state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
}

static void assert_close(const float *got, const double *want, size_t n, double tolerance)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tolerance * (1.0 + fabs(want[i])))
            fail_msg("element %zu: %.9g, reference %.9g", i, (double)got[i], want[i]);
}

static void test_attention_matches_reference_across_blocks(void **state)
{
    (void)state;
    attention_case *c = calloc(1, sizeof *c);
    float *out = calloc(B * T * C, sizeof(float)), *dqkv = calloc(B * T * 3 * C, sizeof(float));
    float *att = malloc((size_t)B * H * T * T * sizeof(float));
    float *scratch = malloc((size_t)kd_threads() * T * T * sizeof(float));
    unsigned seed = 7;
    fill(c->qkv, B * T * 3 * C, &seed);
    fill(c->dout, B * T * C, &seed);
    /* Stale values where the masked triangle is: none may leak through. */
    for (size_t i = 0; i < (size_t)B * H * T * T; i++)
        att[i] = NAN;
    for (size_t i = 0; i < (size_t)kd_threads() * T * T; i++)
        scratch[i] = NAN;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            reference_head(c, b, h);

    kd_attention_forward(out, att, c->qkv, B, T, C, H);
    kd_attention_backward(dqkv, scratch, c->dout, att, c->qkv, B, T, C, H);
    assert_close(out, c->out, B * T * C, 1e-5);
    assert_close(dqkv, c->dqkv, B * T * 3 * C, 1e-5);
    for (int bh = 0; bh < B * H; bh++)
        for (int t = 0; t < T; t++)
            for (int j = t + 1; j < T; j++)
                assert_true(att[((size_t)bh * T + t) * T + j] == 0.0f);
    free(c), free(out), free(dqkv), free(att), free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_matches_reference_across_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
