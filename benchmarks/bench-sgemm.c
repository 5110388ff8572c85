/* bench-sgemm — the machine's OpenBLAS cblas_sgemm rate at a Llama model's own matmul shapes, and rmscore's
 * own kernels (src/engine/gemm.h) on the same shapes.
 *
 * For M = --tokens rows it times y = x · wᵀ for each projection of one decoder layer
 * (q, k, v, o, gate, up, down): OpenBLAS sgemm on fp32 weights, and rms_gemm on bf16 weights (as
 * checkpoints store them) in fp32 and in bf16 compute. It prints each shape's GFLOP/s, then
 * "rmscore weighted GFLOP/s: fp32 X, bf16 Y", and last the OpenBLAS flop-weighted rate (total flops /
 * total time) as "weighted GFLOP/s: X" — the ceiling rmscore's forward is compared with.
 * OpenBLAS's kernels: RMSCORE_BLAS_CORE (src/engine/blas.h; `auto` = the best core for the CPU, validated
 * by a self-test); rmscore's: RMSCORE_KERNEL. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench-args.h"
#include "src/base/clock.h"
#include "src/base/dtype.h"
#include "io/config.h"
#include "src/engine/blas.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"

int main(int argc, char **argv) {
    rms_blas_restart_if_slow(argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench-sgemm [--hidden 2048] [--intermediate 8192] [--heads 32] [--kv-heads 8]\n"
                   "                   [--head-dim hidden/heads] [--tokens 1024] [--threads all] [--reps 3]\n");
            return 0;
        }
    const long h = arg_value(argc, argv, "--hidden", 2048), inter = arg_value(argc, argv, "--intermediate", 8192);
    const long heads = arg_value(argc, argv, "--heads", 32), kv = arg_value(argc, argv, "--kv-heads", 8);
    const long hd = arg_value(argc, argv, "--head-dim", h / heads), m = arg_value(argc, argv, "--tokens", 1024);
    const long threads = arg_value(argc, argv, "--threads", rms_available_cpus());
    const long reps = arg_value(argc, argv, "--reps", 3);
    // config.json's limits (io/config.h) and at most 2^20 tokens: every cblas_sgemm int argument below (at most
    // heads * head_dim = 2^20, intermediate, tokens) then fits an int
    if (h < 1 || h > RMS_CONFIG_MAX_HIDDEN || inter < 1 || inter > RMS_CONFIG_MAX_INTERMEDIATE || heads < 1 ||
        heads > RMS_CONFIG_MAX_HEADS || kv < 1 || kv > heads || hd < 1 || hd > RMS_CONFIG_MAX_HEAD_DIM || m < 1 ||
        m > (1L << 20) || threads < 1 || threads > 1024 || reps < 1)
        return fprintf(stderr, "bench-sgemm: a size is outside the limits of config.json (io/config.h), or --tokens "
                               "above 2^20\n"), 2;
    rms_blas_set_threads((int)threads);
    const struct { const char *name; long n, k; } shapes[] = {
        {"q_proj", heads * hd, h}, {"k_proj", kv * hd, h}, {"v_proj", kv * hd, h}, {"o_proj", h, heads * hd},
        {"gate_proj", inter, h}, {"up_proj", inter, h}, {"down_proj", h, inter},
    };
    const long maxdim = inter > h ? inter : h;
    float *x = malloc(sizeof(float) * (size_t)m * (size_t)maxdim);       // (m, max k)
    float *w = malloc(sizeof(float) * (size_t)maxdim * (size_t)maxdim);  // (n, k)
    float *y = malloc(sizeof(float) * (size_t)m * (size_t)maxdim);       // (m, n)
    if (!x || !w || !y) return fprintf(stderr, "bench-sgemm: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)m * (size_t)maxdim; i++) x[i] = (float)((i % 13) - 6) * 0.01f;
    for (size_t i = 0; i < (size_t)maxdim * (size_t)maxdim; i++) w[i] = (float)((i % 7) - 3) * 0.01f;
    // rmscore's own kernels on the same shapes, weights in bf16 as checkpoints store them
    uint16_t *wb = malloc(sizeof(uint16_t) * (size_t)maxdim * (size_t)maxdim); // (n, k) bf16
    if (!wb) return fprintf(stderr, "bench-sgemm: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)maxdim * (size_t)maxdim; i++) wb[i] = rms_f32_to_bf16(w[i]);
    rms_err err;
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    if (rms_engine_start((int)threads, &err) != RMS_OK || rms_gemm_ctx_reserve(&g, m, maxdim, &err) != RMS_OK)
        return fprintf(stderr, "bench-sgemm: %s\n", err.msg), 1;
    printf("OpenBLAS core %s, %ld threads, M = %ld tokens; rmscore kernels %s%s\n", rms_blas_corename(), threads, m,
           rms_kernel_name(rms_gemm_kernel()), rms_gemm_bf16_dot() ? " (+ AVX512_BF16)" : "");
    // rmscore's kernels first, for every shape: OpenBLAS's threads keep spinning for a while after each of its
    // calls and would take cores from rmscore's pool if the two were interleaved.
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    double own[N_SHAPES][2], blas[N_SHAPES];
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            const long n = shapes[s].n, k = shapes[s].k;
            const rms_gemm_b b = {wb, RMS_DTYPE_BF16, n, k, k, 0};
            rms_gemm(&g, y, n, x, k, m, &b, bf16); // warm-up
            own[s][bf16] = 1e30;
            for (long r = 0; r < reps; r++) {
                const double t0 = rms_now_seconds();
                rms_gemm(&g, y, n, x, k, m, &b, bf16);
                const double t = rms_now_seconds() - t0;
                own[s][bf16] = t < own[s][bf16] ? t : own[s][bf16];
            }
        }
    for (size_t s = 0; s < N_SHAPES; s++) {
        const long n = shapes[s].n, k = shapes[s].k;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)k, w, (int)k, 0.0f,
                    y, (int)n); // warm-up
        blas[s] = 1e30;
        for (long r = 0; r < reps; r++) {
            const double t0 = rms_now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)k, w, (int)k,
                        0.0f, y, (int)n);
            const double t = rms_now_seconds() - t0;
            blas[s] = t < blas[s] ? t : blas[s];
        }
    }
    double total_flops = 0.0, total_time = 0.0, own_time[2] = {0.0, 0.0};
    for (size_t s = 0; s < N_SHAPES; s++) {
        const long n = shapes[s].n, k = shapes[s].k;
        const double flops = 2.0 * (double)m * (double)n * (double)k;
        total_flops += flops; // each projection occurs once per layer
        total_time += blas[s];
        own_time[0] += own[s][0];
        own_time[1] += own[s][1];
        printf("%-10s (%ld x %ld) x (%ld x %ld)^T: %.1f GFLOP/s; rmscore fp32 %.1f, bf16 %.1f\n", shapes[s].name, m, k,
               n, k, flops / blas[s] / 1e9, flops / own[s][0] / 1e9, flops / own[s][1] / 1e9);
    }
    printf("rmscore weighted GFLOP/s: fp32 %.1f, bf16 %.1f\n", total_flops / own_time[0] / 1e9,
           total_flops / own_time[1] / 1e9);
    printf("weighted GFLOP/s: %.1f\n", total_flops / total_time / 1e9);
    rms_gemm_ctx_free(&g);
    free(wb);
    free(x);
    free(w);
    free(y);
    return 0;
}
