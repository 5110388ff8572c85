#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/scores_h5.h"
#include "tests/check.h"

static const char *dir;

static const char *file_path(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static rms_scores_meta test_meta(int64_t n_rows) {
    rms_scores_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.model, sizeof m.model, "/models/tulu-3-8b-rm");
    snprintf(m.pairs_file, sizeof m.pairs_file, "pairs.h5");
    snprintf(m.pairs_tokenizer_sha256, sizeof m.pairs_tokenizer_sha256, "%064d", 42);
    snprintf(m.compute, sizeof m.compute, "fp32");
    snprintf(m.overlong, sizeof m.overlong, "skip");
    m.max_tokens = 8192;
    m.stages = 2;
    m.replicas = 1;
    snprintf(m.tool_version, sizeof m.tool_version, "0.1.0");
    m.n_rows = n_rows;
    return m;
}

/* The scores test rows get: chosen = row + 0.5, rejected = -row, status scored (skipped for multiples of 7). */
static void fill_rows(const int64_t *rows, int64_t n, float *chosen, float *rejected, int8_t *status) {
    for (int64_t i = 0; i < n; i++) {
        chosen[i] = (float)rows[i] + 0.5f;
        rejected[i] = -(float)rows[i];
        status[i] = rows[i] % 7 ? RMS_SCORE_SCORED : RMS_SCORE_SKIPPED;
    }
}

static rms_status write_test_rows(rms_scores *s, const int64_t *rows, int64_t n, rms_err *err) {
    float *c = malloc((size_t)n * 4), *r = malloc((size_t)n * 4);
    int8_t *st = malloc((size_t)n);
    fill_rows(rows, n, c, r, st);
    rms_status status = rms_scores_write_rows(s, rows, n, c, r, st, err);
    free(c);
    free(r);
    free(st);
    return status;
}

/* Reads path (read-only) and checks: rows in written[] as fill_rows made them, every other row pending/NaN. */
static void check_file(const char *path, int64_t n, const int64_t *written, int64_t n_written) {
    rms_scores *s = NULL;
    rms_scores_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &meta, &err), RMS_OK);
    if (!s) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_EQ_INT(meta.n_rows, n);
    float *c = malloc((size_t)n * 4), *r = malloc((size_t)n * 4);
    int8_t *st = malloc((size_t)n);
    char *is_written = calloc((size_t)n, 1);
    CHECK_EQ_INT(rms_scores_read(s, c, r, st, &err), RMS_OK);
    for (int64_t i = 0; i < n_written; i++) is_written[written[i]] = 1;
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_written[i]) {
            float wc, wr;
            int8_t ws;
            fill_rows(&i, 1, &wc, &wr, &ws);
            wrong += c[i] != wc || r[i] != wr || st[i] != ws;
        } else {
            wrong += !isnan(c[i]) || !isnan(r[i]) || st[i] != RMS_SCORE_PENDING;
        }
    }
    CHECK_EQ_INT(wrong, 0);
    free(is_written);
    free(c);
    free(r);
    free(st);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

static void test_a_new_file_has_every_row_pending_with_nan_scores(void) {
    const char *path = file_path("new.h5");
    rms_scores_meta meta = test_meta(10000);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 0);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, 10000, NULL, 0);
    CHECK(access(file_path("new.h5.partial"), F_OK) != 0);
}

static void test_written_rows_survive_close_and_resume_while_the_rest_stay_pending(void) {
    const char *path = file_path("resume.h5");
    const int64_t n = 10000; // 3 chunks
    rms_scores_meta meta = test_meta(n);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    const int64_t first[] = {9999, 3, 4096, 4095, 0, 14}, second[] = {500, 8191, 1};
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    CHECK_EQ_INT(write_test_rows(s, first, 6, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, n, first, 6);

    snprintf(meta.model, sizeof meta.model, "/models/other-dir");
    meta.replicas = 4;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    if (!s) return;
    CHECK_EQ_INT(write_test_rows(s, second, 3, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    const int64_t all[] = {9999, 3, 4096, 4095, 0, 14, 500, 8191, 1};
    check_file(path, n, all, 9);

    rms_scores_meta got;
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK(strcmp(got.model, "/models/other-dir") == 0); // the run attributes are the last run's
    CHECK_EQ_INT(got.replicas, 4);
    CHECK_EQ_INT(got.stages, 2);
    CHECK_EQ_INT(got.max_tokens, 8192);
    CHECK(strcmp(got.pairs_tokenizer_sha256, meta.pairs_tokenizer_sha256) == 0);
    CHECK(strcmp(got.config_sha256, "") == 0);
    CHECK(strcmp(got.compute, "fp32") == 0);
    CHECK(strcmp(got.overlong, "skip") == 0);
    CHECK(strcmp(got.tool_version, "0.1.0") == 0);
    CHECK(strcmp(got.pairs_file, "pairs.h5") == 0);
    const float one = 1;
    const int8_t scored = RMS_SCORE_SCORED;
    CHECK_EQ_INT(rms_scores_write_rows(s, first, 1, &one, &one, &scored, &err), RMS_ERR_ARG); // read-only
    CHECK_CONTAINS(err.msg, "read-only");
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

static void test_resuming_with_another_row_count_fails_naming_both(void) {
    const char *path = file_path("count.h5");
    rms_scores_meta meta = test_meta(100);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    meta.n_rows = 101;
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_FORMAT);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "count.h5: cannot resume: it has 100 rows but the pairs file has 101");
}

static void test_resuming_with_another_tokenizer_sha_fails_naming_both(void) {
    const char *path = file_path("sha.h5");
    rms_scores_meta meta = test_meta(100);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    snprintf(meta.pairs_tokenizer_sha256, sizeof meta.pairs_tokenizer_sha256, "%064d", 43);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "pairs_tokenizer_sha256");
    CHECK_CONTAINS(err.msg, "0000000043");
    CHECK_CONTAINS(err.msg, "0000000042");
}

/* In a child: creates path, writes two batches (each flushed), then dies without closing:
 * by _exit (how == 0) or SIGKILL (how == 1). Returns the child's wait status. */
static int crash_after_writes(const char *path, int how, const int64_t *a, int64_t na, const int64_t *b, int64_t nb) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        rms_scores_meta meta = test_meta(20000);
        rms_scores *s = NULL;
        rms_err err = {{0}};
        int resumed;
        if (rms_scores_open(&s, path, &meta, &resumed, &err) != RMS_OK) _exit(3);
        if (write_test_rows(s, a, na, &err) != RMS_OK || write_test_rows(s, b, nb, &err) != RMS_OK) _exit(4);
        if (how == 1) kill(getpid(), SIGKILL);
        _exit(0);
    }
    int wstatus = -1;
    waitpid(pid, &wstatus, 0);
    return wstatus;
}

static void test_a_process_killed_without_close_leaves_a_file_with_its_flushed_rows(void) {
    int64_t a[300], b[2] = {19999, 8};
    for (int i = 0; i < 300; i++) a[i] = (i * 7919) % 20000; // spread over all 5 chunks
    int64_t all[302];
    memcpy(all, a, sizeof a);
    memcpy(all + 300, b, sizeof b);
    for (int how = 0; how < 2; how++) {
        const char *path = file_path(how ? "killed.h5" : "exited.h5");
        char saved[4200];
        snprintf(saved, sizeof saved, "%s", path);
        const int wstatus = crash_after_writes(saved, how, a, 300, b, 2);
        if (how == 0)
            CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        else
            CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
        check_file(saved, 20000, all, 302);
        // and it resumes
        rms_scores_meta meta = test_meta(20000);
        rms_scores *s = NULL;
        rms_err err = {{0}};
        int resumed = 0;
        CHECK_EQ_INT(rms_scores_open(&s, saved, &meta, &resumed, &err), RMS_OK);
        CHECK_EQ_INT(resumed, 1);
        const int64_t c[] = {5};
        CHECK_EQ_INT(write_test_rows(s, c, 1, &err), RMS_OK);
        CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
        int64_t more[303];
        memcpy(more, all, sizeof all);
        more[302] = 5;
        check_file(saved, 20000, more, 303);
    }
}

static void test_bad_rows_statuses_and_duplicates_are_refused_before_writing(void) {
    const char *path = file_path("refuse.h5");
    rms_scores_meta meta = test_meta(10);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    const int64_t out_of_range[] = {2, 10}, dup[] = {4, 2, 4};
    CHECK_EQ_INT(write_test_rows(s, out_of_range, 2, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "row 10");
    CHECK_EQ_INT(write_test_rows(s, dup, 3, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "row 4 is written twice");
    const int64_t one[] = {1};
    const float x = 1;
    const int8_t bad_status = 9;
    CHECK_EQ_INT(rms_scores_write_rows(s, one, 1, &x, &x, &bad_status, &err), RMS_ERR_ARG);
    CHECK_EQ_INT(rms_scores_write_rows(s, one, 0, NULL, NULL, NULL, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, 10, NULL, 0);
}

static void test_a_file_of_no_rows_works(void) {
    const char *path = file_path("zero.h5");
    rms_scores_meta meta = test_meta(0);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, 0, NULL, 0);
}

static void test_a_file_for_five_million_rows_is_created_without_writing_them(void) {
    const char *path = file_path("big.h5");
    const int64_t n = 5000000;
    rms_scores_meta meta = test_meta(n);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    const int64_t rows[] = {n - 1, 2500000};
    CHECK_EQ_INT(write_test_rows(s, rows, 2, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(sb.st_size < 200000); // fill values: unwritten chunks take no space
    check_file(path, n, rows, 2);
}

static void test_a_file_that_is_not_a_scores_file_is_a_clear_error(void) {
    rms_err err = {{0}};
    rms_scores *s = NULL;
    rms_scores_meta meta = test_meta(3);
    int resumed;
    const char *path = file_path("plain.h5");
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "plain.h5: /scores: missing group");
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &meta, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/scores: missing group");
    path = file_path("text.h5");
    FILE *f = fopen(path, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "text.h5");
    CHECK_CONTAINS(err.msg, "cannot reopen to resume");
    CHECK_EQ_INT(rms_scores_open_read(&s, file_path("none.h5"), &meta, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "none.h5: cannot open: No such file");
    // a scores file missing a dataset
    path = file_path("no-status.h5");
    meta = test_meta(3);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(H5Ldelete(h, "/scores/status", H5P_DEFAULT) >= 0);
    H5Fclose(h);
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "no-status.h5: /scores/status: missing dataset");
}

int main(void) {
    dir = check_tmpdir("scores-h5");
    RUN(test_a_new_file_has_every_row_pending_with_nan_scores);
    RUN(test_written_rows_survive_close_and_resume_while_the_rest_stay_pending);
    RUN(test_resuming_with_another_row_count_fails_naming_both);
    RUN(test_resuming_with_another_tokenizer_sha_fails_naming_both);
    RUN(test_a_process_killed_without_close_leaves_a_file_with_its_flushed_rows);
    RUN(test_bad_rows_statuses_and_duplicates_are_refused_before_writing);
    RUN(test_a_file_of_no_rows_works);
    RUN(test_a_file_for_five_million_rows_is_created_without_writing_them);
    RUN(test_a_file_that_is_not_a_scores_file_is_a_clear_error);
    return check_summary();
}
