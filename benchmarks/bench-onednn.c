/* bench-onednn — oneDNN's matmul at a Llama model's matmul shapes, beside rmscore's own kernels: the
 * measurement behind the choice of rmscore's GEMM (README, "Kernels"). Not a test; built only when
 * Debian's libdnnl-dev is installed (CMake finds dnnl.h), run by hand:
 *
 *   OMP_NUM_THREADS=2 build/bench-onednn [--tokens 1024] [--threads 2] [--reps 3]
 *
 * For M = --tokens rows and each projection of one decoder layer of the 1B shape (hidden 2048, MLP 8192,
 * 32/8 heads) it times y (M, N) = x (M, K) · wᵀ with w (N, K) as stored in a checkpoint:
 *   oneDNN bf16: x and w bf16, y f32 (what PyTorch runs for bf16 on CPU; AVX512_BF16/AMX where present)
 *   oneDNN f32:  x and w f32
 *   rmscore:     rms_gemm on bf16 w, fp32 and bf16 compute
 * and checks batch invariance: row r of the M-row product against the same row computed in a call of M-7
 * rows and alone (M = 1). Prints GFLOP/s per shape, the flop-weighted rates, and whether each path was
 * bitwise row-invariant. */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench-args.h"
#include "src/base/clock.h"
#include "src/base/dtype.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"

#define DN(call)                                                                                                     \
    do {                                                                                                             \
        const dnnl_status_t s_ = (call);                                                                             \
        if (s_ != dnnl_success) {                                                                                    \
            fprintf(stderr, "bench-onednn: %s failed (%d)\n", #call, (int)s_);                                      \
            exit(1);                                                                                                 \
        }                                                                                                            \
    } while (0)

/* One oneDNN matmul y (m, n) f32 = x (m, k) · wᵀ, w stored (n, k); dt: dnnl_bf16 or dnnl_f32 for x and w. */
typedef struct dn_mm {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} dn_mm;

static void dn_mm_init(dn_mm *p, dnnl_engine_t eng, dnnl_data_type_t dt, long m, long n, long k, void *x, void *w,
                       float *y) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    const dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n}, b_strides = {1, k};
    DN(dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, dt, dnnl_ab));
    DN(dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dt, b_strides)); // (k, n) view of w (n, k)
    DN(dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    DN(dnnl_primitive_create(&p->prim, pd));
    DN(dnnl_primitive_desc_destroy(pd));
    DN(dnnl_memory_create(&p->a, &a_md, eng, x));
    DN(dnnl_memory_create(&p->b, &b_md, eng, w));
    DN(dnnl_memory_create(&p->c, &c_md, eng, y));
}

static void dn_mm_run(dn_mm *p, dnnl_stream_t s) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
    DN(dnnl_primitive_execute(p->prim, s, 3, args));
    DN(dnnl_stream_wait(s));
}

static void dn_mm_free(dn_mm *p) {
    dnnl_primitive_destroy(p->prim);
    dnnl_memory_destroy(p->a);
    dnnl_memory_destroy(p->b);
    dnnl_memory_destroy(p->c);
}

int main(int argc, char **argv) {
    const long m = arg_value(argc, argv, "--tokens", 1024), threads = arg_value(argc, argv, "--threads", 2);
    const long reps = arg_value(argc, argv, "--reps", 3);
    const long h = 2048, inter = 8192, heads = 32, kv = 8, hd = 64;
    const struct { const char *name; long n, k; } shapes[] = {
        {"q_proj", heads * hd, h}, {"k_proj", kv * hd, h}, {"v_proj", kv * hd, h}, {"o_proj", h, heads * hd},
        {"gate_proj", inter, h}, {"up_proj", inter, h}, {"down_proj", h, inter},
    };
    const long maxdim = inter;
    float *x = malloc(sizeof(float) * (size_t)m * maxdim), *w = malloc(sizeof(float) * (size_t)maxdim * h * 4);
    uint16_t *xb = malloc(2 * (size_t)m * maxdim), *wb = malloc(2 * (size_t)maxdim * h * 4);
    float *y = malloc(sizeof(float) * (size_t)m * maxdim), *y1 = malloc(sizeof(float) * (size_t)m * maxdim);
    if (!x || !w || !xb || !wb || !y || !y1) return fprintf(stderr, "bench-onednn: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)m * maxdim; i++) x[i] = (float)((i * 2654435761u) % 1000) * 0.002f - 1.0f;
    for (size_t i = 0; i < (size_t)maxdim * h * 4; i++) w[i] = (float)((i * 40503u) % 1000) * 0.0001f - 0.05f;
    for (size_t i = 0; i < (size_t)m * maxdim; i++) xb[i] = rms_f32_to_bf16(x[i]);
    for (size_t i = 0; i < (size_t)maxdim * h * 4; i++) {
        wb[i] = rms_f32_to_bf16(w[i]);
        w[i] = rms_bf16_to_f32(wb[i]); // the same weights in both types
    }
    rms_err err;
    rms_gemm_ctx g;
    rms_gemm_ctx_init(&g);
    if (rms_engine_start((int)threads, &err) != RMS_OK || rms_gemm_ctx_reserve(&g, m, maxdim, &err) != RMS_OK)
        return fprintf(stderr, "bench-onednn: %s\n", err.msg), 1;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    DN(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (cpu runtime %s, isa %s), M = %ld tokens, %ld threads; rmscore kernels %s%s\n", v->major,
           v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
           getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "auto", m, threads,
           rms_kernel_name(rms_gemm_kernel()), rms_gemm_bf16_dot() ? " + AVX512_BF16" : "");
    const char *paths[4] = {"oneDNN bf16", "oneDNN f32", "rmscore fp32", "rmscore bf16"};
    double total_flops = 0, tt[4] = {0, 0, 0, 0};
    int invariant[4] = {1, 1, 1, 1};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const long n = shapes[s].n, k = shapes[s].k;
        const double flops = 2.0 * (double)m * n * k;
        total_flops += flops;
        double best[4];
        for (int pth = 0; pth < 4; pth++) {
            dn_mm full, less, one;
            const rms_gemm_b b = {wb, RMS_DTYPE_BF16, n, k, k, 0};
            if (pth < 2) {
                const dnnl_data_type_t dt = pth == 0 ? dnnl_bf16 : dnnl_f32;
                void *xs = pth == 0 ? (void *)xb : (void *)x, *ws = pth == 0 ? (void *)wb : (void *)w;
                const size_t esz = pth == 0 ? 2 : 4;
                dn_mm_init(&full, eng, dt, m, n, k, xs, ws, y);
                dn_mm_init(&less, eng, dt, m - 7, n, k, (char *)xs + 7 * k * esz, ws, y1 + 7 * n);
                dn_mm_init(&one, eng, dt, 1, n, k, (char *)xs + 5 * k * esz, ws, y1 + 5 * n);
                dn_mm_run(&full, stream);
            } else {
                rms_gemm(&g, y, n, x, k, m, &b, pth == 3);
            }
            best[pth] = 1e30;
            for (long r = 0; r < reps; r++) {
                const double t0 = rms_now_seconds();
                if (pth < 2) dn_mm_run(&full, stream);
                else rms_gemm(&g, y, n, x, k, m, &b, pth == 3);
                const double t = rms_now_seconds() - t0;
                best[pth] = t < best[pth] ? t : best[pth];
            }
            // row invariance: rows 7.. from an (m-7)-row call, row 5 alone
            if (pth < 2) {
                dn_mm_run(&less, stream);
                dn_mm_run(&one, stream);
                dn_mm_free(&full);
                dn_mm_free(&less);
                dn_mm_free(&one);
            } else {
                rms_gemm(&g, y1 + 7 * n, n, x + 7 * k, k, m - 7, &b, pth == 3);
                rms_gemm(&g, y1 + 5 * n, n, x + 5 * k, k, 1, &b, pth == 3);
            }
            invariant[pth] &= memcmp(y + 7 * n, y1 + 7 * n, sizeof(float) * (size_t)(m - 7) * n) == 0 &&
                              memcmp(y + 5 * n, y1 + 5 * n, sizeof(float) * (size_t)n) == 0;
            tt[pth] += best[pth];
        }
        printf("%-10s (%ld x %ld) x (%ld x %ld)^T:", shapes[s].name, m, k, n, k);
        for (int pth = 0; pth < 4; pth++) printf(" %s %.1f", paths[pth], flops / best[pth] / 1e9);
        printf(" GFLOP/s\n");
    }
    for (int pth = 0; pth < 4; pth++)
        printf("%-13s weighted %.1f GFLOP/s; rows bitwise independent of the call's other rows: %s\n", paths[pth],
               total_flops / tt[pth] / 1e9, invariant[pth] ? "yes" : "NO");
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    rms_gemm_ctx_free(&g);
    return 0;
}
