/* gemm.h — rmscore's own matrix multiply, y = x · Bᵀ, for the linear layers (B = a weight as stored in
 * the checkpoint: F32, F16 or BF16) and for attention (B = keys or values, fp32).
 *
 * Batch invariance by construction: every output element y[i][j] is ONE accumulation chain over
 * c = 0 .. k-1 in that order, started at 0 and kept in fp32 (in registers, or stored and reloaded
 * exactly between k blocks). Which rows share the call, where row i sits in a tile, how the work is
 * split among threads and how k is blocked change nothing. So a sequence's result does not depend on
 * what else is in its micro-batch, on --threads, or on the pipeline layout.
 *   fp32 kernels (avx2, avx512):  acc = fmaf(x[i][c], B[j][c], acc)
 *   generic kernel (no FMA):      acc = acc + x[i][c] * B[j][c]    (two roundings)
 *   bf16 kernel (AVX512_BF16):    x rounded to bf16; acc += products of pairs (vdpbf16ps), c in pairs
 * The avx2 and avx512 fp32 kernels give the same bits. rms_gemm_reference computes the same chains with
 * scalar code (the unit tests compare bitwise).
 *
 * Kernel choice: the best the CPU supports that passes a start-up self-test (a product with edge tiles
 * and two k blocks against the scalar chain, bit for bit; a failing kernel is skipped with one warning line
 * on stderr), or RMSCORE_KERNEL=generic|avx2|avx512 (rms_gemm_select).
 *
 * Ownership: rms_gemm_ctx holds per-thread packing scratch and the bf16-rounded copy of x; init/free pair,
 * rms_gemm_ctx_reserve grows it. B's data is borrowed (usually the checkpoint mapping).
 */
#ifndef RMS_GEMM_H
#define RMS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/dtype.h"
#include "src/base/status.h"

typedef enum rms_kernel { RMS_KERNEL_GENERIC = 0, RMS_KERNEL_AVX2 = 1, RMS_KERNEL_AVX512 = 2 } rms_kernel;

/* Chooses the kernels: name "generic", "avx2", "avx512", or NULL/"" for $RMSCORE_KERNEL, else the best
 * the CPU supports whose self-test passes ("rmscore: warning: the X kernels failed their self-test (why);
 * trying the next ones" for each that fails). A kernel the CPU cannot run, or an unknown name, is an
 * RMS_ERR_ARG error; a named kernel that fails its self-test RMS_ERR_UNSUPPORTED.
 * RMSCORE_KERNEL_SELFTEST_FAIL=<name> makes that kernel's self-test fail (for the tests). */
rms_status rms_gemm_select(const char *name, rms_err *err);
/* The kernels in use (selected once on first use if rms_gemm_select was not called). */
rms_kernel rms_gemm_kernel(void);
const char *rms_kernel_name(rms_kernel k);
/* Whether the CPU can run kernel k. */
int rms_kernel_supported(rms_kernel k);
/* Whether bf16 dot-product instructions (AVX512_BF16) are used for bf16 compute with the kernels in use. */
int rms_gemm_bf16_dot(void);

/* Start-up of the engine for a command: kernels as rms_gemm_select(NULL) and `threads` compute threads
 * (parallel.h). */
rms_status rms_engine_start(int threads, rms_err *err);
/* One line naming the kernels and the precision path, for the log. */
void rms_engine_describe(char *buf, size_t len, int bf16);

/* B, logically (n, k); y = x · Bᵀ.  rows: element (j, c) at data[j*ld + c] (torch Linear weight (out, in));
 * cols: at data[c*ld + j] (e.g. V (keys, dim) read as (dim, keys)); cols needs dtype F32. */
typedef struct rms_gemm_b {
    const void *data; // borrowed
    rms_dtype dtype;
    int64_t n, k, ld;
    int cols;
} rms_gemm_b;

/* Packing scratch one thread needs for rms_gemm_serial. */
int64_t rms_gemm_pack_bytes(void);
/* Bytes rms_gemm_ctx_reserve(g, m, k) allocates on `threads` threads (memory pre-flight). */
int64_t rms_gemm_ctx_bytes(int64_t m, int64_t k, int threads);

typedef struct rms_gemm_ctx {
    int threads;       // pack holds this many threads' scratch
    void *pack;        // (threads, rms_gemm_pack_bytes()) 64-byte aligned
    void *xbuf;        // x rounded to bf16: (m, k even) bf16 for the bf16 kernel, or (m, k) fp32 values
    int64_t cap_xbuf;  // bytes
} rms_gemm_ctx;

void rms_gemm_ctx_init(rms_gemm_ctx *g);
/* Room for the pool's threads and for bf16 products with x of up to (m, k). */
rms_status rms_gemm_ctx_reserve(rms_gemm_ctx *g, int64_t m, int64_t k, rms_err *err);
void rms_gemm_ctx_free(rms_gemm_ctx *g);
/* This thread's packing scratch (thread as given by rms_parallel_run). */
void *rms_gemm_ctx_pack(const rms_gemm_ctx *g, int thread);

/* y (m, n) [row stride ldy] = x (m, k) [row stride ldx] · Bᵀ, on the engine's threads (rms_parallel_run).
 * bf16 != 0: bf16 compute — with rms_gemm_bf16_dot() the bf16 kernel, else x is rounded to bf16 and the
 * fp32 kernel runs. Needs rms_gemm_ctx_reserve(g, m, k) (and the pool started) beforehand. */
void rms_gemm(rms_gemm_ctx *g, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b,
              int bf16);

/* Several products of the same x: y[o] (m, b[o].n) [row stride ldy[o]] = x · b[o]ᵀ for o < nb ≤ RMS_GEMM_MAX_MULTI,
 * every b[o] with the same k (q/k/v, gate/up). x is packed once and the column blocks of all of them share the
 * threads; each y[o] has the bits rms_gemm gives it alone. */
#define RMS_GEMM_MAX_MULTI 4
void rms_gemm_multi(rms_gemm_ctx *g, int nb, float *const *y, const int64_t *ldy, const float *x, int64_t ldx,
                    int64_t m, const rms_gemm_b *b, int bf16);

/* An element-wise step on a finished row of two products: a (n) from the first, c (n) from the second; a is
 * updated in place (SwiGLU: a = silu(a) * c). */
typedef void (*rms_gemm_epilogue)(float *a, const float *c, int64_t n);
/* y (m, n) = epi(x · bᵀ, x · b2ᵀ) for b and b2 of the same shape (gate_proj and up_proj); y2 (m, n), same row
 * stride ldy, holds x · b2ᵀ. The two products are computed side by side, NCB/2 columns of each at a time, and epi
 * runs on each tile as soon as both are final, while it is in cache. The bits are those of rms_gemm on each and
 * then epi on each row. */
void rms_gemm_pair(rms_gemm_ctx *g, float *y, float *y2, int64_t ldy, const float *x, int64_t ldx, int64_t m,
                   const rms_gemm_b *b, const rms_gemm_b *b2, rms_gemm_epilogue epi, int bf16);

/* The same in fp32 on the calling thread only; pack: rms_gemm_pack_bytes() bytes, 64-byte aligned. */
void rms_gemm_serial(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b, void *pack);

/* Scalar twin of the fp32 kernels: the same chain as kernel k computes (fused for avx2/avx512). */
void rms_gemm_reference(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t m, const rms_gemm_b *b,
                        rms_kernel k);

#endif
