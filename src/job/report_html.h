/* report_html.h — `report --html FILE`: one self-contained page (inline SVG and CSS, no script, no network) with
 * the figures of a scored dataset:
 *   #fig-accuracy     accuracy per source (ALL first) with its 95% Wilson interval;
 *   #fig-scores       distributions of chosen and rejected scores (histograms over one range, overlaid);
 *   #fig-calibration  the calibration curve: accuracy against mean confidence per bin, with the diagonal;
 *   #fig-margins      one margin histogram per source (ALL first), on one shared range, 0 marked.
 * Each mark carries its figure in data- attributes (data-accuracy, data-lo, data-hi, data-count, ...), so that a
 * test reads back what is drawn. Histograms: RMS_HTML_BINS equal bins over [min, max] of the values shown.
 *
 * Ownership: nothing is kept; the stream stays the caller's.
 */
#ifndef RMS_REPORT_HTML_H
#define RMS_REPORT_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "src/base/status.h"
#include "src/job/report.h"

#define RMS_HTML_BINS 30
#define RMS_HTML_GRID 64            /* cells per side of compare's scatter drawn as a grid */
#define RMS_HTML_MAX_POINTS 5000    /* compare --max-points' default */

typedef struct rms_html_source {
    const char *name;       // shown escaped
    const rms_stats *stats; // its statistics (rms_stats_compute)
    const int64_t *rows;    // (n) its rows; NULL: every row 0..n-1
    int64_t n;
} rms_html_source;

/* Writes the page for sources[0..n_sources) (sources[0]: all rows) of the columns chosen, rejected, status. title:
 * the page heading (escaped). RMS_ERR_NOMEM, or RMS_OK; the caller checks the stream for write errors. */
rms_status rms_report_html_write(FILE *f, const char *title, const char *subtitle, const float *chosen,
                                 const float *rejected, const int8_t *status, const rms_html_source *sources,
                                 int64_t n_sources, rms_err *err);

/* compare --html: the page of two models' scores of the same pairs:
 *   #fig-accuracy-ab  accuracy of A and of B per source (ALL first), each with its 95% Wilson interval;
 *   #fig-scatter      margin of B against margin of A for every pair both scored (flips marked): one point per
 *                     pair up to max_points pairs (data-mode="points"), above that a RMS_HTML_GRID x RMS_HTML_GRID
 *                     grid of cells per kind of pair (agree, only A right, only B right), each carrying its count
 *                     (data-mode="grid"), so that the page stays small for millions of pairs;
 *   #fig-delta        accuracy B - A per source, with McNemar's p.
 * groups[0]: all rows 0..n-1 (the scatter draws them); each group's figures from its comparison (src/job/compare.h). */
typedef struct rms_html_pair_group {
    const char *name;
    int64_t n;      // rows of the group
    int64_t n_both; // scored with finite scores in both files
    double accuracy_a, accuracy_a_lo, accuracy_a_hi, accuracy_b, accuracy_b_lo, accuracy_b_hi, delta, mcnemar_p;
} rms_html_pair_group;

rms_status rms_compare_html_write(FILE *f, const char *title, const char *subtitle, const float *ca, const float *ra,
                                  const int8_t *sa, const float *cb, const float *rb, const int8_t *sb,
                                  const rms_html_pair_group *groups, int64_t n_groups, int64_t max_points,
                                  rms_err *err);

#endif
