/* check.h — a minimal test harness for the unit tests (tests/test-<unit>.c).
 *
 * Usage:
 *   static void test_it_rejects_a_truncated_file(void) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(test_it_rejects_a_truncated_file); return check_summary(); }
 * Test names read as sentences. A failed CHECK prints file:line and the expression, marks the test
 * failed and goes on. check_summary() prints "N passed, M failed" and returns the exit code.
 */
#ifndef RMS_TEST_CHECK_H
#define RMS_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check_failures_in_test;
static int check_tests_passed;
static int check_tests_failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures_in_test++;                                               \
        }                                                                           \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                  \
    do {                                                                                    \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                     \
        if (check_a_ != check_b_) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK_EQ_INT failed: %s == %lld, %s == %lld\n",        \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_);                        \
            check_failures_in_test++;                                                       \
        }                                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double check_a_ = (double)(a), check_b_ = (double)(b);                              \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                        \
            fprintf(stderr, "  %s:%d: CHECK_NEAR failed: %s == %.9g, %s == %.9g (tol %g)\n", \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_, (double)(tol));         \
            check_failures_in_test++;                                                       \
        }                                                                                   \
    } while (0)

/* CHECK that string s contains substring sub. */
#define CHECK_CONTAINS(s, sub)                                                              \
    do {                                                                                    \
        const char *check_s_ = (s), *check_sub_ = (sub);                                    \
        if (!check_s_ || !strstr(check_s_, check_sub_)) {                                   \
            fprintf(stderr, "  %s:%d: CHECK_CONTAINS failed: \"%s\" does not contain \"%s\"\n", \
                    __FILE__, __LINE__, check_s_ ? check_s_ : "(null)", check_sub_);        \
            check_failures_in_test++;                                                       \
        }                                                                                   \
    } while (0)

#define RUN(test_fn)                                                     \
    do {                                                                 \
        check_failures_in_test = 0;                                      \
        test_fn();                                                       \
        if (check_failures_in_test) {                                    \
            check_tests_failed++;                                        \
            fprintf(stderr, "FAIL %s\n", #test_fn);                      \
        } else {                                                         \
            check_tests_passed++;                                        \
            fprintf(stderr, "ok   %s\n", #test_fn);                      \
        }                                                                \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

/* A fresh scratch directory for this test binary: $RMS_TEST_TMPDIR/<name> (or /tmp/rmscore-test-<name>).
 * Returns a static buffer. */
static inline const char *check_tmpdir(const char *name) {
    static char buf[4096];
    const char *base = getenv("RMS_TEST_TMPDIR");
    char cmd[8300];
    if (base && *base)
        snprintf(buf, sizeof buf, "%s/%s", base, name);
    else
        snprintf(buf, sizeof buf, "/tmp/rmscore-test-%s", name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", buf);
        exit(2);
    }
    return buf;
}

#endif
