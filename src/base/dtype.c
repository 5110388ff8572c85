#include "src/base/dtype.h"

#include <string.h>
#include <strings.h>

#include "src/base/status.h"

size_t rms_dtype_size(rms_dtype t) {
    switch (t) {
    case RMS_DTYPE_F32: return 4;
    case RMS_DTYPE_F16: return 2;
    case RMS_DTYPE_BF16: return 2;
    }
    RMS_ASSERT(!"unknown rms_dtype");
    return 0;
}

const char *rms_dtype_name(rms_dtype t) {
    switch (t) {
    case RMS_DTYPE_F32: return "F32";
    case RMS_DTYPE_F16: return "F16";
    case RMS_DTYPE_BF16: return "BF16";
    }
    RMS_ASSERT(!"unknown rms_dtype");
    return "?";
}

int rms_dtype_parse(const char *s, rms_dtype *out) {
    static const struct { const char *name; rms_dtype t; } names[] = {
        {"f32", RMS_DTYPE_F32},   {"float32", RMS_DTYPE_F32},  {"f16", RMS_DTYPE_F16},
        {"float16", RMS_DTYPE_F16}, {"bf16", RMS_DTYPE_BF16}, {"bfloat16", RMS_DTYPE_BF16},
    };
    if (!s) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].t;
            return 0;
        }
    }
    return -1;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float rms_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t rms_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    /* Round to nearest even; a carry out of the mantissa bumps the exponent (up to inf). */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rms_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13)); /* inf, NaN */
    if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    float sub = (float)mant * 0x1p-24f; /* zero or subnormal: mant * 2^-24, exact */
    return sign ? -sub : sub;
}

/* |f| < 2^-14 (f32 bits `a`, sign cleared): an f16 subnormal or zero, in units of 2^-24. */
static uint16_t f16_subnormal(uint32_t a) {
    uint32_t e = a >> 23;
    if (e < 102) return 0; /* below 2^-25: rounds to zero */
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* value / 2^-24 = mant * 2^(e - 126), shift in [14, 24] */
    uint32_t r = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)r; /* r == 0x400 is the smallest normal, correctly encoded */
}

uint16_t rms_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((a >> 13) & 0x3ffu); /* quiet NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds to inf (and inf itself) */
    if (a < 0x38800000u) return sign | f16_subnormal(a);
    uint32_t b = a - (112u << 23); /* rebias the exponent from 127 to 15 */
    b += 0xfffu + ((b >> 13) & 1u);
    return sign | (uint16_t)(b >> 13);
}

/* Hot path (~1e9 elements per batch): a plain shift loop that gcc -O3 vectorises, cloned for
 * AVX-512 and AVX2 (picked at load time from the CPU) beside the baseline SSE2 build. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void bf16_to_f32_n(float *dst, const uint8_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, sizeof h);
        uint32_t u = (uint32_t)h << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

static void f16_to_f32_n(float *dst, const uint8_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = rms_f16_to_f32(h);
    }
}

void rms_convert_to_f32(float *dst, const void *src, rms_dtype t, int64_t n) {
    RMS_ASSERT(n >= 0);
    switch (t) {
    case RMS_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case RMS_DTYPE_F16: f16_to_f32_n(dst, src, n); return;
    case RMS_DTYPE_BF16: bf16_to_f32_n(dst, src, n); return;
    }
    RMS_ASSERT(!"unknown rms_dtype");
}

void rms_convert_from_f32(void *dst, const float *src, rms_dtype t, int64_t n) {
    RMS_ASSERT(n >= 0);
    uint8_t *d = dst;
    if (t == RMS_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    RMS_ASSERT(t == RMS_DTYPE_F16 || t == RMS_DTYPE_BF16);
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = t == RMS_DTYPE_F16 ? rms_f32_to_f16(src[i]) : rms_f32_to_bf16(src[i]);
        memcpy(d + 2 * i, &h, sizeof h);
    }
}
