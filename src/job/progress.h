/* progress.h — what `score` tells a person or a dashboard while it runs: progress lines with a timestamp on
 * stderr every --progress-every seconds (or, with --progress-json, one JSON object per line), the moment a
 * deadline stops the scheduling of new micro-batches, and the closing summary with the rows by status and
 * what the exit status means. --quiet silences all of it. Nothing to free; the job is only read (and its
 * t_last_progress set).
 *
 * JSON lines (--progress-json), each with "event", "time" (ISO 8601 with offset) and "unix" (seconds):
 *   {"event": "progress", "done_pairs", "todo_pairs", "pairs_per_s", "tokens_per_s", "eta_s" (null unknown)}
 *   {"event": "stopping", "reason", "stop_at" (unix), "in_flight"}
 *   {"event": "summary", "status" ("done" | "interrupted" | "stopped" | "error" | "bad-rows"), "exit_status",
 *    "rows", "scored", "skipped", "bad_input", "non_finite", "pending", "seconds"}
 */
#ifndef RMS_PROGRESS_H
#define RMS_PROGRESS_H

#include <stdint.h>

#include "src/base/status.h"
#include "src/job/score_job.h"

/* A progress line (or object) when --progress-every seconds have passed since the last, or when force. */
void rms_progress_update(rms_score_job *j, int force);

/* The run stops scheduling: reason (a sentence), with in_flight micro-batches still to drain. */
void rms_progress_stopping(const rms_score_job *j, const char *reason, int64_t in_flight);

/* Rows of this run's shard by results status: scored (1), skipped as too long (2), bad input (3), non-finite score
 * (4), pending (0). */
typedef struct rms_status_counts {
    int64_t rows, scored, skipped, bad_input, non_finite, pending;
} rms_status_counts;

void rms_progress_counts(const rms_score_job *j, rms_status_counts *c);

/* The closing summary of a run that ended with st after wall_s seconds; exit_status is what the process exits
 * with. */
void rms_progress_summary(const rms_score_job *j, rms_status st, int exit_status, double wall_s);

#endif
