/* parallel.h — the engine's worker threads: one process-wide pool that runs a set of independent tasks
 * (rms_parallel_run) and returns when all are done.
 *
 * Tasks are claimed dynamically, so which thread runs a task varies from run to run; a task must give
 * the same result on any thread (every kernel here does: per-thread scratch only, no shared reductions).
 * That is what makes results independent of --threads.
 *
 * Ownership: the pool is a process-wide resource; rms_parallel_init starts n-1 workers (the caller is
 * thread 0), rms_parallel_free joins them. Calling rms_parallel_init again resizes. Not reentrant: a task
 * must not call rms_parallel_run (it runs inline if it does).
 */
#ifndef RMS_PARALLEL_H
#define RMS_PARALLEL_H

#include <stdint.h>

#include "src/base/status.h"

/* CPUs this process may run on (sched_getaffinity; respects Slurm/cgroup CPU sets), >= 1. */
int rms_available_cpus(void);

/* Number of threads in the pool (1 before init). */
int rms_parallel_threads(void);

/* Starts (or resizes to) n threads including the caller. */
rms_status rms_parallel_init(int n, rms_err *err);
void rms_parallel_free(void);

/* fn(ctx, task, thread) for task in [0, n_tasks), thread in [0, rms_parallel_threads()). */
typedef void (*rms_task_fn)(void *ctx, int64_t task, int thread);
void rms_parallel_run(int64_t n_tasks, rms_task_fn fn, void *ctx);

#endif
