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

/* Runs this rank's part. On failure: *collective = 1 when every rank already knows the job failed (a
 * start-up check agreed through an allreduce: main may finalize normally; ranks that did not fail get
 * RMS_ERR_PEER), 0 when this rank alone hit the error (main must MPI_Abort). err's message names the
 * rank and its role. */
rms_status rms_mpi_score(MPI_Comm comm, int argc, char **argv, volatile sig_atomic_t *stop, int *collective,
                         rms_err *err);

/* 1 if this process was started by an MPI launcher (mpirun/mpiexec, srun with PMI/PMIx). */
int rms_mpi_launched(void);

#endif
