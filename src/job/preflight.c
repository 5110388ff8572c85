/* preflight.c — memory need against memory usable (see preflight.h). */
#include "src/job/preflight.h"

#include <stdio.h>
#include <string.h>

#include "src/base/memstat.h"
#include "src/engine/forward.h"

static int64_t dtype_bytes(const rms_config *c) {
    if (strcmp(c->torch_dtype, "float32") == 0) return 4;
    return 2; // bfloat16 (the released checkpoints), float16; "" counts as the 2-byte dtypes
}

void rms_preflight_need(const rms_config *c, int64_t l0, int64_t l1, int64_t batch_tokens, int64_t max_ctx,
                        int threads, int slots, rms_mem_need *need) {
    memset(need, 0, sizeof *need);
    const int64_t h = c->hidden_size, q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    // per decoder layer: q, k, v, o projections, gate/up/down, the two norms
    const int64_t layer = h * q_dim + 2 * h * kv_dim + q_dim * h + 3 * h * c->intermediate_size + 2 * h;
    int64_t params = (l1 - l0) * layer;
    if (l0 == 0) params += c->vocab_size * h;     // embed_tokens
    if (l1 == c->n_layers) params += h + h;       // final norm, score head (1 x hidden)
    need->weights = params * dtype_bytes(c);
    const int64_t tokens = batch_tokens > max_ctx ? batch_tokens : max_ctx;
    need->activations = rms_workspace_bytes(c, tokens, tokens, max_ctx, threads);
    need->transfer = (int64_t)slots * tokens * h * (int64_t)sizeof(float);
    need->total = need->weights + need->activations + need->transfer;
}

static double gib(int64_t b) { return (double)b / (double)((int64_t)1 << 30); }

rms_status rms_preflight_check(const rms_mem_need *need, int64_t ranks_on_node, const char *who, rms_err *err) {
    int64_t usable;
    char source[96];
    rms_mem_usable(&usable, source, sizeof source);
    if (usable < 0 || ranks_on_node < 1) return RMS_OK;
    const int64_t want = need->total * ranks_on_node;
    if (want <= usable) return RMS_OK;
    return rms_fail(err, RMS_ERR_UNSUPPORTED,
                    "%s needs %.2f GiB (weights %.2f, activations %.2f, transfer %.2f) x %lld process(es) on this node, "
                    "but may use %s: use more pipeline stages (--stages), a smaller --microbatch-tokens, or more memory "
                    "(Slurm --mem)",
                    who, gib(need->total), gib(need->weights), gib(need->activations), gib(need->transfer),
                    (long long)ranks_on_node, source);
}

int64_t rms_preflight_largest_batch(const rms_score_job *j) {
    int64_t largest = 1;
    for (int64_t b = 0; b < j->plan.n_batches; b++) { // the batches this run computes: those with rows pending
        int pending = 0;
        for (int64_t r = j->plan.batch_start[b]; r < j->plan.batch_start[b + 1] && !pending; r++)
            pending = j->status[j->plan.rows[r]] == RMS_SCORE_PENDING;
        if (pending && j->plan.batch_tokens[b] > largest) largest = j->plan.batch_tokens[b];
    }
    return largest;
}

int64_t rms_preflight_longest(const rms_score_job *j) {
    int64_t longest = 1;
    for (int64_t i = 0; i < j->n; i++) {
        if (j->pair_tokens[i] <= 0) continue; // bad input, or too long and skipped
        int64_t l = j->len_c[i] > j->len_r[i] ? j->len_c[i] : j->len_r[i];
        if (j->o->max_tokens > 0 && l > j->o->max_tokens) l = j->o->max_tokens;
        if (l > longest) longest = l;
    }
    return longest;
}

void rms_preflight_log(const rms_mem_need *need, int64_t ranks_on_node, const char *who) {
    int64_t usable;
    char source[96];
    rms_mem_usable(&usable, source, sizeof source);
    fprintf(stderr,
            "rmscore: score: memory: %s needs %.2f GiB (weights %.2f, activations %.2f, transfer %.2f) x %lld "
            "process(es); may use %s\n",
            who, gib(need->total), gib(need->weights), gib(need->activations), gib(need->transfer),
            (long long)ranks_on_node, source);
}
