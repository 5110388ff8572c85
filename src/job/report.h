/* report.h — accuracy and margin statistics of scored preference pairs (what `report` prints).
 *
 * accuracy = correct / scored, where a row is correct if chosen > rejected strictly; ties count as
 * wrong (as open-instruct does) and are reported apart. Margins are chosen - rejected over scored rows.
 * Rows with a non-finite score (status 4: NaN or an infinity from the model) are counted apart and excluded from
 * accuracy and margins, so that neither is ever NaN while anything is scored.
 * Pure functions over caller arrays; rms_stats is a plain value.
 */
#ifndef RMS_REPORT_H
#define RMS_REPORT_H

#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_stats {
    int64_t n_rows;     // rows considered
    int64_t n_scored, n_correct, n_ties, n_skipped, n_bad, n_nonfinite, n_pending;
    double accuracy;    // NaN when nothing is scored
    double margin_mean, margin_median; // NaN when nothing is scored
} rms_stats;

/* Statistics of rows[0..n) (rows == NULL: rows 0..n-1). scratch: n doubles (caller-owned). */
void rms_stats_compute(const float *chosen, const float *rejected, const int8_t *status, const int64_t *rows, int64_t n,
                       double *scratch, rms_stats *out);

#endif
