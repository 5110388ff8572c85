#include "src/engine/forward.h"

#include <stdlib.h>
#include <string.h>

#include "src/base/bigalloc.h"
#include "src/base/sizes.h"
#include "src/engine/kernels.h"
#include "src/engine/parallel.h"

void rms_workspace_init(rms_workspace *ws, rms_compute compute) {
    memset(ws, 0, sizeof *ws);
    ws->bf16 = compute == RMS_COMPUTE_BF16;
    rms_gemm_ctx_init(&ws->gemm);
}

void rms_workspace_free(rms_workspace *ws) {
    rms_gemm_ctx_free(&ws->gemm);
    free(ws->xn);
    free(ws->q);
    free(ws->k);
    free(ws->v);
    free(ws->attn);
    free(ws->gate);
    free(ws->up);
    free(ws->pos);
    free(ws->last_h);
    free(ws->last_x);
    free(ws->last_pos);
    free(ws->attn_scratch);
    free(ws->kv_ctx);
    free(ws->rope_cos);
    free(ws->rope_sin);
    const int bf16 = ws->bf16;
    memset(ws, 0, sizeof *ws);
    ws->bf16 = bf16;
}

static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

/* a * b, or -1 when an operand is negative (an earlier overflow) or the product overflows (sizes.h). */
static int64_t mul(int64_t a, int64_t b) {
    int64_t r;
    return rms_mul_i64(a, b, &r) == 0 ? r : -1;
}

/* Reallocates *buf to n elements of size esize (contents not kept; large ones on huge pages: bigalloc.h). n < 0
 * (an overflowed count) or a byte size beyond size_t fails like an allocation. */
static int grow_bytes(void **buf, int64_t n, size_t esize) {
    size_t bytes;
    free(*buf);
    *buf = NULL;
    if (n < 0 || rms_array_bytes(max_i64(n, 1), esize, &bytes) != 0) return 0;
    *buf = rms_big_alloc(bytes);
    return *buf != NULL;
}
#define grow(buf, n) grow_bytes((void **)(buf), (n), sizeof **(buf))

int64_t rms_workspace_bytes(const rms_config *c, int64_t n_tokens, int64_t n_seqs, int64_t max_ctx, int threads) {
    // the buffers of rms_workspace_reserve below, in its order
    // sizes bounded by config.h's limits (every width < 2^23); the token counts are not: saturating sums and
    // products (sizes.h), so that an absurd batch gives an estimate no machine meets rather than a wrapped one
    const int64_t q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim, half = c->head_dim / 2;
    const int64_t f = (int64_t)sizeof(float), i64 = (int64_t)sizeof(int64_t);
    const int64_t per_token = (c->hidden_size + 2 * q_dim + 2 * kv_dim + 2 * c->intermediate_size) * f + i64;
    const int64_t per_thread =
        rms_sat_add_i64(rms_attention_scratch_floats(max_ctx), rms_sat_mul_i64(2 * c->head_dim, max_ctx));
    const int64_t per_ctx = rms_sat_add_i64(rms_sat_mul_i64(threads, per_thread), rms_sat_mul_i64(2 * half, max_ctx));
    int64_t b = rms_gemm_ctx_bytes(max_i64(n_tokens, 1), max_i64(max_i64(c->hidden_size, q_dim), c->intermediate_size),
                                   threads);
    b = rms_sat_add_i64(b, rms_sat_mul_i64(n_tokens, per_token));
    b = rms_sat_add_i64(b, rms_sat_mul_i64(n_seqs, 2 * c->hidden_size * f + i64));
    b = rms_sat_add_i64(b, rms_sat_mul_i64(per_ctx, f));
    return b;
}

rms_status rms_workspace_reserve(rms_workspace *ws, const rms_model *m, const rms_batch *b, rms_err *err) {
    const rms_config *c = &m->config;
    const int64_t n_tokens = rms_batch_tokens(b), max_ctx = rms_batch_max_ctx(b);
    const int64_t q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    const int threads = rms_parallel_threads();
    rms_status st = rms_gemm_ctx_reserve(&ws->gemm, max_i64(n_tokens, 1),
                                         max_i64(max_i64(c->hidden_size, q_dim), c->intermediate_size), err);
    if (st != RMS_OK) return st;
    if (n_tokens > ws->cap_tokens) {
        if (!grow(&ws->xn, mul(n_tokens, c->hidden_size)) || !grow(&ws->q, mul(n_tokens, q_dim)) ||
            !grow(&ws->k, mul(n_tokens, kv_dim)) || !grow(&ws->v, mul(n_tokens, kv_dim)) ||
            !grow(&ws->attn, mul(n_tokens, q_dim)) || !grow(&ws->gate, mul(n_tokens, c->intermediate_size)) ||
            !grow(&ws->up, mul(n_tokens, c->intermediate_size)) || !grow(&ws->pos, n_tokens))
            goto oom;
        ws->cap_tokens = n_tokens;
    }
    if (b->n_seqs > ws->cap_seqs) {
        if (!grow(&ws->last_h, mul(b->n_seqs, c->hidden_size)) || !grow(&ws->last_x, mul(b->n_seqs, c->hidden_size)) ||
            !grow(&ws->last_pos, b->n_seqs))
            goto oom;
        ws->cap_seqs = b->n_seqs;
    }
    if (max_ctx > ws->cap_ctx || threads > ws->threads) {
        const int64_t ctx = max_i64(max_ctx, ws->cap_ctx), half = c->head_dim / 2;
        if (!grow(&ws->attn_scratch, mul(threads, rms_attention_scratch_floats(ctx))) ||
            !grow(&ws->kv_ctx, mul(mul(threads, 2 * ctx), c->head_dim)) || !grow(&ws->rope_cos, mul(ctx, half)) ||
            !grow(&ws->rope_sin, mul(ctx, half)))
            goto oom;
        rms_rope_tables(ws->rope_cos, ws->rope_sin, m->rope_inv_freq, c->head_dim, ctx);
        ws->cap_ctx = ctx;
        ws->threads = threads;
    }
    return RMS_OK;
oom:
    rms_workspace_free(ws);
    return rms_fail(err, RMS_ERR_NOMEM, "out of memory for activations of %lld tokens (longest context %lld)",
                    (long long)n_tokens, (long long)max_ctx);
}

rms_status rms_batch_check(const rms_batch *b, rms_err *err) {
    if (b->n_seqs < 0 || (b->n_seqs > 0 && (!b->offsets || b->offsets[0] != 0)))
        return rms_fail(err, RMS_ERR_ARG, "batch offsets must start at 0");
    for (int64_t s = 0; s < b->n_seqs; s++) {
        if (b->offsets[s + 1] <= b->offsets[s])
            return rms_fail(err, RMS_ERR_INPUT, "sequence %lld of the batch is empty", (long long)s);
        const int64_t p = b->parent ? b->parent[s] : -1;
        if (p != -1 && (p < 0 || p >= s || b->parent[p] != -1))
            return rms_fail(err, RMS_ERR_INPUT, "sequence %lld of the batch continues %lld, which is not an earlier "
                            "sequence without a parent", (long long)s, (long long)p);
    }
    return RMS_OK;
}

int64_t rms_batch_tokens(const rms_batch *b) { return b->n_seqs > 0 ? b->offsets[b->n_seqs] : 0; }

static int64_t seq_len(const rms_batch *b, int64_t s) { return s < 0 ? 0 : b->offsets[s + 1] - b->offsets[s]; }
static int64_t parent_of(const rms_batch *b, int64_t s) { return b->parent ? b->parent[s] : -1; }
/* Position of the sequence's first token: its parent's length. */
static int64_t first_pos(const rms_batch *b, int64_t s) { return seq_len(b, parent_of(b, s)); }

int64_t rms_batch_max_ctx(const rms_batch *b) {
    int64_t mx = 0;
    for (int64_t s = 0; s < b->n_seqs; s++) mx = max_i64(mx, first_pos(b, s) + seq_len(b, s));
    return mx;
}

rms_status rms_forward_embed(const rms_model *m, const int32_t *ids, int64_t n_tokens, float *hidden, rms_err *err) {
    RMS_ASSERT(m->has_embed);
    const int64_t h = m->config.hidden_size;
    const rms_weight *e = &m->embed_tokens;
    const size_t row_bytes = (size_t)h * rms_dtype_size(e->dtype);
    for (int64_t t = 0; t < n_tokens; t++) {
        if (ids[t] < 0 || ids[t] >= e->rows)
            return rms_fail(err, RMS_ERR_INPUT, "token id %d at position %lld is outside the vocabulary [0, %lld)",
                            ids[t], (long long)t, (long long)e->rows);
        rms_convert_to_f32(hidden + t * h, (const uint8_t *)e->data + (size_t)ids[t] * row_bytes, e->dtype, h);
    }
    return RMS_OK;
}

/* ---- row-parallel elementwise steps ---------------------------------------------------------------------------- */

#define ROWS_PER_TASK 32

typedef struct rows_job {
    int op;
    float *out;
    const float *x, *w;
    int64_t n, dim;
    double eps;
    const rms_workspace *ws;
    int64_t n_heads, head_dim;
    const int64_t *pos;
} rows_job;
enum { OP_RMSNORM, OP_ADD, OP_ROPE };

static void rows_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const rows_job *J = ctx;
    const int64_t r0 = task * ROWS_PER_TASK, nr = (J->n - r0 < ROWS_PER_TASK) ? J->n - r0 : ROWS_PER_TASK;
    switch (J->op) {
    case OP_RMSNORM: rms_rmsnorm(J->out + r0 * J->dim, J->x + r0 * J->dim, J->w, nr, J->dim, J->eps); break;
    case OP_ADD: rms_add(J->out + r0 * J->dim, J->x + r0 * J->dim, nr * J->dim); break;
    case OP_ROPE:
        for (int64_t r = r0; r < r0 + nr; r++)
            rms_rope_apply(J->out + r * J->dim, 1, J->n_heads, J->head_dim, J->pos[r], J->ws->rope_cos,
                           J->ws->rope_sin);
        break;
    }
}

static void run_rows(rows_job *J) { rms_parallel_run((J->n + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rows_task, J); }

/* out (n, dim) = rmsnorm(x) · weight */
static void par_rmsnorm(float *out, const float *x, const float *w, int64_t n, int64_t dim, double eps) {
    rows_job J = {.op = OP_RMSNORM, .out = out, .x = x, .w = w, .n = n, .dim = dim, .eps = eps};
    run_rows(&J);
}
/* y (n, dim) += x (n, dim) */
static void par_add(float *y, const float *x, int64_t n, int64_t dim) {
    rows_job J = {.op = OP_ADD, .out = y, .x = x, .n = n, .dim = dim};
    run_rows(&J);
}
/* RoPE in place on x (n, n_heads, head_dim), row r at position pos[r]. */
static void par_rope(const rms_workspace *ws, float *x, const int64_t *pos, int64_t n, int64_t n_heads,
                     int64_t head_dim) {
    rows_job J = {.op = OP_ROPE, .out = x, .n = n, .dim = n_heads * head_dim, .ws = ws, .n_heads = n_heads,
                  .head_dim = head_dim, .pos = pos};
    run_rows(&J);
}

/* ---- attention: one task per (sequence, query head) ----------------------------------------------------------- */

typedef struct attn_job {
    const rms_config *c;
    rms_workspace *ws;
    const rms_batch *b;
    const float *q; // (rows, n_heads * head_dim): every token's query, or (n_seqs, ...) each last token's
    int last_only;  // q holds each sequence's last query only
    float *out;     // like q
} attn_job;

static void attn_task(void *ctx, int64_t task, int thread) {
    const attn_job *J = ctx;
    const rms_config *c = J->c;
    rms_workspace *ws = J->ws;
    const int64_t s = task / c->n_heads, h = task % c->n_heads, g = h / (c->n_heads / c->n_kv_heads);
    const int64_t hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    const int64_t t0 = J->b->offsets[s], len = J->b->offsets[s + 1] - t0;
    const int64_t p = parent_of(J->b, s), p0 = first_pos(J->b, s), nk = p0 + len;
    const float *k = ws->k + t0 * kv_dim + g * hd, *v = ws->v + t0 * kv_dim + g * hd;
    int64_t ldk = kv_dim;
    if (p >= 0) { // keys and values of the context: the parent's rows, then this sequence's
        float *kc = ws->kv_ctx + (int64_t)thread * 2 * ws->cap_ctx * hd; // (nk, head_dim)
        float *vc = kc + ws->cap_ctx * hd;                                // (nk, head_dim)
        const int64_t pt0 = J->b->offsets[p];
        for (int64_t r = 0; r < nk; r++) {
            const int64_t row = r < p0 ? pt0 + r : t0 + (r - p0);
            memcpy(kc + r * hd, ws->k + row * kv_dim + g * hd, (size_t)hd * sizeof(float));
            memcpy(vc + r * hd, ws->v + row * kv_dim + g * hd, (size_t)hd * sizeof(float));
        }
        k = kc;
        v = vc;
        ldk = hd;
    }
    float *scratch = ws->attn_scratch + (int64_t)thread * rms_attention_scratch_floats(ws->cap_ctx);
    void *pack = rms_gemm_ctx_pack(&ws->gemm, thread);
    if (J->last_only)
        rms_attention_head(J->out + s * q_dim + h * hd, q_dim, J->q + s * q_dim + h * hd, q_dim, 1, nk - 1, k, v, ldk,
                           nk, hd, scratch, pack);
    else
        rms_attention_head(J->out + t0 * q_dim + h * hd, q_dim, J->q + t0 * q_dim + h * hd, q_dim, len, p0, k, v, ldk,
                           nk, hd, scratch, pack);
}

static void par_attention(const rms_config *c, rms_workspace *ws, const rms_batch *b, const float *q, float *out,
                          int last_only) {
    attn_job J = {c, ws, b, q, last_only, out};
    rms_parallel_run(b->n_seqs * c->n_heads, attn_task, &J);
}

/* ---- the decoder layers ----------------------------------------------------------------------------------------- */

/* One LlamaDecoderLayer on the packed batch; hidden (n, hidden) is updated in place. */
static void decoder_layer(const rms_model *m, const rms_layer *L, rms_workspace *ws, const rms_batch *b,
                          float *hidden) {
    const rms_config *c = &m->config;
    const int64_t n = rms_batch_tokens(b), h = c->hidden_size;
    rms_gemm_ctx *g = &ws->gemm;
    const int bf = ws->bf16;

    // residual = hidden; hidden = self.input_layernorm(hidden)
    par_rmsnorm(ws->xn, hidden, L->input_layernorm, n, h, c->rms_norm_eps); // (n, hidden)

    // query/key/value states: (n, heads, head_dim) / (n, kv_heads, head_dim)
    {
        float *const y[3] = {ws->q, ws->k, ws->v};
        const rms_weight *const w[3] = {&L->q_proj, &L->k_proj, &L->v_proj};
        rms_linear_multi(g, 3, y, ws->xn, n, w, bf);
    }

    // apply_rotary_pos_emb, then causal attention within each sequence (and its parent)
    par_rope(ws, ws->q, ws->pos, n, c->n_heads, c->head_dim);
    par_rope(ws, ws->k, ws->pos, n, c->n_kv_heads, c->head_dim);
    par_attention(c, ws, b, ws->q, ws->attn, 0); // (n, heads * head_dim)

    // hidden = residual + self.o_proj(attn_output)
    rms_linear(g, ws->xn, ws->attn, n, &L->o_proj, bf); // (n, hidden)
    par_add(hidden, ws->xn, n, h);

    // residual = hidden; hidden = self.post_attention_layernorm(hidden)
    par_rmsnorm(ws->xn, hidden, L->post_attention_layernorm, n, h, c->rms_norm_eps);

    // hidden = residual + down_proj(act_fn(gate_proj(x)) * up_proj(x)); the SiLU and product run on each tile
    // of gate and up as soon as both are computed
    rms_linear_swiglu(g, ws->gate, ws->up, ws->xn, n, &L->gate_proj, &L->up_proj, bf); // (n, intermediate)
    rms_linear(g, ws->xn, ws->gate, n, &L->down_proj, bf); // (n, hidden)
    par_add(hidden, ws->xn, n, h);
}

/* The model's last LlamaDecoderLayer, for the score head: K/V of every token, everything else only for each
 * sequence's last token; hidden's last rows are updated in place, the other rows are not needed any more. */
static void last_decoder_layer(const rms_model *m, const rms_layer *L, rms_workspace *ws, const rms_batch *b,
                               float *hidden) {
    const rms_config *c = &m->config;
    const int64_t n = rms_batch_tokens(b), h = c->hidden_size, ns = b->n_seqs;
    rms_gemm_ctx *g = &ws->gemm;
    const int bf = ws->bf16;

    // residual = hidden; hidden = self.input_layernorm(hidden)   (every row: keys and values need it)
    par_rmsnorm(ws->xn, hidden, L->input_layernorm, n, h, c->rms_norm_eps); // (n, hidden)

    // key/value states of every token (n, kv_heads, head_dim); the query of each last token (ns, heads, head_dim)
    {
        float *const y[2] = {ws->k, ws->v};
        const rms_weight *const w[2] = {&L->k_proj, &L->v_proj};
        rms_linear_multi(g, 2, y, ws->xn, n, w, bf);
    }
    for (int64_t s = 0; s < ns; s++) {
        const int64_t last = b->offsets[s + 1] - 1;
        memcpy(ws->last_h + s * h, hidden + last * h, (size_t)h * sizeof(float));
        memcpy(ws->last_x + s * h, ws->xn + last * h, (size_t)h * sizeof(float));
        ws->last_pos[s] = ws->pos[last];
    }
    rms_linear(g, ws->q, ws->last_x, ns, &L->q_proj, bf); // (ns, heads * head_dim)

    // apply_rotary_pos_emb (keys at their positions, each query at its sequence's last), then the last token's
    // attention over its whole context
    par_rope(ws, ws->k, ws->pos, n, c->n_kv_heads, c->head_dim);
    par_rope(ws, ws->q, ws->last_pos, ns, c->n_heads, c->head_dim);
    par_attention(c, ws, b, ws->q, ws->attn, 1); // (ns, heads * head_dim)

    // hidden = residual + self.o_proj(attn_output)   (last rows only from here on)
    rms_linear(g, ws->last_x, ws->attn, ns, &L->o_proj, bf); // (ns, hidden)
    par_add(ws->last_h, ws->last_x, ns, h);

    // residual = hidden; hidden = residual + down_proj(act_fn(gate_proj(x)) * up_proj(x)), x = post norm
    par_rmsnorm(ws->last_x, ws->last_h, L->post_attention_layernorm, ns, h, c->rms_norm_eps);
    rms_linear_swiglu(g, ws->gate, ws->up, ws->last_x, ns, &L->gate_proj, &L->up_proj, bf); // (ns, intermediate)
    rms_linear(g, ws->last_x, ws->gate, ns, &L->down_proj, bf); // (ns, hidden)
    par_add(ws->last_h, ws->last_x, ns, h);
    for (int64_t s = 0; s < ns; s++)
        memcpy(hidden + (b->offsets[s + 1] - 1) * h, ws->last_h + s * h, (size_t)h * sizeof(float));
}

rms_status rms_forward_layers(const rms_model *m, rms_workspace *ws, int64_t l0, int64_t l1, const rms_batch *b,
                              float *hidden, rms_err *err) {
    if (l0 < m->layer_begin || l1 > m->layer_end || l0 > l1)
        return rms_fail(err, RMS_ERR_ARG, "layers [%lld, %lld) are not in this model slice [%lld, %lld)",
                        (long long)l0, (long long)l1, (long long)m->layer_begin, (long long)m->layer_end);
    rms_status st = rms_batch_check(b, err);
    if (st != RMS_OK) return st;
    if ((st = rms_workspace_reserve(ws, m, b, err)) != RMS_OK) return st;
    for (int64_t s = 0; s < b->n_seqs; s++) // positions: a continuation starts after its parent
        for (int64_t t = b->offsets[s]; t < b->offsets[s + 1]; t++) ws->pos[t] = first_pos(b, s) + (t - b->offsets[s]);
    for (int64_t l = l0; l < l1; l++) {
        const rms_layer *L = &m->layers[l - m->layer_begin];
        if (l == m->config.n_layers - 1) last_decoder_layer(m, L, ws, b, hidden);
        else decoder_layer(m, L, ws, b, hidden);
    }
    return RMS_OK;
}

rms_status rms_forward_score(const rms_model *m, const rms_batch *b, const float *hidden, float *scores,
                             rms_err *err) {
    RMS_ASSERT(m->has_head);
    const int64_t h = m->config.hidden_size;
    float *normed = malloc((size_t)h * sizeof(float)); // (hidden)
    float *w = malloc((size_t)h * sizeof(float));      // (hidden) score row in fp32
    if (!normed || !w) {
        free(normed);
        free(w);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    rms_convert_to_f32(w, m->score.data, m->score.dtype, h);
    for (int64_t s = 0; s < b->n_seqs; s++) {
        const float *last = hidden + (b->offsets[s + 1] - 1) * h; // logits[range(batch), last token]
        rms_rmsnorm(normed, last, m->final_norm, 1, h, m->config.rms_norm_eps);
        double acc = 0.0;
        for (int64_t j = 0; j < h; j++) acc += (double)normed[j] * w[j];
        scores[s] = (float)acc;
    }
    free(normed);
    free(w);
    return RMS_OK;
}

rms_status rms_forward_all(const rms_model *m, rms_workspace *ws, const rms_batch *b, const int32_t *ids,
                           float *scores, rms_err *err) {
    RMS_ASSERT(m->has_embed && m->has_head);
    rms_status st = rms_batch_check(b, err);
    if (st != RMS_OK) return st;
    const int64_t n = rms_batch_tokens(b);
    const int64_t n_floats = mul(n, m->config.hidden_size); // -1 on overflow
    size_t hidden_bytes;
    float *hidden = n_floats >= 0 && rms_array_bytes(max_i64(n_floats, 1), sizeof(float), &hidden_bytes) == 0
                        ? malloc(hidden_bytes) // (n, hidden)
                        : NULL;
    if (!hidden) return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld tokens", (long long)n);
    if ((st = rms_forward_embed(m, ids, n, hidden, err)) == RMS_OK &&
        (st = rms_forward_layers(m, ws, m->layer_begin, m->layer_end, b, hidden, err)) == RMS_OK)
        st = rms_forward_score(m, b, hidden, scores, err);
    free(hidden);
    return st;
}
