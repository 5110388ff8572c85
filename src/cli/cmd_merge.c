/* cmd_merge.c — `rmscore merge`: the results files of the shards of one dataset (`score --shard I/N`,
 * e.g. a Slurm job array) combined into one, equal to a single run's. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/scores_h5.h"
#include "src/base/options.h"
#include "src/cli/commands.h"

#define MERGE_WRITE_ROWS 65536

typedef struct merge_opts {
    char out[RMS_PATH_MAX];
    rms_arg_list inputs; // the positional arguments
} merge_opts;

static const rms_opt MERGE_OPTS[] = {
    {"--out", RMS_OPT_PATH, "FILE", offsetof(merge_opts, out), .required = 1, .help = "the merged file (must not exist)"},
    {0}};

const rms_command RMS_CMD_MERGE = {
    .name = "merge",
    .synopsis = "usage: rmscore merge --out scores.h5 shard0.h5 shard1.h5 ...",
    .about = "Combines results files written by `rmscore score --shard I/N` (or any runs over the same dataset) into\n"
             "a new file: each row takes the result of the file that has one (scored, skipped or bad); rows pending\n"
             "everywhere stay pending. Files of another dataset, or two files with different results for a row, are\n"
             "an error.",
    .opts = MERGE_OPTS,
    .positional = RMS_POS_LIST,
    .positional_offset = offsetof(merge_opts, inputs),
    .positional_name = "input file",
};

typedef struct merged {
    int64_t n;
    float *chosen, *rejected; // (n)
    int8_t *status;           // (n)
    const char **from;        // (n) which input gave the row
} merged;

/* Reads the first input's attributes and sizes the merged arrays. */
static rms_status merge_init(merged *m, const char *path, rms_scores_meta *first, rms_err *err) {
    rms_scores *in;
    rms_status st = rms_scores_open_read(&in, path, first, err);
    if (st != RMS_OK) return st;
    rms_err close_err;
    rms_scores_close(in, &close_err);
    m->n = first->n_rows;
    const size_t n = (size_t)(m->n > 0 ? m->n : 1);
    m->chosen = malloc(n * sizeof(float));
    m->rejected = malloc(n * sizeof(float));
    m->status = calloc(n, 1);
    m->from = calloc(n, sizeof *m->from);
    if (!m->chosen || !m->rejected || !m->status || !m->from) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < m->n; i++) m->chosen[i] = m->rejected[i] = NAN;
    return RMS_OK;
}

/* Merges one input's rows (c, r, s: n-row scratch). */
static rms_status merge_one(merged *m, const char *path, const rms_scores_meta *first, float *c, float *r, int8_t *s,
                            rms_err *err) {
    rms_scores *in;
    rms_scores_meta meta;
    rms_status st = rms_scores_open_read(&in, path, &meta, err);
    if (st != RMS_OK) return st;
    if (meta.n_rows != first->n_rows || strcmp(meta.pairs_tokenizer_sha256, first->pairs_tokenizer_sha256) != 0)
        st = rms_fail(err, RMS_ERR_ARG, "%s (%lld rows) does not score the same dataset as the first file (%lld rows)",
                      path, (long long)meta.n_rows, (long long)first->n_rows);
    if (st == RMS_OK) st = rms_scores_read(in, c, r, s, err);
    for (int64_t i = 0; st == RMS_OK && i < m->n; i++) {
        if (s[i] == RMS_SCORE_PENDING) continue;
        if (m->status[i] != RMS_SCORE_PENDING) {
            const int same = m->status[i] == s[i] && memcmp(&m->chosen[i], &c[i], sizeof(float)) == 0 &&
                             memcmp(&m->rejected[i], &r[i], sizeof(float)) == 0;
            if (!same)
                st = rms_fail(err, RMS_ERR_ARG, "row %lld has different results in %s and %s", (long long)i,
                              m->from[i], path);
            continue;
        }
        m->status[i] = s[i];
        m->chosen[i] = c[i];
        m->rejected[i] = r[i];
        m->from[i] = path;
    }
    rms_err close_err;
    rms_scores_close(in, &close_err);
    return st;
}

static rms_status write_merged(const merged *m, const char *out, rms_scores_meta *meta, rms_err *err) {
    rms_scores *o;
    int resumed = 0;
    meta->n_rows = m->n;
    rms_status st = rms_scores_open(&o, out, meta, &resumed, err);
    if (st != RMS_OK) return st;
    int64_t *rows = malloc(MERGE_WRITE_ROWS * sizeof *rows);
    float *c = malloc(MERGE_WRITE_ROWS * sizeof *c), *r = malloc(MERGE_WRITE_ROWS * sizeof *r);
    int8_t *s = malloc(MERGE_WRITE_ROWS);
    if (!rows || !c || !r || !s) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int64_t i = 0; st == RMS_OK && i <= m->n; i++) {
        if (i < m->n && m->status[i] != RMS_SCORE_PENDING) {
            rows[k] = i;
            c[k] = m->chosen[i];
            r[k] = m->rejected[i];
            s[k++] = m->status[i];
        }
        if (k > 0 && (k == MERGE_WRITE_ROWS || i == m->n)) {
            st = rms_scores_write_rows(o, rows, k, c, r, s, err);
            k = 0;
        }
    }
    free(rows);
    free(c);
    free(r);
    free(s);
    rms_err close_err;
    if (rms_scores_close(o, &close_err) != RMS_OK && st == RMS_OK) {
        *err = close_err;
        st = RMS_ERR_IO;
    }
    return st;
}

rms_status rms_cmd_merge(int argc, char **argv, rms_err *err) {
    merge_opts mo;
    rms_status st = rms_options_parse(&RMS_CMD_MERGE, argc, argv, 2, &mo, err);
    const char *out = mo.out;
    const char **inputs = mo.inputs.v;
    const int n_in = mo.inputs.n;
    struct stat sb;
    if (st == RMS_OK && stat(out, &sb) == 0) st = rms_fail(err, RMS_ERR_USAGE, "merge: %s exists; choose a new --out", out);
    merged m;
    memset(&m, 0, sizeof m);
    rms_scores_meta first;
    memset(&first, 0, sizeof first);
    float *cb = NULL, *rb = NULL;
    int8_t *sb8 = NULL;
    if (st == RMS_OK) st = merge_init(&m, inputs[0], &first, err);
    if (st == RMS_OK) {
        const size_t n = (size_t)(m.n > 0 ? m.n : 1);
        cb = malloc(n * sizeof *cb);
        rb = malloc(n * sizeof *rb);
        sb8 = malloc(n);
        if (!cb || !rb || !sb8) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == RMS_OK && i < n_in; i++) st = merge_one(&m, inputs[i], &first, cb, rb, sb8, err);
    if (st == RMS_OK) st = write_merged(&m, out, &first, err);
    if (st == RMS_OK) {
        int64_t counts[4] = {0};
        for (int64_t i = 0; i < m.n; i++) counts[m.status[i] & 3]++;
        fprintf(stderr, "rmscore: merge: %d files -> %s: %lld scored, %lld skipped, %lld bad, %lld pending\n", n_in, out,
                (long long)counts[RMS_SCORE_SCORED], (long long)counts[RMS_SCORE_SKIPPED], (long long)counts[RMS_SCORE_BAD],
                (long long)counts[RMS_SCORE_PENDING]);
    }
    free(cb);
    free(rb);
    free(sb8);
    free(m.chosen);
    free(m.rejected);
    free(m.status);
    free(m.from);
    rms_options_free(&RMS_CMD_MERGE, &mo);
    return st;
}
