/* scores_h5.h — the results file `score` writes (and `report`/`export`/`merge` read).
 *
 * HDF5 layout: group /scores, N rows aligned with /pairs:
 *   chosen, rejected   float32 (NaN where not scored)
 *   status             int8: 0 pending, 1 scored, 2 skipped (too long), 3 bad input, 4 non-finite score (the model
 *                      gave NaN or an infinity for the chosen or the rejected conversation: NaN/Inf weights, or
 *                      activations that overflowed; chosen and rejected hold what it gave; final like 1-3)
 * chunked (RMS_SCORES_CHUNK_ROWS rows) and uncompressed, every chunk allocated and filled (NaN, 0) when the
 * file is created (9 bytes a row on disk), so that writing rows never changes HDF5's metadata.
 *
 * Attributes of /scores (strings unless marked int64):
 *   the dataset        n_rows (int64), pairs_tokenizer_sha256, pairs_template_sha256, pairs_tokenization;
 *                      pairs_template (its name) and pairs_file (absolute path) for information
 *   the model          model_fingerprint (io/fingerprint.h), model_files (its manifest: `sha256sum` lines);
 *                      model (absolute path of the directory) for information
 *   the settings       compute, overlong, pooling, max_tokens (int64)
 *   the task           shard_index, shard_count (int64; 0 and 1: every row)
 *   the last run       config_sha256, stages, replicas (int64), tool_version
 * model_fingerprint, model_files, pairs_template, pairs_template_sha256, pairs_tokenization, shard_index and
 * shard_count were added together ("the identity"); a file written before has none of them and reads as "" and
 * shard 0 of 0 (not recorded), and as pooling "last-token" if it lacks pooling too.
 *
 * Incremental: rms_scores_write_rows writes the given rows and flushes the file (H5Fflush), so a killed
 * job loses only rows not yet handed to it. A failing write or flush (a full disk, a file-size limit) is an error
 * naming the file and the OS error; the statuses of a call are written only after its scores were written and
 * flushed without error, so a row never reads as scored without its scores.
 *
 * Resume (rms_scores_open on an existing file) keeps the file's rows when the run is the one that wrote them:
 *   - the same dataset: n_rows, pairs_tokenizer_sha256, pairs_template_sha256, pairs_tokenization (else
 *     RMS_ERR_FORMAT naming the attribute and both values);
 *   - the same model and settings: model_fingerprint, compute, overlong, pooling, max_tokens, and the same shard
 *     (else RMS_ERR_ARG naming the attribute, both values — for the model, the files that differ — and asking
 *     for a new --out). The model's path may differ (a staged copy): model is then rewritten, as are the other
 *     attributes of the last run (pairs_file, config_sha256, stages, replicas, tool_version) where they differ.
 *   - a file without the identity (written before it was recorded) is refused, since nothing ties its rows to a
 *     checkpoint, unless meta->adopt_identity: then what it records must agree (the settings above, and its model
 *     path must name this run's model directory), and the identity of this run is recorded in it.
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
#define RMS_SCORE_NONFINITE 4 /* the model's score of the chosen or the rejected conversation is NaN or infinite */
#define RMS_SCORE_STATUS_MAX RMS_SCORE_NONFINITE
#define RMS_SCORES_MODEL_FILES_MAX 16384 /* the model_files manifest kept (RMS_FINGERPRINT_MANIFEST_MAX) */

typedef struct rms_scores_meta {
    char model[1024];                  /* absolute path of the model directory (information) */
    char model_fingerprint[65];        /* SHA-256 of the model's manifest; "" not recorded (an older file) */
    char model_files[RMS_SCORES_MODEL_FILES_MAX]; /* the manifest: "<sha256>  <name>\n" per file */
    char pairs_file[1024];             /* absolute path of the dataset (information; report's default) */
    char pairs_tokenizer_sha256[65];
    char pairs_template[64];           /* the dataset's template name (information) */
    char pairs_template_sha256[65];
    char pairs_tokenization[32];       /* "chat-template" | "text-with-special"; "" not recorded */
    char config_sha256[65];  /* "" when no run config */
    char compute[16];        /* "fp32" | "bf16" */
    char overlong[32];       /* "skip" | "truncate-left" */
    char pooling[64];        /* "last-token" | "last-non-pad-token (pad_token_id N)"; files written before this
                                attribute existed read as "last-token" */
    int64_t max_tokens;      /* 0: no limit */
    int64_t shard_index, shard_count; /* rows [I*n/N, (I+1)*n/N) were this file's task; 0 and 1: every row;
                                         shard_count 0: not recorded (an older file) */
    int64_t stages, replicas;
    char tool_version[32];
    int64_t n_rows;
    int identity_recorded;   /* read: the file records the identity (model_fingerprint and the others) */
    int adopt_identity;      /* rms_scores_open only (not stored): resume a file without the identity when what it
                                records agrees, recording this run's */
} rms_scores_meta;

typedef struct rms_scores rms_scores;

/* Creates path for meta->n_rows rows (all pending, NaN) or, if it exists, resumes it (*resumed = 1) under the
 * rules above. Creation writes the identity attributes only when meta->model_fingerprint is set (a merge of
 * older files stays an older file). */
rms_status rms_scores_open(rms_scores **s, const char *path, const rms_scores_meta *meta, int *resumed, rms_err *err);
/* Opens an existing file read-only (report/export/merge); fills *meta (absent attributes as described above). */
rms_status rms_scores_open_read(rms_scores **s, const char *path, rms_scores_meta *meta, rms_err *err);
/* Reads all N rows of the three columns into caller arrays (any may be NULL). */
rms_status rms_scores_read(rms_scores *s, float *chosen, float *rejected, int8_t *status, rms_err *err);
/* Writes n rows (any order) and flushes the file to disk. */
rms_status rms_scores_write_rows(rms_scores *s, const int64_t *rows, int64_t n, const float *chosen,
                                 const float *rejected, const int8_t *status, rms_err *err);
/* Flushes (if writable), closes and frees s (NULL is fine); the first failure is the status. */
rms_status rms_scores_close(rms_scores *s, rms_err *err);

#endif
