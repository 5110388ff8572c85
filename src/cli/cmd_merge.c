/* cmd_merge.c — `rmscore merge`: the results files of the shards of one dataset (`score --shard I/N`,
 * e.g. a Slurm job array) combined into one, equal to a single run's.
 *
 * The inputs must be of one run: the same dataset (n_rows, tokenizer, template, tokenization), the same model
 * (model_fingerprint; the model path only when no input records a fingerprint) and settings (pooling, compute,
 * overlong, max_tokens); the first difference is an error naming the field, both values and both files. The
 * result must be complete: shards of the job array that are missing (an index of 0..N-1 that no input holds),
 * shards whose block still has pending rows, and rows pending everywhere are named, and the merge refused
 * unless --allow-incomplete. An input whose lock is held (io/file_lock.h: its task still runs) is refused. The
 * output is locked for the whole merge. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/file_lock.h"
#include "io/fingerprint.h"
#include "io/scores_h5.h"
#include "src/base/options.h"
#include "src/cli/commands.h"
#include "src/job/score_job.h"

#define MERGE_WRITE_ROWS 65536
#define MERGE_LIST_MAX 12 /* shards named in one message; more are counted */

typedef struct merge_opts {
    char out[RMS_PATH_MAX];
    int allow_incomplete;
    rms_arg_list inputs; // the positional arguments
} merge_opts;

static const rms_opt MERGE_OPTS[] = {
    {"--out", RMS_OPT_PATH, "FILE", offsetof(merge_opts, out), .required = 1, .help = "the merged file (must not exist)"},
    {"--allow-incomplete", RMS_OPT_FLAG, NULL, offsetof(merge_opts, allow_incomplete),
     .help = "write the merged file even when shards are missing or rows pending\n(they stay pending: `rmscore score "
             "--out` on the merged file scores them)"},
    {0}};

const rms_command RMS_CMD_MERGE = {
    .name = "merge",
    .synopsis = "usage: rmscore merge --out scores.h5 [--allow-incomplete] OUTDIR | shard0.h5 shard1.h5 ...",
    .about = "Combines results files written by `rmscore score --shard I/N` (or any runs over the same dataset) into\n"
             "a new file: each row takes the result of the file that has one (scored, skipped or bad). A directory\n"
             "stands for its shard files (shard-I.h5 or shard-I-of-N.h5, as the Slurm array scripts name them).\n"
             "The inputs must be of one run: the same dataset, model (by content: model_fingerprint) and settings\n"
             "(pooling, compute, overlong, max_tokens); two files with different results for a row are an error.\n"
             "Missing shards (of the N the inputs record), shards with rows still pending and inputs still being\n"
             "written are named and refused; --allow-incomplete merges what there is, leaving those rows pending.",
    .opts = MERGE_OPTS,
    .positional = RMS_POS_LIST,
    .positional_offset = offsetof(merge_opts, inputs),
    .positional_name = "input file or directory",
};

typedef struct merge_input {
    char *path;             // owned
    rms_scores_meta *meta;  // owned
    int64_t name_index;     // I of a name "shard-I.h5" or "shard-I-of-N.h5", -1 otherwise
    int64_t name_count;     // N of a name "shard-I-of-N.h5", -1 otherwise
    int64_t block_pending;  // rows of its shard's block pending in this file
} merge_input;

typedef struct merge_inputs {
    merge_input *v; // (n)
    int n, cap;
} merge_inputs;

typedef struct merged {
    int64_t n;
    float *chosen, *rejected; // (n)
    int8_t *status;           // (n)
    const char **from;        // (n) which input gave the row
} merged;

/* Reads decimal digits at *p (at most 12) into *v; 0 if there are none. */
static int read_number(const char **p, int64_t *v) {
    int digits = 0;
    for (*v = 0; **p >= '0' && **p <= '9' && digits < 12; (*p)++, digits++) *v = 10 * *v + (**p - '0');
    return digits > 0;
}

/* Whether path's base name is a shard file's: "shard-I.h5" (*count = -1) or "shard-I-of-N.h5". */
static int shard_name(const char *path, int64_t *index, int64_t *count) {
    const char *base = strrchr(path, '/');
    const char *p = base ? base + 1 : path;
    *index = *count = -1;
    if (strncmp(p, "shard-", 6) != 0) return 0;
    p += 6;
    if (!read_number(&p, index)) return 0;
    if (strncmp(p, "-of-", 4) == 0) {
        p += 4;
        if (!read_number(&p, count)) return 0;
    }
    if (strcmp(p, ".h5") == 0) return 1;
    *index = *count = -1;
    return 0;
}

static rms_status add_input(merge_inputs *in, const char *path, rms_err *err) {
    if (in->n == in->cap) {
        const int cap = in->cap ? 2 * in->cap : 16;
        merge_input *v = realloc(in->v, (size_t)cap * sizeof *v);
        if (!v) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        in->v = v;
        in->cap = cap;
    }
    merge_input *x = &in->v[in->n];
    memset(x, 0, sizeof *x);
    if (!(x->path = strdup(path))) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    in->n++;
    shard_name(path, &x->name_index, &x->name_count);
    return RMS_OK;
}

static int by_name_index(const void *a, const void *b) {
    const merge_input *x = a, *y = b;
    if (x->name_count != y->name_count) return x->name_count < y->name_count ? -1 : 1;
    return x->name_index < y->name_index ? -1 : x->name_index > y->name_index;
}

/* A directory's shard files (shard-I.h5 or shard-I-of-N.h5), by N and I. */
static rms_status add_directory(merge_inputs *in, const char *dir, rms_err *err) {
    DIR *d = opendir(dir);
    if (!d) return rms_fail(err, RMS_ERR_IO, "merge: cannot read the directory %s: %s", dir, strerror(errno));
    const int first = in->n;
    rms_status st = RMS_OK;
    for (struct dirent *e; st == RMS_OK && (e = readdir(d));) {
        int64_t index, count;
        if (!shard_name(e->d_name, &index, &count)) continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) st = add_input(in, path, err);
        free(path);
    }
    closedir(d);
    if (st == RMS_OK && in->n == first)
        return rms_fail(err, RMS_ERR_IO, "merge: the directory %s holds no shard-I.h5 or shard-I-of-N.h5 files", dir);
    if (st == RMS_OK) qsort(in->v + first, (size_t)(in->n - first), sizeof *in->v, by_name_index);
    return st;
}

static void free_inputs(merge_inputs *in) {
    for (int i = 0; i < in->n; i++) {
        free(in->v[i].path);
        free(in->v[i].meta);
    }
    free(in->v);
    memset(in, 0, sizeof *in);
}

/* Reads every input's attributes, refusing inputs whose lock is held (still being written). */
static rms_status read_metas(merge_inputs *in, rms_err *err) {
    for (int i = 0; i < in->n; i++) {
        merge_input *x = &in->v[i];
        int held = 0;
        char holder[RMS_LOCK_HOLDER_MAX];
        rms_status st = rms_file_lock_probe(x->path, &held, holder, sizeof holder, err);
        if (st != RMS_OK) return st;
        if (held)
            return rms_fail(err, RMS_ERR_IO, "merge: %s is still being written (%s): wait for its task to end",
                            x->path, holder);
        if (!(x->meta = malloc(sizeof *x->meta))) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        rms_scores *s;
        if ((st = rms_scores_open_read(&s, x->path, x->meta, err)) != RMS_OK) return st;
        rms_err close_err;
        rms_scores_close(s, &close_err);
    }
    return RMS_OK;
}

static const char *or_unrecorded(const char *s) { return s[0] ? s : "(not recorded)"; }

/* The first way b was not scored like a: the dataset, the model, the settings. */
static rms_status check_same_run(const merge_input *a, const merge_input *b, rms_err *err) {
    const rms_scores_meta *x = a->meta, *y = b->meta;
    static const char tail[] = "merge only the shards of one run";
    if (x->n_rows != y->n_rows)
        return rms_fail(err, RMS_ERR_ARG, "merge: %s and %s are not of one dataset: n_rows is %lld in the first and %lld "
                        "in the second (%s)", a->path, b->path, (long long)x->n_rows, (long long)y->n_rows, tail);
    if (x->identity_recorded != y->identity_recorded) {
        const merge_input *old = x->identity_recorded ? b : a, *new = x->identity_recorded ? a : b;
        return rms_fail(err, RMS_ERR_ARG,
                        "merge: %s records no model fingerprint (written by %s) but %s does: nothing shows they were "
                        "scored by the same model (%s)", old->path, old->meta->tool_version, new->path, tail);
    }
    const struct {
        const char *name, *va, *vb;
    } strs[] = {
        {"pairs_tokenizer_sha256", x->pairs_tokenizer_sha256, y->pairs_tokenizer_sha256},
        {"pairs_template_sha256", x->pairs_template_sha256, y->pairs_template_sha256},
        {"pairs_tokenization", x->pairs_tokenization, y->pairs_tokenization},
        {"pooling", x->pooling, y->pooling},
        {"compute", x->compute, y->compute},
        {"overlong", x->overlong, y->overlong},
        // only when neither records a fingerprint is the model known by its path alone
        {"model", x->identity_recorded ? "" : x->model, y->identity_recorded ? "" : y->model},
    };
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (strcmp(strs[k].va, strs[k].vb) != 0)
            return rms_fail(err, RMS_ERR_ARG, "merge: %s and %s were not scored alike: %s is '%s' in the first and '%s' "
                            "in the second (%s)", a->path, b->path, strs[k].name, or_unrecorded(strs[k].va),
                            or_unrecorded(strs[k].vb), tail);
    if (strcmp(x->model_fingerprint, y->model_fingerprint) != 0) {
        char diff[300];
        rms_fingerprint_manifest_diff(x->model_files, y->model_files, diff, sizeof diff);
        return rms_fail(err, RMS_ERR_ARG,
                        "merge: %s and %s were scored by different models: model_fingerprint is %.16s... (model %s) in "
                        "the first and %.16s... (model %s) in the second%s%s (%s)",
                        a->path, b->path, x->model_fingerprint, x->model, y->model_fingerprint, y->model,
                        diff[0] ? ": " : "", diff, tail);
    }
    if (x->max_tokens != y->max_tokens)
        return rms_fail(err, RMS_ERR_ARG, "merge: %s and %s were not scored alike: max_tokens is %lld in the first and "
                        "%lld in the second (%s)", a->path, b->path, (long long)x->max_tokens, (long long)y->max_tokens,
                        tail);
    if (x->shard_count > 1 && y->shard_count > 1 && x->shard_count != y->shard_count)
        return rms_fail(err, RMS_ERR_ARG, "merge: %s is shard %lld/%lld but %s is shard %lld/%lld (%s)", a->path,
                        (long long)x->shard_index, (long long)x->shard_count, b->path, (long long)y->shard_index,
                        (long long)y->shard_count, tail);
    return RMS_OK;
}

static rms_status merged_init(merged *m, int64_t n, rms_err *err) {
    m->n = n;
    const size_t k = (size_t)(n > 0 ? n : 1);
    m->chosen = malloc(k * sizeof(float));
    m->rejected = malloc(k * sizeof(float));
    m->status = calloc(k, 1);
    m->from = calloc(k, sizeof *m->from);
    if (!m->chosen || !m->rejected || !m->status || !m->from) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) m->chosen[i] = m->rejected[i] = NAN;
    return RMS_OK;
}

/* Merges one input's rows (c, r, s: n-row scratch); counts the pending rows of its shard's block. */
static rms_status merge_one(merged *m, merge_input *x, float *c, float *r, int8_t *s, rms_err *err) {
    rms_scores *in;
    rms_scores_meta *meta = malloc(sizeof *meta);
    if (!meta) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_status st = rms_scores_open_read(&in, x->path, meta, err);
    free(meta);
    if (st != RMS_OK) return st;
    st = rms_scores_read(in, c, r, s, err);
    int64_t r0 = 0, r1 = 0;
    if (x->meta->shard_count > 0) rms_shard_block(x->meta->shard_index, x->meta->shard_count, m->n, &r0, &r1);
    for (int64_t i = 0; st == RMS_OK && i < m->n; i++) {
        // written by an rmscore without status 4: a NaN or infinite score read as "scored"
        if (s[i] == RMS_SCORE_SCORED && !(isfinite(c[i]) && isfinite(r[i]))) s[i] = RMS_SCORE_NONFINITE;
        if (s[i] == RMS_SCORE_PENDING) {
            x->block_pending += i >= r0 && i < r1;
            continue;
        }
        if (m->status[i] != RMS_SCORE_PENDING) {
            const int same = m->status[i] == s[i] && memcmp(&m->chosen[i], &c[i], sizeof(float)) == 0 &&
                             memcmp(&m->rejected[i], &r[i], sizeof(float)) == 0;
            if (!same)
                st = rms_fail(err, RMS_ERR_ARG, "merge: row %lld has different results in %s and %s", (long long)i,
                              m->from[i], x->path);
            continue;
        }
        m->status[i] = s[i];
        m->chosen[i] = c[i];
        m->rejected[i] = r[i];
        m->from[i] = x->path;
    }
    rms_err close_err;
    rms_scores_close(in, &close_err);
    return st;
}

/* Appends to buf (cap bytes) with snprintf semantics, never past the end. */
static void appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    const size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* How a missing shard J is expected to be named, "<*dir>/shard-J<suffix>": as the shard inputs are, when all of
 * them are named DIR/shard-I.h5 (suffix ".h5"), or all DIR/shard-I-of-N.h5 ("-of-N.h5"), with their recorded I
 * and N and one DIR. 1 and *dir (caller frees) set, or 0. */
static int expected_name(const merge_inputs *in, char **dir_out, char suffix[32]) {
    *dir_out = NULL;
    char *dir = NULL;
    int style = -1; // 0: shard-I.h5, 1: shard-I-of-N.h5
    int64_t count = 0;
    for (int i = 0; i < in->n; i++) {
        const merge_input *x = &in->v[i];
        if (x->meta->shard_count <= 1) continue;
        const int s = x->name_count >= 0;
        const char *slash = strrchr(x->path, '/');
        const char *d = slash ? x->path : ".";
        const size_t len = slash ? (size_t)(slash - x->path) : 1;
        const int fits = x->name_index == x->meta->shard_index && (!s || x->name_count == x->meta->shard_count) &&
                         (style < 0 || style == s) && (!dir || (strlen(dir) == len && strncmp(dir, d, len) == 0));
        if (!fits || (!dir && !(dir = strndup(d, len)))) {
            free(dir);
            return 0;
        }
        style = s;
        count = x->meta->shard_count;
    }
    if (!dir) return 0;
    if (style == 1)
        snprintf(suffix, 32, "-of-%lld.h5", (long long)count);
    else
        snprintf(suffix, 32, ".h5");
    *dir_out = dir;
    return 1;
}

/* What leaves the merged file incomplete (missing shards, shards with pending rows, rows pending everywhere), as
 * one message in msg; "" if it is complete. */
static void describe_gaps(const merge_inputs *in, const merged *m, char *msg, size_t cap) {
    msg[0] = '\0';
    int64_t pending = 0;
    for (int64_t i = 0; i < m->n; i++) pending += m->status[i] == RMS_SCORE_PENDING;
    if (pending == 0) return;
    // the shards of the array: N as the inputs record it (check_same_run made it one N), unless a whole run is there
    int64_t count = 0;
    int whole = 0;
    for (int i = 0; i < in->n; i++) {
        if (in->v[i].meta->shard_count > 1) count = in->v[i].meta->shard_count;
        whole |= in->v[i].meta->shard_count <= 1;
    }
    int64_t explained = 0;
    if (count > 1 && !whole) {
        char *present = calloc((size_t)count, 1), *sdir = NULL, suffix[32];
        const int named = expected_name(in, &sdir, suffix);
        int64_t n_missing = 0;
        for (int i = 0; present && i < in->n; i++)
            if (in->v[i].meta->shard_index >= 0 && in->v[i].meta->shard_index < count)
                present[in->v[i].meta->shard_index] = 1;
        char names[400] = "", paths[600] = "";
        for (int64_t k = 0; present && k < count; k++) {
            if (present[k]) continue;
            if (n_missing < MERGE_LIST_MAX) {
                appendf(names, sizeof names, "%s%lld", n_missing ? ", " : "", (long long)k);
                if (named)
                    appendf(paths, sizeof paths, "%s%s/shard-%lld%s", n_missing ? ", " : "", sdir, (long long)k, suffix);
            }
            n_missing++;
            int64_t r0, r1;
            rms_shard_block(k, count, m->n, &r0, &r1);
            explained += r1 - r0;
        }
        if (n_missing > MERGE_LIST_MAX) {
            appendf(names, sizeof names, " and %lld more", (long long)(n_missing - MERGE_LIST_MAX));
            if (named) appendf(paths, sizeof paths, ", ...");
        }
        if (n_missing)
            appendf(msg, cap, "%s %s of %lld %s missing%s%s%s", n_missing == 1 ? "shard" : "shards", names,
                    (long long)count, n_missing == 1 ? "is" : "are", named ? " (expected " : "", named ? paths : "",
                    named ? ")" : "");
        free(present);
        free(sdir);
    }
    int listed = 0;
    for (int i = 0; i < in->n; i++) {
        const merge_input *x = &in->v[i];
        if (x->block_pending == 0 || x->meta->shard_count < 1) continue;
        int64_t r0, r1, still = 0;
        rms_shard_block(x->meta->shard_index, x->meta->shard_count, m->n, &r0, &r1);
        for (int64_t k = r0; k < r1; k++) still += m->status[k] == RMS_SCORE_PENDING;
        if (still == 0) continue; // another input has them
        explained += still;
        if (listed++ >= MERGE_LIST_MAX) continue;
        if (x->meta->shard_count > 1)
            appendf(msg, cap, "%sshard %lld of %lld (%s) is incomplete: %lld of its %lld rows are pending",
                    msg[0] ? "; " : "", (long long)x->meta->shard_index, (long long)x->meta->shard_count, x->path,
                    (long long)still, (long long)(r1 - r0));
        else
            appendf(msg, cap, "%s%s is incomplete: %lld of its %lld rows are pending", msg[0] ? "; " : "", x->path,
                    (long long)still, (long long)(r1 - r0));
    }
    if (listed > MERGE_LIST_MAX) appendf(msg, cap, " (and %d more incomplete files)", listed - MERGE_LIST_MAX);
    if (explained < pending)
        appendf(msg, cap, "%s%lld rows are pending in every input", msg[0] ? "; " : "", (long long)(pending - explained));
}

static rms_status write_merged(const merged *m, const char *out, const rms_scores_meta *first, rms_err *err) {
    rms_scores_meta *meta = malloc(sizeof *meta);
    if (!meta) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    *meta = *first; // the run's identity and settings; the merged file covers every row
    meta->n_rows = m->n;
    meta->adopt_identity = 0;
    if (meta->identity_recorded) {
        meta->shard_index = 0;
        meta->shard_count = 1;
    }
    rms_scores *o;
    int resumed = 0;
    rms_status st = rms_scores_open(&o, out, meta, &resumed, err);
    free(meta);
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
    // out did not exist before (rms_cmd_merge checks it under the lock): a merge that failed part-way (a full disk)
    // leaves no file that would read as a merge with rows missing
    if (st != RMS_OK) unlink(out);
    return st;
}

/* Warnings that do not stop the merge: a shard file whose name says another index; inputs without fingerprints. */
static void warn_inputs(const merge_inputs *in) {
    for (int i = 0; i < in->n; i++) {
        const merge_input *x = &in->v[i];
        if (x->name_index >= 0 && x->meta->shard_count > 1 &&
            (x->name_index != x->meta->shard_index || (x->name_count >= 0 && x->name_count != x->meta->shard_count)))
            fprintf(stderr, "rmscore: warning: merge: %s holds shard %lld/%lld, not the one its name says\n", x->path,
                    (long long)x->meta->shard_index, (long long)x->meta->shard_count);
    }
    if (in->n && !in->v[0].meta->identity_recorded)
        fprintf(stderr, "rmscore: warning: merge: the inputs record no model fingerprint (written by %s): their model "
                        "is compared by its path only, and missing shards cannot be told\n",
                in->v[0].meta->tool_version);
}

static rms_status merge_files(const merge_opts *mo, merge_inputs *in, rms_err *err) {
    rms_status st = RMS_OK;
    for (int i = 0; st == RMS_OK && i < mo->inputs.n; i++) {
        struct stat sb;
        const char *p = mo->inputs.v[i];
        st = stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) ? add_directory(in, p, err) : add_input(in, p, err);
    }
    if (st == RMS_OK) st = read_metas(in, err);
    for (int i = 1; st == RMS_OK && i < in->n; i++) st = check_same_run(&in->v[0], &in->v[i], err);
    if (st != RMS_OK) return st;
    warn_inputs(in);
    merged m;
    memset(&m, 0, sizeof m);
    const int64_t n = in->v[0].meta->n_rows;
    float *cb = malloc((size_t)(n > 0 ? n : 1) * sizeof *cb), *rb = malloc((size_t)(n > 0 ? n : 1) * sizeof *rb);
    int8_t *sb8 = malloc((size_t)(n > 0 ? n : 1));
    st = !cb || !rb || !sb8 ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : merged_init(&m, n, err);
    for (int i = 0; st == RMS_OK && i < in->n; i++) st = merge_one(&m, &in->v[i], cb, rb, sb8, err);
    free(cb);
    free(rb);
    free(sb8);
    char gaps[RMS_ERR_MSG_MAX - 200];
    if (st == RMS_OK) describe_gaps(in, &m, gaps, sizeof gaps);
    if (st == RMS_OK && gaps[0] && !mo->allow_incomplete)
        st = rms_fail(err, RMS_ERR_ARG, "merge: %s; rerun those tasks (each resumes its file) or pass --allow-incomplete "
                      "to merge what there is", gaps);
    else if (st == RMS_OK && gaps[0])
        fprintf(stderr, "rmscore: warning: merge: %s; those rows stay pending\n", gaps);
    if (st == RMS_OK) st = write_merged(&m, mo->out, in->v[0].meta, err);
    if (st == RMS_OK) {
        int64_t counts[RMS_SCORE_STATUS_MAX + 1] = {0};
        for (int64_t i = 0; i < m.n; i++)
            if (m.status[i] >= 0 && m.status[i] <= RMS_SCORE_STATUS_MAX) counts[m.status[i]]++;
        fprintf(stderr, "rmscore: merge: %d files -> %s: %lld scored, %lld skipped, %lld bad, %lld non-finite, %lld "
                        "pending\n", in->n,
                mo->out, (long long)counts[RMS_SCORE_SCORED], (long long)counts[RMS_SCORE_SKIPPED],
                (long long)counts[RMS_SCORE_BAD], (long long)counts[RMS_SCORE_NONFINITE],
                (long long)counts[RMS_SCORE_PENDING]);
    }
    free(m.chosen);
    free(m.rejected);
    free(m.status);
    free(m.from);
    return st;
}

rms_status rms_cmd_merge(int argc, char **argv, rms_err *err) {
    merge_opts mo;
    rms_status st = rms_options_parse(&RMS_CMD_MERGE, argc, argv, 2, &mo, err);
    if (st != RMS_OK) {
        rms_options_free(&RMS_CMD_MERGE, &mo);
        return st;
    }
    rms_file_lock lock; // one writer of --out: held from before the existence check until the file is complete
    rms_file_lock_init(&lock);
    struct stat sb;
    st = rms_file_lock_acquire(&lock, mo.out, "merge", err);
    if (st == RMS_OK && lock.warning[0]) fprintf(stderr, "rmscore: warning: %s\n", lock.warning);
    if (st == RMS_OK && stat(mo.out, &sb) == 0)
        st = rms_fail(err, RMS_ERR_USAGE, "merge: %s exists; choose a new --out", mo.out);
    merge_inputs in;
    memset(&in, 0, sizeof in);
    if (st == RMS_OK) st = merge_files(&mo, &in, err);
    free_inputs(&in);
    rms_file_lock_release(&lock);
    rms_options_free(&RMS_CMD_MERGE, &mo);
    return st;
}
