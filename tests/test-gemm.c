/* Unit tests of src/engine/gemm.c: every kernel this CPU can run gives exactly (bitwise) the accumulation
 * chain it promises (the scalar rms_gemm_reference), whatever the shapes, strides, threads and the other
 * rows of the call; the bf16 kernel is checked against float64 within fp32 accumulation error. */
#include "tests/check.h"
#include "src/base/rng.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"

#include <stdatomic.h>
#include <stdint.h>

static float *rand_floats(int64_t n, float a, uint64_t seed) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    rms_rng r;
    rms_rng_seed(&r, seed, "gemm");
    rms_rng_uniform(&r, x, n, a);
    return x;
}

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static void select_kernel(rms_kernel k) {
    rms_err err;
    CHECK(rms_gemm_select(rms_kernel_name(k), &err) == RMS_OK);
    CHECK(rms_gemm_kernel() == k);
}

/* B (n, k) in dtype, rows layout with row stride ld >= k, from random values. */
typedef struct bmat {
    void *data;
    rms_gemm_b b;
} bmat;

static bmat make_b(rms_dtype dt, int64_t n, int64_t k, int64_t ld, int cols, uint64_t seed) {
    const int64_t count = cols ? k * ld : n * ld;
    float *f = rand_floats(count, 0.5f, seed);
    bmat m;
    m.data = malloc((size_t)(count > 0 ? count : 1) * rms_dtype_size(dt));
    rms_convert_from_f32(m.data, f, dt, count);
    free(f);
    const rms_gemm_b b = {m.data, dt, n, k, ld, cols};
    m.b = b;
    return m;
}

/* The serial and the threaded products of one kernel equal the scalar chain bit for bit. */
static void check_shape(rms_kernel kern, rms_dtype dt, int cols, int64_t m, int64_t n, int64_t k, int64_t pad) {
    const int64_t ldx = k + pad, ldy = n + pad, ldb = (cols ? n : k) + pad;
    bmat B = make_b(dt, n, k, ldb, cols, (uint64_t)(m * 131 + n * 7 + k));
    float *x = rand_floats(m * ldx, 1.0f, 3);
    float *y = rand_floats(m * ldy, 9.0f, 4), *ref = malloc((size_t)(m * ldy + 1) * sizeof *ref);
    memcpy(ref, y, (size_t)(m * ldy) * sizeof *y); // the padding columns must survive untouched
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    rms_gemm_reference(ref, ldy, x, ldx, m, &B.b, kern);
    rms_gemm_serial(y, ldy, x, ldx, m, &B.b, pack);
    const int ok = same_bits(y, ref, m * ldy);
    if (!ok)
        fprintf(stderr, "  %s %s%s m=%lld n=%lld k=%lld pad=%lld: serial differs from the scalar chain\n",
                rms_kernel_name(kern), rms_dtype_name(dt), cols ? " cols" : "", (long long)m, (long long)n,
                (long long)k, (long long)pad);
    CHECK(ok);
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    rms_err err;
    CHECK(rms_gemm_ctx_reserve(&g, m, k, &err) == RMS_OK);
    float *yt = malloc((size_t)(m * ldy + 1) * sizeof *yt);
    memcpy(yt, y, (size_t)(m * ldy) * sizeof *y);
    for (int64_t i = 0; i < m; i++) memset(yt + i * ldy, 0xff, (size_t)n * sizeof *yt); // NaN garbage to overwrite
    rms_gemm(&g, yt, ldy, x, ldx, m, &B.b, 0);
    CHECK(same_bits(yt, ref, m * ldy));
    rms_gemm_ctx_free(&g);
    free(B.data); free(x); free(y); free(ref); free(yt); free(pack);
}

static void check_kernel(rms_kernel kern) {
    select_kernel(kern);
    static const int64_t ms[] = {1, 5, 13, 40};
    static const int64_t ns[] = {1, 7, 33, 300};
    static const int64_t ks[] = {1, 17, 300, 513}; // 300, 513: several k blocks, the last partial
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 4; c++) {
                check_shape(kern, RMS_DTYPE_F32, 0, ms[a], ns[b], ks[c], 0);
                check_shape(kern, RMS_DTYPE_BF16, 0, ms[a], ns[b], ks[c], (int64_t)(a + b) % 3);
            }
    check_shape(kern, RMS_DTYPE_F16, 0, 9, 20, 70, 1);
    check_shape(kern, RMS_DTYPE_F32, 1, 13, 64, 300, 0); // B read as columns (attention's P·V)
    check_shape(kern, RMS_DTYPE_F32, 1, 3, 130, 17, 5);
}

static void test_every_kernel_this_cpu_runs_computes_its_scalar_chain_bitwise(void) {
    int ran = 0;
    for (int k = RMS_KERNEL_GENERIC; k <= RMS_KERNEL_AVX512; k++)
        if (rms_kernel_supported((rms_kernel)k)) {
            check_kernel((rms_kernel)k);
            ran++;
        } else {
            fprintf(stderr, "  (this CPU cannot run the %s kernels: not tested here)\n", rms_kernel_name((rms_kernel)k));
        }
    CHECK(ran >= 1);
    CHECK(rms_kernel_supported(RMS_KERNEL_GENERIC));
}

/* Row r of a product is the same bits whether computed alone, among other rows at any position, with
 * 1, 2 or 3 threads. */
static void check_row_invariance(rms_kernel kern, int bf16) {
    select_kernel(kern);
    const int64_t n = 700, k = 520, m = 29;
    bmat B = make_b(RMS_DTYPE_BF16, n, k, k, 0, 11);
    float *x = rand_floats(m * k, 1.0f, 12);
    float *all = malloc((size_t)(m * n) * sizeof *all), *one = malloc((size_t)n * sizeof *one);
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    rms_err err;
    int ok = 1;
    for (int threads = 1; threads <= 3; threads++) {
        CHECK(rms_parallel_init(threads, &err) == RMS_OK);
        CHECK(rms_gemm_ctx_reserve(&g, m, k, &err) == RMS_OK);
        for (int64_t m_used = m; m_used >= 1; m_used -= 7) {
            rms_gemm(&g, all, n, x, k, m_used, &B.b, bf16);
            for (int64_t r = 0; r < m_used; r++) {
                rms_gemm(&g, one, n, x + r * k, k, 1, &B.b, bf16);
                ok &= same_bits(one, all + r * n, n);
            }
        }
    }
    if (!ok) fprintf(stderr, "  %s bf16=%d: a row depends on the rows beside it or on threads\n", rms_kernel_name(kern), bf16);
    CHECK(ok);
    CHECK(rms_parallel_init(1, &err) == RMS_OK);
    rms_gemm_ctx_free(&g);
    free(B.data); free(x); free(all); free(one);
}

static void test_a_row_does_not_depend_on_the_other_rows_or_the_thread_count(void) {
    for (int k = RMS_KERNEL_GENERIC; k <= RMS_KERNEL_AVX512; k++)
        if (rms_kernel_supported((rms_kernel)k)) {
            check_row_invariance((rms_kernel)k, 0);
            check_row_invariance((rms_kernel)k, 1);
        }
}

static void test_avx2_and_avx512_kernels_give_the_same_bits(void) {
    if (!rms_kernel_supported(RMS_KERNEL_AVX512) || !rms_kernel_supported(RMS_KERNEL_AVX2)) {
        fprintf(stderr, "  (needs both avx2 and avx512: compared with the scalar chain above instead)\n");
        return;
    }
    const int64_t m = 17, n = 90, k = 700;
    bmat B = make_b(RMS_DTYPE_BF16, n, k, k, 0, 21);
    float *x = rand_floats(m * k, 1.0f, 22), *y2 = malloc((size_t)(m * n) * sizeof *y2);
    float *y5 = malloc((size_t)(m * n) * sizeof *y5);
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    select_kernel(RMS_KERNEL_AVX2);
    rms_gemm_serial(y2, n, x, k, m, &B.b, pack);
    select_kernel(RMS_KERNEL_AVX512);
    rms_gemm_serial(y5, n, x, k, m, &B.b, pack);
    CHECK(same_bits(y2, y5, m * n));
    free(B.data); free(x); free(y2); free(y5); free(pack);
}

/* bf16 compute: with AVX512_BF16 the dot-product kernel, within fp32 accumulation error of the float64
 * product of the bf16-rounded inputs; without, exactly the fp32 kernel on bf16-rounded inputs. */
static void test_bf16_compute_multiplies_bf16_rounded_inputs(void) {
    rms_err err;
    CHECK(rms_gemm_select(NULL, &err) == RMS_OK);
    const int64_t m = 23, n = 75, k = 611; // odd k: the last pair is padded
    bmat B = make_b(RMS_DTYPE_BF16, n, k, k, 0, 31);
    float *x = rand_floats(m * k, 1.0f, 32), *xr = malloc((size_t)(m * k) * sizeof *xr);
    for (int64_t i = 0; i < m * k; i++) xr[i] = rms_bf16_to_f32(rms_f32_to_bf16(x[i]));
    float *y = malloc((size_t)(m * n) * sizeof *y), *yf = malloc((size_t)(m * n) * sizeof *yf);
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    CHECK(rms_gemm_ctx_reserve(&g, m, k, &err) == RMS_OK);
    rms_gemm(&g, y, n, x, k, m, &B.b, 1);
    rms_gemm(&g, yf, n, xr, k, m, &B.b, 0);
    if (rms_gemm_bf16_dot()) {
        const uint16_t *w = B.data;
        int ok = 1;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0.0, mag = 0.0;
                for (int64_t c = 0; c < k; c++) {
                    const double t = (double)xr[i * k + c] * rms_bf16_to_f32(w[j * k + c]);
                    acc += t;
                    mag += fabs(t);
                }
                ok &= fabs(y[i * n + j] - acc) <= 2.0 * (double)k * 6e-8 * mag;
            }
        CHECK(ok);
        CHECK(!same_bits(y, yf, m * n)); // the dot products sum in pairs: a different chain from the fp32 kernel
    } else {
        fprintf(stderr, "  (no AVX512_BF16 with the %s kernels: bf16 runs the fp32 kernel)\n",
                rms_kernel_name(rms_gemm_kernel()));
        CHECK(same_bits(y, yf, m * n));
    }
    rms_gemm_ctx_free(&g);
    free(B.data); free(x); free(xr); free(y); free(yf);
}

static void test_selecting_an_unknown_or_unsupported_kernel_is_an_error(void) {
    rms_err err;
    CHECK(rms_gemm_select("sse9", &err) == RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "unknown kernel");
    if (!rms_kernel_supported(RMS_KERNEL_AVX512)) {
        CHECK(rms_gemm_select("avx512", &err) == RMS_ERR_ARG);
        CHECK_CONTAINS(err.msg, "cannot run");
    }
    CHECK(rms_gemm_select("generic", &err) == RMS_OK);
    CHECK(rms_gemm_kernel() == RMS_KERNEL_GENERIC);
    CHECK(rms_gemm_select("auto", &err) == RMS_OK);
    CHECK(rms_gemm_kernel() != RMS_KERNEL_GENERIC || !rms_kernel_supported(RMS_KERNEL_AVX2));
}

static void test_a_kernel_failing_its_self_test_is_skipped_or_refused(void) {
    rms_err err;
    char saved[64] = "";
    const char *env = getenv("RMSCORE_KERNEL");
    if (env) snprintf(saved, sizeof saved, "%s", env);
    unsetenv("RMSCORE_KERNEL");
    CHECK(rms_gemm_select(NULL, &err) == RMS_OK);
    const rms_kernel best = rms_gemm_kernel();
    if (best == RMS_KERNEL_GENERIC) {
        fprintf(stderr, "  (only the portable kernels run here: nothing to fall back from)\n");
    } else {
        setenv("RMSCORE_KERNEL_SELFTEST_FAIL", rms_kernel_name(best), 1);
        CHECK(rms_gemm_select(NULL, &err) == RMS_OK); // warns on stderr
        CHECK(rms_gemm_kernel() < best);
        CHECK(rms_gemm_select(rms_kernel_name(best), &err) == RMS_ERR_UNSUPPORTED);
        CHECK_CONTAINS(err.msg, "failed their self-test");
        unsetenv("RMSCORE_KERNEL_SELFTEST_FAIL");
        CHECK(rms_gemm_select(NULL, &err) == RMS_OK);
        CHECK(rms_gemm_kernel() == best);
    }
    if (saved[0]) setenv("RMSCORE_KERNEL", saved, 1);
}

static void count_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    atomic_fetch_add((_Atomic int64_t *)ctx + task, 1);
}

static void test_the_pool_runs_every_task_exactly_once(void) {
    rms_err err;
    static _Atomic int64_t hits[1000];
    for (int threads = 1; threads <= 4; threads++) {
        CHECK(rms_parallel_init(threads, &err) == RMS_OK);
        CHECK(rms_parallel_threads() == threads);
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < 1000; i++) hits[i] = 0;
            rms_parallel_run(1000, count_task, (void *)hits);
            int ok = 1;
            for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
            CHECK(ok);
        }
    }
    rms_parallel_free();
    CHECK(rms_parallel_threads() == 1);
}

/* Runs body(ctx, g, bf16) for every kernel this CPU runs, with 1 and 3 threads, in fp32 and bf16 compute, g
 * reserved for x of up to (m, k); returns how many configurations ran. */
static int for_each_config(rms_gemm_ctx *g, int64_t m, int64_t k, void (*body)(void *, rms_gemm_ctx *, int),
                           void *ctx) {
    rms_err err;
    int cases = 0;
    for (int kern = RMS_KERNEL_GENERIC; kern <= RMS_KERNEL_AVX512; kern++) {
        if (!rms_kernel_supported((rms_kernel)kern)) continue;
        select_kernel((rms_kernel)kern);
        for (int threads = 1; threads <= 3; threads += 2)
            for (int bf16 = 0; bf16 <= 1; bf16++) {
                CHECK(rms_parallel_init(threads, &err) == RMS_OK);
                CHECK(rms_gemm_ctx_reserve(g, m, k, &err) == RMS_OK);
                body(ctx, g, bf16);
                cases++;
            }
    }
    CHECK(rms_parallel_init(1, &err) == RMS_OK);
    return cases;
}

/* rms_gemm_multi (x packed once for several B) gives each product the bits rms_gemm gives it alone, for every
 * kernel, fp32 and bf16 compute, 1 and 3 threads; B of different widths (below and above a column block), more
 * than RMS_GEMM_MAX_MULTI of them, and a B of another k (computed alone). */
typedef struct multi_case {
    int nb;
    int64_t m, k;
    const float *x;
    const rms_gemm_b *bs;
    float **ym, **ya;
    const int64_t *ldy;
    int ok;
} multi_case;

static void multi_body(void *ctx, rms_gemm_ctx *g, int bf16) {
    multi_case *c = ctx;
    for (int o = 0; o < c->nb; o++) {
        for (int64_t i = 0; i < c->m * c->ldy[o]; i++) c->ym[o][i] = c->ya[o][i] = (float)i;
        rms_gemm(g, c->ya[o], c->ldy[o], c->x, c->k, c->m, &c->bs[o], bf16);
    }
    rms_gemm_multi(g, c->nb, c->ym, c->ldy, c->x, c->k, c->m, c->bs, bf16);
    for (int o = 0; o < c->nb; o++) c->ok &= same_bits(c->ym[o], c->ya[o], c->m * c->ldy[o]);
}

static void test_several_products_of_one_x_equal_the_products_alone(void) {
    enum { NB = 6 };
    const int64_t m = 31, k = 136, ns[NB] = {300, 40, 40, 129, 7, 64};
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    float *x = rand_floats(m * (k + 8), 1.0f, 21);
    bmat B[NB];
    rms_gemm_b bs[NB];
    float *ym[NB], *ya[NB];
    int64_t ldy[NB];
    for (int o = 0; o < NB; o++) {
        const int64_t ko = o == NB - 1 ? k + 8 : k; // the last one has another k: computed alone
        B[o] = make_b(RMS_DTYPE_BF16, ns[o], ko, ko, 0, 30 + (uint64_t)o);
        bs[o] = B[o].b;
        ldy[o] = ns[o] + o; // strides past the width: the gaps must stay untouched
        ym[o] = malloc((size_t)(m * ldy[o]) * sizeof(float));
        ya[o] = malloc((size_t)(m * ldy[o]) * sizeof(float));
    }
    multi_case c = {NB, m, k + 8, x, bs, ym, ya, ldy, 1};
    CHECK(for_each_config(&g, m, k + 8, multi_body, &c) >= 4);
    if (!c.ok) fprintf(stderr, "  a product of rms_gemm_multi differs from the same product alone\n");
    CHECK(c.ok);
    rms_gemm_ctx_free(&g);
    for (int o = 0; o < NB; o++) {
        free(B[o].data);
        free(ym[o]);
        free(ya[o]);
    }
    free(x);
}

/* An epilogue whose result depends on both inputs and on the order of operations. */
static void epi_test(float *a, const float *c, int64_t n) {
    for (int64_t j = 0; j < n; j++) a[j] = a[j] * 0.75f - c[j] / (1.0f + a[j] * a[j]);
}

typedef struct pair_case {
    int64_t m, k, n, ldy;
    const float *x;
    const rms_gemm_b *b1, *b2;
    float *y, *y2, *r, *r2;
    int ok;
} pair_case;

static void pair_body(void *ctx, rms_gemm_ctx *g, int bf16) {
    pair_case *c = ctx;
    for (int64_t i = 0; i < c->m * c->ldy; i++) c->y[i] = c->y2[i] = c->r[i] = c->r2[i] = (float)i;
    rms_gemm(g, c->r, c->ldy, c->x, c->k, c->m, c->b1, bf16);
    rms_gemm(g, c->r2, c->ldy, c->x, c->k, c->m, c->b2, bf16);
    for (int64_t i = 0; i < c->m; i++) epi_test(c->r + i * c->ldy, c->r2 + i * c->ldy, c->n);
    rms_gemm_pair(g, c->y, c->y2, c->ldy, c->x, c->k, c->m, c->b1, c->b2, epi_test, bf16);
    c->ok &= same_bits(c->y, c->r, c->m * c->ldy) && same_bits(c->y2, c->r2, c->m * c->ldy);
}

/* rms_gemm_pair gives the bits of two rms_gemm calls and the epilogue on every row: every kernel, fp32 and bf16,
 * 1 and 3 threads, widths below, at and above a pair's column block, k across two blocks. */
static void test_a_pair_of_products_with_its_epilogue_equals_the_steps_alone(void) {
    const int64_t m = 29, k = 600, ns[3] = {40, 64, 333};
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    float *x = rand_floats(m * k, 1.0f, 41);
    int ok = 1;
    for (int s = 0; s < 3; s++) {
        const int64_t n = ns[s], ldy = n + 3;
        bmat B1 = make_b(RMS_DTYPE_BF16, n, k, k, 0, 50 + (uint64_t)s), B2 = make_b(RMS_DTYPE_BF16, n, k, k, 0, 60);
        const size_t bytes = (size_t)(m * ldy) * sizeof(float);
        pair_case c = {m, k, n, ldy, x, &B1.b, &B2.b, malloc(bytes), malloc(bytes), malloc(bytes), malloc(bytes), 1};
        CHECK(for_each_config(&g, m, k, pair_body, &c) >= 4);
        ok &= c.ok;
        free(B1.data); free(B2.data); free(c.y); free(c.y2); free(c.r); free(c.r2);
    }
    if (!ok) fprintf(stderr, "  rms_gemm_pair differs from the products and the epilogue alone\n");
    CHECK(ok);
    rms_gemm_ctx_free(&g);
    free(x);
}

int main(void) {
    RUN(test_every_kernel_this_cpu_runs_computes_its_scalar_chain_bitwise);
    RUN(test_a_row_does_not_depend_on_the_other_rows_or_the_thread_count);
    RUN(test_avx2_and_avx512_kernels_give_the_same_bits);
    RUN(test_bf16_compute_multiplies_bf16_rounded_inputs);
    RUN(test_selecting_an_unknown_or_unsupported_kernel_is_an_error);
    RUN(test_a_kernel_failing_its_self_test_is_skipped_or_refused);
    RUN(test_the_pool_runs_every_task_exactly_once);
    RUN(test_several_products_of_one_x_equal_the_products_alone);
    RUN(test_a_pair_of_products_with_its_epilogue_equals_the_steps_alone);
    return check_summary();
}
