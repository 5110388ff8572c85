#define _GNU_SOURCE
#include "src/engine/blas.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/base/clock.h"
#include "src/base/status.h"

extern char **environ;

/* Declared by OpenBLAS (cblas.h of some builds lacks the prototypes). */
char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

const char *rms_blas_corename(void) {
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

int rms_blas_core_rank(const char *name) {
    static const char *const order[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                        "Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake",
                                        "SapphireRapids"};
    if (!name) return 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (strcasecmp(name, order[i]) == 0) return (int)i + 1;
    return 0;
}

const char *rms_blas_best_core_for_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512cd");
    if (avx512 && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
    if (avx512) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

int rms_blas_core_plan(const char *policy, const char *env_core, int already_restarted, const char **core_out) {
    *core_out = NULL;
    if (already_restarted) return 0;
    if (policy && *policy && strcasecmp(policy, "keep") == 0) return 0;
    if (policy && *policy && strcasecmp(policy, "auto") != 0) {
        if (strcasecmp(policy, rms_blas_corename()) == 0) return 0;
        *core_out = policy;
        return 1;
    }
    const int explicit_auto = policy && strcasecmp(policy, "auto") == 0;
    if (!explicit_auto && env_core && *env_core) return 0; // the environment chose a core: keep it
    const char *best = rms_blas_best_core_for_cpu();
    if (!best) return 0;
    if (rms_blas_core_rank(rms_blas_corename()) >= rms_blas_core_rank(best)) return 0;
    *core_out = best;
    return 1;
}

void rms_blas_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

/* ------------------------------------------------------------------ self-test */

double rms_blas_sgemm_tolerance(int64_t k, float alpha, double sum_abs) {
    return (double)k * FLT_EPSILON * fabs((double)alpha) * sum_abs;
}

int rms_blas_check_sgemm(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, const float *c, int64_t ldc, char *why, size_t len) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0, mag = 0.0; // Σ a·b and Σ |a·b|, in double (each product is exact)
            for (int64_t p = 0; p < k; p++) {
                const double t = (double)a[i * lda + p] * (double)(trans_b ? b[j * ldb + p] : b[p * ldb + j]);
                acc += t;
                mag += fabs(t);
            }
            const double want = (double)alpha * acc, got = (double)c[i * ldc + j];
            const double tol = rms_blas_sgemm_tolerance(k, alpha, mag);
            if (!(fabs(got - want) <= tol)) { // NaN fails too
                snprintf(why, len, "C[%lld,%lld] = %.9g where the plain loop gives %.9g (tolerance %.3g)",
                         (long long)i, (long long)j, got, want, tol);
                return 0;
            }
        }
    return 1;
}

/* One product of the self-test: C (m, n) = alpha · A (m, k) · op(B), operands with pad extra columns. */
typedef struct selftest_case {
    int64_t m, n, k;
    int trans_b; // 1: A·Bᵀ, B (n, k) (linear layers, attention scores); 0: A·B, B (k, n) (attention P·V)
    float alpha;
    int64_t pad; // extra columns in lda, ldb and ldc (heads side by side, as attention reads them)
} selftest_case;

/* The model's products at reduced size. Rows M: tokens of a micro-batch (1 up to a few hundred); K and
 * N: hidden and projection widths, with edges that are not multiples of any kernel's unroll (4, 8, 16)
 * and K = 2048 beyond OpenBLAS's K blocking. Each with M·N·K under ~1e6 runs OpenBLAS's small-matrix
 * kernels where it has them; the larger ones are packed, blocked and split over threads. */
static const selftest_case SELFTEST_CASES[] = {
    {1, 512, 2048, 1, 1.0f, 0},   // one token through a projection
    {64, 1, 200, 1, 1.0f, 0},     // the score head (N = 1)
    {3, 130, 200, 1, 1.0f, 0},
    {17, 130, 2048, 1, 1.0f, 0},
    {64, 64, 2048, 1, 1.0f, 0},
    {257, 13, 2048, 1, 1.0f, 0},
    {257, 130, 200, 1, 1.0f, 0},
    {257, 512, 64, 1, 1.0f, 0},
    {64, 130, 64, 1, 0.125f, 67}, // attention scores: scaled, strided Q and K, strided output
    {17, 64, 200, 0, 1.0f, 0},    // attention P·V
    {257, 64, 257, 0, 1.0f, 3},
};
static const int64_t SELFTEST_GRID_M[] = {1, 3, 17, 64}, SELFTEST_GRID_N[] = {64, 130}, SELFTEST_GRID_K = 64;

/* Uniform in [-1, 1) from a xorshift32 stream. */
static float selftest_uniform(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (float)((double)(x >> 8) / 8388608.0 - 1.0);
}

/* Runs one case; perturb: add an error to one element (the test-only "wrong" child). */
static int selftest_one(const selftest_case *t, uint32_t seed, int perturb, char *why, size_t len) {
    const int64_t lda = t->k + t->pad, ldb = (t->trans_b ? t->k : t->n) + t->pad, ldc = t->n + t->pad;
    const int64_t b_rows = t->trans_b ? t->n : t->k;
    float *a = malloc((size_t)(t->m * lda) * sizeof *a);   // (m, lda)
    float *b = malloc((size_t)(b_rows * ldb) * sizeof *b); // (n, ldb) or (k, ldb)
    float *c = malloc((size_t)(t->m * ldc) * sizeof *c);   // (m, ldc)
    int ok = a && b && c;
    if (!ok) snprintf(why, len, "out of memory");
    if (ok) {
        // padding is NaN: a kernel that reads or writes outside its operands shows it
        for (int64_t i = 0; i < t->m * lda; i++) a[i] = (i % lda < t->k) ? selftest_uniform(&seed) : NAN;
        for (int64_t i = 0; i < b_rows * ldb; i++)
            b[i] = (i % ldb < (t->trans_b ? t->k : t->n)) ? selftest_uniform(&seed) : NAN;
        for (int64_t i = 0; i < t->m * ldc; i++) c[i] = NAN; // beta = 0: C is written, never read
        // the self-test's shapes are the constants above: every int argument fits
        RMS_ASSERT(t->m <= INT_MAX && t->n <= INT_MAX && t->k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
                   ldc <= INT_MAX);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, t->trans_b ? CblasTrans : CblasNoTrans, (int)t->m, (int)t->n,
                    (int)t->k, t->alpha, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
        if (perturb) c[0] += 1.0f + fabsf(c[0]);
        ok = rms_blas_check_sgemm(t->trans_b, t->m, t->n, t->k, t->alpha, a, lda, b, ldb, c, ldc, why, len);
        for (int64_t i = 0; ok && i < t->m; i++)
            for (int64_t j = t->n; j < ldc; j++)
                if (!isnan(c[i * ldc + j])) {
                    snprintf(why, len, "wrote C[%lld,%lld], outside its %lld columns", (long long)i, (long long)j,
                             (long long)t->n);
                    ok = 0;
                    break;
                }
    }
    if (!ok) { // name the product in front of what went wrong
        char detail[256];
        snprintf(detail, sizeof detail, "%s", why);
        snprintf(why, len, "sgemm %s M=%lld N=%lld K=%lld: %s", t->trans_b ? "A*B^T" : "A*B", (long long)t->m,
                 (long long)t->n, (long long)t->k, detail);
    }
    free(a);
    free(b);
    free(c);
    return ok;
}

static int selftest_run(int perturb, char *why, size_t len) {
    uint32_t seed = 0x9e3779b9u;
    int n_done = 0;
    for (size_t i = 0; i < sizeof SELFTEST_GRID_M / sizeof SELFTEST_GRID_M[0]; i++)
        for (size_t j = 0; j < sizeof SELFTEST_GRID_N / sizeof SELFTEST_GRID_N[0]; j++) {
            const selftest_case t = {SELFTEST_GRID_M[i], SELFTEST_GRID_N[j], SELFTEST_GRID_K, 1, 1.0f, 0};
            if (!selftest_one(&t, seed += 0x6d2b79f5u, perturb && n_done == 0, why, len)) return 0;
            n_done++;
        }
    for (size_t i = 0; i < sizeof SELFTEST_CASES / sizeof SELFTEST_CASES[0]; i++) {
        if (!selftest_one(&SELFTEST_CASES[i], seed += 0x6d2b79f5u, 0, why, len)) return 0;
        n_done++;
    }
    snprintf(why, len, "passed: %d products on OpenBLAS %s", n_done, rms_blas_corename());
    return 1;
}

int rms_blas_selftest(char *why, size_t len) { return selftest_run(0, why, len); }

/* ------------------------------------------------------------------ the self-test child */

#define SELFTEST_ENV "RMSCORE_BLAS_SELFTEST"           // marker: the pid of the process that started the child
#define SELFTEST_FAIL_ENV "RMSCORE_BLAS_SELFTEST_FAIL" // test-only: crash | wrong | hang

int rms_blas_selftest_child(char *msg, size_t len) {
    const char *marker = getenv(SELFTEST_ENV);
    if (!marker || !*marker) return -1;
    char *end;
    const long parent = strtol(marker, &end, 10);
    if (*end != '\0' || parent <= 0 || parent != (long)getppid()) return -1; // not started by rms_blas_try_core
    prctl(PR_SET_DUMPABLE, 0); // a crash here is an answer, not something to debug: no core file
    const char *fail = getenv(SELFTEST_FAIL_ENV);
    const int wrong = fail && strcmp(fail, "wrong") == 0;
    if (fail && *fail && !wrong) {
        if (strcmp(fail, "hang") == 0)
            for (;;) pause();
        abort();
    }
    const char *want = getenv("OPENBLAS_CORETYPE");
    if (!want || strcasecmp(want, rms_blas_corename()) != 0) {
        snprintf(msg, len, "OpenBLAS does not provide it here: it loaded %s", rms_blas_corename());
        return 1;
    }
    return selftest_run(wrong, msg, len) ? 0 : 1;
}

/* Whether an environment entry "NAME=value" has this name. */
static int env_has_name(const char *entry, const char *name) {
    const size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* The last non-empty line of text (modified in place). */
static const char *last_line(char *text) {
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = '\0';
    const char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* Starts the child: /proc/self/exe with the core, 2 BLAS threads and the marker; stdin /dev/null,
 * stdout and stderr into out_fd. Returns its pid, or -1 with why set. */
static pid_t spawn_selftest_child(const char *core, int out_fd, char *why, size_t len) {
    char env_core[160], env_marker[64], env_threads[] = "OPENBLAS_NUM_THREADS=2";
    if (snprintf(env_core, sizeof env_core, "OPENBLAS_CORETYPE=%s", core) >= (int)sizeof env_core) {
        snprintf(why, len, "core name too long");
        return -1;
    }
    snprintf(env_marker, sizeof env_marker, "%s=%ld", SELFTEST_ENV, (long)getpid());
    size_t n_env = 0;
    while (environ[n_env]) n_env++;
    char **envp = malloc((n_env + 4) * sizeof *envp);
    posix_spawn_file_actions_t fa;
    if (!envp || posix_spawn_file_actions_init(&fa) != 0) {
        free(envp);
        snprintf(why, len, "out of memory");
        return -1;
    }
    size_t e = 0;
    for (size_t i = 0; i < n_env; i++)
        if (!env_has_name(environ[i], "OPENBLAS_CORETYPE") && !env_has_name(environ[i], "OPENBLAS_NUM_THREADS") &&
            !env_has_name(environ[i], SELFTEST_ENV))
            envp[e++] = environ[i];
    envp[e++] = env_core;
    envp[e++] = env_threads;
    envp[e++] = env_marker;
    envp[e] = NULL;
    char *child_argv[] = {(char *)"rmscore-blas-selftest", NULL};
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    pid_t pid;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, child_argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) {
        snprintf(why, len, "could not start it: %s", strerror(rc));
        return -1;
    }
    return pid;
}

int rms_blas_try_core(const char *core, double timeout_s, char *why, size_t len) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, len, "could not start it: pipe: %s", strerror(errno));
        return 0;
    }
    // a SIGCHLD the launcher set to SIG_IGN would make the child's exit status unreadable
    struct sigaction dfl, old_chld;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, &dfl, &old_chld);
    const pid_t pid = spawn_selftest_child(core, fds[1], why, len);
    close(fds[1]);
    int passed = 0;
    if (pid > 0) {
        const double deadline = rms_now_seconds() + timeout_s;
        char out[1024] = {0}; // the tail of what the child printed
        size_t used = 0;
        int timed_out = 0, status = 0;
        for (;;) { // read until the child closes its output (it exits) or the deadline
            const double left = deadline - rms_now_seconds();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            struct pollfd p = {.fd = fds[0], .events = POLLIN};
            const int r = poll(&p, 1, (int)(left * 1000.0) + 1);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) continue; // timeout: the loop checks the deadline
            char buf[512];
            const ssize_t got = read(fds[0], buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            for (ssize_t q = 0; q < got; q++) {
                if (used == sizeof out - 1) { // keep the tail
                    memmove(out, out + sizeof out / 2, used - sizeof out / 2);
                    used -= sizeof out / 2;
                }
                out[used++] = buf[q];
            }
            out[used] = '\0';
        }
        pid_t w = 0;
        while (!timed_out) {
            w = waitpid(pid, &status, WNOHANG);
            if (w == pid || (w < 0 && errno != EINTR)) break;
            if (rms_now_seconds() >= deadline) timed_out = 1;
            else nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        }
        if (timed_out) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            snprintf(why, len, "no answer within %g s", timeout_s);
        } else if (w != pid) {
            snprintf(why, len, "could not wait for it: %s", strerror(errno));
        } else if (WIFSIGNALED(status)) {
            snprintf(why, len, "crashed with signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed = 1;
            snprintf(why, len, "%s", last_line(out));
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && *last_line(out)) {
            snprintf(why, len, "%s", last_line(out));
        } else {
            snprintf(why, len, "exited with status %d%s%s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                     *last_line(out) ? ": " : "", last_line(out));
        }
    }
    close(fds[0]);
    sigaction(SIGCHLD, &old_chld, NULL);
    const char *hook = getenv(SELFTEST_FAIL_ENV);
    if (!passed && hook && *hook) {
        const size_t n = strlen(why);
        if (n < len) snprintf(why + n, len - n, "; %s is set", SELFTEST_FAIL_ENV);
    }
    return passed;
}

/* ------------------------------------------------------------------ restart */

#define RESTART_ENV "RMSCORE_BLAS_RESTARTED"

void rms_blas_restart_if_slow(char **argv) {
    char msg[512];
    const int selftest = rms_blas_selftest_child(msg, sizeof msg);
    if (selftest >= 0) { // this process is the self-test child of another: answer on stdout and end here
        printf("%s\n", msg);
        fflush(stdout);
        _exit(selftest);
    }
    const char *core = NULL;
    if (!rms_blas_core_plan(getenv("RMSCORE_BLAS_CORE"), getenv("OPENBLAS_CORETYPE"), getenv(RESTART_ENV) != NULL,
                            &core))
        return;
    if (!rms_blas_try_core(core, RMS_BLAS_SELFTEST_TIMEOUT, msg, sizeof msg)) {
        fprintf(stderr, "rmscore: warning: OpenBLAS core %s failed its self-test (%s); keeping %s\n", core, msg,
                rms_blas_corename());
        return;
    }
    char *old_core = getenv("OPENBLAS_CORETYPE") ? strdup(getenv("OPENBLAS_CORETYPE")) : NULL;
    setenv(RESTART_ENV, rms_blas_corename(), 1);
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    const int exec_errno = errno;
    fprintf(stderr, "rmscore: warning: could not restart with OPENBLAS_CORETYPE=%s (%s); using %s kernels\n", core,
            strerror(exec_errno), rms_blas_corename());
    unsetenv(RESTART_ENV); // the environment as it was, for the processes this one starts
    if (old_core) setenv("OPENBLAS_CORETYPE", old_core, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    free(old_core);
}

