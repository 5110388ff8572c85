/* Unit tests of src/engine/blas.c: the OpenBLAS kernel-selection policy and the self-test that
 * validates a switch (the comparison against a plain loop, and the child process that runs it). */
#define _GNU_SOURCE
#include "tests/check.h"
#include "src/engine/blas.h"
#include "src/engine/parallel.h"

#include <float.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static void test_core_ranks_order_generic_below_avx2_below_avx512(void) {
    CHECK(rms_blas_core_rank("Prescott") < rms_blas_core_rank("Haswell"));
    CHECK(rms_blas_core_rank("Haswell") < rms_blas_core_rank("SkylakeX"));
    CHECK(rms_blas_core_rank("SkylakeX") < rms_blas_core_rank("Cooperlake"));
    CHECK_EQ_INT(rms_blas_core_rank("NoSuchCore"), 0);
    CHECK_EQ_INT(rms_blas_core_rank(NULL), 0);
}

static void test_keep_policy_never_restarts(void) {
    const char *core = "x";
    CHECK_EQ_INT(rms_blas_core_plan("keep", NULL, 0, &core), 0);
    CHECK(core == NULL);
}

static void test_a_restarted_process_never_restarts_again(void) {
    const char *core;
    CHECK_EQ_INT(rms_blas_core_plan("Prescott-does-not-matter", NULL, 1, &core), 0);
    CHECK_EQ_INT(rms_blas_core_plan(NULL, NULL, 1, &core), 0);
}

static void test_a_forced_core_restarts_unless_already_in_use(void) {
    const char *core;
    CHECK_EQ_INT(rms_blas_core_plan("NoSuchCore", NULL, 0, &core), 1);
    CHECK(core && strcmp(core, "NoSuchCore") == 0);
    CHECK_EQ_INT(rms_blas_core_plan(rms_blas_corename(), NULL, 0, &core), 0);
}

static void test_auto_restarts_exactly_when_the_cpu_supports_a_better_core(void) {
    const char *core;
    const char *best = rms_blas_best_core_for_cpu();
    const int want = best && rms_blas_core_rank(best) > rms_blas_core_rank(rms_blas_corename());
    CHECK_EQ_INT(rms_blas_core_plan("auto", NULL, 0, &core), want);
    CHECK_EQ_INT(rms_blas_core_plan(NULL, NULL, 0, &core), want);
    if (want) CHECK(strcmp(core, best) == 0);
}

static void test_the_default_keeps_a_core_type_the_environment_chose_and_auto_does_not(void) {
    const char *core = "x";
    CHECK_EQ_INT(rms_blas_core_plan(NULL, "Prescott", 0, &core), 0);
    CHECK(core == NULL);
    CHECK_EQ_INT(rms_blas_core_plan("", "Haswell", 0, &core), 0);
    // RMSCORE_BLAS_CORE=auto upgrades exactly when the CPU supports a better core than the loaded one
    const char *best = rms_blas_best_core_for_cpu();
    const int want = best && rms_blas_core_rank(best) > rms_blas_core_rank(rms_blas_corename());
    CHECK_EQ_INT(rms_blas_core_plan("auto", "Prescott", 0, &core), want);
    // an explicit RMSCORE_BLAS_CORE still wins over it
    CHECK_EQ_INT(rms_blas_core_plan("NoSuchCore", "Haswell", 0, &core), 1);
    CHECK(core && strcmp(core, "NoSuchCore") == 0);
}

static void test_available_cpus_is_at_least_one(void) { CHECK(rms_available_cpus() >= 1); }

/* ------------------------------------------------------------------ the self-test */

static float uniform(uint32_t *state) { // [-1, 1)
    *state = *state * 1664525u + 1013904223u;
    return (float)((double)(*state >> 8) / 8388608.0 - 1.0);
}

static void fill(float *x, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) x[i] = uniform(&seed);
}

/* C (m, n) = A (m, k) · Bᵀ, B (n, k), in double rounded once to float; sum_abs (m, n): Σ_p |a·b|. */
static void product_nt_double(const float *a, const float *b, float *c, double *sum_abs, int64_t m, int64_t n,
                              int64_t k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0, mag = 0.0;
            for (int64_t p = 0; p < k; p++) {
                acc += (double)a[i * k + p] * b[j * k + p];
                mag += fabs((double)a[i * k + p] * b[j * k + p]);
            }
            c[i * n + j] = (float)acc;
            if (sum_abs) sum_abs[i * n + j] = mag;
        }
}

static void test_the_selftest_passes_on_the_loaded_kernels(void) {
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_selftest(why, sizeof why), 1);
    CHECK_CONTAINS(why, "passed");
    CHECK_CONTAINS(why, rms_blas_corename());
    if (!strstr(why, "passed")) fprintf(stderr, "  %s\n", why);
}

static void test_the_tolerance_grows_with_k_alpha_and_the_magnitudes(void) {
    CHECK_NEAR(rms_blas_sgemm_tolerance(64, 1.0f, 16.0), 64 * FLT_EPSILON * 16.0, 1e-12);
    CHECK(rms_blas_sgemm_tolerance(2048, 1.0f, 16.0) > rms_blas_sgemm_tolerance(64, 1.0f, 16.0));
    CHECK_NEAR(rms_blas_sgemm_tolerance(64, -0.5f, 16.0), 0.5 * rms_blas_sgemm_tolerance(64, 1.0f, 16.0), 1e-12);
    CHECK(rms_blas_sgemm_tolerance(64, 1.0f, 0.0) == 0.0);
}

static void test_the_check_passes_a_product_summed_in_fp32_in_another_order(void) {
    enum { M = 3, N = 5, K = 2048 };
    static float a[M * K], b[N * K], c[M * N];
    fill(a, M * K, 1);
    fill(b, N * K, 2);
    float ref[M * N];
    product_nt_double(a, b, ref, NULL, M, N, K);
    double max_diff = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) { // fp32, last term first: a different rounding than any kernel's
            float acc = 0.0f;
            for (int p = K - 1; p >= 0; p--) acc += a[i * K + p] * b[j * K + p];
            c[i * N + j] = acc;
            max_diff = fmax(max_diff, fabs((double)acc - ref[i * N + j]));
        }
    CHECK(max_diff > 0.0); // the fp32 sums really are off the double ones
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 1);
    if (*why) fprintf(stderr, "  %s\n", why);
}

static void test_the_check_catches_one_element_off_by_more_than_the_tolerance(void) {
    enum { M = 4, N = 6, K = 200 };
    static float a[M * K], b[N * K], c[M * N];
    double mag[M * N];
    fill(a, M * K, 3);
    fill(b, N * K, 4);
    product_nt_double(a, b, c, mag, M, N, K);
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 1);
    const int at = 1 * N + 2;
    const float good = c[at];
    const double tol = rms_blas_sgemm_tolerance(K, 1.0f, mag[at]);
    c[at] = (float)(good + 0.5 * tol); // within
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 1);
    c[at] = (float)(good + 1.5 * tol); // beyond
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 0);
    CHECK_CONTAINS(why, "C[1,2]");
    c[at] = (float)(good - 1.5 * tol);
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 0);
    c[at] = NAN;
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 0);
    c[at] = INFINITY;
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 0);
    c[at] = good;
    c[M * N - 1] += 1.0f; // the last element is looked at too
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 1.0f, a, K, b, K, c, N, why, sizeof why), 0);
    CHECK_CONTAINS(why, "C[3,5]");
}

static void test_the_check_follows_the_layout_strides_and_alpha_it_is_given(void) {
    // A·B (B not transposed) with padded rows and alpha = 0.125, as attention's P·V and scores
    enum { M = 5, N = 7, K = 7, LDA = 12, LDB = 10, LDC = 8 };
    float a[M * LDA], b[K * LDB], c[M * LDC];
    fill(a, M * LDA, 5);
    fill(b, K * LDB, 6);
    for (int i = 0; i < M * LDC; i++) c[i] = NAN; // padding columns are not looked at
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int p = 0; p < K; p++) acc += (double)a[i * LDA + p] * b[p * LDB + j];
            c[i * LDC + j] = (float)(0.125 * acc);
        }
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_check_sgemm(0, M, N, K, 0.125f, a, LDA, b, LDB, c, LDC, why, sizeof why), 1);
    CHECK_EQ_INT(rms_blas_check_sgemm(0, M, N, K, 0.25f, a, LDA, b, LDB, c, LDC, why, sizeof why), 0);
    CHECK_EQ_INT(rms_blas_check_sgemm(1, M, N, K, 0.125f, a, LDA, b, LDB, c, LDC, why, sizeof why), 0); // A·Bᵀ
    CHECK_EQ_INT(rms_blas_check_sgemm(0, M, N, K, 0.125f, a, LDA, b, LDB - 1, c, LDC, why, sizeof why), 0);
}

/* ------------------------------------------------------------------ the self-test child */

static void test_the_loaded_core_passes_in_a_child_process(void) {
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_try_core(rms_blas_corename(), RMS_BLAS_SELFTEST_TIMEOUT, why, sizeof why), 1);
    CHECK_CONTAINS(why, "passed");
    if (!strstr(why, "passed")) fprintf(stderr, "  %s\n", why);
#if defined(__x86_64__)
    // Prescott (SSE3) runs on every x86-64 CPU
    CHECK_EQ_INT(rms_blas_try_core("Prescott", RMS_BLAS_SELFTEST_TIMEOUT, why, sizeof why), 1);
    CHECK_CONTAINS(why, "on OpenBLAS Prescott");
#endif
}

static void test_a_core_openblas_does_not_know_is_rejected(void) {
    // OpenBLAS 0.3.21 silently loads the core it detects for an unknown OPENBLAS_CORETYPE
    char why[512] = "";
    CHECK_EQ_INT(rms_blas_try_core("NoSuchCore", RMS_BLAS_SELFTEST_TIMEOUT, why, sizeof why), 0);
    CHECK_CONTAINS(why, "OpenBLAS does not provide it here: it loaded");
}

/* Runs rms_blas_try_core(core) with RMSCORE_BLAS_SELFTEST_FAIL=hook; returns the result, why filled. */
static int try_with_hook(const char *hook, double timeout_s, char *why, size_t len) {
    setenv("RMSCORE_BLAS_SELFTEST_FAIL", hook, 1);
    const int ok = rms_blas_try_core(rms_blas_corename(), timeout_s, why, len);
    unsetenv("RMSCORE_BLAS_SELFTEST_FAIL");
    return ok;
}

static void test_a_crashing_child_is_rejected(void) {
    char why[512] = "";
    CHECK_EQ_INT(try_with_hook("crash", RMS_BLAS_SELFTEST_TIMEOUT, why, sizeof why), 0);
    CHECK_CONTAINS(why, "crashed with signal");
    CHECK_CONTAINS(why, "RMSCORE_BLAS_SELFTEST_FAIL is set");
}

static void test_a_child_that_computes_a_wrong_product_is_rejected(void) {
    char why[512] = "";
    CHECK_EQ_INT(try_with_hook("wrong", RMS_BLAS_SELFTEST_TIMEOUT, why, sizeof why), 0);
    CHECK_CONTAINS(why, "C[0,0] = ");
    CHECK_CONTAINS(why, "where the plain loop gives");
}

static void test_a_hanging_child_is_killed_at_the_deadline(void) {
    char why[512] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(try_with_hook("hang", 0.5, why, sizeof why), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double took = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK_CONTAINS(why, "no answer within 0.5 s");
    CHECK(took >= 0.5 && took < 5.0);
}

static void test_the_child_hook_acts_only_in_a_child_of_the_marked_process(void) {
    char msg[512] = "";
    unsetenv("RMSCORE_BLAS_SELFTEST");
    CHECK_EQ_INT(rms_blas_selftest_child(msg, sizeof msg), -1);
    char pid[32];
    const char *others[] = {"", "abc", "0", "-1", NULL};
    snprintf(pid, sizeof pid, "%ld", (long)getpid()); // this process itself is not its own parent
    others[4] = pid;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        setenv("RMSCORE_BLAS_SELFTEST", others[i], 1);
        CHECK_EQ_INT(rms_blas_selftest_child(msg, sizeof msg), -1);
    }
    // marked with our parent's pid, as rms_blas_try_core marks its child: it runs the self-test
    char *old_core = getenv("OPENBLAS_CORETYPE") ? strdup(getenv("OPENBLAS_CORETYPE")) : NULL;
    setenv("OPENBLAS_CORETYPE", rms_blas_corename(), 1);
    snprintf(pid, sizeof pid, "%ld", (long)getppid());
    setenv("RMSCORE_BLAS_SELFTEST", pid, 1);
    CHECK_EQ_INT(rms_blas_selftest_child(msg, sizeof msg), 0);
    CHECK_CONTAINS(msg, "passed");
    unsetenv("RMSCORE_BLAS_SELFTEST");
    if (old_core) setenv("OPENBLAS_CORETYPE", old_core, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    free(old_core);
}

/* A rejected switch: one warning line on stderr, the loaded core stays, no restart (argv would make the
 * restarted test binary fail: see main). */
static void test_a_switch_whose_child_crashes_warns_once_and_keeps_the_loaded_core(void) {
    const char *loaded = rms_blas_corename();
    const char *other = strcmp(loaded, "Prescott") == 0 ? "Core2" : "Prescott";
    const char *saved_names[] = {"RMSCORE_BLAS_CORE", "RMSCORE_BLAS_RESTARTED"};
    char *saved[2];
    for (int i = 0; i < 2; i++) saved[i] = getenv(saved_names[i]) ? strdup(getenv(saved_names[i])) : NULL;
    setenv("RMSCORE_BLAS_CORE", other, 1);
    unsetenv("RMSCORE_BLAS_RESTARTED");
    setenv("RMSCORE_BLAS_SELFTEST_FAIL", "crash", 1);
    const char *dir = check_tmpdir("blas");
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    const int saved_fd = dup(2);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f && saved_fd >= 0) {
        dup2(fileno(f), 2);
        char *argv[] = {(char *)"test-blas", (char *)"--restarted-by-mistake", NULL};
        rms_blas_restart_if_slow(argv);
        fflush(stderr);
        dup2(saved_fd, 2);
        fclose(f);
    }
    if (saved_fd >= 0) close(saved_fd);
    unsetenv("RMSCORE_BLAS_SELFTEST_FAIL");
    for (int i = 0; i < 2; i++) {
        if (saved[i]) setenv(saved_names[i], saved[i], 1);
        else unsetenv(saved_names[i]);
        free(saved[i]);
    }
    char text[2048] = "", want[256];
    FILE *r = fopen(path, "r");
    const size_t n = r ? fread(text, 1, sizeof text - 1, r) : 0;
    if (r) fclose(r);
    text[n] = '\0';
    snprintf(want, sizeof want, "rmscore: warning: OpenBLAS core %s failed its self-test (crashed with signal", other);
    CHECK(strncmp(text, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "); keeping %s\n", loaded);
    CHECK_CONTAINS(text, want);
    CHECK(strchr(text, '\n') == text + n - 1); // one line
    CHECK(strcmp(rms_blas_corename(), loaded) == 0);
    if (strncmp(text, "rmscore: warning:", 17) != 0) fprintf(stderr, "  stderr was: %s\n", text);
}

int main(int argc, char **argv) {
    // rms_blas_try_core runs this binary again as its self-test child
    char msg[512];
    const int selftest = rms_blas_selftest_child(msg, sizeof msg);
    if (selftest >= 0) {
        printf("%s\n", msg);
        return selftest;
    }
    if (argc > 1 && strcmp(argv[1], "--restarted-by-mistake") == 0) {
        printf("a switch whose self-test failed restarted the process\n0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_core_ranks_order_generic_below_avx2_below_avx512);
    RUN(test_keep_policy_never_restarts);
    RUN(test_a_restarted_process_never_restarts_again);
    RUN(test_a_forced_core_restarts_unless_already_in_use);
    RUN(test_auto_restarts_exactly_when_the_cpu_supports_a_better_core);
    RUN(test_the_default_keeps_a_core_type_the_environment_chose_and_auto_does_not);
    RUN(test_available_cpus_is_at_least_one);
    RUN(test_the_selftest_passes_on_the_loaded_kernels);
    RUN(test_the_tolerance_grows_with_k_alpha_and_the_magnitudes);
    RUN(test_the_check_passes_a_product_summed_in_fp32_in_another_order);
    RUN(test_the_check_catches_one_element_off_by_more_than_the_tolerance);
    RUN(test_the_check_follows_the_layout_strides_and_alpha_it_is_given);
    RUN(test_the_loaded_core_passes_in_a_child_process);
    RUN(test_a_core_openblas_does_not_know_is_rejected);
    RUN(test_a_crashing_child_is_rejected);
    RUN(test_a_child_that_computes_a_wrong_product_is_rejected);
    RUN(test_a_hanging_child_is_killed_at_the_deadline);
    RUN(test_the_child_hook_acts_only_in_a_child_of_the_marked_process);
    RUN(test_a_switch_whose_child_crashes_warns_once_and_keeps_the_loaded_core);
    return check_summary();
}
