/* forward.h — the LlamaForSequenceClassification forward over a packed batch, split so that a
 * pipeline stage can run any contiguous layer range on hidden states it received.
 *
 * A packed batch is several sequences laid end to end with no padding; positions restart at 0 for
 * each sequence and attention never crosses a sequence boundary — except into a sequence's parent: a
 * sequence may continue an earlier one of the batch (a prompt prefix shared by a chosen and a rejected
 * response, computed once). It then sits at positions parent_len .. and attends to the parent's keys and
 * values as if the parent's tokens were written before its own. Every sequence gets a score: the reward
 * of parent ++ sequence.
 *
 * Batch invariance: a sequence's hidden states and score are bitwise the same whatever else is in the
 * batch, whether its prefix is shared or written out, and on any number of threads (gemm.h, kernels.h).
 *
 *   rms_forward_embed   ids (n_tokens)                 -> hidden (n_tokens, hidden)   [first stage]
 *   rms_forward_layers  hidden (n_tokens, hidden), l0..l1 -> hidden, in place
 *   rms_forward_score   hidden (n_tokens, hidden)       -> scores (n_seqs)             [last stage]
 *
 * Ownership: rms_workspace holds the activation scratch; init/free pair; it grows on demand
 * (rms_workspace_reserve) and is reused across batches. Callers own ids, hidden and scores.
 */
#ifndef RMS_FORWARD_H
#define RMS_FORWARD_H

#include <stdint.h>

#include "src/engine/gemm.h"
#include "src/engine/model.h"
#include "src/base/status.h"

typedef struct rms_batch {
    int64_t n_seqs;
    const int64_t *offsets; // (n_seqs + 1): sequence s is tokens [offsets[s], offsets[s+1]); offsets[0] == 0
    const int64_t *parent;  // NULL (no sharing) or (n_seqs): -1, or an earlier sequence without a parent that
                            // this one continues
} rms_batch;

typedef struct rms_workspace {
    int64_t cap_tokens;  // buffers below hold this many tokens
    int64_t cap_ctx;     // longest context (parent + sequence) the attention scratch and RoPE tables cover
    int bf16;            // --compute bf16 (gemm.h)
    rms_gemm_ctx gemm;   // matrix-multiply scratch
    float *xn;           // (cap_tokens, hidden)        normed hidden / projection output
    float *q;            // (cap_tokens, n_heads * head_dim)
    float *k;            // (cap_tokens, n_kv_heads * head_dim)
    float *v;            // (cap_tokens, n_kv_heads * head_dim)
    float *attn;         // (cap_tokens, n_heads * head_dim)
    float *gate;         // (cap_tokens, intermediate)
    float *up;           // (cap_tokens, intermediate)
    int64_t *pos;        // (cap_tokens) position of each token
    int64_t cap_seqs;    // the last layer's buffers below hold this many sequences
    float *last_h;       // (cap_seqs, hidden) each sequence's last hidden row (last layer)
    float *last_x;       // (cap_seqs, hidden) normed last rows / projection output (last layer)
    int64_t *last_pos;   // (cap_seqs) position of each sequence's last token
    int threads;         // per-thread buffers below exist for this many threads
    float *attn_scratch; // (threads, rms_attention_scratch_floats(cap_ctx))
    float *kv_ctx;       // (threads, 2, cap_ctx, head_dim) a continuation's keys and values after its parent's
    float *rope_cos;     // (cap_ctx, head_dim / 2)
    float *rope_sin;     // (cap_ctx, head_dim / 2)
} rms_workspace;

typedef enum rms_compute {
    RMS_COMPUTE_FP32 = 0,
    RMS_COMPUTE_BF16 = 1, // matmul inputs rounded to bf16 (weights as stored), fp32 accumulation; bf16 dot
                          // products where the CPU has them (gemm.h)
} rms_compute;


void rms_workspace_init(rms_workspace *ws, rms_compute compute);
/* Bytes rms_workspace_reserve allocates for a batch of n_tokens tokens in n_seqs sequences whose longest context
 * is max_ctx, on `threads` threads (memory pre-flight). */
int64_t rms_workspace_bytes(const rms_config *c, int64_t n_tokens, int64_t n_seqs, int64_t max_ctx, int threads);
/* Grows the buffers to hold batch b (its tokens, sequences and longest context) on the engine's threads. */
rms_status rms_workspace_reserve(rms_workspace *ws, const rms_model *m, const rms_batch *b, rms_err *err);
void rms_workspace_free(rms_workspace *ws);

/* Checks a batch descriptor: offsets start at 0, strictly increase (no empty sequence); a parent is an
 * earlier sequence that has no parent itself. */
rms_status rms_batch_check(const rms_batch *b, rms_err *err);
int64_t rms_batch_tokens(const rms_batch *b);
/* Longest context: a sequence's length plus its parent's. */
int64_t rms_batch_max_ctx(const rms_batch *b);

/* hidden (n_tokens, hidden) = embed_tokens[ids]. Needs m->has_embed. Ids outside [0, vocab) are an
 * RMS_ERR_INPUT error naming the position. */
rms_status rms_forward_embed(const rms_model *m, const int32_t *ids, int64_t n_tokens, float *hidden, rms_err *err);

/* Runs decoder layers [l0, l1) (absolute indices inside the model's slice) on hidden, in place. The model's
 * last layer (when it is in [l0, l1)) updates only each sequence's last row, the one the score head reads:
 * it computes K/V for every token but queries, attention output, MLP and norms for those rows alone; the
 * other rows of hidden keep what the layer before gave them. */
rms_status rms_forward_layers(const rms_model *m, rms_workspace *ws, int64_t l0, int64_t l1, const rms_batch *b,
                              float *hidden, rms_err *err);

/* scores (n_seqs) = score · final_norm(hidden[last token of each sequence]). Needs m->has_head. A sequence
 * with a parent scores the whole context parent ++ sequence. */
rms_status rms_forward_score(const rms_model *m, const rms_batch *b, const float *hidden, float *scores,
                             rms_err *err);

/* The whole model on one packed batch (needs a full model): ids (n_tokens) -> scores (n_seqs). */
rms_status rms_forward_all(const rms_model *m, rms_workspace *ws, const rms_batch *b, const int32_t *ids,
                           float *scores, rms_err *err);

#endif
