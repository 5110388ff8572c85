/* pipeline.h — `rmscore score` as an MPI job: a root that owns the files and schedules micro-batches
 * dynamically, and R pipeline replicas of P stages that pass fp32 hidden states down the pipeline
 * (see layout.h for the roles and README "Running under MPI" for the protocol).
 *
 * Waiting never busy-polls: requests are tested with a sleep that backs off from 20 µs to 1 ms, so
 * ranks sharing cores leave them to the ranks that compute.
 *
 * The communicator is the caller's (main duplicates MPI_COMM_WORLD once). Nothing here calls
 * MPI_Abort: errors return to main, which prints and aborts.
 */
#ifndef RMS_PIPELINE_H
#define RMS_PIPELINE_H

#include <mpi.h>
#include <signal.h>

#include "src/base/status.h"
#include "src/job/score_job.h"

/* Rank 0 parsed the options (its status *st, options o, message err); afterwards every rank holds the
 * same *st, options and message, so all ranks take the same path (none can be left waiting in a
 * collective). Returns RMS_OK, or RMS_ERR_IO (err filled) if the broadcast itself failed. */
rms_status rms_mpi_bcast_score_opts(MPI_Comm comm, rms_status *st, rms_score_opts *o, rms_err *err);

/* Runs this rank's part of the job with the (broadcast) options o: the root opens the files and drives
 * the score job (src/job/score_run.h) through the pipelines; workers run their stage. On failure:
 * *collective = 1 when every rank already knows the job ended (a start-up check agreed through an
 * allreduce, or an interrupt after which every pipeline drained: main may finalize normally; ranks that
 * did not fail get RMS_ERR_PEER), 0 when this rank alone hit the error (main must MPI_Abort). err's
 * message names the rank and its role. RMS_INTERRUPTED on the root after SIGINT/SIGTERM. */
rms_status rms_mpi_score(MPI_Comm comm, const rms_score_opts *o, volatile sig_atomic_t *stop, int *collective,
                         rms_err *err);

/* 1 if this process was started by an MPI launcher (mpirun/mpiexec, srun with PMI/PMIx). */
int rms_mpi_launched(void);

#endif
