/* Unit tests of src/model.c + src/forward.c on small generated checkpoints: slicing the layers,
 * packing sequences, and what a model loader must refuse. (Exactness against an independent float64
 * implementation is tests/reference/test_forward.py.) */
#include "tests/check.h"
#include "src/engine/forward.h"
#include "src/engine/gemm.h"
#include "src/engine/kernels.h"
#include "src/engine/model.h"
#include "src/engine/parallel.h"
#include "src/engine/testmodel.h"

#include <stdint.h>
#include <unistd.h>

static const char *write_model(const char *name, int64_t layers, int64_t shards, rms_dtype dt) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", check_tmpdir(name));
    rms_testmodel_opts o;
    rms_testmodel_defaults(&o);
    o.config.n_layers = layers;
    o.config.vocab_size = 500;
    o.n_shards = shards;
    o.dtype = dt;
    rms_err err;
    if (rms_testmodel_write(dir, &o, &err) != RMS_OK) {
        fprintf(stderr, "write_model: %s\n", err.msg);
        exit(2);
    }
    return dir;
}

static void make_ids(int32_t *ids, int64_t n, uint64_t salt) {
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919 + salt * 104729) % 500);
}

static void test_running_layers_in_two_slices_equals_running_them_at_once(void) {
    const char *dir = write_model("forward-slices", 4, 2, RMS_DTYPE_BF16);
    rms_err err;
    rms_model full, first, second;
    CHECK_EQ_INT(rms_model_load(&full, dir, 0, -1, &err), RMS_OK);
    CHECK_EQ_INT(rms_model_load(&first, dir, 0, 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_model_load(&second, dir, 1, 4, &err), RMS_OK);
    CHECK(first.has_embed && !first.has_head && !second.has_embed && second.has_head);
    enum { N = 37 };
    int32_t ids[N];
    make_ids(ids, N, 1);
    const int64_t offsets[3] = {0, 20, N};
    const rms_batch b = {.n_seqs = 2, .offsets = offsets};
    float scores_full[2], scores_split[2];
    rms_workspace ws;
    rms_workspace_init(&ws, RMS_COMPUTE_FP32);
    CHECK_EQ_INT(rms_forward_all(&full, &ws, &b, ids, scores_full, &err), RMS_OK);
    float *hidden = malloc(sizeof(float) * N * 64); // (N, hidden)
    CHECK_EQ_INT(rms_forward_embed(&first, ids, N, hidden, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_layers(&first, &ws, 0, 1, &b, hidden, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_layers(&second, &ws, 1, 3, &b, hidden, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_layers(&second, &ws, 3, 4, &b, hidden, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_score(&second, &b, hidden, scores_split, &err), RMS_OK);
    CHECK(scores_full[0] == scores_split[0] && scores_full[1] == scores_split[1]);
    CHECK(scores_full[0] != scores_full[1]);
    CHECK_EQ_INT(rms_forward_layers(&second, &ws, 0, 1, &b, hidden, &err), RMS_ERR_ARG);
    free(hidden);
    rms_workspace_free(&ws);
    rms_model_free(&full);
    rms_model_free(&first);
    rms_model_free(&second);
}

static void test_packed_sequences_score_as_if_each_were_alone(void) {
    const char *dir = write_model("forward-packing", 2, 1, RMS_DTYPE_F32);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, -1, &err), RMS_OK);
    enum { N = 300 };
    int32_t ids[N];
    make_ids(ids, N, 3);
    const int64_t offsets[4] = {0, 1, 150, N}; // lengths 1, 149, 150 (crosses the 128-row attention block)
    const rms_batch packed = {.n_seqs = 3, .offsets = offsets};
    float packed_scores[3];
    rms_workspace ws;
    rms_workspace_init(&ws, RMS_COMPUTE_FP32);
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &packed, ids, packed_scores, &err), RMS_OK);
    for (int s = 0; s < 3; s++) {
        const int64_t one[2] = {0, offsets[s + 1] - offsets[s]};
        const rms_batch alone = {.n_seqs = 1, .offsets = one};
        float score;
        CHECK_EQ_INT(rms_forward_all(&m, &ws, &alone, ids + offsets[s], &score, &err), RMS_OK);
        // batch invariance: the very same bits alone as packed
        CHECK(memcmp(&score, &packed_scores[s], sizeof score) == 0);
        // ...and the sequences' scores differ (a mixed-up offset would be caught)
        CHECK(score != packed_scores[(s + 1) % 3]);
    }
    rms_workspace_free(&ws);
    rms_model_free(&m);
}

/* A pair whose two sequences share a prompt: the prompt computed once as a parent of both continuations
 * gives each sequence exactly the score it gets written out in full, on 1 or 3 threads, in bf16 too. */
static void check_shared_prefix(rms_compute compute, int threads) {
    const char *dir = write_model("forward-prefix", 3, 1, RMS_DTYPE_BF16);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, -1, &err), RMS_OK);
    CHECK_EQ_INT(rms_parallel_init(threads, &err), RMS_OK);
    enum { P = 140, C = 30, R = 9 }; // the prefix crosses a 128-row attention block
    int32_t full[2 * P + C + R], shared[P + C + R];
    make_ids(shared, P + C + R, 5);
    memcpy(full, shared, sizeof(int32_t) * (P + C));               // prompt + chosen continuation
    memcpy(full + P + C, shared, sizeof(int32_t) * P);             // prompt
    memcpy(full + 2 * P + C, shared + P + C, sizeof(int32_t) * R); // + rejected continuation
    const int64_t off_full[3] = {0, P + C, 2 * P + C + R};
    const int64_t off_shared[4] = {0, P, P + C, P + C + R}, parent[3] = {-1, 0, 0};
    const rms_batch written = {.n_seqs = 2, .offsets = off_full};
    const rms_batch once = {.n_seqs = 3, .offsets = off_shared, .parent = parent};
    float s_full[2], s_shared[3];
    rms_workspace ws;
    rms_workspace_init(&ws, compute);
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &written, full, s_full, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &once, shared, s_shared, &err), RMS_OK);
    CHECK(memcmp(&s_full[0], &s_shared[1], sizeof(float)) == 0);
    CHECK(memcmp(&s_full[1], &s_shared[2], sizeof(float)) == 0);
    CHECK(s_full[0] != s_full[1]);
    // the prefix's own score is that of the prompt alone
    const int64_t off_prompt[2] = {0, P};
    const rms_batch prompt = {.n_seqs = 1, .offsets = off_prompt};
    float s_prompt;
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &prompt, shared, &s_prompt, &err), RMS_OK);
    CHECK(memcmp(&s_prompt, &s_shared[0], sizeof(float)) == 0);
    rms_workspace_free(&ws);
    rms_model_free(&m);
    CHECK_EQ_INT(rms_parallel_init(1, &err), RMS_OK);
}

static void test_a_shared_prompt_computed_once_gives_the_scores_of_the_written_out_pair(void) {
    check_shared_prefix(RMS_COMPUTE_FP32, 1);
    check_shared_prefix(RMS_COMPUTE_FP32, 3);
    check_shared_prefix(RMS_COMPUTE_BF16, 2);
}

static void test_a_parent_must_be_an_earlier_sequence_without_a_parent(void) {
    const int64_t offsets[4] = {0, 2, 4, 6};
    const int64_t later[3] = {-1, 2, -1}, chained[3] = {-1, 0, 1}, self[3] = {0, -1, -1}, ok[3] = {-1, 0, 0};
    rms_err err;
    rms_batch b = {.n_seqs = 3, .offsets = offsets, .parent = ok};
    CHECK_EQ_INT(rms_batch_check(&b, &err), RMS_OK);
    b.parent = later;
    CHECK_EQ_INT(rms_batch_check(&b, &err), RMS_ERR_INPUT);
    b.parent = chained;
    CHECK_EQ_INT(rms_batch_check(&b, &err), RMS_ERR_INPUT);
    b.parent = self;
    CHECK_EQ_INT(rms_batch_check(&b, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "continues");
}

static void test_an_id_outside_the_vocabulary_is_an_input_error(void) {
    const char *dir = write_model("forward-badid", 1, 1, RMS_DTYPE_BF16);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, -1, &err), RMS_OK);
    const int32_t ids[3] = {1, 500, 2};
    const int64_t offsets[2] = {0, 3};
    const rms_batch b = {.n_seqs = 1, .offsets = offsets};
    float score;
    rms_workspace ws;
    rms_workspace_init(&ws, RMS_COMPUTE_FP32);
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &b, ids, &score, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "500");
    const int64_t empty[3] = {0, 2, 2};
    const rms_batch bad = {.n_seqs = 2, .offsets = empty};
    CHECK_EQ_INT(rms_forward_all(&m, &ws, &bad, ids, &score, &err), RMS_ERR_INPUT);
    rms_workspace_free(&ws);
    rms_model_free(&m);
}

static void test_a_checkpoint_missing_a_layer_names_the_missing_tensor(void) {
    const char *dir = write_model("forward-missing-layer", 2, 1, RMS_DTYPE_BF16);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(rms_config_load(&c, dir, &err), RMS_OK);
    c.n_layers = 3; // the config now promises a layer the weights lack
    CHECK_EQ_INT(rms_config_write(&c, dir, 128000, 128001, &err), RMS_OK);
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, 2, &err), RMS_OK); // layers 0-1 exist
    rms_model_free(&m);
    CHECK(rms_model_load(&m, dir, 0, -1, &err) != RMS_OK);
    CHECK_CONTAINS(err.msg, "model.layers.2.");
    CHECK_EQ_INT(rms_model_load(&m, dir, 2, 5, &err), RMS_ERR_ARG);
}

static void test_a_slice_touches_only_the_shards_holding_its_tensors(void) {
    const char *dir = write_model("forward-lazy-shards", 4, 6, RMS_DTYPE_BF16);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 1, 2, &err), RMS_OK);
    CHECK(m.ckpt.sharded && m.ckpt.n_files == 6);
    int opened = 0;
    for (int i = 0; i < m.ckpt.n_files; i++) opened += m.ckpt.files[i].fd >= 0;
    CHECK(opened >= 1 && opened < 6);
    CHECK(rms_model_slice_bytes(&m) == (int64_t)2 * (64 * 64 * 2 + 2 * 32 * 64 + 3 * 128 * 64));
    rms_model_free(&m);
}

static void test_bf16_compute_stays_close_to_fp32(void) {
    const char *dir = write_model("forward-bf16", 2, 1, RMS_DTYPE_BF16);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, -1, &err), RMS_OK);
    enum { N = 50 };
    int32_t ids[N];
    make_ids(ids, N, 5);
    const int64_t offsets[2] = {0, N};
    const rms_batch b = {.n_seqs = 1, .offsets = offsets};
    float s32, s16;
    rms_workspace w32, w16;
    rms_workspace_init(&w32, RMS_COMPUTE_FP32);
    rms_workspace_init(&w16, RMS_COMPUTE_BF16);
    CHECK_EQ_INT(rms_forward_all(&m, &w32, &b, ids, &s32, &err), RMS_OK);
    CHECK_EQ_INT(rms_forward_all(&m, &w16, &b, ids, &s16, &err), RMS_OK);
    CHECK(s32 != s16);
    CHECK_NEAR(s16, s32, 0.05 * fmax(1.0, fabs(s32)));
    rms_workspace_free(&w32);
    rms_workspace_free(&w16);
    rms_model_free(&m);
}

/* The memory pre-flight's activation estimate is what rms_workspace_reserve allocates (recounted here from the
 * buffers' capacities, each with its element size), for two batch shapes. */
static void test_the_workspace_estimate_equals_what_reserve_allocates(void) {
    const char *dir = write_model("forward-ws-bytes", 2, 1, RMS_DTYPE_BF16);
    rms_err err;
    rms_model m;
    CHECK_EQ_INT(rms_model_load(&m, dir, 0, -1, &err), RMS_OK);
    const rms_config *c = &m.config;
    const int64_t shapes[2][3] = {{300, 3, 200}, {1000, 7, 1000}}; // tokens, sequences, longest context
    for (int k = 0; k < 2; k++) {
        const int64_t n_tok = shapes[k][0], n_seqs = shapes[k][1], ctx = shapes[k][2];
        int64_t offsets[8] = {0}; // the last sequence is the longest (ctx tokens); the others share the rest
        for (int64_t s = 1; s < n_seqs; s++) offsets[s] = (n_tok - ctx) * s / (n_seqs - 1);
        offsets[n_seqs] = n_tok;
        const rms_batch b = {.n_seqs = n_seqs, .offsets = offsets};
        rms_workspace ws;
        rms_workspace_init(&ws, RMS_COMPUTE_FP32);
        CHECK_EQ_INT(rms_workspace_reserve(&ws, &m, &b, &err), RMS_OK);
        const int64_t q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim, f = 4, i64 = 8;
        const int64_t got = ws.gemm.cap_xbuf + (int64_t)ws.gemm.threads * rms_gemm_pack_bytes() +
                            ws.cap_tokens * (c->hidden_size + 2 * q + 2 * kv + 2 * c->intermediate_size) * f +
                            ws.cap_tokens * i64 + ws.cap_seqs * (2 * c->hidden_size * f + i64) +
                            (int64_t)ws.threads * (rms_attention_scratch_floats(ws.cap_ctx) + 2 * ws.cap_ctx * c->head_dim) * f +
                            2 * ws.cap_ctx * (c->head_dim / 2) * f;
        CHECK_EQ_INT(ws.cap_tokens, n_tok);
        CHECK_EQ_INT(ws.cap_ctx, ctx);
        CHECK_EQ_INT(rms_workspace_bytes(c, n_tok, n_seqs, ctx, ws.threads), got);
        rms_workspace_free(&ws);
    }
    rms_model_free(&m);
}

int main(void) {
    RUN(test_the_workspace_estimate_equals_what_reserve_allocates);
    RUN(test_running_layers_in_two_slices_equals_running_them_at_once);
    RUN(test_packed_sequences_score_as_if_each_were_alone);
    RUN(test_a_shared_prompt_computed_once_gives_the_scores_of_the_written_out_pair);
    RUN(test_a_parent_must_be_an_earlier_sequence_without_a_parent);
    RUN(test_an_id_outside_the_vocabulary_is_an_input_error);
    RUN(test_a_checkpoint_missing_a_layer_names_the_missing_tensor);
    RUN(test_a_slice_touches_only_the_shards_holding_its_tensors);
    RUN(test_bf16_compute_stays_close_to_fp32);
    return check_summary();
}
