/* score_run.h — the one driver of `rmscore score`, and the executor interface it drives.
 *
 * rms_score_run walks the job's plan in order, hands every micro-batch that still has pending rows to
 * an executor (up to the executor's depth at once), writes each batch's scores when they come back
 * (rms_score_job_write: file flushed per batch) and prints progress. On a stop request it submits
 * nothing more, collects what is in flight, and returns RMS_INTERRUPTED. Executors differ only in
 * where the forward runs:
 *   - rms_local_executor (below): the whole model in this process, one batch at a time;
 *   - the MPI executor (mpi/pipeline.h): the root hands batches to pipeline replicas.
 *
 * Ownership: rms_executor is a plain table of callbacks over the executor's own state (`self`), which
 * its init/free pair owns. Buffers passed to submit are the driver's and are reused after it returns.
 */
#ifndef RMS_SCORE_RUN_H
#define RMS_SCORE_RUN_H

#include <signal.h>
#include <stdint.h>

#include "src/base/status.h"
#include "src/engine/forward.h"
#include "src/engine/model.h"
#include "src/job/score_job.h"

/* One micro-batch of k pending rows: for each row its chosen and rejected sequence, or — when the two
 * share a prompt prefix — the prefix, then the chosen and the rejected continuation with the prefix as
 * parent (src/engine/forward.h). */
typedef struct rms_batch_work {
    int64_t batch;          // plan index, handed back by collect
    int64_t n_seqs;         // 2k .. 3k
    const int64_t *offsets; // (n_seqs + 1) sequence boundaries in ids
    const int64_t *parent;  // (n_seqs) -1 or the prefix a sequence continues
    const int32_t *ids;     // (offsets[n_seqs]) token ids
} rms_batch_work;

typedef struct rms_executor {
    void *self;
    int64_t depth; /* batches that may be in flight at once, >= 1 */
    /* Takes one batch (copies what it keeps). */
    rms_status (*submit)(void *self, const rms_batch_work *w, rms_err *err);
    /* Waits until one submitted batch is done: its plan index and its n_seqs scores, one per sequence
     * (valid until the next call). */
    rms_status (*collect)(void *self, int64_t *batch, const float **scores, rms_err *err);
    /* No more batches (after the last collect, also after an interrupt): stops the executor's workers. */
    rms_status (*finish)(void *self, rms_err *err);
} rms_executor;

/* Scores every pending row of j through ex. RMS_INTERRUPTED when *stop was set before the end (the rows
 * written so far stay; rerunning resumes). */
rms_status rms_score_run(rms_score_job *j, const rms_executor *ex, volatile sig_atomic_t *stop, rms_err *err);

/* The local executor: the whole model, loaded in this process. */
typedef struct rms_local_executor {
    rms_model model;
    rms_workspace ws;
    float *scores;      // (cap) scores of the batch computed by the last submit
    int64_t cap, batch; // batch: its plan index, -1 when none is waiting to be collected
} rms_local_executor;

/* Loads the model (all layers) and fills *ex with the callbacks. Free with rms_local_executor_free, also
 * after a failure. */
rms_status rms_local_executor_init(rms_local_executor *x, const char *model_dir, rms_compute compute,
                                   rms_executor *ex, rms_err *err);
void rms_local_executor_free(rms_local_executor *x);

#endif
