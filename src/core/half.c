/* IEEE binary16 (F16) and bfloat16 (BF16) conversions, bit-exact and without
 * relying on compiler support for _Float16. */
#include "kd/core.h"

#include <string.h>

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static float bits_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

float kd_float16_to_float(uint16_t half)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu;
    uint32_t mantissa = half & 0x3ffu;
    if (exponent == 0x1f) /* inf or NaN: keep the payload */
        return bits_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) /* normal: rebias 15 -> 127 */
        return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
    /* Zero or subnormal: mantissa * 2^-24 is exact in float. */
    float magnitude = (float)mantissa * 0x1p-24f;
    return bits_float(sign | float_bits(magnitude));
}

uint16_t kd_float_to_float16(float value)
{
    uint32_t bits = float_bits(value);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t exponent = (bits >> 23) & 0xffu;
    uint32_t mantissa = bits & 0x7fffffu;
    if (exponent == 0xff) /* inf, or NaN made quiet so it stays a NaN */
        return sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0);
    int half_exponent = (int)exponent - 127 + 15;
    if (half_exponent >= 0x1f)
        return sign | 0x7c00u;
    /* The significand with its implicit bit, as a 24-bit integer, and how far
     * to shift it right to land on the half's last mantissa bit. */
    uint32_t significand = mantissa | (exponent ? 0x800000u : 0);
    int shift = half_exponent > 0 ? 13 : 14 - half_exponent;
    if (shift > 24)
        return sign; /* below half of the smallest subnormal: rounds to zero */
    uint32_t kept = significand >> shift;
    uint32_t rest = significand & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (kept & 1)))
        kept++;
    /* For normals, add the exponent field; a mantissa carry out of 10 bits
     * correctly bumps the exponent (possibly to inf). A subnormal that rounds
     * up to 0x400 becomes the smallest normal the same way. */
    uint32_t result = half_exponent > 0 ? ((uint32_t)half_exponent << 10) + (kept - 0x400u) : kept;
    return sign | (uint16_t)result;
}

float kd_bfloat16_to_float(uint16_t bits)
{
    return bits_float((uint32_t)bits << 16);
}
