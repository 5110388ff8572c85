#include <float.h>
#include <stdint.h>

#include "src/base/dtype.h"
#include "tests/check.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A small deterministic generator (xorshift) for random bit patterns. */
static uint32_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

/* The f16 value nearest to x (ties to even), computed in double: the reference for rms_f32_to_f16. */
static float reference_f16_round(float x) {
    int e;
    frexp(x, &e); /* |x| = m * 2^e, m in [0.5, 1): the leading bit has weight 2^(e-1) */
    int exp = e - 1 < -14 ? -14 : e - 1;
    double ulp = ldexp(1.0, exp - 10);
    double r = nearbyint((double)x / ulp) * ulp; /* default rounding mode: to nearest even */
    return fabs(r) >= 65536.0 ? copysignf(INFINITY, x) : (float)r;
}

static void test_sizes_names_and_parsing_agree(void) {
    rms_dtype t = RMS_DTYPE_F32;
    CHECK_EQ_INT(rms_dtype_size(RMS_DTYPE_F32), 4);
    CHECK_EQ_INT(rms_dtype_size(RMS_DTYPE_F16), 2);
    CHECK_EQ_INT(rms_dtype_size(RMS_DTYPE_BF16), 2);
    CHECK(strcmp(rms_dtype_name(RMS_DTYPE_BF16), "BF16") == 0);
    CHECK(rms_dtype_parse("BF16", &t) == 0 && t == RMS_DTYPE_BF16);
    CHECK(rms_dtype_parse("bfloat16", &t) == 0 && t == RMS_DTYPE_BF16);
    CHECK(rms_dtype_parse("Float16", &t) == 0 && t == RMS_DTYPE_F16);
    CHECK(rms_dtype_parse("f32", &t) == 0 && t == RMS_DTYPE_F32);
    CHECK(rms_dtype_parse("float32", &t) == 0 && t == RMS_DTYPE_F32);
    CHECK(rms_dtype_parse("I64", &t) == -1);
    CHECK(rms_dtype_parse("", &t) == -1);
}

static void test_bf16_widening_is_a_sixteen_bit_shift(void) {
    for (uint32_t h = 0; h <= 0xffff; h++) {
        uint32_t got = bits_of(rms_bf16_to_f32((uint16_t)h));
        if (got != h << 16) {
            CHECK_EQ_INT(got, h << 16);
            break;
        }
    }
}

static void test_bf16_rounds_to_nearest_even(void) {
    CHECK_EQ_INT(rms_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(rms_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie, down to even */
    CHECK_EQ_INT(rms_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);        /* tie, up to even */
    CHECK_EQ_INT(rms_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie */
    CHECK_EQ_INT(rms_f32_to_bf16(-1.0f - 0x1p-8f), 0xbf80);
    CHECK_EQ_INT(rms_f32_to_bf16(float_of(0x00000001)), 0x0000); /* f32 subnormal: flushes */
    CHECK_EQ_INT(rms_f32_to_bf16(float_of(0x00018000)), 0x0002); /* bf16 subnormal, tie to even */
}

static void test_bf16_keeps_nan_and_overflows_to_inf(void) {
    CHECK(isnan(rms_bf16_to_f32(rms_f32_to_bf16(NAN))));
    CHECK(isnan(rms_bf16_to_f32(rms_f32_to_bf16(float_of(0x7f800001))))); /* payload in low bits */
    CHECK(isnan(rms_bf16_to_f32(rms_f32_to_bf16(float_of(0xffffffff)))));
    CHECK_EQ_INT(rms_f32_to_bf16(INFINITY), 0x7f80);
    CHECK_EQ_INT(rms_f32_to_bf16(-INFINITY), 0xff80);
    CHECK_EQ_INT(rms_f32_to_bf16(FLT_MAX), 0x7f80);
    CHECK_EQ_INT(rms_f32_to_bf16(-FLT_MAX), 0xff80);
}

static void test_f16_decodes_known_values(void) {
    CHECK(rms_f16_to_f32(0x3c00) == 1.0f);
    CHECK(rms_f16_to_f32(0xc000) == -2.0f);
    CHECK(rms_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(rms_f16_to_f32(0x0400) == 0x1p-14f);
    CHECK(rms_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(rms_f16_to_f32(0x83ff) == -1023 * 0x1p-24f);
    CHECK(rms_f16_to_f32(0x7c00) == INFINITY);
    CHECK(rms_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(isnan(rms_f16_to_f32(0x7e00)) && isnan(rms_f16_to_f32(0x7c01)));
    CHECK(rms_f16_to_f32(0x8000) == 0.0f && signbit(rms_f16_to_f32(0x8000)));
}

static void test_f16_round_trips_every_bit_pattern(void) {
    int bad = 0;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = rms_f16_to_f32((uint16_t)h);
        uint16_t back = rms_f32_to_f16(f);
        if (isnan(f) ? !isnan(rms_f16_to_f32(back)) : back != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_f16_rounds_to_nearest_even_in_normal_and_subnormal_range(void) {
    CHECK_EQ_INT(rms_f32_to_f16(0x1p-25f), 0x0000);            /* tie between 0 and 1 unit */
    CHECK_EQ_INT(rms_f32_to_f16(3 * 0x1p-25f), 0x0002);        /* tie between 1 and 2 units */
    CHECK_EQ_INT(rms_f32_to_f16(0x1p-25f * 1.0000001f), 0x0001);
    CHECK_EQ_INT(rms_f32_to_f16(-0x1p-26f), 0x8000);
    CHECK_EQ_INT(rms_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);     /* tie, down to even */
    CHECK_EQ_INT(rms_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie, up to even */
    CHECK_EQ_INT(rms_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400); /* rounds up into the normals */
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        /* exponents around the f16 range: |x| in about [2^-30, 2^17] */
        uint32_t u = next_random(&seed);
        u = (u & 0x807fffffu) | ((97u + (u >> 23) % 48u) << 23);
        float x = float_of(u);
        if (rms_f16_to_f32(rms_f32_to_f16(x)) != reference_f16_round(x)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_f16_overflow_gives_inf_and_nan_stays_nan(void) {
    CHECK_EQ_INT(rms_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(rms_f32_to_f16(65519.996f), 0x7bff);
    CHECK_EQ_INT(rms_f32_to_f16(65520.0f), 0x7c00); /* the tie rounds to even: inf */
    CHECK_EQ_INT(rms_f32_to_f16(-1e10f), 0xfc00);
    CHECK_EQ_INT(rms_f32_to_f16(INFINITY), 0x7c00);
    CHECK(isnan(rms_f16_to_f32(rms_f32_to_f16(NAN))));
    CHECK(isnan(rms_f16_to_f32(rms_f32_to_f16(float_of(0x7f800001))))); /* payload in low bits */
}

static void test_bulk_bf16_conversion_matches_the_scalar_one_from_an_unaligned_source(void) {
    enum { N = 65536 };
    uint8_t *src = malloc(2 * N + 1);
    float *dst = malloc(N * sizeof *dst);
    for (uint32_t h = 0; h < N; h++) memcpy(src + 1 + 2 * h, &(uint16_t){(uint16_t)h}, 2);
    rms_convert_to_f32(dst, src + 1, RMS_DTYPE_BF16, N);
    int bad = 0;
    for (uint32_t h = 0; h < N; h++) bad += bits_of(dst[h]) != bits_of(rms_bf16_to_f32((uint16_t)h));
    CHECK_EQ_INT(bad, 0);
    free(src);
    free(dst);
}

static void test_bulk_f16_and_f32_conversions_read_unaligned_sources(void) {
    const float values[5] = {1.5f, -2.25f, 0x1p-20f, 65504.0f, 0.0f};
    uint8_t buf[1 + 5 * 4];
    float out[5];
    rms_convert_from_f32(buf + 1, values, RMS_DTYPE_F16, 5);
    rms_convert_to_f32(out, buf + 1, RMS_DTYPE_F16, 5);
    for (int i = 0; i < 5; i++) CHECK(out[i] == rms_f16_to_f32(rms_f32_to_f16(values[i])));
    rms_convert_from_f32(buf + 1, values, RMS_DTYPE_F32, 5);
    rms_convert_to_f32(out, buf + 1, RMS_DTYPE_F32, 5);
    CHECK(memcmp(out, values, sizeof values) == 0);
}

static void test_bulk_conversion_to_bf16_rounds_like_the_scalar_one(void) {
    const float values[4] = {1.0f + 0x1p-8f, 3.14159265f, -1e-3f, NAN};
    uint16_t h[4];
    float back[4];
    rms_convert_from_f32(h, values, RMS_DTYPE_BF16, 4);
    rms_convert_to_f32(back, h, RMS_DTYPE_BF16, 4);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(h[i], rms_f32_to_bf16(values[i]));
    CHECK_NEAR(back[1], 3.14159265, 0.01);
    CHECK(isnan(back[3]));
    rms_convert_to_f32(back, h, RMS_DTYPE_BF16, 0); /* n == 0 is a no-op */
}

int main(void) {
    RUN(test_sizes_names_and_parsing_agree);
    RUN(test_bf16_widening_is_a_sixteen_bit_shift);
    RUN(test_bf16_rounds_to_nearest_even);
    RUN(test_bf16_keeps_nan_and_overflows_to_inf);
    RUN(test_f16_decodes_known_values);
    RUN(test_f16_round_trips_every_bit_pattern);
    RUN(test_f16_rounds_to_nearest_even_in_normal_and_subnormal_range);
    RUN(test_f16_overflow_gives_inf_and_nan_stays_nan);
    RUN(test_bulk_bf16_conversion_matches_the_scalar_one_from_an_unaligned_source);
    RUN(test_bulk_f16_and_f32_conversions_read_unaligned_sources);
    RUN(test_bulk_conversion_to_bf16_rounds_like_the_scalar_one);
    return check_summary();
}
