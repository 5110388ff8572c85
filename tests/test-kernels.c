/* Unit tests of src/kernels.c: each optimised kernel against its naive twin. */
#include "tests/check.h"
#include "src/engine/kernels.h"
#include "src/base/rng.h"

#include <stdint.h>

static float *rand_floats(int64_t n, float a, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof *x);
    rms_rng r;
    rms_rng_seed(&r, seed, "kernels");
    rms_rng_uniform(&r, x, n, a);
    return x;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double d = 0.0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void check_linear(rms_dtype dt, int64_t m, int64_t rows, int64_t cols) {
    float *wf = rand_floats(rows * cols, 0.5f, 7);
    void *wd = malloc((size_t)(rows * cols) * rms_dtype_size(dt));
    rms_convert_from_f32(wd, wf, dt, rows * cols);
    const rms_weight w = {.data = wd, .dtype = dt, .rows = rows, .cols = cols};
    float *x = rand_floats(m * cols, 1.0f, 9);
    float *y = malloc((size_t)(m * rows) * sizeof *y), *y_ref = malloc((size_t)(m * rows) * sizeof *y_ref);
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    rms_err err;
    CHECK(rms_gemm_ctx_reserve(&g, m, cols, &err) == RMS_OK);
    rms_linear_naive(y_ref, x, m, &w);
    rms_linear(&g, y, x, m, &w, 0);
    CHECK(max_abs_diff(y, y_ref, m * rows) < 1e-4 * sqrt((double)cols));
    rms_gemm_ctx_free(&g);
    free(wf); free(wd); free(x); free(y); free(y_ref);
}

static void test_linear_matches_naive_for_every_weight_dtype(void) {
    check_linear(RMS_DTYPE_F32, 5, 7, 33);
    check_linear(RMS_DTYPE_BF16, 5, 7, 33);
    check_linear(RMS_DTYPE_F16, 3, 9, 16);
    check_linear(RMS_DTYPE_BF16, 3, 600, 2100); // several column and k blocks, the last ones partial
}

static void test_linear_rounds_inputs_to_bf16_in_bf16_mode(void) {
    const float x[2] = {1.0f + 1.0f / 512.0f, 3.0f}; // 1 + 2^-9 is not a bf16 value
    const float wv[2] = {1.0f, 0.0f};
    const rms_weight w = {.data = wv, .dtype = RMS_DTYPE_F32, .rows = 1, .cols = 2};
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    rms_err err;
    CHECK(rms_gemm_ctx_reserve(&g, 1, 2, &err) == RMS_OK);
    float y;
    rms_linear(&g, &y, x, 1, &w, 1);
    CHECK(y == 1.0f);
    rms_linear(&g, &y, x, 1, &w, 0);
    CHECK(y == x[0]); // fp32 mode keeps it
    rms_gemm_ctx_free(&g);
}

static void test_rmsnorm_scales_each_row_to_unit_rms_times_weight(void) {
    const float x[6] = {3, 4, 0, 1, 1, 1};
    const float w[3] = {1, 2, 0.5f};
    float out[6];
    rms_rmsnorm(out, x, w, 2, 3, 0.0);
    const double r0 = sqrt((9.0 + 16.0) / 3.0);
    CHECK_NEAR(out[0], 3.0 / r0, 1e-6);
    CHECK_NEAR(out[1], 2.0 * 4.0 / r0, 1e-6);
    CHECK_NEAR(out[2], 0.0, 1e-7);
    CHECK_NEAR(out[4], 2.0, 1e-6);
}

static void test_rope_llama3_scaling_keeps_high_scales_low_and_blends_medium_frequencies(void) {
    const int64_t d = 128;
    double plain[64], scaled[64];
    rms_rope_params p = {.theta = 500000.0, .llama3 = 0};
    rms_rope_inv_freq(plain, d, &p);
    p.llama3 = 1;
    p.factor = 8.0;
    p.low_freq_factor = 1.0;
    p.high_freq_factor = 4.0;
    p.original_max_position = 8192.0;
    rms_rope_inv_freq(scaled, d, &p);
    CHECK_NEAR(plain[0], 1.0, 0.0);
    CHECK_NEAR(plain[1], pow(500000.0, -2.0 / 128.0), 1e-15);
    int n_high = 0, n_low = 0, n_mid = 0;
    for (int i = 0; i < 64; i++) {
        const double wavelen = 2 * M_PI / plain[i];
        if (wavelen < 8192.0 / 4.0) {
            CHECK(scaled[i] == plain[i]);
            n_high++;
        } else if (wavelen > 8192.0) {
            CHECK_NEAR(scaled[i], plain[i] / 8.0, 1e-18);
            n_low++;
        } else {
            const double s = (8192.0 / wavelen - 1.0) / 3.0;
            CHECK_NEAR(scaled[i], (1 - s) * plain[i] / 8.0 + s * plain[i], 1e-15);
            CHECK(scaled[i] < plain[i] && scaled[i] > plain[i] / 8.0);
            n_mid++;
        }
    }
    CHECK(n_high > 0 && n_low > 0 && n_mid > 0);
}

static void test_rope_rotates_halves_not_interleaved_pairs(void) {
    const int64_t d = 4;
    double inv[2] = {1.0, 0.5};
    float c[3 * 2], s[3 * 2];
    rms_rope_tables(c, s, inv, d, 3);
    float x[4] = {1, 2, 3, 4}; // one token, one head, position 2
    rms_rope_apply(x, 1, 1, d, 2, c, s);
    CHECK_NEAR(x[0], 1 * cos(2.0) - 3 * sin(2.0), 1e-6);
    CHECK_NEAR(x[2], 3 * cos(2.0) + 1 * sin(2.0), 1e-6);
    CHECK_NEAR(x[1], 2 * cos(1.0) - 4 * sin(1.0), 1e-6);
    CHECK_NEAR(x[3], 4 * cos(1.0) + 2 * sin(1.0), 1e-6);
}

static void check_attention(int64_t n, int64_t heads, int64_t kv, int64_t hd) {
    float *q = rand_floats(n * heads * hd, 2.0f, 1), *k = rand_floats(n * kv * hd, 2.0f, 2);
    float *v = rand_floats(n * kv * hd, 1.0f, 3);
    float *out = malloc((size_t)(n * heads * hd) * sizeof *out), *ref = malloc((size_t)(n * heads * hd) * sizeof *ref);
    float *scratch = malloc((size_t)rms_attention_scratch_floats(n) * sizeof *scratch);
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    rms_attention(out, q, k, v, n, heads, kv, hd, scratch, pack);
    rms_attention_naive(ref, q, k, v, n, heads, kv, hd);
    const double d = max_abs_diff(out, ref, n * heads * hd);
    if (d >= 2e-5) fprintf(stderr, "  attention n=%lld heads=%lld kv=%lld: max diff %g\n", (long long)n,
                           (long long)heads, (long long)kv, d);
    CHECK(d < 2e-5);
    free(q); free(k); free(v); free(out); free(ref); free(scratch); free(pack);
}

static void test_attention_matches_naive_for_gqa_mha_and_mqa(void) {
    check_attention(7, 4, 2, 8);
    check_attention(7, 4, 4, 8);
    check_attention(7, 4, 1, 8);
}

static void test_attention_is_causal_across_query_blocks(void) {
    check_attention(1, 2, 1, 4);
    check_attention(300, 2, 1, 16); // 128-row query blocks: 3 blocks, the last partial
}

/* Queries p0 .. n-1 of one head computed on their own (the last token alone, or a continuation after a
 * prefix of p0 tokens) give the same bits as those rows of the whole sequence's attention. */
static void check_attention_rows(int64_t n, int64_t p0, int64_t hd) {
    float *q = rand_floats(n * hd, 2.0f, 4), *k = rand_floats(n * hd, 2.0f, 5), *v = rand_floats(n * hd, 1.0f, 6);
    float *full = malloc((size_t)(n * hd) * sizeof *full), *part = malloc((size_t)(n * hd) * sizeof *part);
    float *scratch = malloc((size_t)rms_attention_scratch_floats(n) * sizeof *scratch);
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    rms_attention_head(full, hd, q, hd, n, 0, k, v, hd, n, hd, scratch, pack);
    rms_attention_head(part, hd, q + p0 * hd, hd, n - p0, p0, k, v, hd, n, hd, scratch, pack);
    const int same = memcmp(part, full + p0 * hd, (size_t)((n - p0) * hd) * sizeof *part) == 0;
    if (!same) fprintf(stderr, "  attention rows %lld.. of %lld differ from the whole sequence's\n", (long long)p0,
                       (long long)n);
    CHECK(same);
    // and they are those rows: the row before differs
    if (p0 > 0) CHECK(max_abs_diff(part, full + (p0 - 1) * hd, hd) > 1e-3);
    free(q); free(k); free(v); free(full); free(part); free(scratch); free(pack);
}

static void test_the_last_token_or_a_continuation_alone_gets_the_bits_of_the_whole_sequence(void) {
    check_attention_rows(1, 0, 4);
    check_attention_rows(7, 6, 8);
    check_attention_rows(300, 299, 16);
    check_attention_rows(300, 100, 64); // a continuation after a shared prefix, across query blocks
    check_attention_rows(300, 128, 64);
    check_attention_rows(40, 3, 128);
}

static void test_attention_first_token_sees_only_itself(void) {
    float q[2 * 4], k[2 * 4], v[2 * 4], out[2 * 4];
    for (int i = 0; i < 8; i++) { q[i] = (float)i; k[i] = (float)(8 - i); v[i] = (float)(i * i); }
    float scratch[4];
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    rms_attention(out, q, k, v, 2, 1, 1, 4, scratch, pack);
    for (int d = 0; d < 4; d++) CHECK(out[d] == v[d]);
    free(pack);
}

static void test_silu_mul_matches_definition(void) {
    float g[3] = {-2.0f, 0.0f, 3.0f};
    const float u[3] = {1.5f, 2.0f, -1.0f};
    rms_silu_mul(g, u, 3);
    CHECK_NEAR(g[0], -2.0 / (1.0 + exp(2.0)) * 1.5, 1e-6);
    CHECK_NEAR(g[1], 0.0, 0.0);
    CHECK_NEAR(g[2], 3.0 / (1.0 + exp(-3.0)) * -1.0, 1e-6);
}

/* rms_expf against double exp: within 2 ulp where e^x is a normal float, 0 / +inf / NaN outside; and the same bits
 * computed in a long (vectorised) loop as one by one. */
static void test_expf_is_within_two_ulp_of_exp(void) {
    double worst = 0.0;
    for (int64_t i = 0; i <= 2000000; i++) {
        const float x = -86.5f + (float)((double)i * (88.7 + 86.5) / 2000000.0);
        const double ref = exp((double)x), got = rms_expf(x);
        const double ulp = ldexp(1.0, ilogb(ref) - 23);
        const double e = fabs(got - ref) / ulp;
        worst = e > worst ? e : worst;
    }
    fprintf(stderr, "  rms_expf: worst error %.2f ulp\n", worst);
    CHECK(worst <= 2.0);
    CHECK(rms_expf(0.0f) == 1.0f);
    CHECK(rms_expf(-100.0f) == 0.0f);
    CHECK(rms_expf(-INFINITY) == 0.0f);
    CHECK(isinf(rms_expf(89.0f)) && isinf(rms_expf(INFINITY)));
    CHECK(isnan(rms_expf(NAN)));
}

static void test_silu_mul_of_many_values_is_the_elementwise_result(void) {
    enum { N = 4099 };
    float *g = malloc(N * sizeof *g), *u = malloc(N * sizeof *u), *one = malloc(N * sizeof *one);
    for (int i = 0; i < N; i++) {
        g[i] = one[i] = (float)(i - N / 2) * 0.013f;
        u[i] = 1.0f + (float)(i % 17) * 0.25f;
    }
    rms_silu_mul(g, u, N);
    int same = 1;
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        rms_silu_mul(&one[i], &u[i], 1);
        same &= memcmp(&one[i], &g[i], sizeof(float)) == 0;
        const double x = (double)(i - N / 2) * 0.013f;
        const double ref = x / (1.0 + exp(-x)) * u[i];
        worst = fmax(worst, fabs(g[i] - ref) / fmax(fabs(ref), 1e-30));
    }
    CHECK(same);
    CHECK(worst < 1e-6);
    free(g); free(u); free(one);
}

int main(void) {
    RUN(test_linear_matches_naive_for_every_weight_dtype);
    RUN(test_linear_rounds_inputs_to_bf16_in_bf16_mode);
    RUN(test_rmsnorm_scales_each_row_to_unit_rms_times_weight);
    RUN(test_rope_llama3_scaling_keeps_high_scales_low_and_blends_medium_frequencies);
    RUN(test_rope_rotates_halves_not_interleaved_pairs);
    RUN(test_attention_matches_naive_for_gqa_mha_and_mqa);
    RUN(test_attention_is_causal_across_query_blocks);
    RUN(test_the_last_token_or_a_continuation_alone_gets_the_bits_of_the_whole_sequence);
    RUN(test_attention_first_token_sees_only_itself);
    RUN(test_silu_mul_matches_definition);
    RUN(test_expf_is_within_two_ulp_of_exp);
    RUN(test_silu_mul_of_many_values_is_the_elementwise_result);
    return check_summary();
}
