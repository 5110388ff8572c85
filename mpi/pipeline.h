/* pipeline.h — `rmscore score` as an MPI job: a root that owns the files and schedules micro-batches
 * dynamically, and R pipeline replicas of P stages that pass fp32 hidden states down the pipeline
 * (see layout.h for the roles and README "Running under MPI" for the protocol).
 *
 * Waiting never busy-polls: requests are tested with a sleep that backs off from 20 µs to 1 ms, so
 * ranks sharing cores leave them to the ranks that compute.
 *
 * No hangs. Every wait of this module (point to point and collective: all are non-blocking requests
 * tested in a loop) is bounded by a liveness check. A watch (rms_mpi_watch) runs one small thread per
 * rank that exchanges a heartbeat every RMS_HEARTBEAT_S seconds between the root and every worker, on a
 * communicator of its own, whatever the main thread does (a stage may compute one micro-batch for
 * minutes: its heartbeats go on). A rank that waits and has not heard its peer for the peer timeout
 * (RMS_PEER_TIMEOUT_S, or RMSCORE_PEER_TIMEOUT seconds as rank 0 reads it) gives up with an error naming
 * the peer: the root watches every worker, a worker watches the root. A dead process is usually ended by
 * the launcher first (mpirun and srun --mpi=pmix end the whole job within ~2 s); the heartbeats catch
 * what the launcher does not see: a stopped or hung process, a node that vanished without closing its
 * connections. The heartbeat thread calls MPI while the main thread does, so it needs
 * MPI_THREAD_MULTIPLE; with less, the job runs without heartbeats (one warning line) and relies on the
 * launcher. The compute threads (src/engine/parallel.h) never call MPI.
 *
 * Stop requests: main's flag (set by SIGINT, SIGTERM, SIGUSR1, SIGUSR2 to the signal number) on the root
 * stops the scheduling; on a worker, its heartbeat carries the request to the root. Either way the root
 * submits no more micro-batches, collects and writes those in flight, stops every pipeline, and every
 * rank ends with RMS_INTERRUPTED (exit status 3).
 *
 * Requests pending when a wait fails are cancelled (MPI_Cancel) and completed, or freed
 * (MPI_Request_free) and their buffers deliberately leaked, never freed under a pending request.
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

#define RMS_HEARTBEAT_S 1.0     /* seconds between two heartbeats */
#define RMS_PEER_TIMEOUT_S 20.0 /* seconds without a heartbeat after which a peer counts as lost */

/* The liveness watch of one rank (see above). Opaque; rms_mpi_watch_start creates it, rms_mpi_watch_end
 * frees it. */
typedef struct rms_mpi_watch rms_mpi_watch;

/* Collective over comm, right after MPI_Init_thread (`provided` is its thread level): duplicates comm for
 * the heartbeats, agrees on the thread level and the peer timeout, and starts the heartbeat thread.
 * `stop` is main's stop flag (non-zero: the signal that asked to stop). *out is NULL on failure. */
rms_status rms_mpi_watch_start(MPI_Comm comm, int provided, volatile sig_atomic_t *stop, rms_mpi_watch **out,
                               rms_err *err);

/* Ends the watch after a run that every rank finished normally (all ranks call it: the heartbeat threads
 * say goodbye to each other, waiting at most the peer timeout, so no message is left unreceived) and frees
 * it. Not needed before MPI_Abort. NULL is fine. RMS_ERR_IO if the heartbeats had failed or the
 * communicator cannot be freed (the watch is freed all the same). */
rms_status rms_mpi_watch_end(rms_mpi_watch *w, rms_err *err);

/* Rank 0 parsed the options (its status *st, options o, message err); afterwards every rank holds the
 * same *st, options and message, so all ranks take the same path (none can be left waiting in a
 * collective). Returns RMS_OK, or RMS_ERR_IO (err filled) if the broadcast itself failed or the root was
 * lost. */
rms_status rms_mpi_bcast_score_opts(MPI_Comm comm, rms_mpi_watch *w, rms_status *st, rms_score_opts *o, rms_err *err);

/* Runs this rank's part of the job with the (broadcast) options o: the root opens the files and drives
 * the score job (src/job/score_run.h) through the pipelines; workers run their stage. Every rank logs one
 * start line (unless --quiet): rank, host, pid, role, layers, CPUs it may run on, threads.
 * Returns RMS_OK when done; RMS_INTERRUPTED on every rank after a stop request (the root's message says so;
 * the workers' is empty: main prints the root's only). On failure: *collective = 1 when every rank already
 * knows the job ended (a start-up check agreed on by all ranks, or the root's failure to close its files
 * after every pipeline drained: main may finalize normally; ranks that did not fail get RMS_ERR_PEER),
 * 0 when this rank alone hit the error (main must MPI_Abort). err's message names the rank and its role. */
rms_status rms_mpi_score(MPI_Comm comm, rms_mpi_watch *w, const rms_score_opts *o, int *collective, rms_err *err);

/* 1 if this process was started by an MPI launcher (mpirun/mpiexec, srun with PMI/PMIx). */
int rms_mpi_launched(void);

#endif
