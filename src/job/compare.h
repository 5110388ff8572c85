/* compare.h — two reward models' scores of the same pairs, side by side (what `compare` prints).
 *
 * Over the rows both files scored with finite scores (status 1 in both):
 *  - accuracy of each (chosen > rejected strictly) with its 95% Wilson interval, and the difference B - A;
 *  - McNemar's exact test of that difference: of the discordant pairs (b: only A right, c: only B right), the
 *    two-sided p = min(1, 2 P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2); 1 when there are none;
 *  - agreement: the share of pairs where both prefer the same response ((margin_a > 0) == (margin_b > 0));
 *  - Pearson's correlation of the margins, and Spearman's (Pearson's of their ranks, ties given their mean rank);
 *    NaN with fewer than 2 pairs or a constant side;
 *  - flips: the pairs one model gets right and the other wrong (b + c of them).
 * rms_compare_compute allocates its scratch and frees it; rms_compare is a plain value.
 */
#ifndef RMS_COMPARE_H
#define RMS_COMPARE_H

#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_compare {
    int64_t n_rows;                 // rows considered
    int64_t n_both;                 // scored (finite) in both files
    int64_t correct_a, correct_b;   // over n_both
    double accuracy_a, accuracy_a_lo, accuracy_a_hi;
    double accuracy_b, accuracy_b_lo, accuracy_b_hi;
    double delta;                   // accuracy_b - accuracy_a
    int64_t only_a, only_b;         // discordant: only A right, only B right (the flips)
    double mcnemar_p;
    double agreement;
    double pearson, spearman;       // of the margins
} rms_compare;

/* True when row i counts: scored with finite scores in both files. */
int rms_compare_row_used(const float *ca, const float *ra, const int8_t *sa, const float *cb, const float *rb,
                         const int8_t *sb, int64_t i);

/* The comparison over rows[0..n) (rows == NULL: 0..n-1) of files A (ca, ra, sa) and B (cb, rb, sb). */
rms_status rms_compare_compute(const float *ca, const float *ra, const int8_t *sa, const float *cb, const float *rb,
                               const int8_t *sb, const int64_t *rows, int64_t n, rms_compare *out, rms_err *err);

/* McNemar's exact two-sided p-value for b and c discordant pairs. */
double rms_mcnemar_exact(int64_t b, int64_t c);

/* Spearman's rank correlation of x and y (n values each); NaN when n < 2 or a side is constant. */
rms_status rms_spearman(const double *x, const double *y, int64_t n, double *rho, rms_err *err);

/* Pearson's correlation of x and y; NaN when n < 2 or a side is constant. */
double rms_pearson(const double *x, const double *y, int64_t n);

#endif
