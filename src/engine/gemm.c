#include "src/engine/gemm.h"

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/bigalloc.h"
#include "src/base/sizes.h"
#include "src/engine/parallel.h"

/* Blocking. KC: k-block (the accumulators are stored to y and reloaded between blocks; exact).
 * NCB: columns of B packed at once: KC × NCB fp32 = 256 KiB, to stay in L2 while the x tiles stream.
 * (Measured on Zen 5 at the 1B shapes: 512 × 128 ≈ 1024 × 64 ≈ 512 × 256 > 256 × 256 by ~8%.) */
#define KC 512
#define NCB 128
#define MAX_MR 12
#define MAX_NR 32

/* y[0:mr, 0:nvalid] (=|+=) x · panelᵀ over kc steps. x: a packed tile of the rows, (kc, MR) (bf16: (kc/2, MR, 2));
 * panel: (kc, NR) (bf16: (kc/2, NR, 2)). */
typedef void (*ukr_fn)(int mr, int64_t kc, const void *x, const void *wp, float *y, int64_t ldy, int nvalid,
                       int load);

typedef struct kern {
    rms_kernel id;
    int mr, nr;    // fp32 micro-tile
    ukr_fn f32;
    int mr16, nr16; // bf16 micro-tile (0: no bf16 dot products)
    ukr_fn bf16;
} kern;

/* ---- micro-kernels: y[0:mr, 0:nvalid] (=|+=) x[0:mr, 0:kc] · panelᵀ; panel (kc, nr) packed ----------------- */

/* Runs body on a full-width tile of y, or on a zero-padded copy when the panel is narrower than nr. */
#define EDGE_BEGIN(NR)                                                                                               \
    float tmp[MAX_MR * MAX_NR];                                                                                      \
    float *yy = y;                                                                                                   \
    int64_t ly = ldy;                                                                                                \
    if (nvalid < (NR)) {                                                                                             \
        if (load)                                                                                                    \
            for (int i = 0; i < mr; i++) {                                                                           \
                memcpy(tmp + i * (NR), y + i * ldy, (size_t)nvalid * sizeof(float));                                 \
                memset(tmp + i * (NR) + nvalid, 0, (size_t)((NR) - nvalid) * sizeof(float));                         \
            }                                                                                                        \
        yy = tmp;                                                                                                    \
        ly = (NR);                                                                                                   \
    }
#define EDGE_END(NR)                                                                                                 \
    if (nvalid < (NR))                                                                                               \
        for (int i = 0; i < mr; i++) memcpy(y + i * ldy, tmp + i * (NR), (size_t)nvalid * sizeof(float));

/* generic: 4 × 8, separate multiply and add (this file is built with -ffp-contract=off). */
static void ukr_generic(int mr, int64_t kc, const void *xv, const void *wpv, float *y, int64_t ldy, int nvalid,
                        int load) {
    const float *x = xv, *wp = wpv;
    EDGE_BEGIN(8)
    float acc[4][8];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 8; j++) acc[i][j] = load ? yy[i * ly + j] : 0.0f;
    for (int64_t c = 0; c < kc; c++)
        for (int i = 0; i < mr; i++) {
            const float xi = x[c * 4 + i];
            for (int j = 0; j < 8; j++) acc[i][j] = acc[i][j] + xi * wp[c * 8 + j];
        }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 8; j++) yy[i * ly + j] = acc[i][j];
    EDGE_END(8)
}

/* avx2: 6 × 16 (12 accumulators). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
avx2_body(const int mr, int64_t kc, const float *x, const float *wp, float *y, int64_t ldy, int load) {
    __m256 a0[6], a1[6];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        if (i < mr) {
            a0[i] = load ? _mm256_loadu_ps(y + i * ldy) : _mm256_setzero_ps();
            a1[i] = load ? _mm256_loadu_ps(y + i * ldy + 8) : _mm256_setzero_ps();
        }
    for (int64_t c = 0; c < kc; c++) {
        const __m256 w0 = _mm256_load_ps(wp + c * 16), w1 = _mm256_load_ps(wp + c * 16 + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            if (i < mr) {
                const __m256 xb = _mm256_broadcast_ss(x + c * 6 + i);
                a0[i] = _mm256_fmadd_ps(xb, w0, a0[i]);
                a1[i] = _mm256_fmadd_ps(xb, w1, a1[i]);
            }
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        if (i < mr) {
            _mm256_storeu_ps(y + i * ldy, a0[i]);
            _mm256_storeu_ps(y + i * ldy + 8, a1[i]);
        }
}

__attribute__((target("avx2,fma"))) static void ukr_avx2(int mr, int64_t kc, const void *xv, const void *wpv, float *y,
                                                         int64_t ldy, int nvalid, int load) {
    const float *x = xv, *wp = wpv;
    EDGE_BEGIN(16)
    switch (mr) {
    case 1: avx2_body(1, kc, x, wp, yy, ly, load); break;
    case 2: avx2_body(2, kc, x, wp, yy, ly, load); break;
    case 3: avx2_body(3, kc, x, wp, yy, ly, load); break;
    case 4: avx2_body(4, kc, x, wp, yy, ly, load); break;
    case 5: avx2_body(5, kc, x, wp, yy, ly, load); break;
    default: avx2_body(6, kc, x, wp, yy, ly, load); break;
    }
    EDGE_END(16)
}

/* avx512: 12 × 32 (24 accumulators). */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_body(const int mr, int64_t kc, const float *x, const float *wp, float *y, int64_t ldy, int load) {
    __m512 a0[12], a1[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        if (i < mr) {
            a0[i] = load ? _mm512_loadu_ps(y + i * ldy) : _mm512_setzero_ps();
            a1[i] = load ? _mm512_loadu_ps(y + i * ldy + 16) : _mm512_setzero_ps();
        }
    for (int64_t c = 0; c < kc; c++) {
        const __m512 w0 = _mm512_load_ps(wp + c * 32), w1 = _mm512_load_ps(wp + c * 32 + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            if (i < mr) {
                const __m512 xb = _mm512_set1_ps(x[c * 12 + i]);
                a0[i] = _mm512_fmadd_ps(xb, w0, a0[i]);
                a1[i] = _mm512_fmadd_ps(xb, w1, a1[i]);
            }
    }
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        if (i < mr) {
            _mm512_storeu_ps(y + i * ldy, a0[i]);
            _mm512_storeu_ps(y + i * ldy + 16, a1[i]);
        }
}

#define CASES12(BODY, ...)                                                                                           \
    switch (mr) {                                                                                                    \
    case 1: BODY(1, __VA_ARGS__); break;                                                                             \
    case 2: BODY(2, __VA_ARGS__); break;                                                                             \
    case 3: BODY(3, __VA_ARGS__); break;                                                                             \
    case 4: BODY(4, __VA_ARGS__); break;                                                                             \
    case 5: BODY(5, __VA_ARGS__); break;                                                                             \
    case 6: BODY(6, __VA_ARGS__); break;                                                                             \
    case 7: BODY(7, __VA_ARGS__); break;                                                                             \
    case 8: BODY(8, __VA_ARGS__); break;                                                                             \
    case 9: BODY(9, __VA_ARGS__); break;                                                                             \
    case 10: BODY(10, __VA_ARGS__); break;                                                                           \
    case 11: BODY(11, __VA_ARGS__); break;                                                                           \
    default: BODY(12, __VA_ARGS__); break;                                                                           \
    }

__attribute__((target("avx512f"))) static void ukr_avx512(int mr, int64_t kc, const void *xv, const void *wpv, float *y,
                                                          int64_t ldy, int nvalid, int load) {
    const float *x = xv, *wp = wpv;
    EDGE_BEGIN(32)
    CASES12(avx512_body, kc, x, wp, yy, ly, load)
    EDGE_END(32)
}

/* avx512 + AVX512_BF16: 12 × 32; x is bf16 (rows of even length), the panel holds (kc/2, 32, 2) bf16 pairs. */
__attribute__((target("avx512f,avx512bf16"), always_inline)) static inline void
bf16_body(const int mr, int64_t kc, const uint16_t *x, const uint16_t *wp, float *y, int64_t ldy, int load) {
    __m512 a0[12], a1[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        if (i < mr) {
            a0[i] = load ? _mm512_loadu_ps(y + i * ldy) : _mm512_setzero_ps();
            a1[i] = load ? _mm512_loadu_ps(y + i * ldy + 16) : _mm512_setzero_ps();
        }
    for (int64_t cp = 0; cp < kc / 2; cp++) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(wp + cp * 64);
        const __m512bh w1 = (__m512bh)_mm512_load_si512(wp + cp * 64 + 32);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            if (i < mr) {
                int32_t pair;
                memcpy(&pair, x + (cp * 12 + i) * 2, sizeof pair);
                const __m512bh xb = (__m512bh)_mm512_set1_epi32(pair);
                a0[i] = _mm512_dpbf16_ps(a0[i], xb, w0);
                a1[i] = _mm512_dpbf16_ps(a1[i], xb, w1);
            }
    }
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        if (i < mr) {
            _mm512_storeu_ps(y + i * ldy, a0[i]);
            _mm512_storeu_ps(y + i * ldy + 16, a1[i]);
        }
}

__attribute__((target("avx512f,avx512bf16"))) static void ukr_bf16(int mr, int64_t kc, const void *xv, const void *wpv,
                                                                   float *y, int64_t ldy, int nvalid, int load) {
    const uint16_t *x = xv, *wp = wpv;
    EDGE_BEGIN(32)
    CASES12(bf16_body, kc, x, wp, yy, ly, load)
    EDGE_END(32)
}

/* ---- kernel selection ------------------------------------------------------------------------------------------ */

static const kern KERNELS[] = {
    {RMS_KERNEL_GENERIC, 4, 8, ukr_generic, 0, 0, NULL},
    {RMS_KERNEL_AVX2, 6, 16, ukr_avx2, 0, 0, NULL},
    {RMS_KERNEL_AVX512, 12, 32, ukr_avx512, 12, 32, ukr_bf16},
};
static const char *const KERNEL_NAMES[] = {"generic", "avx2", "avx512"};

static _Atomic(const kern *) chosen;

const char *rms_kernel_name(rms_kernel k) { return KERNEL_NAMES[k]; }

int rms_kernel_supported(rms_kernel k) {
    __builtin_cpu_init();
    switch (k) {
    case RMS_KERNEL_GENERIC: return 1;
    case RMS_KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case RMS_KERNEL_AVX512: return __builtin_cpu_supports("avx512f");
    }
    return 0;
}

static int cpu_bf16_dot(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

static rms_kernel best_kernel(void) {
    if (rms_kernel_supported(RMS_KERNEL_AVX512)) return RMS_KERNEL_AVX512;
    if (rms_kernel_supported(RMS_KERNEL_AVX2)) return RMS_KERNEL_AVX2;
    return RMS_KERNEL_GENERIC;
}

/* What one block of work computes: y = x · bᵀ; with b2 also y2 = x · b2ᵀ on the same columns and then
 * epi(y row, y2 row, width) on every finished row of the block. */
typedef struct block_out {
    float *y;
    int64_t ldy;
    const rms_gemm_b *b;
    float *y2;             // NULL: one product
    int64_t ldy2;
    const rms_gemm_b *b2;  // same n and k as b
    rms_gemm_epilogue epi;
} block_out;
static void gemm_block(const kern *K, int bf16, const block_out *o, const void *xp, int64_t tile_elems,
                       const float *x, int64_t ldx, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *pack);

/* Start-up self-test of kernel K: a product with edge tiles in m and n and two k blocks (bf16 weights, the
 * packing transposes included) against the scalar chain it promises, bit for bit. 1 passed; else 0 and
 * why. RMSCORE_KERNEL_SELFTEST_FAIL=<name> makes that kernel fail (for the tests). */
static int kernel_selftest(const kern *K, char *why, size_t len) {
    enum { M = 13, N = 70, KK = KC + 88 };
    const char *hook = getenv("RMSCORE_KERNEL_SELFTEST_FAIL");
    if (hook && strcmp(hook, KERNEL_NAMES[K->id]) == 0) {
        snprintf(why, len, "RMSCORE_KERNEL_SELFTEST_FAIL is set");
        return 0;
    }
    float *x = malloc(sizeof(float) * M * KK), *y = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N);
    uint16_t *w = malloc(sizeof(uint16_t) * N * KK);
    void *pack = aligned_alloc(64, (size_t)rms_gemm_pack_bytes());
    int ok = x && y && ref && w && pack;
    if (!ok) snprintf(why, len, "out of memory");
    for (int64_t i = 0; ok && i < M * KK; i++) x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    for (int64_t i = 0; ok && i < N * KK; i++) w[i] = rms_f32_to_bf16((float)((i * 40503u) % 2001) / 4000.0f - 0.25f);
    if (ok) {
        const rms_gemm_b b = {w, RMS_DTYPE_BF16, N, KK, KK, 0};
        const block_out o = {.y = y, .ldy = N, .b = &b};
        gemm_block(K, 0, &o, NULL, 0, x, KK, 0, M, 0, N, pack);
        rms_gemm_reference(ref, N, x, KK, M, &b, K->id);
        for (int64_t i = 0; ok && i < M * N; i++)
            if (memcmp(&y[i], &ref[i], sizeof(float)) != 0) {
                snprintf(why, len, "y[%lld][%lld] = %.9g where the scalar chain gives %.9g", (long long)(i / N),
                         (long long)(i % N), y[i], ref[i]);
                ok = 0;
            }
    }
    free(x);
    free(y);
    free(ref);
    free(w);
    free(pack);
    return ok;
}

rms_status rms_gemm_select(const char *name, rms_err *err) {
    const char *from = "--kernel";
    if (!name || !*name) {
        name = getenv("RMSCORE_KERNEL");
        from = "RMSCORE_KERNEL";
    }
    char why[160];
    if (name && *name && strcmp(name, "auto") != 0) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(name, KERNEL_NAMES[i]) == 0) found = i;
        if (found < 0)
            return rms_fail(err, RMS_ERR_ARG, "%s=%s: unknown kernel (generic, avx2, avx512 or auto)", from, name);
        if (!rms_kernel_supported((rms_kernel)found))
            return rms_fail(err, RMS_ERR_ARG, "%s=%s: this CPU cannot run the %s kernels", from, name, name);
        if (!kernel_selftest(&KERNELS[found], why, sizeof why))
            return rms_fail(err, RMS_ERR_UNSUPPORTED, "%s=%s: the %s kernels failed their self-test (%s)", from, name,
                            name, why);
        atomic_store(&chosen, &KERNELS[found]);
        return RMS_OK;
    }
    // the best kernels the CPU runs that pass their self-test; the portable ones last
    for (int k = (int)best_kernel(); k >= 0; k--) {
        if (!rms_kernel_supported((rms_kernel)k)) continue;
        if (k == RMS_KERNEL_GENERIC || kernel_selftest(&KERNELS[k], why, sizeof why)) {
            atomic_store(&chosen, &KERNELS[k]);
            return RMS_OK;
        }
        fprintf(stderr, "rmscore: warning: the %s kernels failed their self-test (%s); trying the next ones\n",
                KERNEL_NAMES[k], why);
    }
    atomic_store(&chosen, &KERNELS[RMS_KERNEL_GENERIC]);
    return RMS_OK;
}

static const kern *kernel(void) {
    const kern *k = atomic_load(&chosen);
    if (k) return k;
    rms_err err;
    if (rms_gemm_select(NULL, &err) != RMS_OK) atomic_store(&chosen, &KERNELS[best_kernel()]);
    return atomic_load(&chosen);
}

rms_kernel rms_gemm_kernel(void) { return kernel()->id; }

int rms_gemm_bf16_dot(void) { return kernel()->bf16 != NULL && cpu_bf16_dot(); }

/* ---- packing --------------------------------------------------------------------------------------------------- */

/* 16 × 16 fp32 transpose in registers: r[i][j] -> r[j][i]. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

/* pack_f32 for BF16 rows with 16 full rows at jj0: dst[c][jj0 + 0..15] for c in [0, kc16), kc16 a multiple of 16. */
__attribute__((target("avx512f"))) static void pack_bf16_rows16(float *dst, const uint16_t *src, int64_t ld, int nr,
                                                                int64_t kc16) {
    for (int64_t c0 = 0; c0 < kc16; c0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) {
            const __m256i h = _mm256_loadu_si256((const __m256i *)(src + i * ld + c0));
            r[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        }
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (c0 + i) * nr, r[i]);
    }
}

/* The same with AVX2: 8 full rows at jj0, kc8 a multiple of 8. */
__attribute__((target("avx2"))) static void pack_bf16_rows8(float *dst, const uint16_t *src, int64_t ld, int nr,
                                                            int64_t kc8) {
    for (int64_t c0 = 0; c0 < kc8; c0 += 8) {
        __m256 r[8], t[8];
        for (int i = 0; i < 8; i++) {
            const __m128i h = _mm_loadu_si128((const __m128i *)(src + i * ld + c0));
            r[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        }
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; i++) {
            r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
            r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
        }
        for (int i = 0; i < 4; i++) {
            t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
            t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
        }
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (c0 + i) * nr, t[i]);
    }
}

/* dst (kc, nr) fp32 = B[j0 + jj][kb + c] for jj < nvalid, 0 beyond. */
static void pack_f32(float *dst, const rms_gemm_b *b, int64_t j0, int nvalid, int nr, int64_t kb, int64_t kc,
                     rms_kernel kid) {
    if (b->cols) { // B[j][c] at data[c*ld + j]: each c is a contiguous run of j
        const float *src = (const float *)b->data;
        for (int64_t c = 0; c < kc; c++) {
            memcpy(dst + c * nr, src + (kb + c) * b->ld + j0, (size_t)nvalid * sizeof(float));
            memset(dst + c * nr + nvalid, 0, (size_t)(nr - nvalid) * sizeof(float));
        }
        return;
    }
    int jj_fast = 0; // columns [0, jj_fast) for c < kc16 done by a vector transpose
    int64_t kc16 = 0;
    if (b->dtype == RMS_DTYPE_BF16 && nr % 16 == 0 && kc >= 16 && kid == RMS_KERNEL_AVX512) {
        kc16 = kc & ~(int64_t)15;
        for (; jj_fast + 16 <= nvalid; jj_fast += 16)
            pack_bf16_rows16(dst + jj_fast, (const uint16_t *)b->data + (j0 + jj_fast) * b->ld + kb, b->ld, nr, kc16);
    } else if (b->dtype == RMS_DTYPE_BF16 && nr % 8 == 0 && kc >= 8 && kid == RMS_KERNEL_AVX2) {
        kc16 = kc & ~(int64_t)7;
        for (; jj_fast + 8 <= nvalid; jj_fast += 8)
            pack_bf16_rows8(dst + jj_fast, (const uint16_t *)b->data + (j0 + jj_fast) * b->ld + kb, b->ld, nr, kc16);
    }
    for (int jj = 0; jj < nr; jj++) {
        if (jj >= nvalid) {
            for (int64_t c = 0; c < kc; c++) dst[c * nr + jj] = 0.0f;
            continue;
        }
        const int64_t off = (j0 + jj) * b->ld + kb;
        if (jj < jj_fast && b->dtype == RMS_DTYPE_BF16) { // the rest of the row: c in [kc16, kc)
            const uint16_t *src = (const uint16_t *)b->data + off;
            for (int64_t c = kc16; c < kc; c++) {
                const uint32_t bits = (uint32_t)src[c] << 16;
                memcpy(&dst[c * nr + jj], &bits, sizeof bits);
            }
            continue;
        }
        if (b->dtype == RMS_DTYPE_BF16) {
            const uint16_t *src = (const uint16_t *)b->data + off;
            for (int64_t c = 0; c < kc; c++) {
                const uint32_t bits = (uint32_t)src[c] << 16;
                memcpy(&dst[c * nr + jj], &bits, sizeof bits);
            }
        } else if (b->dtype == RMS_DTYPE_F32) {
            const float *src = (const float *)b->data + off;
            for (int64_t c = 0; c < kc; c++) dst[c * nr + jj] = src[c];
        } else {
            const uint8_t *src = (const uint8_t *)b->data + (size_t)off * rms_dtype_size(b->dtype);
            for (int64_t c = 0; c < kc; c++) {
                float v;
                rms_convert_to_f32(&v, src + (size_t)c * rms_dtype_size(b->dtype), b->dtype, 1);
                dst[c * nr + jj] = v;
            }
        }
    }
}

/* pack_bf16 for BF16 rows with 16 full rows at jj0: the (kc32/2, nr) pairs of dst for c in [0, kc32), kc32 a
 * multiple of 32 — a 16 × 16 transpose of 32-bit pairs. */
__attribute__((target("avx512f"))) static void pack_bf16_pairs16(uint16_t *dst, const uint16_t *src, int64_t ld,
                                                                 int nr, int64_t kc32) {
    for (int64_t c0 = 0; c0 < kc32; c0 += 32) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps((const float *)(src + i * ld + c0)); // 16 pairs, as bits
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_storeu_ps((float *)(dst + (c0 / 2 + i) * nr * 2), r[i]);
    }
}

/* dst (kc2/2, nr, 2) bf16 = B[j0 + jj][kb + c] (c < kc, zero past k and past nvalid); kc2 = kc rounded up to even. */
static void pack_bf16(uint16_t *dst, const rms_gemm_b *b, int64_t j0, int nvalid, int nr, int64_t kb, int64_t kc) {
    const int64_t kc2 = (kc + 1) & ~(int64_t)1;
    int jj_fast = 0; // columns [0, jj_fast) for c < kc32 done by the vector transpose
    int64_t kc32 = 0;
    if (b->dtype == RMS_DTYPE_BF16 && nr % 16 == 0 && kc >= 32) {
        kc32 = kc & ~(int64_t)31;
        for (; jj_fast + 16 <= nvalid; jj_fast += 16)
            pack_bf16_pairs16(dst + jj_fast * 2, (const uint16_t *)b->data + (j0 + jj_fast) * b->ld + kb, b->ld, nr,
                              kc32);
    }
    for (int jj = 0; jj < nr; jj++) {
        for (int64_t c = jj < jj_fast ? kc32 : 0; c < kc2; c++) {
            uint16_t v = 0;
            if (jj < nvalid && c < kc) {
                const int64_t off = (j0 + jj) * b->ld + kb + c;
                if (b->dtype == RMS_DTYPE_BF16) {
                    v = ((const uint16_t *)b->data)[off];
                } else {
                    float f;
                    rms_convert_to_f32(&f, (const uint8_t *)b->data + (size_t)off * rms_dtype_size(b->dtype),
                                       b->dtype, 1);
                    v = rms_f32_to_bf16(f);
                }
            }
            dst[((c / 2) * nr + jj) * 2 + (c & 1)] = v;
        }
    }
}

/* ---- blocked driver -------------------------------------------------------------------------------------------- */

/* Scratch per thread: the packed B block (KC, NCB) fp32, then one packed x tile (KC, MAX_MR) fp32. */
#define XTILE_OFFSET ((int64_t)KC * NCB * (int64_t)sizeof(float))
int64_t rms_gemm_pack_bytes(void) { return XTILE_OFFSET + (int64_t)KC * MAX_MR * (int64_t)sizeof(float); }

/* dst (kc, mr_stride) = x[0:rows, 0:kc] fp32 (rows of stride ldx); rows past `rows` are not read by the kernel. */
static void pack_x_tile12_f32(float *dst, const float *x, int64_t ldx, int rows, int64_t k16);
static void pack_x_f32(float *dst, const float *x, int64_t ldx, int rows, int mr_stride, int64_t kc) {
    int64_t c0 = 0; // columns [0, c0) by the vector transposes (tiles of 12: the AVX-512 kernel)
    if (mr_stride == 12) pack_x_tile12_f32(dst, x, ldx, rows, c0 = kc & ~(int64_t)15);
    for (int i = 0; i < rows; i++)
        for (int64_t c = c0; c < kc; c++) dst[c * mr_stride + i] = x[i * ldx + c];
}

/* y[i0:i1, j0:j1] (and y2's) for one block of the output, on this thread. Either xp holds x packed in tiles of mr
 * rows (tile t: (k, mr) fp32, or (k2/2, mr, 2) bf16; tile_elems elements each; i0 a multiple of mr), or xp is NULL
 * and x (fp32 rows of stride ldx) is packed here tile by tile. A pair packs NCB/2 columns of each B at a time. */
static void gemm_block(const kern *K, int bf16, const block_out *o, const void *xp, int64_t tile_elems,
                       const float *x, int64_t ldx, int64_t i0, int64_t i1, int64_t j0, int64_t j1, void *pack) {
    const int mr = bf16 ? K->mr16 : K->mr, nr = bf16 ? K->nr16 : K->nr;
    const ukr_fn ukr = bf16 ? K->bf16 : K->f32;
    const size_t xsize = bf16 ? sizeof(uint16_t) : sizeof(float);
    const int n_b = o->y2 ? 2 : 1;
    const rms_gemm_b *const bs[2] = {o->b, o->b2};
    float *const ys[2] = {o->y, o->y2};
    const int64_t ldys[2] = {o->ldy, o->ldy2}, k = o->b->k, step = NCB / n_b;
    float *xt = (float *)((uint8_t *)pack + XTILE_OFFSET); // (kc, mr): this tile of x rows when packed here
    for (int64_t jb = j0; jb < j1; jb += step) {
        const int64_t nb = (j1 - jb < step) ? j1 - jb : step;
        const int64_t panels = (nb + nr - 1) / nr; // per B
        for (int64_t kb = 0; kb < k; kb += KC) {
            const int64_t kc = (k - kb < KC) ? k - kb : KC;
            const int64_t kc2 = bf16 ? (kc + 1) & ~(int64_t)1 : kc;
            for (int64_t q = 0; q < n_b * panels; q++) { // q: panel q % panels of B number q / panels
                const int64_t p = q % panels;
                const int nvalid = (int)((nb - p * nr < nr) ? nb - p * nr : nr);
                if (bf16) pack_bf16((uint16_t *)pack + q * kc2 * nr, bs[q / panels], jb + p * nr, nvalid, nr, kb, kc);
                else pack_f32((float *)pack + q * kc * nr, bs[q / panels], jb + p * nr, nvalid, nr, kb, kc, K->id);
            }
            const int last = kb + KC >= k;
            for (int64_t i = i0; i < i1; i += mr) {
                const int rows = (int)((i1 - i < mr) ? i1 - i : mr);
                const void *xi;
                if (xp) {
                    xi = (const uint8_t *)xp + (size_t)((i / mr) * tile_elems + kb * mr) * xsize;
                } else {
                    pack_x_f32(xt, x + i * ldx + kb, ldx, rows, mr, kc);
                    xi = xt;
                }
                for (int64_t q = 0; q < n_b * panels; q++) {
                    const int64_t p = q % panels, ld = ldys[q / panels];
                    const int nvalid = (int)((nb - p * nr < nr) ? nb - p * nr : nr);
                    const uint8_t *wp = (const uint8_t *)pack + (size_t)(q * kc2 * nr) * xsize;
                    ukr(rows, kc2, xi, wp, ys[q / panels] + i * ld + jb + p * nr, ld, nvalid, kb > 0);
                }
                if (o->y2 && last) // this tile of both products is final: the element-wise step while it is hot
                    for (int r = 0; r < rows; r++)
                        o->epi(o->y + (i + r) * o->ldy + jb, o->y2 + (i + r) * o->ldy2 + jb, nb);
            }
        }
    }
}

/* y (m, n) [row stride ldy] = 0: the product over an empty k. */
static void zero_rows(float *y, int64_t ldy, int64_t m, int64_t n) {
    for (int64_t i = 0; i < m; i++) memset(y + i * ldy, 0, (size_t)n * sizeof(float));
}

void rms_gemm_serial(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b, void *pack) {
    if (m <= 0 || b->n <= 0) return;
    if (b->k == 0) {
        zero_rows(y, ldy, m, b->n);
        return;
    }
    const block_out o = {.y = y, .ldy = ldy, .b = b};
    gemm_block(kernel(), 0, &o, NULL, 0, x, ldx, 0, m, 0, b->n, pack);
}

void rms_gemm_ctx_init(rms_gemm_ctx *g) { memset(g, 0, sizeof *g); }

void rms_gemm_ctx_free(rms_gemm_ctx *g) {
    free(g->pack);
    free(g->xbuf);
    memset(g, 0, sizeof *g);
}

/* x packed in tiles (rms_gemm): the scratch rms_gemm_ctx_reserve keeps for m rows of k columns. */
/* Saturating (sizes.h): an absurd m gives INT64_MAX, which no allocation meets, never a wrapped small size. */
static int64_t xbuf_bytes(int64_t m, int64_t k) {
    return rms_sat_mul_i64(rms_sat_add_i64(m, MAX_MR), rms_sat_mul_i64(k + 1, (int64_t)sizeof(float)));
}

int64_t rms_gemm_ctx_bytes(int64_t m, int64_t k, int threads) {
    return rms_sat_add_i64((int64_t)threads * rms_gemm_pack_bytes(), xbuf_bytes(m, k));
}

rms_status rms_gemm_ctx_reserve(rms_gemm_ctx *g, int64_t m, int64_t k, rms_err *err) {
    const int threads = rms_parallel_threads();
    if (g->threads < threads) {
        free(g->pack);
        g->pack = aligned_alloc(64, (size_t)threads * (size_t)rms_gemm_pack_bytes());
        if (!g->pack) goto oom;
        g->threads = threads;
    }
    const int64_t need = xbuf_bytes(m, k);
    if (need > g->cap_xbuf) {
        free(g->xbuf);
        g->xbuf = need < INT64_MAX && (uint64_t)need <= SIZE_MAX ? rms_big_alloc((size_t)need) : NULL;
        if (!g->xbuf) goto oom;
        g->cap_xbuf = need;
    }
    return RMS_OK;
oom:
    rms_gemm_ctx_free(g);
    return rms_fail(err, RMS_ERR_NOMEM, "out of memory for matrix-multiply scratch (%lld x %lld)", (long long)m,
                    (long long)k);
}

void *rms_gemm_ctx_pack(const rms_gemm_ctx *g, int thread) {
    return (uint8_t *)g->pack + (size_t)thread * (size_t)rms_gemm_pack_bytes();
}

typedef struct gemm_job {
    const kern *K;
    const rms_gemm_ctx *g;
    int bf16;      // 1: the bf16 dot-product kernel; round: fp32 kernel on bf16-rounded x
    int round;
    int nb;        // products sharing x: y[o] = x · b[o]ᵀ
    float *const *y;
    const int64_t *ldy;
    const rms_gemm_b *b;
    int64_t ldx, k, m, mr, tile_elems;
    const float *x;
    void *xp;      // x packed in tiles of mr rows
    int64_t first_block[RMS_GEMM_MAX_MULTI + 1]; // column blocks of b[o]: [first_block[o], first_block[o + 1])
    int64_t block_cols;                          // NCB, or NCB/2 for a pair
    int64_t rows_per_task;
    float *y2;                                   // a pair: y[0] = epi(x · b[0]ᵀ, y2 = x · b2ᵀ)
    const rms_gemm_b *b2;
    rms_gemm_epilogue epi;
} gemm_job;

/* pack_x_task's inner part with AVX-512 for tiles of 12 rows: columns [0, k16) of the tile, k16 a multiple of
 * 16 (fp32) or 32 (bf16 pairs); rows past `rows` are zeros. */
__attribute__((target("avx512f,avx512bf16"))) static void pack_x_tile12_bf16(uint16_t *dst, const float *x, int64_t ldx,
                                                                             int rows, int64_t k32) {
    for (int64_t c0 = 0; c0 < k32; c0 += 32) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? (__m512)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i * ldx + c0 + 16),
                                                          _mm512_loadu_ps(x + i * ldx + c0))
                            : _mm512_setzero_ps();
        transpose16(r); // r[p]: pair c0/2 + p of rows 0..15
        for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps((float *)(dst + (c0 / 2 + p) * 24), 0x0fff, r[p]);
    }
}

__attribute__((target("avx512f"))) static void pack_x_tile12_f32(float *dst, const float *x, int64_t ldx, int rows,
                                                                 int64_t k16) {
    for (int64_t c0 = 0; c0 < k16; c0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(x + i * ldx + c0) : _mm512_setzero_ps();
        transpose16(r); // r[c]: column c0 + c of rows 0..15
        for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(dst + (c0 + c) * 12, 0x0fff, r[c]);
    }
}

/* Packs tile t of x: (k, mr) fp32 (rounded to bf16 values if J->round), or (k2/2, mr, 2) bf16; missing rows 0. */
static void pack_x_task(void *ctx, int64_t t, int thread) {
    (void)thread;
    const gemm_job *J = ctx;
    const int64_t k = J->k, mr = J->mr, i0 = t * mr;
    const int rows = (int)(J->m - i0 < mr ? J->m - i0 : mr);
    const float *x = J->x + i0 * J->ldx;
    int64_t c_fast = 0; // columns [0, c_fast) packed by the vector transposes
    if (J->bf16) {
        const int64_t k2 = (k + 1) & ~(int64_t)1;
        uint16_t *dst = (uint16_t *)J->xp + t * J->tile_elems;
        if (mr == 12) pack_x_tile12_bf16(dst, x, J->ldx, rows, c_fast = k & ~(int64_t)31);
        for (int64_t i = 0; i < mr; i++)
            for (int64_t c = c_fast; c < k2; c++)
                dst[((c / 2) * mr + i) * 2 + (c & 1)] = (i < rows && c < k) ? rms_f32_to_bf16(x[i * J->ldx + c]) : 0;
    } else {
        float *dst = (float *)J->xp + t * J->tile_elems;
        if (mr == 12 && !J->round) pack_x_tile12_f32(dst, x, J->ldx, rows, c_fast = k & ~(int64_t)15);
        for (int64_t i = 0; i < mr; i++) {
            const float *xi = x + i * J->ldx;
            if (i >= rows) {
                for (int64_t c = c_fast; c < k; c++) dst[c * mr + i] = 0.0f;
            } else if (J->round) {
                for (int64_t c = c_fast; c < k; c++) dst[c * mr + i] = rms_bf16_to_f32(rms_f32_to_bf16(xi[c]));
            } else {
                for (int64_t c = c_fast; c < k; c++) dst[c * mr + i] = xi[c];
            }
        }
    }
}

static void gemm_task(void *ctx, int64_t task, int thread) {
    const gemm_job *J = ctx;
    const int64_t n_blocks_j = J->first_block[J->nb];
    const int64_t tj = task % n_blocks_j, ti = task / n_blocks_j;
    int o = 0;
    while (tj >= J->first_block[o + 1]) o++;
    const rms_gemm_b *b = &J->b[o];
    const int64_t i0 = ti * J->rows_per_task, j0 = (tj - J->first_block[o]) * J->block_cols;
    const int64_t i1 = (i0 + J->rows_per_task < J->m) ? i0 + J->rows_per_task : J->m;
    const int64_t j1 = (j0 + J->block_cols < b->n) ? j0 + J->block_cols : b->n;
    const block_out out = {.y = J->y[o], .ldy = J->ldy[o], .b = b, .y2 = J->y2, .ldy2 = J->ldy[o], .b2 = J->b2,
                           .epi = J->epi};
    gemm_block(J->K, J->bf16, &out, J->xp, J->tile_elems, NULL, 0, i0, i1, j0, j1, rms_gemm_ctx_pack(J->g, thread));
}

/* Chooses the kernel path for bf16 or fp32 compute, packs x once, then runs J's column blocks (of J->block_cols,
 * over the J->nb products) on the pool. J's products, x, m, k and block_cols are set by the caller. */
static void run_job(gemm_job *J, rms_gemm_ctx *g, int bf16) {
    const kern *K = J->K = kernel();
    const int dot = J->bf16 = bf16 && K->bf16 && cpu_bf16_dot();
    J->round = bf16 && !dot;
    J->g = g;
    J->xp = g->xbuf;
    J->mr = dot ? K->mr16 : K->mr;
    J->tile_elems = J->mr * ((J->k + 1) & ~(int64_t)1);
    J->first_block[0] = 0;
    for (int o = 0; o < J->nb; o++)
        J->first_block[o + 1] = J->first_block[o] + (J->b[o].n + J->block_cols - 1) / J->block_cols;
    const int64_t n_blocks_j = J->first_block[J->nb], m = J->m;
    if (n_blocks_j == 0) return;
    // x packed in tiles once for every column block of every B (and rounded or converted to bf16 on the way)
    const int64_t tiles = (m + J->mr - 1) / J->mr;
    rms_parallel_run(tiles, pack_x_task, J);
    // Tasks: column blocks (packing stays per task); rows split as well (in whole tiles) when there are too few
    // column blocks to keep every thread busy.
    const int threads = rms_parallel_threads();
    J->rows_per_task = tiles * J->mr;
    if (threads > 1 && n_blocks_j < 4 * threads) {
        const int64_t parts = (4 * threads + n_blocks_j - 1) / n_blocks_j;
        int64_t rows = (m + parts - 1) / parts;
        rows = (rows + J->mr - 1) / J->mr * J->mr;
        J->rows_per_task = rows < 4 * J->mr ? 4 * J->mr : rows;
    }
    const int64_t n_blocks_i = (m + J->rows_per_task - 1) / J->rows_per_task;
    rms_parallel_run(n_blocks_j * n_blocks_i, gemm_task, J);
}

void rms_gemm_multi(rms_gemm_ctx *g, int nb, float *const *y, const int64_t *ldy, const float *x, int64_t ldx,
                    int64_t m, const rms_gemm_b *b, int bf16) {
    if (m <= 0 || nb <= 0) return;
    const int64_t k = b[0].k;
    int same_k = 1;
    for (int o = 1; o < nb; o++) same_k &= b[o].k == k;
    if (nb > RMS_GEMM_MAX_MULTI || !same_k) { // one by one (not what callers do; kept correct anyway)
        for (int o = 0; o < nb; o++) rms_gemm_multi(g, 1, y + o, ldy + o, x, ldx, m, b + o, bf16);
        return;
    }
    if (k == 0) {
        for (int o = 0; o < nb; o++) zero_rows(y[o], ldy[o], m, b[o].n);
        return;
    }
    gemm_job J = {.nb = nb, .y = y, .ldy = ldy, .b = b, .ldx = ldx, .k = k, .m = m, .x = x, .block_cols = NCB};
    run_job(&J, g, bf16);
}

void rms_gemm_pair(rms_gemm_ctx *g, float *y, float *y2, int64_t ldy, const float *x, int64_t ldx, int64_t m,
                   const rms_gemm_b *b, const rms_gemm_b *b2, rms_gemm_epilogue epi, int bf16) {
    if (m <= 0 || b->n <= 0) return;
    if (b2->n != b->n || b2->k != b->k) { // not a pair (not what callers do; kept correct anyway)
        rms_gemm(g, y, ldy, x, ldx, m, b, bf16);
        rms_gemm(g, y2, ldy, x, ldx, m, b2, bf16);
        for (int64_t i = 0; i < m; i++) epi(y + i * ldy, y2 + i * ldy, b->n);
        return;
    }
    if (b->k == 0) {
        zero_rows(y, ldy, m, b->n);
        zero_rows(y2, ldy, m, b->n);
        for (int64_t i = 0; i < m; i++) epi(y + i * ldy, y2 + i * ldy, b->n);
        return;
    }
    gemm_job J = {.nb = 1, .y = &y, .ldy = &ldy, .b = b, .ldx = ldx, .k = b->k, .m = m, .x = x,
                  .block_cols = NCB / 2, .y2 = y2, .b2 = b2, .epi = epi};
    run_job(&J, g, bf16);
}

void rms_gemm(rms_gemm_ctx *g, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b,
              int bf16) {
    rms_gemm_multi(g, 1, &y, &ldy, x, ldx, m, b, bf16);
}

void rms_gemm_reference(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b,
                        rms_kernel k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < b->n; j++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < b->k; c++) {
                float w;
                if (b->cols) {
                    w = ((const float *)b->data)[c * b->ld + j];
                } else {
                    const size_t off = (size_t)(j * b->ld + c) * rms_dtype_size(b->dtype);
                    rms_convert_to_f32(&w, (const uint8_t *)b->data + off, b->dtype, 1);
                }
                acc = (k == RMS_KERNEL_GENERIC) ? acc + x[i * ldx + c] * w : fmaf(x[i * ldx + c], w, acc);
            }
            y[i * ldy + j] = acc;
        }
}

rms_status rms_engine_start(int threads, rms_err *err) {
    rms_status st = rms_gemm_select(NULL, err);
    if (st != RMS_OK) return st;
    return rms_parallel_init(threads, err);
}

void rms_engine_describe(char *buf, size_t len, int bf16) {
    const char *name = rms_kernel_name(rms_gemm_kernel());
    if (!bf16)
        snprintf(buf, len, "kernels %s, fp32", name);
    else if (rms_gemm_bf16_dot())
        snprintf(buf, len, "kernels %s, bf16 on AVX512_BF16 dot products", name);
    else
        snprintf(buf, len, "kernels %s, bf16 requested but this CPU has no bf16 dot products (AVX512_BF16): "
                 "bf16-rounded inputs on the fp32 kernels", name);
}
