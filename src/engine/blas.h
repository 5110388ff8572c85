/* blas.h — OpenBLAS set-up: kernel (core type) selection and thread count.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent AMD/Intel CPUs and falls back to slow kernels
 * (Prescott: SSE3, ~6x slower sgemm than SkylakeX on an AVX-512 CPU). OpenBLAS reads
 * OPENBLAS_CORETYPE only when the library is loaded, so the fix is to set it and re-execute the
 * program before anything else runs; rms_blas_core_plan() decides, main() does the execv.
 *
 * No allocation; strings returned are static.
 */
#ifndef RMS_BLAS_H
#define RMS_BLAS_H

/* The OpenBLAS kernel in use, e.g. "SkylakeX", "Haswell", "Prescott". */
const char *rms_blas_corename(void);

/* The best OpenBLAS 0.3.21 core type this CPU supports ("Cooperlake", "SkylakeX", "Haswell") or NULL
 * if none beats the generic kernels. */
const char *rms_blas_best_core_for_cpu(void);

/* Decides whether the process should restart with OPENBLAS_CORETYPE=<*core_out>.
 * policy: value of $RMSCORE_BLAS_CORE. NULL or "" (the default): upgrade when the loaded core is weaker
 * than what the CPU supports, unless the environment chose a core (env_core: the user's or the site's
 * $OPENBLAS_CORETYPE, NULL if unset; some sites set it on purpose where other kernels are wrong);
 * "auto": upgrade whatever the environment chose; "keep": never; any other string: force that core.
 * already_restarted: whether this process is the result of such a restart (no loops).
 * Returns 1 and sets *core_out if a restart is wanted, else 0. */
int rms_blas_core_plan(const char *policy, const char *env_core, int already_restarted, const char **core_out);

/* Applies rms_blas_core_plan with $RMSCORE_BLAS_CORE: if a restart is wanted, sets OPENBLAS_CORETYPE
 * and re-executes /proc/self/exe with argv (does not return). Call first thing in main, before MPI_Init
 * and before any thread exists. Returns normally when no restart is needed or execv failed (then it
 * prints a warning on stderr and the slow kernels stay). */
void rms_blas_restart_if_slow(char **argv);
/* The core name OpenBLAS picked before rms_blas_restart_if_slow restarted this process, or NULL. */
const char *rms_blas_restarted_from(void);

/* Rank of a core name (higher = faster kernels on x86-64); 0 for unknown/generic. Exposed for tests. */
int rms_blas_core_rank(const char *name);

/* Sets the number of BLAS threads. */
void rms_blas_set_threads(int n);

/* CPUs this process may run on (sched_getaffinity; respects Slurm/cgroup CPU sets), >= 1. */
int rms_available_cpus(void);

#endif
