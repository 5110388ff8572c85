#include "src/engine/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/bigalloc.h"

#define NAME_MAX_LEN 256

/* A 2-D weight as a view into the mapping; dense: read whole by every forward (a layer's matrix), so advised for
 * huge pages (rms_advise_huge), unlike the embedding table's row gather. */
static rms_status get_matrix(rms_model *m, const char *name, int64_t rows, int64_t cols, int dense, rms_weight *w,
                             rms_err *err) {
    const int64_t shape[2] = {rows, cols};
    st_view v;
    rms_status st = st_checkpoint_get(&m->ckpt, name, 2, shape, &v, err);
    if (st != RMS_OK) return st;
    w->data = v.data;
    w->dtype = v.dtype;
    w->rows = rows;
    w->cols = cols;
    if (dense) rms_advise_huge(v.data, (size_t)rows * (size_t)cols * rms_dtype_size(v.dtype));
    return RMS_OK;
}

/* Reads a 1-D weight of length n into a new fp32 array (*out, owned by the model). */
static rms_status get_vector(rms_model *m, const char *name, int64_t n, float **out, rms_err *err) {
    st_view v;
    rms_status st = st_checkpoint_get(&m->ckpt, name, 1, &n, &v, err);
    if (st != RMS_OK) return st;
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return rms_fail(err, RMS_ERR_NOMEM, "out of memory reading %s", name);
    rms_convert_to_f32(*out, v.data, v.dtype, n);
    return RMS_OK;
}

static rms_status load_layer(rms_model *m, int64_t l, rms_layer *L, rms_err *err) {
    const rms_config *c = &m->config;
    const int64_t h = c->hidden_size, q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    const int64_t inter = c->intermediate_size;
    char name[NAME_MAX_LEN];
    rms_status st;
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%lld." suffix, (long long)l), name)
    if ((st = get_vector(m, LAYER_NAME("input_layernorm.weight"), h, &L->input_layernorm, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("self_attn.q_proj.weight"), q_dim, h, 1, &L->q_proj, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("self_attn.k_proj.weight"), kv_dim, h, 1, &L->k_proj, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("self_attn.v_proj.weight"), kv_dim, h, 1, &L->v_proj, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("self_attn.o_proj.weight"), h, q_dim, 1, &L->o_proj, err))) return st;
    if ((st = get_vector(m, LAYER_NAME("post_attention_layernorm.weight"), h, &L->post_attention_layernorm, err)))
        return st;
    if ((st = get_matrix(m, LAYER_NAME("mlp.gate_proj.weight"), inter, h, 1, &L->gate_proj, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("mlp.up_proj.weight"), inter, h, 1, &L->up_proj, err))) return st;
    if ((st = get_matrix(m, LAYER_NAME("mlp.down_proj.weight"), h, inter, 1, &L->down_proj, err))) return st;
#undef LAYER_NAME
    return RMS_OK;
}

static rms_status load_slice(rms_model *m, rms_err *err) {
    const rms_config *c = &m->config;
    rms_status st;
    if (m->has_embed &&
        (st = get_matrix(m, "model.embed_tokens.weight", c->vocab_size, c->hidden_size, 0, &m->embed_tokens, err)))
        return st;
    const int64_t n = m->layer_end - m->layer_begin;
    m->layers = calloc((size_t)(n > 0 ? n : 1), sizeof(rms_layer));
    if (!m->layers) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        if ((st = load_layer(m, m->layer_begin + i, &m->layers[i], err))) return st;
    if (m->has_head) {
        if ((st = get_vector(m, "model.norm.weight", c->hidden_size, &m->final_norm, err))) return st;
        if ((st = get_matrix(m, "score.weight", c->num_labels, c->hidden_size, 0, &m->score, err))) return st;
    }
    m->rope_inv_freq = malloc((size_t)(c->head_dim / 2 + 1) * sizeof(double));
    if (!m->rope_inv_freq) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    const rms_rope_params rp = {
        .theta = c->rope_theta,
        .llama3 = c->rope_scaling == RMS_ROPE_SCALING_LLAMA3,
        .factor = c->rope_factor,
        .low_freq_factor = c->rope_low_freq_factor,
        .high_freq_factor = c->rope_high_freq_factor,
        .original_max_position = (double)c->rope_original_max_position,
    };
    rms_rope_inv_freq(m->rope_inv_freq, c->head_dim, &rp);
    return RMS_OK;
}

rms_status rms_model_load(rms_model *m, const char *dir, int64_t layer_begin, int64_t layer_end, rms_err *err) {
    memset(m, 0, sizeof *m);
    rms_status st = rms_config_load(&m->config, dir, err);
    if (st != RMS_OK) return st;
    const int64_t n_layers = m->config.n_layers;
    if (layer_end < 0) layer_end = n_layers;
    if (layer_begin < 0 || layer_begin > layer_end || layer_end > n_layers)
        return rms_fail(err, RMS_ERR_ARG, "layer range [%lld, %lld) is outside the model's %lld layers",
                        (long long)layer_begin, (long long)layer_end, (long long)n_layers);
    if (m->config.head_dim % 2 != 0)
        return rms_fail(err, RMS_ERR_UNSUPPORTED, "%s/config.json: head_dim %lld is odd; RoPE needs an even head_dim",
                        dir, (long long)m->config.head_dim);
    m->layer_begin = layer_begin;
    m->layer_end = layer_end;
    m->has_embed = layer_begin == 0;
    m->has_head = layer_end == n_layers;
    if ((st = st_checkpoint_open(&m->ckpt, dir, err)) != RMS_OK) {
        memset(&m->ckpt, 0, sizeof m->ckpt);
        rms_model_free(m);
        return st;
    }
    if ((st = load_slice(m, err)) != RMS_OK) {
        rms_model_free(m);
        return st;
    }
    return RMS_OK;
}

void rms_model_free(rms_model *m) {
    if (m->layers) {
        for (int64_t i = 0; i < m->layer_end - m->layer_begin; i++) {
            free(m->layers[i].input_layernorm);
            free(m->layers[i].post_attention_layernorm);
        }
        free(m->layers);
    }
    free(m->final_norm);
    free(m->rope_inv_freq);
    if (m->ckpt.dir) st_checkpoint_close(&m->ckpt);
    memset(m, 0, sizeof *m);
}

static int64_t weight_bytes(const rms_weight *w) {
    return w->data ? w->rows * w->cols * (int64_t)rms_dtype_size(w->dtype) : 0;
}

int64_t rms_model_slice_bytes(const rms_model *m) {
    int64_t total = weight_bytes(&m->embed_tokens) + weight_bytes(&m->score);
    for (int64_t i = 0; m->layers && i < m->layer_end - m->layer_begin; i++) {
        const rms_layer *L = &m->layers[i];
        total += weight_bytes(&L->q_proj) + weight_bytes(&L->k_proj) + weight_bytes(&L->v_proj) +
                 weight_bytes(&L->o_proj) + weight_bytes(&L->gate_proj) + weight_bytes(&L->up_proj) +
                 weight_bytes(&L->down_proj);
    }
    return total;
}
