/* Unit tests of src/job/compare.c (McNemar's exact test, rank correlation, the comparison) on hand-computed cases. */
#include "tests/check.h"
#include "io/scores_h5.h"
#include "src/job/compare.h"

static void test_mcnemar_exact_is_twice_the_smaller_binomial_tail(void) {
    CHECK_NEAR(rms_mcnemar_exact(0, 5), 2.0 / 32.0, 1e-15);   // 2 P(X = 0), X ~ Bin(5, 1/2)
    CHECK_NEAR(rms_mcnemar_exact(4, 1), 12.0 / 32.0, 1e-15);  // 2 (1 + 5) / 32
    CHECK_NEAR(rms_mcnemar_exact(3, 3), 1.0, 1e-15);          // capped at 1
    CHECK_NEAR(rms_mcnemar_exact(0, 0), 1.0, 0.0);            // no discordant pair
    // a large count stays finite and tiny: 2 P(X <= 10) for X ~ Bin(10010, 1/2)
    const double p = rms_mcnemar_exact(10, 10000);
    CHECK(isfinite(p) && p >= 0.0 && p < 1e-300);
}

static void test_spearman_gives_ties_their_mean_rank(void) {
    const double x[] = {1, 2, 2, 3}, y[] = {1, 2, 3, 4};
    double rho;
    rms_err err;
    CHECK_EQ_INT(rms_spearman(x, y, 4, &rho, &err), RMS_OK);
    CHECK_NEAR(rho, 4.5 / sqrt(22.5), 1e-12); // ranks of x: 1 2.5 2.5 4
    const double c[] = {5, 5, 5};
    CHECK_EQ_INT(rms_spearman(c, y, 3, &rho, &err), RMS_OK);
    CHECK(isnan(rho)); // a constant side
    CHECK(isnan(rms_pearson(x, y, 1)));
}

static void test_the_comparison_counts_flips_over_rows_both_scored(void) {
    // margins A: +1 +1 -1 -1 +1 (row 4 skipped in B), B: +1 -1 +1 -1 +1
    const float ca[] = {1, 1, 0, 0, 1}, ra[] = {0, 0, 1, 1, 0};
    const float cb[] = {2, 0, 3, 0, 1}, rb[] = {1, 2, 0, 4, 0};
    const int8_t sa[] = {1, 1, 1, 1, 1}, sb[] = {1, 1, 1, 1, RMS_SCORE_SKIPPED};
    rms_compare c;
    rms_err err;
    CHECK_EQ_INT(rms_compare_compute(ca, ra, sa, cb, rb, sb, NULL, 5, &c, &err), RMS_OK);
    CHECK_EQ_INT(c.n_both, 4);
    CHECK_EQ_INT(c.only_a, 1);
    CHECK_EQ_INT(c.only_b, 1);
    CHECK_NEAR(c.accuracy_a, 0.5, 1e-15);
    CHECK_NEAR(c.accuracy_b, 0.5, 1e-15);
    CHECK_NEAR(c.agreement, 0.5, 1e-15);
    CHECK_NEAR(c.mcnemar_p, 1.0, 1e-15);
    const int64_t rows[] = {0, 2};
    CHECK_EQ_INT(rms_compare_compute(ca, ra, sa, cb, rb, sb, rows, 2, &c, &err), RMS_OK);
    CHECK_EQ_INT(c.n_both, 2);
    CHECK_EQ_INT(c.only_b, 1);
    CHECK_NEAR(c.delta, 0.5, 1e-15);
}

int main(void) {
    RUN(test_mcnemar_exact_is_twice_the_smaller_binomial_tail);
    RUN(test_spearman_gives_ties_their_mean_rank);
    RUN(test_the_comparison_counts_flips_over_rows_both_scored);
    return check_summary();
}
