#include "src/engine/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "src/base/status.h"

/* Target bytes of one converted fp32 weight block. */
#define RMS_LINEAR_BLOCK_BYTES ((int64_t)16 << 20)
/* Query rows per attention block: scores (block, n) live in scratch. */
#define RMS_ATTN_QBLOCK 128

static int weight_is_direct(const rms_weight *w) {
    return w->dtype == RMS_DTYPE_F32 && ((uintptr_t)w->data % sizeof(float)) == 0;
}

int64_t rms_linear_block_rows(const rms_weight *w) {
    int64_t rows = RMS_LINEAR_BLOCK_BYTES / ((int64_t)sizeof(float) * (w->cols > 0 ? w->cols : 1));
    if (rows < 64) rows = 64;
    if (rows > w->rows) rows = w->rows;
    return rows;
}

int64_t rms_linear_scratch_floats(const rms_weight *w) {
    return weight_is_direct(w) ? 0 : rms_linear_block_rows(w) * w->cols;
}

void rms_linear(float *y, float *x, int64_t m, const rms_weight *w, float *scratch, int round_bf16) {
    const int64_t n = w->rows, k = w->cols;
    if (m == 0 || n == 0) return;
    if (round_bf16) rms_round_bf16(x, m * k);
    if (weight_is_direct(w)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)k,
                    (const float *)w->data, (int)k, 0.0f, y, (int)n);
        return;
    }
    const int64_t block = rms_linear_block_rows(w);
    const size_t esize = rms_dtype_size(w->dtype);
    for (int64_t r0 = 0; r0 < n; r0 += block) {
        const int64_t nb = (n - r0 < block) ? n - r0 : block;
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r0 * (size_t)k * esize;
        rms_convert_to_f32(scratch, src, w->dtype, nb * k); // scratch: (nb, k)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)k, 1.0f, x, (int)k,
                    scratch, (int)k, 0.0f, y + r0, (int)n);
    }
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

int64_t rms_attention_scratch_floats(int64_t n) {
    const int64_t qb = n < RMS_ATTN_QBLOCK ? n : RMS_ATTN_QBLOCK;
    return qb * n;
}

/* Softmax over the first `len` entries of row; entries past len are set to 0 (causal mask). */
static void softmax_causal_row(float *row, int64_t len, int64_t width) {
    float mx = row[0];
    for (int64_t j = 1; j < len; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0.0;
    for (int64_t j = 0; j < len; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < len; j++) row[j] *= inv;
    for (int64_t j = len; j < width; j++) row[j] = 0.0f;
}

void rms_attention(float *out, const float *q, const float *k, const float *v, int64_t n,
                   int64_t n_heads, int64_t n_kv, int64_t head_dim, float *scratch) {
    RMS_ASSERT(n_kv > 0 && n_heads % n_kv == 0);
    const int64_t group = n_heads / n_kv;
    const int64_t ldq = n_heads * head_dim, ldk = n_kv * head_dim;
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    for (int64_t h = 0; h < n_heads; h++) {
        const int64_t g = h / group;
        for (int64_t i0 = 0; i0 < n; i0 += RMS_ATTN_QBLOCK) {
            const int64_t nq = (n - i0 < RMS_ATTN_QBLOCK) ? n - i0 : RMS_ATTN_QBLOCK;
            const int64_t nk = i0 + nq; // keys 0 .. i0+nq-1 are visible to this block
            // scores (nq, nk) = scale · Q[i0:i0+nq, h] · K[0:nk, g]ᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)head_dim, scale,
                        q + i0 * ldq + h * head_dim, (int)ldq, k + g * head_dim, (int)ldk, 0.0f, scratch,
                        (int)nk);
            for (int64_t r = 0; r < nq; r++) softmax_causal_row(scratch + r * nk, i0 + r + 1, nk);
            // out[i0:i0+nq, h] (nq, head_dim) = P (nq, nk) · V[0:nk, g]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)head_dim, (int)nk, 1.0f,
                        scratch, (int)nk, v + g * head_dim, (int)ldk, 0.0f, out + i0 * ldq + h * head_dim,
                        (int)ldq);
        }
    }
}

void rms_attention_last(float *out, const float *q, const float *k, const float *v, int64_t n, int64_t n_heads,
                        int64_t n_kv, int64_t head_dim, float *scratch) {
    RMS_ASSERT(n_kv > 0 && n_heads % n_kv == 0);
    const int64_t group = n_heads / n_kv, ldk = n_kv * head_dim;
    const float scale = (float)(1.0 / sqrt((double)head_dim));
    for (int64_t h = 0; h < n_heads; h++) {
        const int64_t g = h / group;
        // scores (n) = scale · K[:, g] · q_h
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)head_dim, scale, k + g * head_dim, (int)ldk,
                    q + h * head_dim, 1, 0.0f, scratch, 1);
        softmax_causal_row(scratch, n, n); // the last token sees every key
        // out_h (head_dim) = V[:, g]ᵀ · p
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, (int)head_dim, 1.0f, v + g * head_dim, (int)ldk, scratch, 1,
                    0.0f, out + h * head_dim, 1);
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

void rms_silu_mul(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void rms_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void rms_round_bf16(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rms_bf16_to_f32(rms_f32_to_bf16(x[i]));
}
