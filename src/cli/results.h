/* results.h — a scores file read whole for the commands that look at results (report, export, compare): its
 * columns, its metadata and, when its dataset can be opened, a reader for the dataset's strings; and the grouping of
 * rows by source; and how those commands print a figure (a table cell, a JSON number).
 *
 * Ownership: rms_results_open fills a caller-owned rms_results whose arrays and reader rms_results_close frees
 * (safe after a failed open); rms_source_groups_init / rms_source_groups_free likewise.
 */
#ifndef RMS_CLI_RESULTS_H
#define RMS_CLI_RESULTS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "io/pairs_h5.h"
#include "io/scores_h5.h"
#include "src/base/status.h"
#include "src/base/text.h"

typedef struct rms_results {
    rms_scores_meta meta;
    int64_t n;
    float *chosen, *rejected;  // (n)
    int8_t *status;            // (n)
    rms_pairs_reader *pairs;   // NULL without a dataset
    rms_pairs_meta pairs_meta; // valid when pairs is not NULL
} rms_results;

/* Reads scores (a path) and opens its dataset: data when not "", else the file `score` recorded (a warning on
 * stderr and no reader when that one cannot be opened; an error when data was given). */
rms_status rms_results_open(const char *scores, const char *data, rms_results *res, rms_err *err);
void rms_results_close(rms_results *res);

/* Rows grouped by source: group[i] for each row, names in order of first appearance. */
typedef struct rms_source_groups {
    int64_t n_groups;
    int64_t *group;      // (n rows)
    rms_text names;      // NUL-separated names
    int64_t *name_start; // (n_groups)
} rms_source_groups;

rms_status rms_source_groups_init(rms_pairs_reader *pairs, int64_t n, rms_source_groups *g, rms_err *err);
void rms_source_groups_free(rms_source_groups *g);
/* Fills rows with the indices of group gi and returns their count. */
int64_t rms_source_groups_rows(const rms_source_groups *g, int64_t n, int64_t gi, int64_t *rows);
/* The name of group gi. */
const char *rms_source_groups_name(const rms_source_groups *g, int64_t gi);

/* A figure of a table on stdout: " %*.*f", or "-" right-aligned where it is undefined (NaN: nothing to compute it
 * from), never "nan". */
void rms_print_figure(int width, int decimals, double v);
/* A figure as JSON: a number, or null where it is not finite (strict JSON). The caller owns the item. */
cJSON *rms_json_number(double v);

#endif
