/* kernels.h — the numeric building blocks of the Llama forward, each with a naive reference twin
 * that the unit tests compare against.
 *
 * Layouts are row-major. Activations are fp32. Weights are rms_weight views into the checkpoint
 * mapping (any of F32/F16/BF16), never copied whole: rms_linear converts a block of rows at a time
 * into the caller's scratch buffer and multiplies it with OpenBLAS sgemm.
 *
 * No function here allocates; scratch buffers are the caller's (see the *_scratch_floats helpers).
 */
#ifndef RMS_KERNELS_H
#define RMS_KERNELS_H

#include <stdint.h>

#include "src/base/dtype.h"

/* A weight matrix as torch.nn.Linear stores it: (rows = out_features, cols = in_features). */
typedef struct rms_weight {
    const void *data; /* borrowed: points into the mmap'd checkpoint */
    rms_dtype dtype;
    int64_t rows, cols;
} rms_weight;

/* Rows of a converted weight block: enough for sgemm efficiency, small enough to stay in cache-ish
 * memory. The scratch for rms_linear must hold rms_linear_scratch_floats(w) floats. */
int64_t rms_linear_block_rows(const rms_weight *w);
int64_t rms_linear_scratch_floats(const rms_weight *w);

/* y (m, w.rows) = x (m, w.cols) · wᵀ.  scratch: rms_linear_scratch_floats(w) floats (unused for
 * aligned F32 weights). If round_bf16, x is rounded to bf16 precision first (in place). */
void rms_linear(float *y, float *x, int64_t m, const rms_weight *w, float *scratch, int round_bf16);
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

/* Causal GQA self-attention for ONE sequence of n tokens.
 *   q   (n, n_heads * head_dim)      k, v (n, n_kv * head_dim)
 *   out (n, n_heads * head_dim)      scratch: rms_attention_scratch_floats(n) floats
 * Query head h attends with kv head h / (n_heads / n_kv); scores scaled by 1/sqrt(head_dim). */
int64_t rms_attention_scratch_floats(int64_t n);
void rms_attention(float *out, const float *q, const float *k, const float *v, int64_t n,
                   int64_t n_heads, int64_t n_kv, int64_t head_dim, float *scratch);
/* Attention of the LAST token of ONE sequence of n tokens only (what the last layer needs for the score):
 *   q   (n_heads * head_dim) that token's query    k, v (n, n_kv * head_dim)
 *   out (n_heads * head_dim)                        scratch: n floats
 * The same as the last row of rms_attention on the sequence, in O(n) instead of O(n²). */
void rms_attention_last(float *out, const float *q, const float *k, const float *v, int64_t n, int64_t n_heads,
                        int64_t n_kv, int64_t head_dim, float *scratch);
void rms_attention_naive(float *out, const float *q, const float *k, const float *v, int64_t n,
                         int64_t n_heads, int64_t n_kv, int64_t head_dim);

/* gate (n) = silu(gate) * up, in place. */
void rms_silu_mul(float *gate, const float *up, int64_t n);

/* y (n) += x (n). */
void rms_add(float *y, const float *x, int64_t n);

/* Rounds n floats to the nearest bf16 value (kept as fp32). */
void rms_round_bf16(float *x, int64_t n);

#endif
