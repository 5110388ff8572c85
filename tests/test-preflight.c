/* Unit tests of src/job/preflight.c: the memory a process needs is counted for the micro-batches the run will
 * really form (a pair longer than the budget goes alone), not for the budget alone. */
#include "tests/check.h"
#include "io/scores_h5.h"
#include "src/engine/forward.h"
#include "src/job/preflight.h"
#include "src/job/schedule.h"

enum { N = 6 };

/* A job of N pairs planned under `budget`, as rms_score_job_open leaves it (only what the pre-flight reads). */
static void make_job(rms_score_job *j, rms_score_opts *o, int64_t *pair_tokens, int32_t *len_c, int32_t *len_r,
                     int8_t *status, int64_t budget) {
    memset(j, 0, sizeof *j);
    memset(o, 0, sizeof *o);
    o->microbatch_tokens = budget;
    j->o = o;
    j->n = N;
    j->pair_tokens = pair_tokens;
    j->len_c = len_c;
    j->len_r = len_r;
    j->status = status;
    uint8_t include[N];
    for (int i = 0; i < N; i++) include[i] = pair_tokens[i] > 0;
    rms_err err;
    CHECK_EQ_INT(rms_plan_build(&j->plan, pair_tokens, include, N, budget, &err), RMS_OK);
}

static void test_the_largest_batch_is_a_pair_longer_than_the_budget(void) {
    // pairs of 2229 (1100 + 1129), 900, 500, 300, 200 tokens and one too long (-1)
    int64_t tokens[N] = {900, 2229, 500, -1, 300, 200};
    int32_t len_c[N] = {450, 1100, 250, 9000, 150, 100}, len_r[N] = {450, 1129, 250, 9000, 150, 100};
    int8_t status[N] = {0, 0, 0, 0, 0, 0};
    rms_score_job j;
    rms_score_opts o;
    make_job(&j, &o, tokens, len_c, len_r, status, 1024);
    CHECK_EQ_INT(rms_preflight_largest_batch(&j), 2229); // the budget alone (1024) would miss it
    rms_plan_free(&j.plan);
    make_job(&j, &o, tokens, len_c, len_r, status, 4096);
    // longest first: [2229 900 500 300] = 3929, then [200]
    CHECK_EQ_INT(rms_preflight_largest_batch(&j), 3929);
    rms_plan_free(&j.plan);
}

static void test_batches_already_scored_do_not_count(void) {
    int64_t tokens[N] = {900, 2229, 500, -1, 300, 200};
    int32_t len_c[N] = {450, 1100, 250, 9000, 150, 100}, len_r[N] = {450, 1129, 250, 9000, 150, 100};
    int8_t status[N] = {0, RMS_SCORE_SCORED, 0, 0, 0, 0}; // a resumed run: the 2229-token pair is done
    rms_score_job j;
    rms_score_opts o;
    make_job(&j, &o, tokens, len_c, len_r, status, 1024);
    // [2229] done, then [900], [500 300 200] = 1000
    CHECK_EQ_INT(rms_preflight_largest_batch(&j), 1000);
    rms_plan_free(&j.plan);
}

static void test_the_need_counts_the_workspace_of_the_largest_batch(void) {
    rms_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = 256;
    c.intermediate_size = 704;
    c.n_layers = 4;
    c.n_heads = 8;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.vocab_size = 1000;
    strcpy(c.torch_dtype, "bfloat16");
    rms_mem_need small, big;
    rms_preflight_need(&c, 1, 3, 1024, 600, 2, 2, &small);
    rms_preflight_need(&c, 1, 3, 2229, 1129, 2, 2, &big);
    CHECK_EQ_INT(big.activations, rms_workspace_bytes(&c, 2229, 2229, 1129, 2));
    CHECK(big.activations > small.activations);
    CHECK_EQ_INT(big.transfer, 2 * 2229 * 256 * (int64_t)sizeof(float));
    CHECK_EQ_INT(big.weights, small.weights);
    CHECK_EQ_INT(big.total, big.weights + big.activations + big.transfer);
}

int main(void) {
    RUN(test_the_largest_batch_is_a_pair_longer_than_the_budget);
    RUN(test_batches_already_scored_do_not_count);
    RUN(test_the_need_counts_the_workspace_of_the_largest_batch);
    return check_summary();
}
