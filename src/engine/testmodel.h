/* testmodel.h — writes random-weight LlamaForSequenceClassification checkpoints in the exact
 * Hugging Face layout of allenai/Llama-3.1-Tulu-3-8B-RM: config.json, model.safetensors or
 * model-0000i-of-0000n.safetensors + model.safetensors.index.json, optionally the tokenizer files.
 *
 * Weights are uniform with variances chosen so activations stay O(1) through any depth:
 * embeddings std 1; q/k/v/gate/up std 1/sqrt(fan_in); o/down std 1/sqrt(fan_in · 2 · n_layers)
 * (the residual stream grows to about sqrt(2) whatever the depth); norms 1 ± 0.2; score std
 * 1/sqrt(hidden). Values are generated per tensor from (seed, tensor name), in chunks: memory use is
 * a few MiB whatever the model size. Nothing to free.
 */
#ifndef RMS_TESTMODEL_H
#define RMS_TESTMODEL_H

#include <stdint.h>

#include "io/config.h"
#include "src/base/dtype.h"
#include "src/base/status.h"

typedef struct rms_testmodel_opts {
    rms_config config;           /* shape, rope, eps, vocab, pad id */
    int64_t n_shards;            /* 1: model.safetensors; n > 1: n shards + index */
    uint64_t seed;
    rms_dtype dtype;
    const char *tokenizer_dir;   /* NULL or a directory whose tokenizer files are copied in */
    int progress;                /* 1: progress lines on stderr */
} rms_testmodel_opts;

/* The defaults: a tiny GQA model (hidden 64, intermediate 128, 2 layers, 4 heads, 2 KV heads,
 * vocab 128264, Llama 3.1 rope with llama3 scaling, eps 1e-5, pad 128256), 1 shard, seed 1, bf16. */
void rms_testmodel_defaults(rms_testmodel_opts *o);

/* Creates out_dir (and parents) if needed and writes the checkpoint. */
rms_status rms_testmodel_write(const char *out_dir, const rms_testmodel_opts *o, rms_err *err);

#endif
