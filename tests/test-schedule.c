/* Unit tests of src/schedule.c (micro-batch plans) and src/report.c (accuracy statistics). */
#include "tests/check.h"
#include "io/scores_h5.h"
#include "src/job/report.h"
#include "src/job/schedule.h"

static void test_batches_hold_the_longest_pairs_first_under_the_budget(void) {
    const int64_t tokens[6] = {10, 40, 25, 25, 5, 60};
    const uint8_t include[6] = {1, 1, 1, 1, 1, 1};
    rms_plan p;
    rms_err err;
    CHECK_EQ_INT(rms_plan_build(&p, tokens, include, 6, 50, &err), RMS_OK);
    // order: 60 (alone, over budget), 40, 25, 25, 10, 5 -> [60] [40] [25 25] [10 5]
    CHECK_EQ_INT(p.n_batches, 4);
    const int64_t want_rows[6] = {5, 1, 2, 3, 0, 4};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(p.rows[i], want_rows[i]);
    const int64_t want_start[5] = {0, 1, 2, 4, 6};
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(p.batch_start[i], want_start[i]);
    CHECK_EQ_INT(p.batch_tokens[2], 50);
    CHECK_EQ_INT(p.batch_tokens[3], 15);
    rms_plan_free(&p);
}

static void test_excluded_rows_are_not_planned_and_the_plan_is_deterministic(void) {
    enum { N = 1000 };
    int64_t tokens[N];
    uint8_t include[N];
    for (int i = 0; i < N; i++) {
        tokens[i] = 1 + (i * 7919) % 300;
        include[i] = i % 5 != 0;
    }
    rms_plan a, b;
    rms_err err;
    CHECK_EQ_INT(rms_plan_build(&a, tokens, include, N, 1000, &err), RMS_OK);
    CHECK_EQ_INT(rms_plan_build(&b, tokens, include, N, 1000, &err), RMS_OK);
    CHECK_EQ_INT(a.batch_start[a.n_batches], 800);
    int same = a.n_batches == b.n_batches, seen_excluded = 0;
    for (int64_t i = 0; i < 800; i++) {
        same &= a.rows[i] == b.rows[i];
        seen_excluded |= a.rows[i] % 5 == 0;
    }
    CHECK(same);
    CHECK(!seen_excluded);
    for (int64_t bi = 0; bi < a.n_batches; bi++) {
        int64_t t = 0;
        for (int64_t j = a.batch_start[bi]; j < a.batch_start[bi + 1]; j++) t += tokens[a.rows[j]];
        CHECK_EQ_INT(t, a.batch_tokens[bi]);
        CHECK(t <= 1000);
    }
    rms_plan_free(&a);
    rms_plan_free(&b);
}

static void test_an_empty_plan_has_no_batches(void) {
    rms_plan p;
    rms_err err;
    CHECK_EQ_INT(rms_plan_build(&p, NULL, NULL, 0, 10, &err), RMS_OK);
    CHECK_EQ_INT(p.n_batches, 0);
    rms_plan_free(&p);
}

static void test_overlong_sequences_are_skipped_or_truncated_to_the_limit(void) {
    CHECK_EQ_INT(rms_effective_length(100, 0, 0), 100);
    CHECK_EQ_INT(rms_effective_length(100, 100, 0), 100);
    CHECK_EQ_INT(rms_effective_length(101, 100, 0), -1);
    CHECK_EQ_INT(rms_effective_length(101, 100, 1), 100);
}

static void test_ties_count_as_wrong_and_are_reported_apart(void) {
    const float c[6] = {1.0f, 0.5f, 2.0f, NAN, NAN, 3.0f};
    const float r[6] = {0.0f, 0.5f, 3.0f, NAN, NAN, 1.0f};
    const int8_t s[6] = {RMS_SCORE_SCORED, RMS_SCORE_SCORED, RMS_SCORE_SCORED, RMS_SCORE_SKIPPED, RMS_SCORE_BAD,
                         RMS_SCORE_SCORED};
    double scratch[6];
    rms_stats st;
    rms_stats_compute(c, r, s, NULL, 6, scratch, &st);
    CHECK_EQ_INT(st.n_scored, 4);
    CHECK_EQ_INT(st.n_correct, 2);
    CHECK_EQ_INT(st.n_ties, 1);
    CHECK_EQ_INT(st.n_skipped, 1);
    CHECK_EQ_INT(st.n_bad, 1);
    CHECK_NEAR(st.accuracy, 0.5, 1e-12);
    CHECK_NEAR(st.margin_mean, (1.0 + 0.0 - 1.0 + 2.0) / 4.0, 1e-12);
    CHECK_NEAR(st.margin_median, 0.5, 1e-12); // margins -1, 0, 1, 2
    const int64_t rows[2] = {2, 5};
    rms_stats_compute(c, r, s, rows, 2, scratch, &st);
    CHECK_NEAR(st.accuracy, 0.5, 1e-12);
    CHECK_NEAR(st.margin_median, 0.5, 1e-12);
    const int64_t none[1] = {3};
    rms_stats_compute(c, r, s, none, 1, scratch, &st);
    CHECK(isnan(st.accuracy));
    CHECK_EQ_INT(st.n_skipped, 1);
}

static void test_non_finite_rows_are_counted_apart_and_excluded_from_accuracy(void) {
    // row 0 scored correct, 1 scored wrong, 2 status 4 (NaN), 3 status 4 (+Inf), 4 an older file's "scored" NaN
    const float c[5] = {2, 0, NAN, INFINITY, NAN}, r[5] = {1, 1, 0, 1, 0};
    const int8_t s[5] = {RMS_SCORE_SCORED, RMS_SCORE_SCORED, RMS_SCORE_NONFINITE, RMS_SCORE_NONFINITE,
                         RMS_SCORE_SCORED};
    double scratch[5];
    rms_stats st;
    rms_stats_compute(c, r, s, NULL, 5, scratch, &st);
    CHECK_EQ_INT(st.n_scored, 2);
    CHECK_EQ_INT(st.n_nonfinite, 3);
    CHECK_EQ_INT(st.n_pending, 0);
    CHECK_NEAR(st.accuracy, 0.5, 1e-12);
    CHECK_NEAR(st.margin_mean, 0.0, 1e-12); // margins 1 and -1
    CHECK(isfinite(st.margin_median));
    const int64_t only_bad[2] = {2, 3};
    rms_stats_compute(c, r, s, only_bad, 2, scratch, &st);
    CHECK_EQ_INT(st.n_nonfinite, 2);
    CHECK(isnan(st.accuracy)); // nothing to average over: report prints null / "-"
}

static void test_a_shared_prefix_leaves_each_continuation_a_token(void) {
    CHECK_EQ_INT(rms_shareable_prefix(5, 10, 12), 5);
    CHECK_EQ_INT(rms_shareable_prefix(10, 10, 12), 9); // chosen is a prefix of rejected
    CHECK_EQ_INT(rms_shareable_prefix(7, 7, 7), 6);    // identical sequences
    CHECK_EQ_INT(rms_shareable_prefix(0, 3, 4), 0);
    CHECK_EQ_INT(rms_shareable_prefix(3, 1, 4), 0);    // a one-token sequence shares nothing
}

static void test_pairs_become_prefix_and_two_continuations(void) {
    // row 0: [1 2 3 4] / [1 2 9]  -> prefix [1 2], [3 4], [9]
    // row 1: [5 6] / [7]          -> nothing shared
    // row 2: [8 8] / [8 8]        -> prefix [8], [8], [8]
    const int32_t ids[] = {1, 2, 3, 4, 1, 2, 9, 5, 6, 7, 8, 8, 8, 8};
    const int64_t offsets[] = {0, 4, 7, 9, 10, 12, 14};
    int32_t out[14];
    int64_t out_off[10], parent[9], seq_of[6];
    const int64_t n = rms_share_prefixes(ids, offsets, 3, out, out_off, parent, seq_of);
    CHECK_EQ_INT(n, 8);
    const int32_t want_ids[] = {1, 2, 3, 4, 9, 5, 6, 7, 8, 8, 8};
    const int64_t want_off[] = {0, 2, 4, 5, 7, 8, 9, 10, 11}, want_parent[] = {-1, 0, 0, -1, -1, -1, 5, 5};
    CHECK(memcmp(out, want_ids, sizeof want_ids) == 0);
    CHECK(memcmp(out_off, want_off, sizeof want_off) == 0);
    CHECK(memcmp(parent, want_parent, sizeof want_parent) == 0);
    const int64_t want_seq[] = {1, 2, 3, 4, 6, 7};
    CHECK(memcmp(seq_of, want_seq, sizeof want_seq) == 0);
}

/* Trailing pad ids go (at least one token stays); pad ids inside a sequence and other sequences are kept. */
static void test_trailing_pad_tokens_are_dropped_keeping_one(void) {
    int32_t ids[] = {5, 6, 9, 9, /**/ 9, 9, /**/ 7, 9, 8, /**/ 9, /**/ 4};
    int64_t offsets[] = {0, 4, 6, 9, 10, 11};
    const int64_t n = rms_trim_sequences(ids, offsets, 5, 0, 9);
    const int32_t want_ids[] = {5, 6, /**/ 9, /**/ 7, 9, 8, /**/ 9, /**/ 4};
    const int64_t want_offsets[] = {0, 2, 3, 6, 7, 8};
    CHECK_EQ_INT(n, 8);
    CHECK(memcmp(ids, want_ids, sizeof want_ids) == 0);
    CHECK(memcmp(offsets, want_offsets, sizeof want_offsets) == 0);
}

/* Truncation keeps the last tokens, then trailing pads go; without a pad id pads stay. */
static void test_sequences_are_truncated_left_before_trailing_pads_go(void) {
    int32_t ids[] = {1, 2, 3, 9, 9, /**/ 4, 9, /**/ 5, 6, 7, 8};
    int64_t offsets[] = {0, 5, 7, 11};
    CHECK_EQ_INT(rms_trim_sequences(ids, offsets, 3, 3, 9), 5);
    const int32_t want_ids[] = {3, /**/ 4, /**/ 6, 7, 8};
    const int64_t want_offsets[] = {0, 1, 2, 5};
    CHECK(memcmp(ids, want_ids, sizeof want_ids) == 0);
    CHECK(memcmp(offsets, want_offsets, sizeof want_offsets) == 0);
    int32_t ids2[] = {1, 9, 9};
    int64_t offsets2[] = {0, 3};
    CHECK_EQ_INT(rms_trim_sequences(ids2, offsets2, 1, 0, -1), 3);
    CHECK_EQ_INT(offsets2[1], 3);
}

int main(void) {
    RUN(test_batches_hold_the_longest_pairs_first_under_the_budget);
    RUN(test_trailing_pad_tokens_are_dropped_keeping_one);
    RUN(test_sequences_are_truncated_left_before_trailing_pads_go);
    RUN(test_excluded_rows_are_not_planned_and_the_plan_is_deterministic);
    RUN(test_an_empty_plan_has_no_batches);
    RUN(test_overlong_sequences_are_skipped_or_truncated_to_the_limit);
    RUN(test_ties_count_as_wrong_and_are_reported_apart);
    RUN(test_non_finite_rows_are_counted_apart_and_excluded_from_accuracy);
    RUN(test_a_shared_prefix_leaves_each_continuation_a_token);
    RUN(test_pairs_become_prefix_and_two_continuations);
    return check_summary();
}
