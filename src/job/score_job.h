/* score_job.h — the files and the plan of `rmscore score`: the resolved options, the dataset and
 * results files, the micro-batch plan, reading a batch's ids and writing its scores, progress lines.
 * Only the process that owns the files (the MPI root) opens a job; src/job/score_run.h drives it.
 *
 * Ownership: rms_score_opts is a plain value (strings copied in; safe to copy or broadcast as bytes).
 * rms_score_job is caller-allocated, filled by rms_score_job_open and released by rms_score_job_close.
 */
#ifndef RMS_SCORE_JOB_H
#define RMS_SCORE_JOB_H

#include <stdint.h>

#include "io/file_lock.h"
#include "io/ids_input.h"
#include "io/pairs_h5.h"
#include "io/scores_h5.h"
#include "src/base/options.h"
#include "src/base/status.h"
#include "src/engine/forward.h"
#include "src/job/schedule.h"

#define RMS_MAX_STAGES RMS_INT_LIST_MAX

typedef enum rms_overlong {
    RMS_OVERLONG_SKIP = 0,          // a pair with a longer sequence is skipped (status 2)
    RMS_OVERLONG_TRUNCATE_LEFT = 1, // longer sequences keep their last max_tokens tokens
} rms_overlong;

/* Everything `score` was asked to do (the command line and the run config resolved; see
 * src/cli/cmd_score.c for the option table). */
typedef struct rms_score_opts {
    char model[RMS_PATH_MAX], data[RMS_PATH_MAX], out[RMS_PATH_MAX];
    char tokenizer[RMS_PATH_MAX];   // "" = model
    char config[RMS_PATH_MAX];      // run config file, "" without --config
    char config_sha256[65];         // its SHA-256, "" without --config
    int64_t threads;                // 0: automatic
    int64_t microbatch_tokens, max_tokens, progress_every; // max_tokens 0: no limit
    int64_t stages;                 // pipeline stages (MPI)
    rms_int_list layer_split;       // n == 0: balanced; else stages entries
    rms_shard shard;                // rows [I*n/N, (I+1)*n/N)
    int overlong;                   // rms_overlong
    int compute;                    // rms_compute
    int allow_mismatch, quiet;
    int no_prefix_sharing;          // 0: a pair's shared prompt prefix is computed once
    int allow_unverified_resume;    // resume an --out that records no model fingerprint (written before it
                                    // was recorded) when what it records agrees; the fingerprint is then added
    char stop_at_text[RMS_PATH_MAX]; // --stop-at as given ("" without)
    int64_t time_budget;            // --time-budget seconds (0: none)
    int64_t stop_at;                // resolved: Unix time by which the run must have stopped and flushed (0: none):
                                    // the earliest of --stop-at, start + --time-budget, $SLURM_JOB_END_TIME
    char stop_at_source[48];        // which of them set stop_at, for the log
    int progress_json;              // progress as JSON lines (one object per line) on stderr
    int strict;                     // exit status 4 when rows of the dataset are bad input or non-finite
} rms_score_opts;

/* The directory whose tokenizer.json the dataset is checked against: --tokenizer, else --model. */
const char *rms_score_opts_tokenizer(const rms_score_opts *o);

typedef struct rms_score_job {
    const rms_score_opts *o;
    rms_pairs_reader *pairs;
    rms_scores *scores;
    int64_t n;                  // rows
    int32_t *len_c, *len_r;     // (n) stored sequence lengths
    int8_t *pair_status;        // (n) 0 ok / 3 bad input
    int8_t *status;             // (n) results status
    int64_t *pair_tokens;       // (n) tokens computed for the pair after truncation (its shared prefix once
                                //     unless --no-prefix-sharing; an estimate from above), -1 if too long
    int32_t *shared;            // (n) stored shared_prefix
    int64_t pad_id;             // the model's pad_token_id: pooled at the last token that is not it; -1: last token
    int64_t vocab_size;         // the model's vocab_size: every id read from the dataset must be below it
    int64_t n_marked;           // rows marked skipped/bad by this run
    rms_plan plan;              // every scoreable row, so a resumed run re-forms the same batches
    int64_t todo_rows, todo_tokens, todo_batches; // what is still pending
    double t_start, t_last_progress;
    int64_t done_rows, done_tokens;
    int64_t seq_tokens, computed_tokens; // tokens of the sequences this run scored / computed for them
    int stopped_for_deadline;   // the run stopped scheduling because of o->stop_at (src/job/score_run.c)
    rms_file_lock lock;         // on o->out, from open to close: one writer per results file
    char model_line[1200];      // the model's path and fingerprint, for the log
} rms_score_job;

/* Locks o->out (io/file_lock.h: another run holding it is an error naming its host and pid), opens the
 * dataset (checking the tokenizer hash), fingerprints the model (io/fingerprint.h), creates or resumes the
 * results (io/scores_h5.h: resuming requires the same dataset, model content, settings and shard), marks rows
 * that will never be scored (bad input, too long), and plans the batches. stages/replicas go into the
 * results' attributes. rms_score_job_close releases the lock, also after a failed open. */
rms_status rms_score_job_open(rms_score_job *j, const rms_score_opts *o, int64_t stages, int64_t replicas,
                              rms_err *err);

/* The rows of batch b still pending (rows, caller array of the batch's size) and their ids appended to
 * ids (cleared first), chosen then rejected per row; offsets (2k + 1) gets the sequence boundaries.
 * *k = 0 when the batch is already done. */
rms_status rms_score_job_batch(rms_score_job *j, int64_t b, int64_t *rows, int64_t *k, rms_ids *ids,
                               int64_t *offsets, rms_err *err);
/* The rows [*row0, *row1) of this run's shard. */
void rms_score_job_shard_rows(const rms_score_opts *o, int64_t n, int64_t *row0, int64_t *row1);
/* The rows [*row0, *row1) of shard index of count (count < 1: one shard) of n rows: [I*n/N, (I+1)*n/N). */
void rms_shard_block(int64_t index, int64_t count, int64_t n, int64_t *row0, int64_t *row1);

/* Largest number of rows in one batch. */
int64_t rms_score_job_max_batch_rows(const rms_score_job *j);

/* Writes the scores of k rows (seq_scores: 2k values, chosen then rejected per row) and flushes. */
rms_status rms_score_job_write(rms_score_job *j, const int64_t *rows, int64_t k, const float *seq_scores,
                               rms_err *err);

/* Closes the files, then releases the lock on o->out; a close failure becomes *st and *err unless an error came
 * first. */
void rms_score_job_close(rms_score_job *j, rms_status *st, rms_err *err);

/* Threads when --threads is not given: $SLURM_CPUS_PER_TASK if set, else the CPUs this process may use. */
int64_t rms_default_threads(void);

#endif
