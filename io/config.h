/* config.h — the Hugging Face `config.json` of a Llama sequence-classification (reward) model.
 *
 * Parsed with cJSON into a plain struct (no pointers: copy it, broadcast it, nothing to free).
 * Only what rmscore can compute exactly is accepted; anything else is a clear error rather than a
 * silently different model.
 */
#ifndef RMS_CONFIG_H
#define RMS_CONFIG_H

#include <stdint.h>

#include "src/base/status.h"

/* Limits on the values of config.json: each far above every published Llama-architecture model (largest seen:
 * Llama 3.1 405B with hidden 16384, intermediate 53248, 126 layers, 128 heads, head_dim 128; vocabularies up to
 * 256000 (Gemma); contexts up to 10M (Llama 4 Scout); rope_theta up to 5e5..1e7; llama3 rope factor 8..32), and
 * low enough that every size product below fits int64_t with room: vocab * hidden * 8 bytes < 2^41, tokens *
 * intermediate < 2^51 for any sequence length rmscore reads (< 2^31). A value outside is an RMS_ERR_FORMAT error
 * naming the key and the limit. README "What rmscore refuses, and how" lists them. */
#define RMS_CONFIG_MAX_HIDDEN 65536              /* hidden_size */
#define RMS_CONFIG_MAX_INTERMEDIATE 1048576      /* intermediate_size (2^20) */
#define RMS_CONFIG_MAX_LAYERS 1024               /* num_hidden_layers */
#define RMS_CONFIG_MAX_HEADS 1024                /* num_attention_heads, num_key_value_heads */
#define RMS_CONFIG_MAX_HEAD_DIM 1024             /* head_dim (given or hidden_size / heads) */
#define RMS_CONFIG_MAX_VOCAB 4194304             /* vocab_size, pad_token_id + 1 (2^22) */
#define RMS_CONFIG_MAX_POSITIONS 16777216        /* max_position_embeddings, rope original_max (2^24) */
#define RMS_CONFIG_MAX_ROPE_THETA 1e12           /* rope_theta */
#define RMS_CONFIG_MAX_ROPE_FACTOR 65536.0       /* rope_scaling factor, low_freq_factor, high_freq_factor */
#define RMS_CONFIG_MAX_EPS 1.0                   /* rms_norm_eps must be in (0, 1] */

typedef enum rms_rope_scaling {
    RMS_ROPE_SCALING_NONE = 0,   /* rope_scaling absent/null or rope_type "default" */
    RMS_ROPE_SCALING_LLAMA3 = 1, /* rope_type (or legacy "type") "llama3" */
} rms_rope_scaling;

typedef struct rms_config {
    int64_t hidden_size;        /* hidden_size */
    int64_t intermediate_size;  /* intermediate_size */
    int64_t n_layers;           /* num_hidden_layers */
    int64_t n_heads;            /* num_attention_heads */
    int64_t n_kv_heads;         /* num_key_value_heads (default: n_heads) */
    int64_t head_dim;           /* head_dim (default: hidden_size / n_heads) */
    int64_t vocab_size;         /* vocab_size */
    int64_t max_position_embeddings; /* informational (default 2048 as in transformers) */
    double rms_norm_eps;        /* rms_norm_eps (default 1e-6 as in transformers) */
    double rope_theta;          /* rope_theta (default 10000) */
    rms_rope_scaling rope_scaling;
    double rope_factor;                 /* rope_scaling.factor */
    double rope_low_freq_factor;        /* rope_scaling.low_freq_factor */
    double rope_high_freq_factor;       /* rope_scaling.high_freq_factor */
    int64_t rope_original_max_position; /* rope_scaling.original_max_position_embeddings */
    int tie_word_embeddings;    /* default 0; irrelevant to the score head, kept for completeness */
    int64_t pad_token_id;       /* -1 if absent or null */
    int64_t num_labels;         /* len(id2label) or num_labels; must be 1 */
    char torch_dtype[16];       /* "" if absent */
} rms_config;

/* Parses config.json text. Checks: model_type "llama" if present; architectures (if present) contains
 * "LlamaForSequenceClassification"; hidden_act "silu" if present; attention_bias / mlp_bias false if
 * present; required ints present, positive and within the RMS_CONFIG_MAX_* limits above (finite positive
 * reals for eps, rope_theta and the rope factors, within theirs); n_heads % n_kv_heads == 0; head_dim given or
 * hidden_size % n_heads == 0; rope_scaling none/default/llama3 with its four fields; pad_token_id null, -1 or in
 * [0, RMS_CONFIG_MAX_VOCAB); num_labels == 1.
 * `origin` names the source in messages (e.g. the file path). */
rms_status rms_config_parse(rms_config *c, const char *json_text, const char *origin, rms_err *err);
/* Reads and parses DIR/config.json. */
rms_status rms_config_load(rms_config *c, const char *dir, rms_err *err);
/* Writes DIR/config.json as transformers would for LlamaForSequenceClassification (architectures,
 * model_type, id2label/label2id for one label, rope_scaling, torch_dtype, bos/eos/pad ids given). */
rms_status rms_config_write(const rms_config *c, const char *dir, int64_t bos_token_id,
                            int64_t eos_token_id, rms_err *err);

#endif
