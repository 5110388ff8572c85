/* score_job.h — the parts of `rmscore score` shared by the single-process and the MPI drivers:
 * options, the dataset and results files, the micro-batch plan, reading a batch's ids and writing
 * its scores, progress lines. Only the process that owns the files (the MPI root) opens a job.
 *
 * Ownership: rms_score_opts is a plain value (strings borrowed from argv). rms_score_job is
 * caller-allocated, filled by rms_score_job_open and released by rms_score_job_close.
 */
#ifndef RMS_SCORE_JOB_H
#define RMS_SCORE_JOB_H

#include <stdint.h>

#include "io/ids_input.h"
#include "io/pairs_h5.h"
#include "io/scores_h5.h"
#include "src/engine/forward.h"
#include "src/job/schedule.h"
#include "src/base/status.h"

#define RMS_MAX_STAGES 256

typedef struct rms_score_opts {
    const char *model, *data, *out, *tokenizer;
    int64_t threads;            // 0: automatic
    int64_t microbatch_tokens, max_tokens, progress_every;
    int64_t stages;             // pipeline stages (MPI)
    int64_t n_split;            // explicit layer split: 0, or stages entries in split
    int64_t split[RMS_MAX_STAGES];
    int64_t shard_index, shard_count; // --shard I/N: rows [I*n/N, (I+1)*n/N); 0/1 = all rows
    int truncate_left, allow_mismatch, quiet;
    rms_compute compute;
    char config_sha256[65];     // "" without --config
    char **config_args;         // owned: arguments from --config (the option strings point into them)
    int n_config_args;
} rms_score_opts;

/* Parses `rmscore score` options (argv[1] == "score"): a --config FILE first (its keys become options),
 * then the command line, which overrides it. --help prints usage and exits 0. Free with
 * rms_score_opts_free (also after a failure). */
rms_status rms_score_opts_parse(int argc, char **argv, rms_score_opts *o, rms_err *err);
void rms_score_opts_free(rms_score_opts *o);

typedef struct rms_score_job {
    const rms_score_opts *o;
    rms_pairs_reader *pairs;
    rms_scores *scores;
    int64_t n;                  // rows
    int32_t *len_c, *len_r;     // (n) stored sequence lengths
    int8_t *pair_status;        // (n) 0 ok / 3 bad input
    int8_t *status;             // (n) results status
    int64_t *pair_tokens;       // (n) tokens of both sequences after truncation, -1 if too long
    int64_t n_marked;           // rows marked skipped/bad by this run
    rms_plan plan;              // every scoreable row, so a resumed run re-forms the same batches
    int64_t todo_rows, todo_tokens, todo_batches; // what is still pending
    double t_start, t_last_progress;
    int64_t done_rows, done_tokens;
} rms_score_job;

/* Opens the dataset (checking the tokenizer hash), creates or resumes the results, marks rows that
 * will never be scored (bad input, too long), and plans the batches. stages/replicas go into the
 * results' attributes. */
rms_status rms_score_job_open(rms_score_job *j, const rms_score_opts *o, int64_t stages, int64_t replicas,
                              rms_err *err);

/* The rows of batch b still pending (rows, caller array of the batch's size) and their ids appended to
 * ids (cleared first), chosen then rejected per row; offsets (2k + 1) gets the sequence boundaries.
 * *k = 0 when the batch is already done. */
rms_status rms_score_job_batch(rms_score_job *j, int64_t b, int64_t *rows, int64_t *k, rms_ids *ids,
                               int64_t *offsets, rms_err *err);
/* The rows [*row0, *row1) of this run's shard. */
void rms_score_job_shard_rows(const rms_score_opts *o, int64_t n, int64_t *row0, int64_t *row1);

/* Largest number of rows in one batch. */
int64_t rms_score_job_max_batch_rows(const rms_score_job *j);

/* Writes the scores of k rows (seq_scores: 2k values, chosen then rejected per row) and flushes. */
rms_status rms_score_job_write(rms_score_job *j, const int64_t *rows, int64_t k, const float *seq_scores,
                               rms_err *err);

/* A progress line on stderr when progress_every seconds have passed (or force). */
void rms_score_job_progress(rms_score_job *j, int force);

/* Closes the files; a close failure becomes *st and *err unless an error came first. */
void rms_score_job_close(rms_score_job *j, rms_status *st, rms_err *err);

double rms_now_seconds(void);

/* Threads when --threads is not given: $SLURM_CPUS_PER_TASK if set, else the CPUs this process may use. */
int64_t rms_default_threads(void);

#endif
