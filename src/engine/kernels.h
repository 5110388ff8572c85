/* kernels.h — the numeric building blocks of the Llama forward, each with a naive reference twin
 * that the unit tests compare against.
 *
 * Layouts are row-major. Activations are fp32. Weights are rms_weight views into the checkpoint
 * mapping (any of F32/F16/BF16), never copied whole: rms_linear multiplies with rmscore's own GEMM
 * (gemm.h), which converts small blocks of the weight while packing them.
 *
 * Every kernel computes each output row from that row's inputs alone, in an order that does not depend
 * on the other rows of the call (gemm.h): results are batch invariant.
 *
 * No function here allocates; scratch buffers are the caller's (see the *_scratch_floats helpers).
 */
#ifndef RMS_KERNELS_H
#define RMS_KERNELS_H

#include <stdint.h>

#include "src/base/dtype.h"
#include "src/engine/gemm.h"

/* A weight matrix as torch.nn.Linear stores it: (rows = out_features, cols = in_features). */
typedef struct rms_weight {
    const void *data; /* borrowed: points into the mmap'd checkpoint */
    rms_dtype dtype;
    int64_t rows, cols;
} rms_weight;

/* y (m, w.rows) = x (m, w.cols) · wᵀ on the engine's threads. bf16: --compute bf16 (gemm.h). Needs
 * rms_gemm_ctx_reserve(g, m, w.cols). */
void rms_linear(rms_gemm_ctx *g, float *y, const float *x, int64_t m, const rms_weight *w, int bf16);
/* y[o] (m, w[o]->rows) = x · w[o]ᵀ for o < nw, every w[o] with the same cols (x packed once: rms_gemm_multi);
 * the same bits as nw calls of rms_linear. */
void rms_linear_multi(rms_gemm_ctx *g, int nw, float *const *y, const float *x, int64_t m,
                      const rms_weight *const *w, int bf16);
/* gate (m, rows) = silu(x · w_gateᵀ) * (x · w_upᵀ), up (m, rows) = x · w_upᵀ (rms_gemm_pair with rms_silu_mul):
 * the bits of two rms_linear calls and rms_silu_mul. */
void rms_linear_swiglu(rms_gemm_ctx *g, float *gate, float *up, const float *x, int64_t m, const rms_weight *w_gate,
                       const rms_weight *w_up, int bf16);
/* Reference: plain loops in double accumulation. */
void rms_linear_naive(float *y, const float *x, int64_t m, const rms_weight *w);

/* out (n, dim) = x / sqrt(mean(x²) + eps) * weight, per row; out may equal x. */
void rms_rmsnorm(float *out, const float *x, const float *weight, int64_t n, int64_t dim, double eps);

/* RoPE inverse frequencies (head_dim/2) for theta with optional llama3 scaling, as transformers'
 * _compute_default_rope_parameters / _compute_llama3_parameters (computed in double). */
typedef struct rms_rope_params {
    double theta;
    int llama3;                 /* 0: no scaling */
    double factor, low_freq_factor, high_freq_factor;
    double original_max_position;
} rms_rope_params;
void rms_rope_inv_freq(double *inv_freq /* (head_dim/2) */, int64_t head_dim, const rms_rope_params *p);

/* cos/sin tables (n_pos, head_dim/2): angle = pos · inv_freq[i]. */
void rms_rope_tables(float *cos_t, float *sin_t, const double *inv_freq, int64_t head_dim, int64_t n_pos);

/* Applies "rotate half" RoPE in place to x (n_tok, n_heads, head_dim) whose token t has position
 * pos0 + t: x1' = x1·cos − x2·sin, x2' = x2·cos + x1·sin with x1 = x[:d/2], x2 = x[d/2:]. */
void rms_rope_apply(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim, int64_t pos0,
                    const float *cos_t, const float *sin_t);

/* Causal attention of ONE query head over ONE sequence, on the calling thread:
 *   q   (nq, head_dim) [row stride ldq]   the queries at positions q_pos0 .. q_pos0 + nq - 1
 *   k,v (nk, head_dim) [row stride ldk]   keys/values at positions 0 .. nk - 1 (nk >= q_pos0 + nq)
 *   out (nq, head_dim) [row stride ldo]
 * Query i sees keys 0 .. q_pos0 + i; scores scaled by 1/sqrt(head_dim). A query's output depends only on
 * its own row and the keys it sees (bitwise): the last token alone (nq = 1), the whole sequence, or a
 * continuation after a shared prefix (keys = prefix ++ continuation) give it the same bits.
 *   scratch: rms_attention_scratch_floats(nk) floats      pack: rms_gemm_pack_bytes(), 64-byte aligned */
int64_t rms_attention_scratch_floats(int64_t nk);
void rms_attention_head(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t nq, int64_t q_pos0,
                        const float *k, const float *v, int64_t ldk, int64_t nk, int64_t head_dim, float *scratch,
                        void *pack);

/* Causal GQA self-attention for ONE sequence of n tokens (every head, rms_attention_head each):
 *   q   (n, n_heads * head_dim)      k, v (n, n_kv * head_dim)      out (n, n_heads * head_dim)
 * Query head h attends with kv head h / (n_heads / n_kv). */
void rms_attention(float *out, const float *q, const float *k, const float *v, int64_t n, int64_t n_heads,
                   int64_t n_kv, int64_t head_dim, float *scratch, void *pack);
void rms_attention_naive(float *out, const float *q, const float *k, const float *v, int64_t n,
                         int64_t n_heads, int64_t n_kv, int64_t head_dim);

/* e^x in fp32 from + and × only (no libm), so that loops over it vectorize and every CPU gives the same bits: within
 * 2 ulp of exp for x in [-86.6, 88.72], 0 below, +inf above, NaN for NaN. Used by the softmax and SiLU. */
float rms_expf(float x);

/* gate (n) = silu(gate) * up, in place. */
void rms_silu_mul(float *gate, const float *up, int64_t n);

/* y (n) += x (n). */
void rms_add(float *y, const float *x, int64_t n);

#endif
