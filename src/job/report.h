/* report.h — statistics of scored preference pairs (what `report` prints and writes as JSON).
 *
 * accuracy = correct / scored, where a row is correct if chosen > rejected strictly; ties count as
 * wrong (as open-instruct and RewardBench do) and are reported apart. Margins are chosen - rejected over scored
 * rows. Rows with a non-finite score (status 4: NaN or an infinity from the model) are counted apart and excluded
 * from every figure, so that none is ever NaN while anything is scored.
 *
 * The figures, each over the scored rows (NaN where undefined: nothing scored, or one row for a deviation):
 *  - accuracy and its 95% Wilson score interval (z = 1.959964): for k correct of n, p = k/n,
 *    centre (p + z²/2n) / (1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n);
 *  - chosen and rejected scores: mean and sample standard deviation (divisor n - 1);
 *  - margins: mean, and the quantiles RMS_MARGIN_QUANTILES by linear interpolation between order statistics
 *    (NumPy's default: the q-quantile of sorted x[0..n) is x[h] + (h - floor h)(x[h+1] - x[h]) at h = q(n - 1));
 *  - calibration: a pair's confidence is the Bradley-Terry probability the model gives its own choice,
 *    sigmoid(|margin|) in [0.5, 1]; RMS_CALIB_BINS equal bins over [0.5, 1] (the last closed) hold each the count,
 *    the mean confidence and the accuracy of their pairs; the expected calibration error is
 *    ECE = sum over bins of (n_bin / n) |accuracy_bin - confidence_bin|.
 * Pure functions over caller arrays; rms_stats is a plain value.
 */
#ifndef RMS_REPORT_H
#define RMS_REPORT_H

#include <stdint.h>

#include "src/base/status.h"

#define RMS_CALIB_BINS 10
#define RMS_N_QUANTILES 5
extern const double RMS_MARGIN_QUANTILES[RMS_N_QUANTILES]; // 0.05, 0.25, 0.5, 0.75, 0.95

typedef struct rms_calib_bin {
    int64_t n;
    double confidence, accuracy; // means over the bin's pairs; NaN when it has none
} rms_calib_bin;

typedef struct rms_stats {
    int64_t n_rows; // rows considered
    int64_t n_scored, n_correct, n_ties, n_skipped, n_bad, n_nonfinite, n_pending;
    double accuracy, accuracy_lo, accuracy_hi; // with the 95% Wilson interval
    double chosen_mean, chosen_std, rejected_mean, rejected_std;
    double margin_mean, margin_median;
    double margin_q[RMS_N_QUANTILES]; // at RMS_MARGIN_QUANTILES (margin_q[2] == margin_median)
    rms_calib_bin calib[RMS_CALIB_BINS];
    double ece;
} rms_stats;

/* Statistics of rows[0..n) (rows == NULL: rows 0..n-1). scratch: n doubles (caller-owned). */
void rms_stats_compute(const float *chosen, const float *rejected, const int8_t *status, const int64_t *rows, int64_t n,
                       double *scratch, rms_stats *out);

/* The 95% Wilson score interval of k successes in n trials (n > 0). */
void rms_wilson_interval(int64_t k, int64_t n, double *lo, double *hi);

/* The q-quantile of sorted[0..n) (n > 0) by linear interpolation (NumPy's default method). */
double rms_quantile_sorted(const double *sorted, int64_t n, double q);

#endif
