#include "src/engine/kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "src/base/status.h"

/* Query rows per attention block: scores (block, n) live in scratch. */
#define RMS_ATTN_QBLOCK 128

static rms_gemm_b weight_as_b(const rms_weight *w) {
    const rms_gemm_b b = {w->data, w->dtype, w->rows, w->cols, w->cols, 0};
    return b;
}

void rms_linear(rms_gemm_ctx *g, float *y, const float *x, int64_t m, const rms_weight *w, int bf16) {
    const rms_gemm_b b = weight_as_b(w);
    rms_gemm(g, y, w->rows, x, w->cols, m, &b, bf16);
}

void rms_linear_multi(rms_gemm_ctx *g, int nw, float *const *y, const float *x, int64_t m,
                      const rms_weight *const *w, int bf16) {
    rms_gemm_b b[RMS_GEMM_MAX_MULTI];
    int64_t ldy[RMS_GEMM_MAX_MULTI];
    for (int o0 = 0; o0 < nw; o0 += RMS_GEMM_MAX_MULTI) {
        const int cnt = nw - o0 < RMS_GEMM_MAX_MULTI ? nw - o0 : RMS_GEMM_MAX_MULTI;
        for (int o = 0; o < cnt; o++) {
            b[o] = weight_as_b(w[o0 + o]);
            ldy[o] = w[o0 + o]->rows;
        }
        rms_gemm_multi(g, cnt, y + o0, ldy, x, w[o0]->cols, m, b, bf16);
    }
}

void rms_linear_swiglu(rms_gemm_ctx *g, float *gate, float *up, const float *x, int64_t m, const rms_weight *w_gate,
                       const rms_weight *w_up, int bf16) {
    const rms_gemm_b bg = weight_as_b(w_gate), bu = weight_as_b(w_up);
    rms_gemm_pair(g, gate, up, w_gate->rows, x, w_gate->cols, m, &bg, &bu, rms_silu_mul, bf16);
}

static float weight_at(const rms_weight *w, int64_t r, int64_t c) {
    const size_t idx = (size_t)r * (size_t)w->cols + (size_t)c;
    float v;
    rms_convert_to_f32(&v, (const uint8_t *)w->data + idx * rms_dtype_size(w->dtype), w->dtype, 1);
    return v;
}

void rms_linear_naive(float *y, const float *x, int64_t m, const rms_weight *w) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < w->rows; j++) {
            double acc = 0.0;
            for (int64_t c = 0; c < w->cols; c++) acc += (double)x[i * w->cols + c] * weight_at(w, j, c);
            y[i * w->rows + j] = (float)acc;
        }
}

void rms_rmsnorm(float *out, const float *x, const float *weight, int64_t n, int64_t dim, double eps) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * dim;
        float *oi = out + i * dim;
        double ss = 0.0;
        for (int64_t j = 0; j < dim; j++) ss += (double)xi[j] * xi[j];
        const float inv = (float)(1.0 / sqrt(ss / (double)dim + eps));
        for (int64_t j = 0; j < dim; j++) oi[j] = weight[j] * (xi[j] * inv);
    }
}

void rms_rope_inv_freq(double *inv_freq, int64_t head_dim, const rms_rope_params *p) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i++) inv_freq[i] = 1.0 / pow(p->theta, (double)(2 * i) / (double)head_dim);
    if (!p->llama3) return;
    const double low_freq_wavelen = p->original_max_position / p->low_freq_factor;
    const double high_freq_wavelen = p->original_max_position / p->high_freq_factor;
    for (int64_t i = 0; i < half; i++) {
        const double wavelen = 2.0 * M_PI / inv_freq[i];
        if (wavelen > low_freq_wavelen) {
            inv_freq[i] = inv_freq[i] / p->factor; // low frequencies: scaled
        } else if (wavelen >= high_freq_wavelen) {
            // medium: interpolate between scaled and unscaled
            const double smooth = (p->original_max_position / wavelen - p->low_freq_factor) /
                                  (p->high_freq_factor - p->low_freq_factor);
            inv_freq[i] = (1.0 - smooth) * inv_freq[i] / p->factor + smooth * inv_freq[i];
        } // high frequencies: unchanged
    }
}

void rms_rope_tables(float *cos_t, float *sin_t, const double *inv_freq, int64_t head_dim, int64_t n_pos) {
    const int64_t half = head_dim / 2;
    for (int64_t pos = 0; pos < n_pos; pos++)
        for (int64_t i = 0; i < half; i++) {
            const double angle = (double)pos * inv_freq[i];
            cos_t[pos * half + i] = (float)cos(angle);
            sin_t[pos * half + i] = (float)sin(angle);
        }
}

void rms_rope_apply(float *x, int64_t n_tok, int64_t n_heads, int64_t head_dim, int64_t pos0,
                    const float *cos_t, const float *sin_t) {
    const int64_t half = head_dim / 2;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *c = cos_t + (pos0 + t) * half;
        const float *s = sin_t + (pos0 + t) * half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *x1 = x + (t * n_heads + h) * head_dim;
            float *x2 = x1 + half;
            for (int64_t i = 0; i < half; i++) {
                const float a = x1[i], b = x2[i];
                x1[i] = a * c[i] - b * s[i];
                x2[i] = b * c[i] + a * s[i];
            }
        }
    }
}

int64_t rms_attention_scratch_floats(int64_t nk) {
    const int64_t qb = nk < RMS_ATTN_QBLOCK ? nk : RMS_ATTN_QBLOCK;
    return qb * nk;
}

float rms_expf(float x) {
    // x = n·ln2 + r with |r| <= ln2/2 (ln2 split Cody-Waite style: n·LN2_HI is exact for |n| <= 128),
    // e^r = its Taylor series to r^7 (Horner; the truncation is under 1e-8 relative), times 2^(n-1) · 2.
    const float lo = -86.6f, hi = 88.72f; // 2^(n-1) stays a normal float; e^88.72 < FLT_MAX
    const float xc = x < lo ? lo : (x > hi ? hi : x);
    const float t = xc * 1.44269504f + 12582912.0f; // + 1.5·2^23: rounds x·log2(e) to an integer
    float n = t - 12582912.0f;
    n = n == n ? n : 0.0f; // NaN in: r and so e stay NaN, the exponent bits below stay defined
    const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 126) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale * 2.0f;
    e = x < lo ? 0.0f : e;
    e = x > hi ? INFINITY : e;
    return e;
}

/* The element-wise loops below are built for the vector widths the CPU offers (one clone each, chosen when the
 * program loads). Every lane computes what the scalar code does, operation for operation (no contraction, no
 * reassociation), so the clones give the same bits. */
#if defined(__clang__) // the fuzz build (RMSCORE_FUZZ): clang refuses these clones of functions kernels.h declares
#define RMS_VECTOR_CLONES  // plain, so one default version: same bits, fuzzing does not need the speed
#else
#define RMS_VECTOR_CLONES __attribute__((noinline, target_clones("avx512f", "avx2", "default")))
#endif

/* row (n) = e^(row - shift) */
RMS_VECTOR_CLONES static void exp_shifted(float *row, int64_t n, float shift) {
    for (int64_t j = 0; j < n; j++) row[j] = rms_expf(row[j] - shift);
}

/* Softmax over the first `len` entries of row; entries past len are set to 0 (causal mask). */
static void softmax_causal_row(float *row, int64_t len, int64_t width) {
    float mx = row[0];
    for (int64_t j = 1; j < len; j++) mx = row[j] > mx ? row[j] : mx;
    exp_shifted(row, len, mx);
    double sum = 0.0;
    for (int64_t j = 0; j < len; j++) sum += row[j];
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < len; j++) row[j] *= inv;
    for (int64_t j = len; j < width; j++) row[j] = 0.0f;
}

void rms_attention_head(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t nq, int64_t q_pos0,
                        const float *k, const float *v, int64_t ldk, int64_t nk, int64_t head_dim, float *scratch,
                        void *pack) {
    RMS_ASSERT(q_pos0 + nq <= nk);
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    for (int64_t i0 = 0; i0 < nq; i0 += RMS_ATTN_QBLOCK) {
        const int64_t nqb = (nq - i0 < RMS_ATTN_QBLOCK) ? nq - i0 : RMS_ATTN_QBLOCK;
        const int64_t nkb = q_pos0 + i0 + nqb; // keys visible to this block of queries
        // scores (nqb, nkb) = Q[i0:i0+nqb] · K[0:nkb]ᵀ · scale
        const rms_gemm_b kb = {k, RMS_DTYPE_F32, nkb, head_dim, ldk, 0};
        rms_gemm_serial(scratch, nkb, q + i0 * ldq, ldq, nqb, &kb, pack);
        for (int64_t r = 0; r < nqb; r++) {
            float *row = scratch + r * nkb;
            for (int64_t j = 0; j < nkb; j++) row[j] *= scale;
            softmax_causal_row(row, q_pos0 + i0 + r + 1, nkb);
        }
        // out[i0:i0+nqb] (nqb, head_dim) = P (nqb, nkb) · V[0:nkb]   (V read as (head_dim, nkb))
        const rms_gemm_b vb = {v, RMS_DTYPE_F32, head_dim, nkb, ldk, 1};
        rms_gemm_serial(out + i0 * ldo, ldo, scratch, nkb, nqb, &vb, pack);
    }
}

void rms_attention(float *out, const float *q, const float *k, const float *v, int64_t n, int64_t n_heads,
                   int64_t n_kv, int64_t head_dim, float *scratch, void *pack) {
    RMS_ASSERT(n_kv > 0 && n_heads % n_kv == 0);
    const int64_t group = n_heads / n_kv, ldq = n_heads * head_dim, ldk = n_kv * head_dim;
    for (int64_t h = 0; h < n_heads; h++) {
        const int64_t g = h / group;
        rms_attention_head(out + h * head_dim, ldq, q + h * head_dim, ldq, n, 0, k + g * head_dim, v + g * head_dim,
                           ldk, n, head_dim, scratch, pack);
    }
}

void rms_attention_naive(float *out, const float *q, const float *k, const float *v, int64_t n,
                         int64_t n_heads, int64_t n_kv, int64_t head_dim) {
    const int64_t group = n_heads / n_kv;
    const int64_t ldq = n_heads * head_dim, ldk = n_kv * head_dim;
    for (int64_t h = 0; h < n_heads; h++) {
        const int64_t g = h / group;
        for (int64_t i = 0; i < n; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j <= i; j++) {
                double s = 0.0;
                for (int64_t d = 0; d < head_dim; d++) s += (double)q[i * ldq + h * head_dim + d] * k[j * ldk + g * head_dim + d];
                s /= sqrt((double)head_dim);
                mx = s > mx ? s : mx;
            }
            double acc[head_dim > 0 ? head_dim : 1];
            memset(acc, 0, sizeof acc);
            for (int64_t j = 0; j <= i; j++) {
                double s = 0.0;
                for (int64_t d = 0; d < head_dim; d++) s += (double)q[i * ldq + h * head_dim + d] * k[j * ldk + g * head_dim + d];
                const double p = exp(s / sqrt((double)head_dim) - mx);
                sum += p;
                for (int64_t d = 0; d < head_dim; d++) acc[d] += p * v[j * ldk + g * head_dim + d];
            }
            for (int64_t d = 0; d < head_dim; d++) out[i * ldq + h * head_dim + d] = (float)(acc[d] / sum);
        }
    }
}

RMS_VECTOR_CLONES void rms_silu_mul(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + rms_expf(-g)) * up[i];
    }
}

void rms_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}
