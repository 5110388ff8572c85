/* blas.h — OpenBLAS set-up: kernel (core type) selection, its self-test, and thread count. rmscore's
 * forward does not use OpenBLAS (gemm.h); this serves bench-sgemm, the sgemm rate it is measured against.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent AMD/Intel CPUs and falls back to slow kernels
 * (Prescott: SSE3, ~6x slower sgemm than SkylakeX on an AVX-512 CPU). OpenBLAS reads
 * OPENBLAS_CORETYPE only when the library is loaded, so the fix is to set it and re-execute the
 * program before anything else runs; rms_blas_core_plan() decides, rms_blas_restart_if_slow() does it.
 *
 * A switch is validated first: a child process (this program again, under the candidate core) runs
 * rms_blas_selftest(), cblas_sgemm at the model's shapes against a plain double loop. Old kernels can
 * compute wrong results or crash (SIGILL, SIGSEGV) on some CPUs; a child that crashes, hangs or reports a
 * mismatch rejects the candidate and the process keeps the kernels it has. The kernels kept without a
 * switch (OpenBLAS's own choice, or the user's OPENBLAS_CORETYPE) are not re-tested at each start.
 *
 * Strings returned are static; messages go into caller-owned buffers. The self-test allocates its
 * matrices and frees them before it returns.
 */
#ifndef RMS_BLAS_H
#define RMS_BLAS_H

#include <stddef.h>
#include <stdint.h>

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

/* Call first thing in main, before MPI_Init and before any thread of the program exists.
 * In a self-test child started by rms_blas_try_core (see rms_blas_selftest_child): runs the self-test,
 * prints its outcome on stdout and ends the process (_exit 0 passed, 1 failed); nothing else of main
 * runs. Otherwise applies rms_blas_core_plan with $RMSCORE_BLAS_CORE: if a restart is wanted,
 * validates the core with rms_blas_try_core, then sets OPENBLAS_CORETYPE and re-executes
 * /proc/self/exe with argv (does not return). Returns normally when no restart is needed, when the
 * candidate failed its self-test (one line on stderr: "rmscore: warning: OpenBLAS core X failed its
 * self-test (why); keeping Y") or when execv failed (a warning too): the kernels loaded stay. */
void rms_blas_restart_if_slow(char **argv);

/* Rank of a core name (higher = faster kernels on x86-64); 0 for unknown/generic. Exposed for tests. */
int rms_blas_core_rank(const char *name);

/* ---- self-test of the kernels ---- */

/* Seconds rms_blas_restart_if_slow waits for the self-test child before it kills it. */
#define RMS_BLAS_SELFTEST_TIMEOUT 10.0

/* Runs cblas_sgemm with the loaded kernels at the shapes of the model's products (rows M in
 * {1, 3, 17, 64, 257}; K up to 2048; N in {1, 13, 64, 130, 512}; A·Bᵀ as the linear layers, A·B and a
 * scaled, strided A·Bᵀ as attention; small and blocked, single- and multi-threaded paths) and checks
 * each result with rms_blas_check_sgemm (~0.05 s). Returns 1 if all pass; else 0 with the first
 * failure in why[len]. */
int rms_blas_selftest(char *why, size_t len);

/* Largest error fp32 rounding allows in one element of alpha·Σ_k a_k·b_k computed in any summation
 * order: K·FLT_EPSILON·|alpha|·Σ_k |a_k·b_k| (twice the worst-case bound γ_K = K·u/(1−K·u), u = 2⁻²⁴,
 * of a K-term sum of rounded products). sum_abs: Σ_k |a_k·b_k|. Exposed for tests. */
double rms_blas_sgemm_tolerance(int64_t k, float alpha, double sum_abs);

/* Checks c against alpha·A·op(B) computed by a plain loop accumulating in double, element by element
 * within rms_blas_sgemm_tolerance (NaN and Inf fail). Row-major, as the cblas_sgemm call
 * (CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
 * 0, c, ldc) would compute it. a: (m, lda), lda >= k; b: (n, ldb) with ldb >= k if trans_b, else
 * (k, ldb) with ldb >= n; c: (m, ldc), ldc >= n (columns n..ldc-1 are not looked at).
 * Returns 1 if every element is within; else 0 with the first bad element in why[len]. */
int rms_blas_check_sgemm(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, const float *c, int64_t ldc, char *why, size_t len);

/* Runs the self-test under OPENBLAS_CORETYPE=core in a child process: posix_spawn (fork + exec) of
 * /proc/self/exe, whose main must call rms_blas_restart_if_slow (or rms_blas_selftest_child) first,
 * with that core, 2 BLAS threads, stdin from /dev/null and stdout/stderr into a pipe read here. Waits
 * at most timeout_s seconds, then kills it. Returns 1 if the child passed; else 0 with what happened in
 * why[len]: "crashed with signal 4 (Illegal instruction)", "no answer within 10 s", the child's
 * mismatch, or "OpenBLAS does not provide it here: it loaded Cooperlake" for a name OpenBLAS does not
 * know (OpenBLAS 0.3.21 then silently loads the core it detects). */
int rms_blas_try_core(const char *core, double timeout_s, char *why, size_t len);

/* In a child started by rms_blas_try_core (its marker RMSCORE_BLAS_SELFTEST in the environment holds
 * the pid of this process's parent): checks that OpenBLAS loaded the requested core, runs
 * rms_blas_selftest, writes the outcome in msg[len] (to be printed on stdout, which the parent reads)
 * and returns the exit status: 0 passed, 1 failed. In any other process (no marker, or a marker that
 * does not name the parent) returns -1 and does nothing. rms_blas_restart_if_slow calls it; a program
 * that runs rms_blas_try_core without that call must call it first thing in main and return its
 * result when it is >= 0.
 * Test-only: RMSCORE_BLAS_SELFTEST_FAIL=crash|wrong|hang in the environment makes such a child abort(),
 * report a wrong product, or hang, to exercise the rejection paths (tests/test-blas.c,
 * tests/e2e/blas-selftest.sh). It acts only inside a self-test child, so at worst it rejects a switch,
 * and the warning then says it is set. */
int rms_blas_selftest_child(char *msg, size_t len);

/* Sets the number of BLAS threads. */
void rms_blas_set_threads(int n);

#endif
