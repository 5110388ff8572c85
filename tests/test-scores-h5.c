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

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define FP_1 "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
#define FP_2 "fedcba0987654321fedcba0987654321fedcba0987654321fedcba0987654321"

static rms_scores_meta test_meta(int64_t n_rows) {
    rms_scores_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.model, sizeof m.model, "/models/tulu-3-8b-rm");
    snprintf(m.model_fingerprint, sizeof m.model_fingerprint, "%s", FP_1);
    snprintf(m.model_files, sizeof m.model_files, "%s  config.json\n%s  model.safetensors\n", SHA_A, SHA_B);
    snprintf(m.pairs_file, sizeof m.pairs_file, "pairs.h5");
    snprintf(m.pairs_tokenizer_sha256, sizeof m.pairs_tokenizer_sha256, "%064d", 42);
    snprintf(m.pairs_template, sizeof m.pairs_template, "tulu");
    snprintf(m.pairs_template_sha256, sizeof m.pairs_template_sha256, "%064d", 5);
    snprintf(m.pairs_tokenization, sizeof m.pairs_tokenization, "chat-template");
    snprintf(m.compute, sizeof m.compute, "fp32");
    snprintf(m.overlong, sizeof m.overlong, "skip");
    snprintf(m.pooling, sizeof m.pooling, "last-non-pad-token (pad_token_id 128256)");
    m.max_tokens = 8192;
    m.shard_index = 0;
    m.shard_count = 1;
    m.stages = 2;
    m.replicas = 1;
    snprintf(m.tool_version, sizeof m.tool_version, "0.1.0");
    m.n_rows = n_rows;
    return m;
}

/* The meta of a run by a version that recorded no identity: such a file is created without the attributes. */
static rms_scores_meta test_meta_without_identity(int64_t n_rows) {
    rms_scores_meta m = test_meta(n_rows);
    m.model_fingerprint[0] = m.model_files[0] = m.pairs_template[0] = m.pairs_template_sha256[0] = '\0';
    m.pairs_tokenization[0] = '\0';
    m.shard_index = m.shard_count = 0;
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

/* A file written before the pooling attribute existed reads as pooled at the last token, and a last-token run
 * resumes it while a last-non-pad-token run is refused. */
static void test_a_file_without_pooling_reads_as_last_token(void) {
    const char *path = file_path("no-pooling.h5");
    rms_scores_meta meta = test_meta(10), got;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), g = f >= 0 ? H5Gopen2(f, "scores", H5P_DEFAULT) : -1;
    CHECK(g >= 0 && H5Adelete(g, "pooling") >= 0);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    s = NULL;
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK(strcmp(got.pooling, "last-token") == 0);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_ERR_ARG); // test_meta: last-non-pad-token
    CHECK_CONTAINS(err.msg, "pooling is 'last-token'");
    rms_scores_close(s, &err);
    s = NULL;
    snprintf(meta.pooling, sizeof meta.pooling, "last-token");
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
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

    // what a resumed run may change: the layout, the run config, the tool version, the pairs file's path
    meta.stages = 3;
    meta.replicas = 4;
    snprintf(meta.config_sha256, sizeof meta.config_sha256, "%064d", 7);
    snprintf(meta.tool_version, sizeof meta.tool_version, "0.2.0");
    snprintf(meta.pairs_file, sizeof meta.pairs_file, "moved/pairs.h5");
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    if (!s) return;
    CHECK_EQ_INT(write_test_rows(s, second, 3, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    const int64_t all[] = {9999, 3, 4096, 4095, 0, 14, 500, 8191, 1};
    check_file(path, n, all, 9);

    rms_scores_meta got;
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK_EQ_INT(got.stages, 3); // the run attributes a resume may change are the last run's
    CHECK_EQ_INT(got.replicas, 4);
    CHECK(strcmp(got.config_sha256, meta.config_sha256) == 0);
    CHECK(strcmp(got.tool_version, "0.2.0") == 0);
    CHECK(strcmp(got.pairs_file, "moved/pairs.h5") == 0);
    CHECK(strcmp(got.model, "/models/tulu-3-8b-rm") == 0);
    CHECK_EQ_INT(got.max_tokens, 8192);
    CHECK(strcmp(got.pairs_tokenizer_sha256, meta.pairs_tokenizer_sha256) == 0);
    CHECK(strcmp(got.compute, "fp32") == 0);
    CHECK(strcmp(got.overlong, "skip") == 0);
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

/* Creates name with test_meta(100) and one scored row, then resumes it with `changed`: the resume must be
 * refused (RMS_ERR_ARG) with a message containing each of want[] and a new --out, leaving the file as it was. */
static void check_resume_refused(const char *name, const rms_scores_meta *changed, const char *const *want,
                                 int n_want) {
    const char *path = file_path(name);
    rms_scores_meta meta = test_meta(100);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    const int64_t row[] = {7};
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    CHECK_EQ_INT(write_test_rows(s, row, 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, changed, &resumed, &err), RMS_ERR_ARG);
    CHECK(s == NULL);
    CHECK_EQ_INT(resumed, 0);
    CHECK_CONTAINS(err.msg, name);
    CHECK_CONTAINS(err.msg, "cannot resume");
    for (int i = 0; i < n_want; i++) CHECK_CONTAINS(err.msg, want[i]);
    CHECK_CONTAINS(err.msg, "new --out");
    check_file(path, 100, row, 1); // untouched, and its run attributes are still the first run's
    rms_scores_meta got;
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK(strcmp(got.model, meta.model) == 0 && strcmp(got.compute, meta.compute) == 0 &&
          strcmp(got.overlong, meta.overlong) == 0 && got.max_tokens == meta.max_tokens);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

static void test_resuming_with_another_model_content_is_refused_naming_the_files_that_differ(void) {
    rms_scores_meta m = test_meta(100);
    snprintf(m.model_fingerprint, sizeof m.model_fingerprint, "%s", FP_2);
    snprintf(m.model_files, sizeof m.model_files, "%s  config.json\n%s  model.safetensors\n", SHA_A, SHA_C);
    const char *want[] = {"scored by another model", "model_fingerprint is 1234567890abcdef...",
                          "(model /models/tulu-3-8b-rm then)", "but /models/tulu-3-8b-rm has fedcba0987654321...",
                          "model.safetensors: sha256 bbbbbbbbbbbb... vs cccccccccccc..."};
    check_resume_refused("model.h5", &m, want, 5);
}

static void test_resuming_with_another_dataset_template_or_tokenization_is_refused_naming_both(void) {
    const char *path = file_path("template.h5");
    rms_scores_meta meta = test_meta(100), m;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    m = meta;
    snprintf(m.pairs_template_sha256, sizeof m.pairs_template_sha256, "%064d", 6);
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_FORMAT);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "pairs_template_sha256 is '0000000000000000000000000000000000000000000000000000000000000005' "
                            "but this run's is '0000000000000000000000000000000000000000000000000000000000000006'");
    m = meta;
    snprintf(m.pairs_tokenization, sizeof m.pairs_tokenization, "text-with-special");
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "pairs_tokenization is 'chat-template' but this run's is 'text-with-special'");
    // the template's name is information only
    m = meta;
    snprintf(m.pairs_template, sizeof m.pairs_template, "renamed.jinja");
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

static void test_resuming_another_shard_is_refused_naming_both(void) {
    const char *path = file_path("shard.h5");
    rms_scores_meta meta = test_meta(100), m = test_meta(100);
    m.shard_index = 2;
    m.shard_count = 4;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_ARG);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "it holds shard 0/1 but this run scores shard 2/4");
    CHECK_CONTAINS(err.msg, "its own --out");
}

/* A staged copy: another path, the same content. The file resumes and records the path of the last run. */
static void test_resuming_from_another_model_path_with_the_same_fingerprint_records_the_new_path(void) {
    const char *path = file_path("staged.h5");
    rms_scores_meta meta = test_meta(100), got;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    const int64_t row[] = {3};
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(write_test_rows(s, row, 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    snprintf(meta.model, sizeof meta.model, "/local/scratch/job42/tulu-3-8b-rm");
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, 100, row, 1);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK(strcmp(got.model, "/local/scratch/job42/tulu-3-8b-rm") == 0);
    CHECK(strcmp(got.model_fingerprint, meta.model_fingerprint) == 0);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

static void test_the_identity_is_recorded_and_read_back(void) {
    const char *path = file_path("identity.h5");
    rms_scores_meta meta = test_meta(10), got;
    meta.shard_index = 3;
    meta.shard_count = 16;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK_EQ_INT(got.identity_recorded, 1);
    CHECK(strcmp(got.model_fingerprint, meta.model_fingerprint) == 0);
    CHECK(strcmp(got.model_files, meta.model_files) == 0);
    CHECK(strcmp(got.pairs_template, "tulu") == 0);
    CHECK(strcmp(got.pairs_template_sha256, meta.pairs_template_sha256) == 0);
    CHECK(strcmp(got.pairs_tokenization, "chat-template") == 0);
    CHECK_EQ_INT(got.shard_index, 3);
    CHECK_EQ_INT(got.shard_count, 16);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

/* Files written before the identity was recorded: report/export read them (identity "" / shard 0 of 0); resuming
 * is refused, naming the flag, unless the identity is adopted, which needs what the file records to agree. */
static void test_a_file_without_the_identity_reads_and_resumes_only_when_adopted_and_agreeing(void) {
    const char *path = file_path("old.h5");
    rms_scores_meta old = test_meta_without_identity(50), got, m;
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed = -1;
    const int64_t row[] = {9};
    CHECK_EQ_INT(rms_scores_open(&s, path, &old, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(write_test_rows(s, row, 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), g = f >= 0 ? H5Gopen2(f, "scores", H5P_DEFAULT) : -1;
    CHECK(g >= 0 && H5Aexists(g, "model_fingerprint") == 0 && H5Aexists(g, "shard_count") == 0 &&
          H5Aexists(g, "pairs_tokenization") == 0);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    CHECK_EQ_INT(got.identity_recorded, 0);
    CHECK(got.model_fingerprint[0] == '\0' && got.pairs_tokenization[0] == '\0');
    CHECK_EQ_INT(got.shard_count, 0);
    CHECK(strcmp(got.model, "/models/tulu-3-8b-rm") == 0);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);

    m = test_meta(50); // this version's run: refused without adoption
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_ARG);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "old.h5: cannot resume: it was written by 0.1.0, which did not record the model's fingerprint");
    CHECK_CONTAINS(err.msg, "--allow-unverified-resume");
    CHECK_CONTAINS(err.msg, "new --out");
    m.adopt_identity = 1; // adopted, but what it records must agree: the settings ...
    snprintf(m.compute, sizeof m.compute, "bf16");
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "compute is 'fp32' but this run's is 'bf16'");
    snprintf(m.compute, sizeof m.compute, "fp32"); // ... and the model path (all there is to compare)
    snprintf(m.model, sizeof m.model, "/models/other-rm");
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "its model is '/models/tulu-3-8b-rm' but this run's is '/models/other-rm'");
    CHECK_CONTAINS(err.msg, "records no model fingerprint");
    check_file(path, 50, row, 1);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK); // untouched by the refusals
    CHECK_EQ_INT(got.identity_recorded, 0);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);

    m = test_meta(50);
    m.adopt_identity = 1;
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    check_file(path, 50, row, 1);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK); // adopted: the identity is recorded now
    CHECK_EQ_INT(got.identity_recorded, 1);
    CHECK(strcmp(got.model_fingerprint, m.model_fingerprint) == 0);
    CHECK_EQ_INT(got.shard_count, 1);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    m.adopt_identity = 0; // and from then on it resumes like any file
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
}

/* An older file's relative model path names this run's model when it leads to the same directory from here. */
static void test_an_adopted_file_may_record_its_model_relative_to_the_working_directory(void) {
    const char *path = file_path("old-relative.h5");
    char model_dir[4300], cwd[4096];
    snprintf(model_dir, sizeof model_dir, "%s/relmodel", dir);
    mkdir(model_dir, 0755);
    rms_scores_meta old = test_meta_without_identity(5), m = test_meta(5);
    snprintf(old.model, sizeof old.model, "relmodel");
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &old, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);
    char real[4096];
    CHECK(realpath("relmodel", real) != NULL);
    snprintf(m.model, sizeof m.model, "%.1000s", real);
    m.adopt_identity = 1;
    CHECK_EQ_INT(rms_scores_open(&s, path, &m, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    CHECK(chdir(cwd) == 0);
}

static void test_resuming_with_another_compute_is_refused_naming_both_and_asking_for_a_new_out(void) {
    rms_scores_meta m = test_meta(100);
    snprintf(m.compute, sizeof m.compute, "bf16");
    const char *want[] = {"compute is 'fp32' but this run's is 'bf16'"};
    check_resume_refused("compute.h5", &m, want, 1);
}

static void test_resuming_with_another_overlong_is_refused_naming_both_and_asking_for_a_new_out(void) {
    rms_scores_meta m = test_meta(100);
    snprintf(m.overlong, sizeof m.overlong, "truncate-left");
    const char *want[] = {"overlong is 'skip' but this run's is 'truncate-left'"};
    check_resume_refused("overlong.h5", &m, want, 1);
}

static void test_resuming_with_another_pooling_is_refused_naming_both_and_asking_for_a_new_out(void) {
    rms_scores_meta m = test_meta(100);
    snprintf(m.pooling, sizeof m.pooling, "last-token");
    const char *want[] = {"pooling is 'last-non-pad-token (pad_token_id 128256)' but this run's is 'last-token'"};
    check_resume_refused("pooling.h5", &m, want, 1);
}

static void test_resuming_with_another_max_tokens_is_refused_naming_both_and_asking_for_a_new_out(void) {
    rms_scores_meta m = test_meta(100);
    m.max_tokens = 0;
    const char *want[] = {"max_tokens is 8192 but this run's is 0"};
    check_resume_refused("max-tokens.h5", &m, want, 1);
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

static void test_status_4_keeps_non_finite_scores_and_status_1_requires_finite_ones(void) {
    const char *path = file_path("nonfinite.h5");
    rms_scores_meta meta = test_meta(10);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    const int64_t row1[] = {1}, row2[] = {2};
    const float nan = NAN, inf = INFINITY, one = 1;
    const int8_t nonfinite = RMS_SCORE_NONFINITE, scored = RMS_SCORE_SCORED, five = 5;
    CHECK_EQ_INT(rms_scores_write_rows(s, row1, 1, &nan, &inf, &nonfinite, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_write_rows(s, row2, 1, &one, &inf, &scored, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "non-finite");
    CHECK_EQ_INT(rms_scores_write_rows(s, row2, 1, &nan, &one, &scored, &err), RMS_ERR_ARG);
    CHECK_EQ_INT(rms_scores_write_rows(s, row2, 1, &one, &one, &five, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "not 0-4");
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    rms_scores_meta got;
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &got, &err), RMS_OK);
    if (!s) return;
    float c[10], r[10];
    int8_t st[10];
    CHECK_EQ_INT(rms_scores_read(s, c, r, st, &err), RMS_OK);
    CHECK_EQ_INT(st[1], RMS_SCORE_NONFINITE);
    CHECK(isnan(c[1]) && isinf(r[1]) && r[1] > 0);
    CHECK_EQ_INT(st[2], RMS_SCORE_PENDING); // the refused writes wrote nothing
    CHECK(isnan(c[2]) && isnan(r[2]));
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
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

static void test_a_file_for_five_million_rows_is_created_with_every_chunk_allocated(void) {
    const char *path = file_path("big.h5");
    const int64_t n = 5000000;
    rms_scores_meta meta = test_meta(n);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    if (!s) return;
    struct stat created, sb;
    CHECK(stat(path, &created) == 0);
    const int64_t rows[] = {n - 1, 2500000};
    CHECK_EQ_INT(write_test_rows(s, rows, 2, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    CHECK(stat(path, &sb) == 0);
    // every chunk is there from creation (9 bytes a row, the last chunk padded), plus a little metadata
    const int64_t chunks = (n + RMS_SCORES_CHUNK_ROWS - 1) / RMS_SCORES_CHUNK_ROWS;
    CHECK(created.st_size >= chunks * RMS_SCORES_CHUNK_ROWS * 9);
    CHECK(created.st_size < chunks * RMS_SCORES_CHUNK_ROWS * 9 + 400000);
    CHECK_EQ_INT(sb.st_size, created.st_size); // writing rows allocates nothing
    check_file(path, n, rows, 2);
}

/* The byte ranges [addr, addr + size) of every chunk of the three datasets of path (at most max). */
static int chunk_ranges(const char *path, haddr_t *addr, hsize_t *size, int max) {
    static const char *const names[] = {"/scores/chosen", "/scores/rejected", "/scores/status"};
    int k = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    for (int c = 0; c < 3 && f >= 0; c++) {
        hid_t d = H5Dopen2(f, names[c], H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        hsize_t n = 0;
        CHECK(H5Dget_num_chunks(d, sp, &n) >= 0);
        for (hsize_t i = 0; i < n && k < max; i++, k++) {
            hsize_t offset;
            unsigned mask;
            CHECK(H5Dget_chunk_info(d, sp, i, &offset, &mask, &addr[k], &size[k]) >= 0);
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0) H5Fclose(f);
    return k;
}

static unsigned char *read_whole(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (*len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = malloc((size_t)*len + 1)) && fread(b, 1, (size_t)*len, f) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    if (f) fclose(f);
    return b;
}

/* Bytes that differ between a and b (same length) outside every chunk range. */
static long changed_outside_chunks(const unsigned char *a, const unsigned char *b, long len, const haddr_t *addr,
                                   const hsize_t *size, int n_chunks, long *changed_inside) {
    long outside = 0;
    *changed_inside = 0;
    for (long i = 0; i < len; i++) {
        if (a[i] == b[i]) continue;
        int inside = 0;
        for (int k = 0; k < n_chunks && !inside; k++) inside = (haddr_t)i >= addr[k] && (haddr_t)i < addr[k] + size[k];
        if (inside)
            ++*changed_inside;
        else
            outside++;
    }
    return outside;
}

static void test_datasets_are_chunked_unfiltered_and_allocated_and_filled_at_creation(void) {
    const char *path = file_path("layout.h5");
    rms_scores_meta meta = test_meta(10000);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    static const char *const names[] = {"/scores/chosen", "/scores/rejected", "/scores/status"};
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f < 0) return;
    for (int c = 0; c < 3; c++) {
        hid_t d = H5Dopen2(f, names[c], H5P_DEFAULT), dcpl = H5Dget_create_plist(d);
        CHECK_EQ_INT(H5Pget_layout(dcpl), H5D_CHUNKED);
        hsize_t chunk = 0, n_chunks = 0;
        CHECK_EQ_INT(H5Pget_chunk(dcpl, 1, &chunk), 1);
        CHECK_EQ_INT(chunk, RMS_SCORES_CHUNK_ROWS);
        CHECK_EQ_INT(H5Pget_nfilters(dcpl), 0); // no deflate, no shuffle: chunks never change size
        H5D_alloc_time_t alloc;
        H5D_fill_time_t fill_time;
        CHECK(H5Pget_alloc_time(dcpl, &alloc) >= 0);
        CHECK_EQ_INT(alloc, H5D_ALLOC_TIME_EARLY);
        CHECK(H5Pget_fill_time(dcpl, &fill_time) >= 0);
        CHECK_EQ_INT(fill_time, H5D_FILL_TIME_ALLOC);
        if (c < 2) {
            float fill = 0;
            CHECK(H5Pget_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill) >= 0);
            CHECK(isnan(fill));
        } else {
            int8_t fill = -1;
            CHECK(H5Pget_fill_value(dcpl, H5T_NATIVE_INT8, &fill) >= 0);
            CHECK_EQ_INT(fill, RMS_SCORE_PENDING);
        }
        hid_t sp = H5Dget_space(d);
        CHECK(H5Dget_num_chunks(d, sp, &n_chunks) >= 0);
        CHECK_EQ_INT(n_chunks, 3); // all allocated (the last one whole), none written yet
        CHECK_EQ_INT(H5Dget_storage_size(d), 3 * RMS_SCORES_CHUNK_ROWS * (c < 2 ? 4 : 1));
        H5Sclose(sp);
        H5Pclose(dcpl);
        H5Dclose(d);
    }
    H5Fclose(f);
}

static void test_writing_rows_changes_only_bytes_inside_the_chunks(void) {
    const char *path = file_path("bytes.h5");
    const int64_t n = 10000; // 3 chunks a dataset
    rms_scores_meta meta = test_meta(n);
    rms_scores *s = NULL;
    rms_err err = {{0}};
    int resumed;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    haddr_t addr[16];
    hsize_t size[16];
    const int n_chunks = chunk_ranges(path, addr, size, 16);
    CHECK_EQ_INT(n_chunks, 9);
    long len0, len1, len2, len3, inside;
    unsigned char *created = read_whole(path, &len0);

    // resuming the same run rewrites no attribute: only HDF5's "open for writing" flag changes (the file
    // consistency flags, bytes 20-23 of the version-0 superblock; HDF5 1.10 ignores them when reopening it)
    s = NULL;
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(resumed, 1);
    unsigned char *reopened = read_whole(path, &len1);
    CHECK_EQ_INT(len1, len0);
    CHECK(created && reopened && created[8] == 0); // superblock version 0
    if (created && reopened && len1 == len0) {
        CHECK(memcmp(created, reopened, 20) == 0);
        CHECK(memcmp(created + 24, reopened + 24, (size_t)len0 - 24) == 0);
    }

    // a flushed write touches raw data only (the file is read while open: that is what a kill would leave)
    const int64_t rows[] = {0, 4095, 4096, 9999, 5000, 17};
    CHECK_EQ_INT(write_test_rows(s, rows, 6, &err), RMS_OK);
    unsigned char *written = read_whole(path, &len2);
    CHECK_EQ_INT(len2, len0);
    if (reopened && written && len2 == len1) {
        CHECK_EQ_INT(changed_outside_chunks(reopened, written, len1, addr, size, n_chunks, &inside), 0);
        CHECK(inside > 0);
    }
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    unsigned char *closed = read_whole(path, &len3);
    CHECK_EQ_INT(len3, len0);
    if (created && closed && len3 == len0) { // close clears the flag again and writes nothing else
        CHECK(memcmp(created, closed, 24) == 0);
        CHECK(changed_outside_chunks(created, closed, len0, addr, size, n_chunks, &inside) == 0);
    }
    check_file(path, n, rows, 6);
    free(created);
    free(reopened);
    free(written);
    free(closed);
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

static void test_a_status_outside_0_to_4_and_absurd_n_rows_are_a_corrupt_file(void) {
    rms_err err = {{0}};
    rms_scores *s = NULL;
    rms_scores_meta meta = test_meta(3);
    int resumed;
    const char *path = file_path("status-77.h5");
    CHECK_EQ_INT(rms_scores_open(&s, path, &meta, &resumed, &err), RMS_OK);
    CHECK_EQ_INT(rms_scores_close(s, &err), RMS_OK);
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(h, "/scores/status", H5P_DEFAULT);
    const int8_t status[3] = {1, 77, 0};
    CHECK(H5Dwrite(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) >= 0);
    H5Dclose(d);
    H5Fclose(h);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &meta, &err), RMS_OK);
    int8_t got[3];
    CHECK_EQ_INT(rms_scores_read(s, NULL, NULL, got, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "status-77.h5: /scores/status: row 1 has status 77, not one of 0..");
    rms_scores_close(s, &err);
    // n_rows above what any dataset may have: refused when opened, before an array of that size is allocated
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(h, "scores", H5P_DEFAULT), a = H5Aopen(g, "n_rows", H5P_DEFAULT);
    const int64_t huge = (int64_t)1 << 40;
    CHECK(H5Awrite(a, H5T_NATIVE_INT64, &huge) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(h);
    CHECK_EQ_INT(rms_scores_open_read(&s, path, &meta, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/scores: n_rows 1099511627776 is above rmscore's limit of 4294967296 rows");
}

int main(void) {
    dir = check_tmpdir("scores-h5");
    RUN(test_a_new_file_has_every_row_pending_with_nan_scores);
    RUN(test_written_rows_survive_close_and_resume_while_the_rest_stay_pending);
    RUN(test_resuming_with_another_row_count_fails_naming_both);
    RUN(test_resuming_with_another_tokenizer_sha_fails_naming_both);
    RUN(test_resuming_with_another_model_content_is_refused_naming_the_files_that_differ);
    RUN(test_resuming_from_another_model_path_with_the_same_fingerprint_records_the_new_path);
    RUN(test_resuming_with_another_dataset_template_or_tokenization_is_refused_naming_both);
    RUN(test_resuming_another_shard_is_refused_naming_both);
    RUN(test_the_identity_is_recorded_and_read_back);
    RUN(test_a_file_without_the_identity_reads_and_resumes_only_when_adopted_and_agreeing);
    RUN(test_an_adopted_file_may_record_its_model_relative_to_the_working_directory);
    RUN(test_resuming_with_another_compute_is_refused_naming_both_and_asking_for_a_new_out);
    RUN(test_resuming_with_another_overlong_is_refused_naming_both_and_asking_for_a_new_out);
    RUN(test_resuming_with_another_pooling_is_refused_naming_both_and_asking_for_a_new_out);
    RUN(test_a_file_without_pooling_reads_as_last_token);
    RUN(test_resuming_with_another_max_tokens_is_refused_naming_both_and_asking_for_a_new_out);
    RUN(test_a_process_killed_without_close_leaves_a_file_with_its_flushed_rows);
    RUN(test_bad_rows_statuses_and_duplicates_are_refused_before_writing);
    RUN(test_status_4_keeps_non_finite_scores_and_status_1_requires_finite_ones);
    RUN(test_a_file_of_no_rows_works);
    RUN(test_a_file_for_five_million_rows_is_created_with_every_chunk_allocated);
    RUN(test_datasets_are_chunked_unfiltered_and_allocated_and_filled_at_creation);
    RUN(test_writing_rows_changes_only_bytes_inside_the_chunks);
    RUN(test_a_file_that_is_not_a_scores_file_is_a_clear_error);
    RUN(test_a_status_outside_0_to_4_and_absurd_n_rows_are_a_corrupt_file);
    return check_summary();
}
