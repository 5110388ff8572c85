/* scores_h5.h — the results file `score` writes (and `report`/`export` read).
 *
 * HDF5 layout: group /scores, N rows aligned with /pairs:
 *   chosen, rejected   float32 (NaN where not scored)
 *   status             int8: 0 pending, 1 scored, 2 skipped (too long), 3 bad input
 * chunked (RMS_SCORES_CHUNK_ROWS rows) and uncompressed, every chunk allocated and filled (NaN, 0) when the
 * file is created (9 bytes a row on disk), so that writing rows never changes HDF5's metadata.
 * Attributes of /scores: model (directory), pairs_file, pairs_tokenizer_sha256, config_sha256, compute,
 * overlong, pooling, max_tokens (int64), stages, replicas (int64), tool_version, n_rows (int64).
 *
 * Incremental: rms_scores_write_rows writes the given rows and flushes the file (H5Fflush), so a killed
 * job loses only rows not yet handed to it. Resume: rms_scores_open on an existing file checks it
 * belongs to the same dataset (n_rows, pairs_tokenizer_sha256) and the same run (model, compute,
 * overlong, pooling, max_tokens), and keeps its rows.
 *
 * Ownership: rms_scores is opaque: rms_scores_open / rms_scores_open_read allocate it (*s, NULL on
 * failure) and rms_scores_close frees it (also on error). Caller arrays are never kept.
 */
#ifndef RMS_SCORES_H5_H
#define RMS_SCORES_H5_H

#include <stdint.h>

#include "src/base/status.h"

#define RMS_SCORES_CHUNK_ROWS 4096
#define RMS_SCORE_PENDING 0
#define RMS_SCORE_SCORED 1
#define RMS_SCORE_SKIPPED 2
#define RMS_SCORE_BAD 3

typedef struct rms_scores_meta {
    char model[1024];
    char pairs_file[1024];
    char pairs_tokenizer_sha256[65];
    char config_sha256[65];  /* "" when no run config */
    char compute[16];        /* "fp32" | "bf16" */
    char overlong[32];       /* "skip" | "truncate-left" */
    char pooling[64];        /* "last-token" | "last-non-pad-token (pad_token_id N)"; files written before this
                                attribute existed read as "last-token" */
    int64_t max_tokens;      /* 0: no limit */
    int64_t stages, replicas;
    char tool_version[32];
    int64_t n_rows;
} rms_scores_meta;

typedef struct rms_scores rms_scores;

/* Creates path for meta->n_rows rows (all pending, NaN) or, if it exists, opens it for resuming:
 * then *resumed = 1 and the file must be of the same dataset (n_rows, pairs_tokenizer_sha256; else
 * RMS_ERR_FORMAT naming the mismatch) and of the same run (model, compute, overlong, pooling, max_tokens equal
 * to meta's; else RMS_ERR_ARG naming the attribute, both values, and asking for a new --out). The
 * attributes a run may change (stages, replicas, config_sha256, tool_version, pairs_file) are
 * rewritten to meta's where they differ. */
rms_status rms_scores_open(rms_scores **s, const char *path, const rms_scores_meta *meta, int *resumed, rms_err *err);
/* Opens an existing file read-only (report/export); fills *meta. */
rms_status rms_scores_open_read(rms_scores **s, const char *path, rms_scores_meta *meta, rms_err *err);
/* Reads all N rows of the three columns into caller arrays (any may be NULL). */
rms_status rms_scores_read(rms_scores *s, float *chosen, float *rejected, int8_t *status, rms_err *err);
/* Writes n rows (any order) and flushes the file to disk. */
rms_status rms_scores_write_rows(rms_scores *s, const int64_t *rows, int64_t n, const float *chosen,
                                 const float *rejected, const int8_t *status, rms_err *err);
/* Flushes (if writable), closes and frees s (NULL is fine); the first failure is the status. */
rms_status rms_scores_close(rms_scores *s, rms_err *err);

#endif
