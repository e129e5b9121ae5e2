/* xoshiro256** seeded through splitmix64 (Blackman & Vigna): small state,
 * good statistics, identical streams on every platform. */
#include "kd/core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void kd_rng_seed(kd_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t kd_rng_next(kd_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float kd_rng_uniform(kd_rng *rng)
{
    return (float)(kd_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

float kd_rng_normal(kd_rng *rng)
{
    /* Box-Muller with the uniform moved off zero so log() stays finite. */
    double u1 = ((double)(kd_rng_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(kd_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint64_t kd_rng_below(kd_rng *rng, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = kd_rng_next(rng);
    } while (x >= limit);
    return x % n;
}
