/* model.h — the weights of a LlamaForSequenceClassification checkpoint, or of a contiguous slice of
 * its decoder layers (what one pipeline stage holds).
 *
 * rms_model_load maps the checkpoint (io/safetensors) and validates only the tensors of the slice:
 * the embedding if layer_begin == 0, layers [layer_begin, layer_end), and the final norm + score head
 * if layer_end == n_layers. Matrix weights are rms_weight views into the mapping (never copied);
 * the small norm vectors are converted to fp32 arrays owned by the model.
 *
 * Ownership: rms_model is caller-allocated; rms_model_load fills it, rms_model_free releases
 * everything it holds (including the checkpoint mapping). Weight pointers die with the model.
 */
#ifndef RMS_MODEL_H
#define RMS_MODEL_H

#include <stdint.h>

#include "io/config.h"
#include "io/safetensors.h"
#include "src/engine/kernels.h"
#include "src/base/status.h"

typedef struct rms_layer {
    float *input_layernorm;          // (hidden), owned
    rms_weight q_proj;               // (n_heads * head_dim, hidden)
    rms_weight k_proj;               // (n_kv_heads * head_dim, hidden)
    rms_weight v_proj;               // (n_kv_heads * head_dim, hidden)
    rms_weight o_proj;               // (hidden, n_heads * head_dim)
    float *post_attention_layernorm; // (hidden), owned
    rms_weight gate_proj;            // (intermediate, hidden)
    rms_weight up_proj;              // (intermediate, hidden)
    rms_weight down_proj;            // (hidden, intermediate)
} rms_layer;

typedef struct rms_model {
    rms_config config;
    st_checkpoint ckpt;
    int64_t layer_begin, layer_end; // the slice held: layers [layer_begin, layer_end)
    int has_embed;                  // layer_begin == 0
    int has_head;                   // layer_end == n_layers
    rms_weight embed_tokens;        // (vocab, hidden) if has_embed
    rms_layer *layers;              // (layer_end - layer_begin), owned; layers[i] is layer layer_begin + i
    float *final_norm;              // (hidden), owned, if has_head
    rms_weight score;               // (1, hidden) if has_head
    double *rope_inv_freq;          // (head_dim / 2), owned
} rms_model;

/* Loads layers [layer_begin, layer_end) of the checkpoint in dir (layer_end < 0: up to n_layers).
 * Errors name the tensor and file; on failure the model is left empty (safe to free). */
rms_status rms_model_load(rms_model *m, const char *dir, int64_t layer_begin, int64_t layer_end, rms_err *err);
void rms_model_free(rms_model *m);

/* Bytes of the matrix weights the slice holds (for memory reports). */
int64_t rms_model_slice_bytes(const rms_model *m);

#endif
