#include "src/engine/forward.h"

#include <stdlib.h>
#include <string.h>

void rms_workspace_init(rms_workspace *ws, rms_compute compute) {
    memset(ws, 0, sizeof *ws);
    ws->round_bf16 = compute == RMS_COMPUTE_BF16;
}

void rms_workspace_free(rms_workspace *ws) {
    free(ws->xn);
    free(ws->q);
    free(ws->k);
    free(ws->v);
    free(ws->attn);
    free(ws->gate);
    free(ws->up);
    free(ws->last_h);
    free(ws->last_x);
    free(ws->wblock);
    free(ws->attn_scratch);
    free(ws->rope_cos);
    free(ws->rope_sin);
    const int round_bf16 = ws->round_bf16;
    memset(ws, 0, sizeof *ws);
    ws->round_bf16 = round_bf16;
}

static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

static int64_t max_linear_scratch(const rms_model *m) {
    int64_t s = 0;
    for (int64_t i = 0; i < m->layer_end - m->layer_begin; i++) {
        const rms_layer *L = &m->layers[i];
        const rms_weight *ws[] = {&L->q_proj, &L->k_proj, &L->v_proj, &L->o_proj,
                                  &L->gate_proj, &L->up_proj, &L->down_proj};
        for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++) s = max_i64(s, rms_linear_scratch_floats(ws[j]));
    }
    return s;
}

/* Reallocates *buf to n floats (contents not kept). */
static int grow(float **buf, int64_t n) {
    free(*buf);
    *buf = malloc((size_t)max_i64(n, 1) * sizeof(float));
    return *buf != NULL;
}

rms_status rms_workspace_reserve(rms_workspace *ws, const rms_model *m, const rms_batch *b, rms_err *err) {
    const rms_config *c = &m->config;
    const int64_t n_tokens = rms_batch_tokens(b), max_seq = rms_batch_max_seq(b);
    const int64_t q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    if (n_tokens > ws->cap_tokens) {
        if (!grow(&ws->xn, n_tokens * c->hidden_size) || !grow(&ws->q, n_tokens * q_dim) ||
            !grow(&ws->k, n_tokens * kv_dim) || !grow(&ws->v, n_tokens * kv_dim) ||
            !grow(&ws->attn, n_tokens * q_dim) || !grow(&ws->gate, n_tokens * c->intermediate_size) ||
            !grow(&ws->up, n_tokens * c->intermediate_size))
            goto oom;
        ws->cap_tokens = n_tokens;
    }
    if (b->n_seqs > ws->cap_seqs) {
        if (!grow(&ws->last_h, b->n_seqs * c->hidden_size) || !grow(&ws->last_x, b->n_seqs * c->hidden_size)) goto oom;
        ws->cap_seqs = b->n_seqs;
    }
    if (!ws->wblock && !grow(&ws->wblock, max_linear_scratch(m))) goto oom;
    if (max_seq > ws->cap_seq) {
        const int64_t half = c->head_dim / 2;
        if (!grow(&ws->attn_scratch, rms_attention_scratch_floats(max_seq)) ||
            !grow(&ws->rope_cos, max_seq * half) || !grow(&ws->rope_sin, max_seq * half))
            goto oom;
        rms_rope_tables(ws->rope_cos, ws->rope_sin, m->rope_inv_freq, c->head_dim, max_seq);
        ws->cap_seq = max_seq;
    }
    return RMS_OK;
oom:
    rms_workspace_free(ws);
    return rms_fail(err, RMS_ERR_NOMEM, "out of memory for activations of %lld tokens (longest sequence %lld)",
                    (long long)n_tokens, (long long)max_seq);
}

rms_status rms_batch_check(const rms_batch *b, rms_err *err) {
    if (b->n_seqs < 0 || (b->n_seqs > 0 && (!b->offsets || b->offsets[0] != 0)))
        return rms_fail(err, RMS_ERR_ARG, "batch offsets must start at 0");
    for (int64_t s = 0; s < b->n_seqs; s++)
        if (b->offsets[s + 1] <= b->offsets[s])
            return rms_fail(err, RMS_ERR_INPUT, "sequence %lld of the batch is empty", (long long)s);
    return RMS_OK;
}

int64_t rms_batch_tokens(const rms_batch *b) { return b->n_seqs > 0 ? b->offsets[b->n_seqs] : 0; }

int64_t rms_batch_max_seq(const rms_batch *b) {
    int64_t mx = 0;
    for (int64_t s = 0; s < b->n_seqs; s++) mx = max_i64(mx, b->offsets[s + 1] - b->offsets[s]);
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

/* One LlamaDecoderLayer on the packed batch; hidden (n, hidden) is updated in place. */
static void decoder_layer(const rms_model *m, const rms_layer *L, rms_workspace *ws, const rms_batch *b,
                          float *hidden) {
    const rms_config *c = &m->config;
    const int64_t n = rms_batch_tokens(b), h = c->hidden_size;
    const int rb = ws->round_bf16;

    // residual = hidden; hidden = self.input_layernorm(hidden)
    rms_rmsnorm(ws->xn, hidden, L->input_layernorm, n, h, c->rms_norm_eps); // (n, hidden)

    // query/key/value states: (n, heads, head_dim) / (n, kv_heads, head_dim)
    rms_linear(ws->q, ws->xn, n, &L->q_proj, ws->wblock, rb);
    rms_linear(ws->k, ws->xn, n, &L->k_proj, ws->wblock, 0); // xn already rounded by q_proj if rb
    rms_linear(ws->v, ws->xn, n, &L->v_proj, ws->wblock, 0);

    // apply_rotary_pos_emb, then causal attention, sequence by sequence
    const int64_t q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    for (int64_t s = 0; s < b->n_seqs; s++) {
        const int64_t t0 = b->offsets[s], len = b->offsets[s + 1] - t0;
        rms_rope_apply(ws->q + t0 * q_dim, len, c->n_heads, c->head_dim, 0, ws->rope_cos, ws->rope_sin);
        rms_rope_apply(ws->k + t0 * kv_dim, len, c->n_kv_heads, c->head_dim, 0, ws->rope_cos, ws->rope_sin);
        rms_attention(ws->attn + t0 * q_dim, ws->q + t0 * q_dim, ws->k + t0 * kv_dim, ws->v + t0 * kv_dim, len,
                      c->n_heads, c->n_kv_heads, c->head_dim, ws->attn_scratch);
    }

    // hidden = residual + self.o_proj(attn_output)
    rms_linear(ws->xn, ws->attn, n, &L->o_proj, ws->wblock, rb); // (n, hidden)
    rms_add(hidden, ws->xn, n * h);

    // residual = hidden; hidden = self.post_attention_layernorm(hidden)
    rms_rmsnorm(ws->xn, hidden, L->post_attention_layernorm, n, h, c->rms_norm_eps);

    // hidden = residual + down_proj(act_fn(gate_proj(x)) * up_proj(x))
    rms_linear(ws->gate, ws->xn, n, &L->gate_proj, ws->wblock, rb); // (n, intermediate)
    rms_linear(ws->up, ws->xn, n, &L->up_proj, ws->wblock, 0);      // (n, intermediate)
    rms_silu_mul(ws->gate, ws->up, n * c->intermediate_size);
    rms_linear(ws->xn, ws->gate, n, &L->down_proj, ws->wblock, rb); // (n, hidden)
    rms_add(hidden, ws->xn, n * h);
}

/* The model's last LlamaDecoderLayer, for the score head: K/V of every token, everything else only for each
 * sequence's last token; hidden's last rows are updated in place, the other rows are not needed any more. */
static void last_decoder_layer(const rms_model *m, const rms_layer *L, rms_workspace *ws, const rms_batch *b,
                               float *hidden) {
    const rms_config *c = &m->config;
    const int64_t n = rms_batch_tokens(b), h = c->hidden_size, ns = b->n_seqs;
    const int64_t q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    const int rb = ws->round_bf16;

    // residual = hidden; hidden = self.input_layernorm(hidden)   (every row: keys and values need it)
    rms_rmsnorm(ws->xn, hidden, L->input_layernorm, n, h, c->rms_norm_eps); // (n, hidden)

    // key/value states of every token (n, kv_heads, head_dim); the query of each last token (ns, heads, head_dim)
    rms_linear(ws->k, ws->xn, n, &L->k_proj, ws->wblock, rb); // rounds xn in place if rb
    rms_linear(ws->v, ws->xn, n, &L->v_proj, ws->wblock, 0);
    for (int64_t s = 0; s < ns; s++) {
        memcpy(ws->last_h + s * h, hidden + (b->offsets[s + 1] - 1) * h, (size_t)h * sizeof(float));
        memcpy(ws->last_x + s * h, ws->xn + (b->offsets[s + 1] - 1) * h, (size_t)h * sizeof(float));
    }
    rms_linear(ws->q, ws->last_x, ns, &L->q_proj, ws->wblock, 0); // (ns, q_dim)

    // apply_rotary_pos_emb (keys at 0..len-1, the query at len-1), then the last token's attention
    for (int64_t s = 0; s < ns; s++) {
        const int64_t t0 = b->offsets[s], len = b->offsets[s + 1] - t0;
        rms_rope_apply(ws->k + t0 * kv_dim, len, c->n_kv_heads, c->head_dim, 0, ws->rope_cos, ws->rope_sin);
        rms_rope_apply(ws->q + s * q_dim, 1, c->n_heads, c->head_dim, len - 1, ws->rope_cos, ws->rope_sin);
        rms_attention_last(ws->attn + s * q_dim, ws->q + s * q_dim, ws->k + t0 * kv_dim, ws->v + t0 * kv_dim, len,
                           c->n_heads, c->n_kv_heads, c->head_dim, ws->attn_scratch);
    }

    // hidden = residual + self.o_proj(attn_output)   (last rows only from here on)
    rms_linear(ws->last_x, ws->attn, ns, &L->o_proj, ws->wblock, rb); // (ns, hidden)
    rms_add(ws->last_h, ws->last_x, ns * h);

    // residual = hidden; hidden = residual + down_proj(act_fn(gate_proj(x)) * up_proj(x)), x = post norm
    rms_rmsnorm(ws->last_x, ws->last_h, L->post_attention_layernorm, ns, h, c->rms_norm_eps);
    rms_linear(ws->gate, ws->last_x, ns, &L->gate_proj, ws->wblock, rb); // (ns, intermediate)
    rms_linear(ws->up, ws->last_x, ns, &L->up_proj, ws->wblock, 0);      // (ns, intermediate)
    rms_silu_mul(ws->gate, ws->up, ns * c->intermediate_size);
    rms_linear(ws->last_x, ws->gate, ns, &L->down_proj, ws->wblock, rb); // (ns, hidden)
    rms_add(ws->last_h, ws->last_x, ns * h);
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
    float *hidden = malloc((size_t)max_i64(n * m->config.hidden_size, 1) * sizeof(float)); // (n, hidden)
    if (!hidden) return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld tokens", (long long)n);
    if ((st = rms_forward_embed(m, ids, n, hidden, err)) == RMS_OK &&
        (st = rms_forward_layers(m, ws, m->layer_begin, m->layer_end, b, hidden, err)) == RMS_OK)
        st = rms_forward_score(m, b, hidden, scores, err);
    free(hidden);
    return st;
}
