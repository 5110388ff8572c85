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
    float *scratch = malloc((size_t)(rms_linear_scratch_floats(&w) + 1) * sizeof *scratch);
    rms_linear_naive(y_ref, x, m, &w);
    rms_linear(y, x, m, &w, scratch, 0);
    CHECK(max_abs_diff(y, y_ref, m * rows) < 1e-4 * sqrt((double)cols));
    free(wf); free(wd); free(x); free(y); free(y_ref); free(scratch);
}

static void test_linear_matches_naive_for_every_weight_dtype(void) {
    check_linear(RMS_DTYPE_F32, 5, 7, 33);
    check_linear(RMS_DTYPE_BF16, 5, 7, 33);
    check_linear(RMS_DTYPE_F16, 3, 9, 16);
}

static void test_linear_converts_weights_in_several_blocks(void) {
    // 600 rows of 16384 columns do not fit one block: several blocks, the last one partial
    const rms_weight w = {.data = NULL, .dtype = RMS_DTYPE_BF16, .rows = 600, .cols = 16384};
    CHECK(rms_linear_block_rows(&w) < w.rows);
    CHECK(w.rows % rms_linear_block_rows(&w) != 0);
    check_linear(RMS_DTYPE_BF16, 3, 600, 16384);
}

static void test_linear_rounds_inputs_to_bf16_when_asked(void) {
    float x[2] = {1.0f + 1.0f / 512.0f, 3.0f};  // 1 + 2^-9 is not a bf16 value
    const float wv[2] = {1.0f, 0.0f};
    const rms_weight w = {.data = wv, .dtype = RMS_DTYPE_F32, .rows = 1, .cols = 2};
    float y;
    rms_linear(&y, x, 1, &w, NULL, 1);
    CHECK(y == 1.0f);
    CHECK(x[0] == 1.0f);
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
    rms_attention(out, q, k, v, n, heads, kv, hd, scratch);
    rms_attention_naive(ref, q, k, v, n, heads, kv, hd);
    const double d = max_abs_diff(out, ref, n * heads * hd);
    if (d >= 2e-5) fprintf(stderr, "  attention n=%lld heads=%lld kv=%lld: max diff %g\n", (long long)n,
                           (long long)heads, (long long)kv, d);
    CHECK(d < 2e-5);
    free(q); free(k); free(v); free(out); free(ref); free(scratch);
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

/* rms_attention_last against the last row of the naive full attention. */
static void check_attention_last(int64_t n, int64_t heads, int64_t kv, int64_t hd) {
    float *q = rand_floats(n * heads * hd, 2.0f, 4), *k = rand_floats(n * kv * hd, 2.0f, 5);
    float *v = rand_floats(n * kv * hd, 1.0f, 6);
    float *ref = malloc((size_t)(n * heads * hd) * sizeof *ref), *out = malloc((size_t)(heads * hd) * sizeof *out);
    float *scratch = malloc((size_t)n * sizeof *scratch);
    rms_attention_naive(ref, q, k, v, n, heads, kv, hd);
    rms_attention_last(out, q + (n - 1) * heads * hd, k, v, n, heads, kv, hd, scratch);
    const double d = max_abs_diff(out, ref + (n - 1) * heads * hd, heads * hd);
    if (d >= 2e-5) fprintf(stderr, "  attention_last n=%lld: max diff %g\n", (long long)n, d);
    CHECK(d < 2e-5);
    // and it is the last row: the row before differs
    CHECK(max_abs_diff(out, ref + (n > 1 ? n - 2 : 0) * heads * hd, heads * hd) > 1e-3 || n == 1);
    free(q); free(k); free(v); free(ref); free(out); free(scratch);
}

static void test_last_token_attention_is_the_last_row_of_full_attention(void) {
    check_attention_last(1, 2, 1, 4);
    check_attention_last(7, 4, 2, 8);
    check_attention_last(7, 4, 4, 8);
    check_attention_last(300, 4, 1, 16);
}

static void test_attention_first_token_sees_only_itself(void) {
    float q[2 * 4], k[2 * 4], v[2 * 4], out[2 * 4];
    for (int i = 0; i < 8; i++) { q[i] = (float)i; k[i] = (float)(8 - i); v[i] = (float)(i * i); }
    float scratch[4];
    rms_attention(out, q, k, v, 2, 1, 1, 4, scratch);
    for (int d = 0; d < 4; d++) CHECK(out[d] == v[d]);
}

static void test_silu_mul_matches_definition(void) {
    float g[3] = {-2.0f, 0.0f, 3.0f};
    const float u[3] = {1.5f, 2.0f, -1.0f};
    rms_silu_mul(g, u, 3);
    CHECK_NEAR(g[0], -2.0 / (1.0 + exp(2.0)) * 1.5, 1e-6);
    CHECK_NEAR(g[1], 0.0, 0.0);
    CHECK_NEAR(g[2], 3.0 / (1.0 + exp(-3.0)) * -1.0, 1e-6);
}

int main(void) {
    RUN(test_linear_matches_naive_for_every_weight_dtype);
    RUN(test_linear_converts_weights_in_several_blocks);
    RUN(test_linear_rounds_inputs_to_bf16_when_asked);
    RUN(test_rmsnorm_scales_each_row_to_unit_rms_times_weight);
    RUN(test_rope_llama3_scaling_keeps_high_scales_low_and_blends_medium_frequencies);
    RUN(test_rope_rotates_halves_not_interleaved_pairs);
    RUN(test_attention_matches_naive_for_gqa_mha_and_mqa);
    RUN(test_attention_is_causal_across_query_blocks);
    RUN(test_last_token_attention_is_the_last_row_of_full_attention);
    RUN(test_attention_first_token_sees_only_itself);
    RUN(test_silu_mul_matches_definition);
    return check_summary();
}
