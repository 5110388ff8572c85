/* fuzz_model.h — the tiny checkpoint shape the safetensors fuzz targets load inputs against, and the seed corpus
 * is made with (tests/fuzz/make-corpus.sh runs `rmscore make-test-model` with these flags: keep both in step):
 *     --hidden 16 --intermediate 32 --layers 2 --heads 2 --kv-heads 1 --vocab 64
 * A seed then passes every check of the model loader, and mutations start from a loadable file. */
#ifndef RMS_FUZZ_MODEL_H
#define RMS_FUZZ_MODEL_H

#include "src/engine/testmodel.h"

static inline void fuzz_tiny_model(rms_testmodel_opts *o) {
    rms_testmodel_defaults(o);
    o->config.hidden_size = 16;
    o->config.intermediate_size = 32;
    o->config.n_layers = 2;
    o->config.n_heads = 2;
    o->config.n_kv_heads = 1;
    o->config.head_dim = 8;
    o->config.vocab_size = 64;
}

#endif
