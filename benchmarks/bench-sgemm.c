/* bench-sgemm — the machine's cblas_sgemm rate at a Llama model's own matmul shapes.
 *
 * For M = --tokens rows it times y = x · wᵀ for each projection of one decoder layer
 * (q, k, v, o, gate, up, down), prints each shape's GFLOP/s, and last the flop-weighted rate
 * (total flops / total time) as "weighted GFLOP/s: X" — the ceiling rmscore's forward is compared
 * with. Uses the same OpenBLAS kernel selection as rmscore (RMSCORE_BLAS_CORE). */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/engine/blas.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long arg_value(int argc, char **argv, const char *name, long dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
    return dflt;
}

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
    printf("OpenBLAS core %s, %ld threads, M = %ld tokens\n", rms_blas_corename(), threads, m);
    double total_flops = 0.0, total_time = 0.0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const long n = shapes[s].n, k = shapes[s].k;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)k, w, (int)k, 0.0f,
                    y, (int)n); // warm-up
        double best = 1e30;
        for (long r = 0; r < reps; r++) {
            const double t0 = now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)k, w, (int)k,
                        0.0f, y, (int)n);
            const double t = now_seconds() - t0;
            best = t < best ? t : best;
        }
        const double flops = 2.0 * (double)m * (double)n * (double)k;
        total_flops += flops; // each projection occurs once per layer
        total_time += best;
        printf("%-10s (%ld x %ld) x (%ld x %ld)^T: %.1f GFLOP/s\n", shapes[s].name, m, k, n, k, flops / best / 1e9);
    }
    printf("weighted GFLOP/s: %.1f\n", total_flops / total_time / 1e9);
    free(x);
    free(w);
    free(y);
    return 0;
}
