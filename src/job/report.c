#include "src/job/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/scores_h5.h"

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void rms_stats_compute(const float *chosen, const float *rejected, const int8_t *status, const int64_t *rows, int64_t n,
                       double *scratch, rms_stats *out) {
    memset(out, 0, sizeof *out);
    out->n_rows = n;
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        // a row marked scored with a NaN or infinite score (written before status 4 existed) counts as status 4
        const int nonfinite = status[i] == RMS_SCORE_SCORED && !(isfinite(chosen[i]) && isfinite(rejected[i]));
        switch (nonfinite ? RMS_SCORE_NONFINITE : status[i]) {
        case RMS_SCORE_SCORED: {
            const double margin = (double)chosen[i] - (double)rejected[i];
            scratch[out->n_scored++] = margin;
            sum += margin;
            out->n_correct += margin > 0.0;
            out->n_ties += margin == 0.0;
            break;
        }
        case RMS_SCORE_SKIPPED: out->n_skipped++; break;
        case RMS_SCORE_BAD: out->n_bad++; break;
        case RMS_SCORE_NONFINITE: out->n_nonfinite++; break;
        default: out->n_pending++; break;
        }
    }
    if (out->n_scored == 0) {
        out->accuracy = out->margin_mean = out->margin_median = NAN;
        return;
    }
    out->accuracy = (double)out->n_correct / (double)out->n_scored;
    out->margin_mean = sum / (double)out->n_scored;
    qsort(scratch, (size_t)out->n_scored, sizeof *scratch, cmp_double);
    const int64_t h = out->n_scored / 2;
    out->margin_median = out->n_scored % 2 ? scratch[h] : 0.5 * (scratch[h - 1] + scratch[h]);
}
