#include "src/job/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/scores_h5.h"

const double RMS_MARGIN_QUANTILES[RMS_N_QUANTILES] = {0.05, 0.25, 0.5, 0.75, 0.95};

#define WILSON_Z 1.959963984540054 // the 0.975 quantile of the standard normal

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void rms_wilson_interval(int64_t k, int64_t n, double *lo, double *hi) {
    const double nn = (double)n, p = (double)k / nn, z2 = WILSON_Z * WILSON_Z;
    const double denom = 1.0 + z2 / nn;
    const double centre = (p + z2 / (2.0 * nn)) / denom;
    const double half = WILSON_Z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

double rms_quantile_sorted(const double *sorted, int64_t n, double q) {
    const double h = q * (double)(n - 1);
    const int64_t lo = (int64_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

/* The status a row counts under: a row marked scored with a NaN or infinite score (written before status 4
 * existed) counts as status 4. */
static int row_status(const float *chosen, const float *rejected, const int8_t *status, int64_t i) {
    if (status[i] == RMS_SCORE_SCORED && !(isfinite(chosen[i]) && isfinite(rejected[i]))) return RMS_SCORE_NONFINITE;
    return status[i];
}

/* Mean and sample standard deviation of v[rows[j]] over the scored rows (two passes, in double). */
static void mean_std(const float *v, const float *chosen, const float *rejected, const int8_t *status,
                     const int64_t *rows, int64_t n, int64_t n_scored, double *mean, double *std) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        if (row_status(chosen, rejected, status, i) == RMS_SCORE_SCORED) sum += v[i];
    }
    *mean = sum / (double)n_scored;
    if (n_scored < 2) {
        *std = NAN;
        return;
    }
    double ss = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        if (row_status(chosen, rejected, status, i) == RMS_SCORE_SCORED) {
            const double d = (double)v[i] - *mean;
            ss += d * d;
        }
    }
    *std = sqrt(ss / (double)(n_scored - 1));
}

void rms_stats_compute(const float *chosen, const float *rejected, const int8_t *status, const int64_t *rows, int64_t n,
                       double *scratch, rms_stats *out) {
    memset(out, 0, sizeof *out);
    out->n_rows = n;
    double sum = 0.0;
    double conf_sum[RMS_CALIB_BINS] = {0};
    int64_t correct_in[RMS_CALIB_BINS] = {0};
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        switch (row_status(chosen, rejected, status, i)) {
        case RMS_SCORE_SCORED: {
            const double margin = (double)chosen[i] - (double)rejected[i];
            scratch[out->n_scored++] = margin;
            sum += margin;
            out->n_correct += margin > 0.0;
            out->n_ties += margin == 0.0;
            const double conf = 1.0 / (1.0 + exp(-fabs(margin))); // sigmoid(|margin|), in [0.5, 1]
            int b = (int)((conf - 0.5) * 2.0 * RMS_CALIB_BINS);
            if (b >= RMS_CALIB_BINS) b = RMS_CALIB_BINS - 1;
            if (b < 0) b = 0;
            out->calib[b].n++;
            conf_sum[b] += conf;
            correct_in[b] += margin > 0.0;
            break;
        }
        case RMS_SCORE_SKIPPED: out->n_skipped++; break;
        case RMS_SCORE_BAD: out->n_bad++; break;
        case RMS_SCORE_NONFINITE: out->n_nonfinite++; break;
        default: out->n_pending++; break;
        }
    }
    for (int b = 0; b < RMS_CALIB_BINS; b++) {
        rms_calib_bin *c = &out->calib[b];
        c->confidence = c->n ? conf_sum[b] / (double)c->n : NAN;
        c->accuracy = c->n ? (double)correct_in[b] / (double)c->n : NAN;
    }
    if (out->n_scored == 0) {
        out->accuracy = out->accuracy_lo = out->accuracy_hi = NAN;
        out->chosen_mean = out->chosen_std = out->rejected_mean = out->rejected_std = NAN;
        out->margin_mean = out->margin_median = out->ece = NAN;
        for (int q = 0; q < RMS_N_QUANTILES; q++) out->margin_q[q] = NAN;
        return;
    }
    out->accuracy = (double)out->n_correct / (double)out->n_scored;
    rms_wilson_interval(out->n_correct, out->n_scored, &out->accuracy_lo, &out->accuracy_hi);
    mean_std(chosen, chosen, rejected, status, rows, n, out->n_scored, &out->chosen_mean, &out->chosen_std);
    mean_std(rejected, chosen, rejected, status, rows, n, out->n_scored, &out->rejected_mean, &out->rejected_std);
    out->margin_mean = sum / (double)out->n_scored;
    qsort(scratch, (size_t)out->n_scored, sizeof *scratch, cmp_double);
    for (int q = 0; q < RMS_N_QUANTILES; q++)
        out->margin_q[q] = rms_quantile_sorted(scratch, out->n_scored, RMS_MARGIN_QUANTILES[q]);
    // the median as before: the mean of the two middle values for an even count (= the linear 0.5-quantile)
    const int64_t h = out->n_scored / 2;
    out->margin_median = out->n_scored % 2 ? scratch[h] : 0.5 * (scratch[h - 1] + scratch[h]);
    out->ece = 0.0;
    for (int b = 0; b < RMS_CALIB_BINS; b++)
        if (out->calib[b].n)
            out->ece += (double)out->calib[b].n / (double)out->n_scored *
                        fabs(out->calib[b].accuracy - out->calib[b].confidence);
}
