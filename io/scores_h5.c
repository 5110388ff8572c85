/* scores_h5.c — the results file: group /scores with chosen, rejected (float32) and status (int8), N rows
 * aligned with /pairs (see scores_h5.h).
 *
 * Creation: the three datasets have a fixed size N and chunks of RMS_SCORES_CHUNK_ROWS rows, uncompressed (no
 * filters), with every chunk allocated when the dataset is created and filled there with the fill values NaN /
 * NaN / 0 (pending): creating a file for N rows writes 9 N bytes (45 MB for 5 million rows) plus the chunk index.
 * The file is built under "<path>.partial" and renamed into place once complete and flushed: `path` exists only
 * as a whole, openable file.
 *
 * Crash safety (HDF5 1.10, no SWMR). Every chunk has its final address and size from creation on, so writing
 * rows changes raw data only: the chunk index, the object headers, the superblock's end-of-file and the free
 * space never change after creation (tests/test-scores-h5.c checks that a write changes only bytes inside the
 * chunks). rms_scores_write_rows writes the two score columns, H5Fflush-es, then writes the status column and
 * H5Fflush-es again; a row's status never reaches the disk before its scores. So a process killed (SIGKILL, OOM
 * killer, job time limit) at any moment of a call leaves a file that opens, with every row of every returned
 * call; rows of the interrupted call may have their scores (or some of their statuses) on disk, and those
 * still pending are scored again on resume. Residual risks:
 *   - resuming rewrites the run attributes that changed (model and pairs_file paths, stages, replicas,
 *     config_sha256, tool_version; the identity, once, when a file without it is adopted), a metadata change:
 *     a kill inside rms_scores_open's resume can damage the /scores header (the error then says to move the file
 *     away). Resuming an unchanged run rewrites none. Opening for writing also sets, and closing clears, the
 *     superblock's file-consistency flag (one in-place byte), which HDF5 1.10 ignores when it opens a version-0
 *     superblock: a killed job's file still reopens;
 *   - H5Fflush hands the data to the OS but does not fsync: an OS crash or power loss can lose recent calls;
 *   - the default (earliest) file format is kept on purpose: superblock v3 (libver latest) marks files open for
 *     writing and refuses to reopen them after a crash until `h5clear -s` is run.
 *
 * HDF5's own error printing is silenced inside every function here; the innermost HDF5 error text goes into
 * the rms_err message instead, beside the file and dataset names.
 */
#include "io/scores_h5.h"

#include "io/fingerprint.h"
#include "io/h5util.h"
#include "io/pairs_h5.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the layout */

enum { S_CHOSEN, S_REJECTED, S_STATUS, N_SCOLS };

static const struct {
    const char *name, *path;
} SCOLS[N_SCOLS] = {
    [S_CHOSEN] = {"chosen", "/scores/chosen"},
    [S_REJECTED] = {"rejected", "/scores/rejected"},
    [S_STATUS] = {"status", "/scores/status"},
};

struct rms_scores {
    char *path;
    hid_t file, group;
    hid_t ds[N_SCOLS];
    int64_t n;    // rows
    int writable; // opened by rms_scores_open
};

static hid_t scol_mem_type(int c) { return c == S_STATUS ? H5T_NATIVE_INT8 : H5T_NATIVE_FLOAT; }

static rms_scores *scores_new(const char *path) {
    rms_scores *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    const size_t n = strlen(path) + 1;
    if (!(s->path = malloc(n))) {
        free(s);
        return NULL;
    }
    memcpy(s->path, path, n);
    s->file = s->group = H5I_INVALID_HID;
    for (int c = 0; c < N_SCOLS; c++) s->ds[c] = H5I_INVALID_HID;
    return s;
}

/* Closes every handle; the first failure (if any) becomes the status. Frees s. */
static rms_status scores_free(rms_scores *s, rms_status st, rms_err *err) {
    if (!s) return st;
    for (int c = 0; c < N_SCOLS; c++)
        if (s->ds[c] >= 0 && H5Dclose(s->ds[c]) < 0 && st == RMS_OK)
            st = rms_h5_fail(err, RMS_ERR_IO, s->path, SCOLS[c].path, "cannot close the dataset");
    if (s->group >= 0 && H5Gclose(s->group) < 0 && st == RMS_OK)
        st = rms_h5_fail(err, RMS_ERR_IO, s->path, "/scores", "cannot close the group");
    if (s->file >= 0 && H5Fclose(s->file) < 0 && st == RMS_OK)
        st = rms_h5_fail(err, RMS_ERR_IO, s->path, NULL, "cannot close");
    free(s->path);
    free(s);
    return st;
}

static int meta_strings_terminated(const rms_scores_meta *m) {
#define TERMINATED(f) (strnlen(m->f, sizeof m->f) < sizeof m->f)
    return TERMINATED(model) && TERMINATED(model_fingerprint) && TERMINATED(model_files) && TERMINATED(pairs_file) &&
           TERMINATED(pairs_tokenizer_sha256) && TERMINATED(pairs_template) && TERMINATED(pairs_template_sha256) &&
           TERMINATED(pairs_tokenization) && TERMINATED(config_sha256) && TERMINATED(compute) &&
           TERMINATED(overlong) && TERMINATED(pooling) && TERMINATED(tool_version);
#undef TERMINATED
}

/* 1 if attribute `name` of /scores holds str (or, when str is NULL, the integer i64); 0 if it differs or cannot be
 * read. */
static int scores_attr_equals(const rms_scores *s, const char *name, const char *str, int64_t i64) {
    rms_err ignored;
    if (str) {
        char have[sizeof((rms_scores_meta *)0)->model];
        return rms_h5_read_str_attr(s->group, "/scores", name, have, sizeof have, s->path, &ignored) == RMS_OK &&
               strcmp(have, str) == 0;
    }
    int64_t have;
    return rms_h5_read_i64_attr(s->group, "/scores", name, &have, s->path, &ignored) == RMS_OK && have == i64;
}

/* Writes the run attributes a resumed run may change (the model and pairs_file paths, stages, replicas,
 * config_sha256, tool_version); with only_changed, only those whose stored value differs, so that resuming the
 * same run changes no metadata. Everything else must match instead (scores_resume). */
static rms_status scores_write_mutable_attrs(rms_scores *s, const rms_scores_meta *m, int only_changed,
                                             rms_err *err) {
    const struct {
        const char *name, *str; // str NULL: an int64 attribute of value i64
        int64_t i64;
    } attrs[] = {
        {"model", m->model, 0},           {"pairs_file", m->pairs_file, 0},     {"config_sha256", m->config_sha256, 0},
        {"stages", NULL, m->stages},      {"replicas", NULL, m->replicas},      {"tool_version", m->tool_version, 0},
    };
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++) {
        if (only_changed && scores_attr_equals(s, attrs[k].name, attrs[k].str, attrs[k].i64)) continue;
        if (!(attrs[k].str ? rms_h5_write_str_attr(s->group, attrs[k].name, attrs[k].str)
                           : rms_h5_write_i64_attr(s->group, attrs[k].name, attrs[k].i64)))
            return rms_h5_fail(err, RMS_ERR_IO, s->path, "/scores", "cannot write the run attributes");
    }
    return RMS_OK;
}

/* Writes the identity: model_fingerprint, model_files, pairs_template, pairs_template_sha256, pairs_tokenization,
 * shard_index, shard_count (at creation, or once when an older file is adopted). */
static rms_status scores_write_identity(rms_scores *s, const char *shown_path, const rms_scores_meta *m,
                                        rms_err *err) {
    if (!rms_h5_write_str_attr(s->group, "model_fingerprint", m->model_fingerprint) ||
        !rms_h5_write_str_attr(s->group, "model_files", m->model_files) ||
        !rms_h5_write_str_attr(s->group, "pairs_template", m->pairs_template) ||
        !rms_h5_write_str_attr(s->group, "pairs_template_sha256", m->pairs_template_sha256) ||
        !rms_h5_write_str_attr(s->group, "pairs_tokenization", m->pairs_tokenization) ||
        !rms_h5_write_i64_attr(s->group, "shard_index", m->shard_index) ||
        !rms_h5_write_i64_attr(s->group, "shard_count", m->shard_count))
        return rms_h5_fail(err, RMS_ERR_IO, shown_path, "/scores", "cannot write the identity attributes");
    return RMS_OK;
}

static int scores_has_attr(const rms_scores *s, const char *name) { return H5Aexists(s->group, name) > 0; }

#define POOLING_BEFORE_IT_WAS_RECORDED "last-token"


static const char NEW_OUT[] = "a scores file holds the results of one run: for other settings choose a new --out";

/* The string attribute name of /scores (dflt when absent, if dflt is not NULL) must equal want. */
static rms_status scores_expect_str(rms_scores *s, const char *name, const char *dflt, const char *want,
                                    rms_status on_mismatch, const char *hint, rms_err *err) {
    char have[RMS_SCORES_MODEL_FILES_MAX];
    rms_status st = dflt ? rms_h5_read_str_attr_or(s->group, "/scores", name, dflt, have, sizeof have, s->path, err)
                         : rms_h5_read_str_attr(s->group, "/scores", name, have, sizeof have, s->path, err);
    if (st != RMS_OK) return st;
    if (strcmp(have, want) == 0) return RMS_OK;
    return rms_fail(err, on_mismatch, "%s: cannot resume: its %s is '%s' but this run's is '%s' (%s)", s->path, name,
                    have, want, hint);
}

/* The same settings: compute, overlong, pooling, max_tokens (recorded by every version). */
static rms_status scores_check_settings(rms_scores *s, const rms_scores_meta *m, rms_err *err) {
    const struct {
        const char *name, *want, *dflt;
    } strs[] = {{"compute", m->compute, NULL},
                {"overlong", m->overlong, NULL},
                {"pooling", m->pooling, POOLING_BEFORE_IT_WAS_RECORDED}};
    rms_status st;
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if ((st = scores_expect_str(s, strs[k].name, strs[k].dflt, strs[k].want, RMS_ERR_ARG, NEW_OUT, err)) != RMS_OK)
            return st;
    int64_t max_tokens;
    if ((st = rms_h5_read_i64_attr(s->group, "/scores", "max_tokens", &max_tokens, s->path, err)) != RMS_OK)
        return st;
    if (max_tokens != m->max_tokens)
        return rms_fail(err, RMS_ERR_ARG, "%s: cannot resume: its max_tokens is %lld but this run's is %lld (%s)",
                        s->path, (long long)max_tokens, (long long)m->max_tokens, NEW_OUT);
    return RMS_OK;
}

/* The identity of a file that records it: the dataset's template and tokenization, the model's fingerprint (the
 * files that differ named), the shard. */
static rms_status scores_check_identity(rms_scores *s, const rms_scores_meta *m, rms_err *err) {
    static const char other_data[] = "scores of another dataset? prepare it again as before, or choose a new --out";
    rms_status st;
    if ((st = scores_expect_str(s, "pairs_template_sha256", NULL, m->pairs_template_sha256, RMS_ERR_FORMAT,
                                other_data, err)) != RMS_OK ||
        (st = scores_expect_str(s, "pairs_tokenization", NULL, m->pairs_tokenization, RMS_ERR_FORMAT, other_data,
                                err)) != RMS_OK)
        return st;
    char fp[65], path[sizeof m->model];
    if ((st = rms_h5_read_str_attr(s->group, "/scores", "model_fingerprint", fp, sizeof fp, s->path, err)) != RMS_OK)
        return st;
    if (strcmp(fp, m->model_fingerprint) != 0) {
        char *files = malloc(RMS_SCORES_MODEL_FILES_MAX), diff[400];
        rms_err ignored; // the manifest and the path only make the message clearer
        diff[0] = '\0';
        if (files && rms_h5_read_str_attr(s->group, "/scores", "model_files", files, RMS_SCORES_MODEL_FILES_MAX,
                                          s->path, &ignored) == RMS_OK)
            rms_fingerprint_manifest_diff(files, m->model_files, diff, sizeof diff);
        free(files);
        if (rms_h5_read_str_attr(s->group, "/scores", "model", path, sizeof path, s->path, &ignored) != RMS_OK)
            snprintf(path, sizeof path, "?");
        return rms_fail(err, RMS_ERR_ARG,
                        "%s: cannot resume: it was scored by another model: its model_fingerprint is %.16s... (model "
                        "%s then) but %s has %.16s...%s%s (%s)",
                        s->path, fp, path, m->model, m->model_fingerprint, diff[0] ? ": " : "", diff, NEW_OUT);
    }
    int64_t index = -1, count = -1;
    if ((st = rms_h5_read_i64_attr(s->group, "/scores", "shard_index", &index, s->path, err)) != RMS_OK ||
        (st = rms_h5_read_i64_attr(s->group, "/scores", "shard_count", &count, s->path, err)) != RMS_OK)
        return st;
    if (index != m->shard_index || count != m->shard_count)
        return rms_fail(err, RMS_ERR_ARG,
                        "%s: cannot resume: it holds shard %lld/%lld but this run scores shard %lld/%lld (the shard "
                        "file of another task? each --shard I/N has its own --out)",
                        s->path, (long long)index, (long long)count, (long long)m->shard_index,
                        (long long)m->shard_count);
    return RMS_OK;
}

/* A file written before the identity was recorded: refused unless m->adopt_identity; then its model path must
 * name this run's model directory (the path as recorded, or where it leads from here). */
static rms_status scores_check_unrecorded(rms_scores *s, const rms_scores_meta *m, rms_err *err) {
    char tool[64] = "", model[sizeof m->model], resolved[PATH_MAX];
    rms_err ignored;
    if (rms_h5_read_str_attr(s->group, "/scores", "tool_version", tool, sizeof tool, s->path, &ignored) != RMS_OK)
        snprintf(tool, sizeof tool, "an older rmscore");
    if (!m->adopt_identity)
        return rms_fail(err, RMS_ERR_ARG,
                        "%s: cannot resume: it was written by %s, which did not record the model's fingerprint, so "
                        "nothing ties its rows to the checkpoint in %s; to resume it anyway, trusting that this is "
                        "the checkpoint that scored them, add --allow-unverified-resume (its other settings must "
                        "still agree), or choose a new --out",
                        s->path, tool, m->model);
    rms_status st = rms_h5_read_str_attr(s->group, "/scores", "model", model, sizeof model, s->path, err);
    if (st != RMS_OK) return st;
    const int same = strcmp(model, m->model) == 0 || (realpath(model, resolved) && strcmp(resolved, m->model) == 0);
    if (!same)
        return rms_fail(err, RMS_ERR_ARG,
                        "%s: cannot resume: its model is '%s' but this run's is '%s' (it records no model fingerprint, "
                        "so its model path is all there is to compare; %s)",
                        s->path, model, m->model, NEW_OUT);
    return RMS_OK;
}

static rms_status scores_flush(rms_scores *s, rms_err *err) {
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) return rms_h5_fail(err, RMS_ERR_IO, s->path, NULL, "cannot flush");
    return RMS_OK;
}

/* Creates dataset c of s->n rows: chunked, unfiltered, every chunk allocated and filled at creation. */
static rms_status scores_create_dataset(rms_scores *s, const char *shown_path, int c, rms_err *err) {
    const hsize_t n = (hsize_t)s->n, chunk = n < RMS_SCORES_CHUNK_ROWS ? n : RMS_SCORES_CHUNK_ROWS;
    const float nan_fill = NAN;
    const int8_t pending = RMS_SCORE_PENDING;
    hid_t sp = H5Screate_simple(1, &n, &n), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    rms_status st = RMS_OK;
    // chunk dimensions must be > 0: an empty file keeps the contiguous layout. No filters: a chunk's size and
    // address never change, so writes touch no metadata.
    if (sp < 0 || dcpl < 0 || (n > 0 && H5Pset_chunk(dcpl, 1, &chunk) < 0) ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_value(dcpl, scol_mem_type(c), c == S_STATUS ? (const void *)&pending : (const void *)&nan_fill) <
            0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, shown_path, SCOLS[c].path, "cannot set up the dataset's layout");
    else if ((s->ds[c] = H5Dcreate2(s->group, SCOLS[c].name, c == S_STATUS ? H5T_STD_I8LE : H5T_IEEE_F32LE, sp,
                                    H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, shown_path, SCOLS[c].path, "cannot create the dataset");
    rms_h5_close_id(&dcpl, H5Pclose);
    rms_h5_close_id(&sp, H5Sclose);
    return st;
}

/* Builds the whole file under tmp_path, flushes it and renames it to s->path. */
static rms_status scores_create(rms_scores *s, const char *tmp_path, const rms_scores_meta *m, rms_err *err) {
    rms_status st = RMS_OK;
    if ((s->file = H5Fcreate(tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_IO, tmp_path, NULL, "cannot create");
    if ((s->group = H5Gcreate2(s->file, "scores", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_IO, tmp_path, "/scores", "cannot create the group");
    for (int c = 0; c < N_SCOLS && st == RMS_OK; c++) st = scores_create_dataset(s, tmp_path, c, err);
    if (st != RMS_OK) return st;
    if (!rms_h5_write_i64_attr(s->group, "n_rows", m->n_rows) ||
        !rms_h5_write_str_attr(s->group, "pairs_tokenizer_sha256", m->pairs_tokenizer_sha256) ||
        !rms_h5_write_str_attr(s->group, "model", m->model) ||
        !rms_h5_write_str_attr(s->group, "compute", m->compute) ||
        !rms_h5_write_str_attr(s->group, "overlong", m->overlong) ||
        !rms_h5_write_str_attr(s->group, "pooling", m->pooling) ||
        !rms_h5_write_i64_attr(s->group, "max_tokens", m->max_tokens))
        return rms_h5_fail(err, RMS_ERR_IO, tmp_path, "/scores", "cannot write the attributes");
    if (m->model_fingerprint[0] && (st = scores_write_identity(s, tmp_path, m, err)) != RMS_OK) return st;
    if ((st = scores_write_mutable_attrs(s, m, 0, err)) != RMS_OK) return st;
    // a file whose flush failed (a full disk, a file-size limit) is never renamed into place
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) return rms_h5_fail(err, RMS_ERR_IO, tmp_path, NULL, "cannot flush");
    if (rename(tmp_path, s->path) != 0)
        return rms_fail(err, RMS_ERR_IO, "%s: cannot rename %s into place: %s", s->path, tmp_path, strerror(errno));
    return RMS_OK;
}

/* Checks an existing file's layout: /scores with three 1-D datasets of n_rows rows and the right types;
 * reads n_rows into s->n. */
static rms_status scores_check_layout(rms_scores *s, rms_err *err) {
    const char *path = s->path;
    const htri_t has_group = H5Lexists(s->file, "scores", H5P_DEFAULT);
    if (has_group <= 0)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /scores: missing group (not a scores file from `rmscore score`)",
                        path);
    if ((s->group = H5Gopen2(s->file, "scores", H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_FORMAT, path, "/scores", "cannot open the group");
    rms_status st = rms_h5_read_i64_attr(s->group, "/scores", "n_rows", &s->n, path, err);
    if (st != RMS_OK) return st;
    if (s->n < 0) return rms_fail(err, RMS_ERR_FORMAT, "%s: /scores: negative n_rows %lld", path, (long long)s->n);
    if (s->n > RMS_PAIRS_MAX_ROWS)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /scores: n_rows %lld is above rmscore's limit of %lld rows", path,
                        (long long)s->n, (long long)RMS_PAIRS_MAX_ROWS);
    for (int c = 0; c < N_SCOLS; c++) {
        const char *dname = SCOLS[c].path;
        const htri_t exists = H5Lexists(s->group, SCOLS[c].name, H5P_DEFAULT);
        if (exists < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot look up the dataset");
        if (exists == 0) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: missing dataset", path, dname);
        if ((s->ds[c] = H5Dopen2(s->group, SCOLS[c].name, H5P_DEFAULT)) < 0)
            return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot open the dataset");
        hid_t sp = H5Dget_space(s->ds[c]), t = H5Dget_type(s->ds[c]);
        hsize_t dims = 0;
        const int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (rank == 1) H5Sget_simple_extent_dims(sp, &dims, NULL);
        const H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
        const size_t size = t >= 0 ? H5Tget_size(t) : 0;
        const int type_ok = c == S_STATUS ? cls == H5T_INTEGER && size == 1 : cls == H5T_FLOAT && size == 4;
        rms_h5_close_id(&t, H5Tclose);
        rms_h5_close_id(&sp, H5Sclose);
        if (rank != 1) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: not a 1-D dataset", path, dname);
        if (!type_ok)
            return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: wrong datatype (expected %s)", path, dname,
                            c == S_STATUS ? "int8" : "float32");
        if ((int64_t)dims != s->n)
            return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: wrong length: %lld rows, but n_rows is %lld", path, dname,
                            (long long)dims, (long long)s->n);
    }
    return RMS_OK;
}

static rms_status scores_check_before_hdf5(const char *path, int for_resume, rms_err *err);

static rms_status scores_resume(rms_scores *s, const rms_scores_meta *m, rms_err *err) {
    const char *path = s->path;
    rms_status hst = scores_check_before_hdf5(path, 1, err);
    if (hst != RMS_OK) return hst;
    if ((s->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_FORMAT, path, NULL,
                           "cannot reopen to resume (not an HDF5 file, in use by another job, or damaged by a crash "
                           "during a write: then move it away to start over)");
    rms_status st = scores_check_layout(s, err);
    if (st != RMS_OK) return st;
    char sha[sizeof m->pairs_tokenizer_sha256];
    st = rms_h5_read_str_attr(s->group, "/scores", "pairs_tokenizer_sha256", sha, sizeof sha, path, err);
    if (st != RMS_OK) return st;
    if (s->n != m->n_rows)
        return rms_fail(err, RMS_ERR_FORMAT,
                        "%s: cannot resume: it has %lld rows but the pairs file has %lld (scores of another dataset?)",
                        path, (long long)s->n, (long long)m->n_rows);
    if (strcmp(sha, m->pairs_tokenizer_sha256) != 0)
        return rms_fail(err, RMS_ERR_FORMAT,
                        "%s: cannot resume: its pairs_tokenizer_sha256 is '%s' but the pairs file's is '%s' "
                        "(scores of another dataset or tokenizer?)",
                        path, sha, m->pairs_tokenizer_sha256);
    // what it records must agree; the identity, when it records it, too (else only an explicit adoption resumes)
    const int recorded = scores_has_attr(s, "model_fingerprint");
    if ((st = scores_check_settings(s, m, err)) != RMS_OK ||
        (st = recorded ? scores_check_identity(s, m, err) : scores_check_unrecorded(s, m, err)) != RMS_OK)
        return st;
    if (!recorded && m->model_fingerprint[0] && (st = scores_write_identity(s, path, m, err)) != RMS_OK) return st;
    if ((st = scores_write_mutable_attrs(s, m, 1, err)) != RMS_OK) return st;
    return scores_flush(s, err);
}

rms_status rms_scores_open(rms_scores **out, const char *path, const rms_scores_meta *meta, int *resumed,
                           rms_err *err) {
    *out = NULL;
    *resumed = 0;
    if (!meta_strings_terminated(meta))
        return rms_fail(err, RMS_ERR_ARG, "%s: scores metadata strings are not NUL-terminated", path);
    if (meta->n_rows < 0)
        return rms_fail(err, RMS_ERR_ARG, "%s: negative row count %lld", path, (long long)meta->n_rows);
    struct stat sb;
    const int exists = stat(path, &sb) == 0;
    if (!exists && errno != ENOENT) return rms_fail(err, RMS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    rms_scores *s = scores_new(path);
    char *tmp_path = exists ? NULL : malloc(strlen(path) + sizeof ".partial");
    if (!s || (!exists && !tmp_path)) {
        free(tmp_path);
        scores_free(s, RMS_OK, NULL);
        return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    }
    s->writable = 1;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st;
    if (exists) {
        st = scores_resume(s, meta, err);
    } else {
        strcpy(tmp_path, path);
        strcat(tmp_path, ".partial");
        s->n = meta->n_rows;
        st = scores_create(s, tmp_path, meta, err);
    }
    if (st != RMS_OK) {
        scores_free(s, st, err);
        if (tmp_path) unlink(tmp_path);
    } else {
        *resumed = exists;
        *out = s;
    }
    rms_h5_quiet_end(&q);
    free(tmp_path);
    return st;
}

static rms_status scores_open_read_direct(rms_scores **out, const char *path, rms_scores_meta *meta, rms_err *err) {
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    struct stat sb;
    if (stat(path, &sb) != 0) return rms_fail(err, RMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rms_scores *s = scores_new(path);
    if (!s) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = RMS_OK;
    hid_t g;
    if ((s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        st = rms_h5_fail(err, RMS_ERR_FORMAT, path, NULL,
                         "cannot open as HDF5 (not an HDF5 file, locked by a writer, or damaged)");
    if (st == RMS_OK) st = scores_check_layout(s, err);
    g = s->group;
#define READ_STR(f) rms_h5_read_str_attr(g, "/scores", #f, meta->f, sizeof meta->f, path, err)
#define READ_STR_OR(f, dflt) rms_h5_read_str_attr_or(g, "/scores", #f, dflt, meta->f, sizeof meta->f, path, err)
#define READ_I64(f) rms_h5_read_i64_attr(g, "/scores", #f, &meta->f, path, err)
    if (st == RMS_OK) st = READ_STR(model);
    if (st == RMS_OK) st = READ_STR(pairs_file);
    if (st == RMS_OK) st = READ_STR(pairs_tokenizer_sha256);
    if (st == RMS_OK) st = READ_STR(config_sha256);
    if (st == RMS_OK) st = READ_STR(compute);
    if (st == RMS_OK) st = READ_STR(overlong);
    if (st == RMS_OK) st = READ_STR_OR(pooling, POOLING_BEFORE_IT_WAS_RECORDED);
    if (st == RMS_OK) st = READ_I64(max_tokens);
    if (st == RMS_OK) st = READ_I64(stages);
    if (st == RMS_OK) st = READ_I64(replicas);
    if (st == RMS_OK) st = READ_STR(tool_version);
    // the identity: absent from files written before it was recorded
    if (st == RMS_OK && (meta->identity_recorded = scores_has_attr(s, "model_fingerprint"))) {
        st = READ_STR(model_fingerprint);
        if (st == RMS_OK) st = READ_STR(model_files);
        if (st == RMS_OK) st = READ_STR(pairs_template);
        if (st == RMS_OK) st = READ_STR(pairs_template_sha256);
        if (st == RMS_OK) st = READ_STR(pairs_tokenization);
        if (st == RMS_OK) st = READ_I64(shard_index);
        if (st == RMS_OK) st = READ_I64(shard_count);
    }
#undef READ_STR
#undef READ_STR_OR
#undef READ_I64
    meta->n_rows = s->n;
    if (st != RMS_OK) {
        scores_free(s, st, err);
        memset(meta, 0, sizeof *meta);
    } else {
        *out = s;
    }
    rms_h5_quiet_end(&q);
    return st;
}

/* rms_h5_probe's child: the read-only open (layout, attributes) and every column; the open's status (the columns
 * are read only for HDF5 to crash on, if it does: what they hold is rms_scores_read's to judge). */
static rms_status scores_probe(void *arg, rms_err *err) {
    rms_scores *s = NULL;
    rms_scores_meta *meta = malloc(sizeof *meta); // large (the model manifest)
    if (!meta) return RMS_OK; // no verdict
    rms_status st = scores_open_read_direct(&s, arg, meta, err);
    free(meta);
    if (st != RMS_OK) return st;
    const size_t n = (size_t)(s->n > 0 ? s->n : 1);
    float *c = malloc(n * sizeof *c), *r = malloc(n * sizeof *r);
    int8_t *status = malloc(n);
    rms_err ignored;
    if (c && r && status) (void)rms_scores_read(s, c, r, status, &ignored);
    free(c);
    free(r);
    free(status);
    rms_scores_close(s, &ignored);
    return RMS_OK;
}

/* For a resume (opened for writing, with messages of its own): crashes only. */
static rms_status scores_probe_crash_only(void *arg, rms_err *err) {
    (void)scores_probe(arg, err);
    return RMS_OK;
}

/* HDF5 1.10 crashes or hangs on some damaged files instead of failing: a damaged global heap is found by looking at
 * it, a damaged object header by letting a child process read the file first (h5util.h). for_resume: only a crash
 * counts (the resume's own open reports anything else in its words). */
static rms_status scores_check_before_hdf5(const char *path, int for_resume, rms_err *err) {
    rms_status st = rms_h5_check_heaps(path, err);
    if (st != RMS_OK) return st;
    return rms_h5_probe(path, for_resume ? scores_probe_crash_only : scores_probe, (void *)path, err);
}

rms_status rms_scores_open_read(rms_scores **out, const char *path, rms_scores_meta *meta, rms_err *err) {
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    rms_status st = scores_check_before_hdf5(path, 0, err);
    return st == RMS_OK ? scores_open_read_direct(out, path, meta, err) : st;
}

rms_status rms_scores_read(rms_scores *s, float *chosen, float *rejected, int8_t *status, rms_err *err) {
    if (s->n == 0) return RMS_OK;
    void *bufs[N_SCOLS] = {[S_CHOSEN] = chosen, [S_REJECTED] = rejected, [S_STATUS] = status};
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = RMS_OK;
    for (int c = 0; c < N_SCOLS && st == RMS_OK; c++)
        if (bufs[c] && H5Dread(s->ds[c], scol_mem_type(c), H5S_ALL, H5S_ALL, H5P_DEFAULT, bufs[c]) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, s->path, SCOLS[c].path, "cannot read");
    rms_h5_quiet_end(&q);
    for (int64_t i = 0; status && st == RMS_OK && i < s->n; i++)
        if (status[i] < RMS_SCORE_PENDING || status[i] > RMS_SCORE_STATUS_MAX)
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: /scores/status: row %lld has status %d, not one of 0..%d (corrupt "
                          "file)", s->path, (long long)i, status[i], RMS_SCORE_STATUS_MAX);
    return st;
}

static int cmp_hsize(const void *a, const void *b) {
    const hsize_t x = *(const hsize_t *)a, y = *(const hsize_t *)b;
    return x < y ? -1 : x > y;
}

/* Writes columns [c0, c1) of the selected rows, then flushes the file. */
static rms_status scores_write_cols(rms_scores *s, int c0, int c1, hid_t mem, hid_t fs, const void *const *bufs,
                                    rms_err *err) {
    for (int c = c0; c < c1; c++)
        if (H5Dwrite(s->ds[c], scol_mem_type(c), mem, fs, H5P_DEFAULT, bufs[c]) < 0)
            return rms_h5_fail(err, RMS_ERR_IO, s->path, SCOLS[c].path, "cannot write rows");
    return scores_flush(s, err);
}

rms_status rms_scores_write_rows(rms_scores *s, const int64_t *rows, int64_t n, const float *chosen,
                                 const float *rejected, const int8_t *status, rms_err *err) {
    if (!s->writable) return rms_fail(err, RMS_ERR_ARG, "%s: opened read-only", s->path);
    if (n < 0 || (n > 0 && (!rows || !chosen || !rejected || !status)))
        return rms_fail(err, RMS_ERR_ARG, "%s: bad arguments to write rows", s->path);
    if (n == 0) return RMS_OK;
    for (int64_t i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= s->n)
            return rms_fail(err, RMS_ERR_ARG, "%s: row %lld is outside the file's %lld rows", s->path,
                            (long long)rows[i], (long long)s->n);
        if (status[i] < RMS_SCORE_PENDING || status[i] > RMS_SCORE_STATUS_MAX)
            return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: status %d is not 0-%d", s->path, (long long)rows[i],
                            status[i], RMS_SCORE_STATUS_MAX);
        if (status[i] == RMS_SCORE_SCORED && !(isfinite(chosen[i]) && isfinite(rejected[i])))
            return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: a non-finite score (%g, %g) cannot be status scored (1)",
                            s->path, (long long)rows[i], (double)chosen[i], (double)rejected[i]);
    }
    hsize_t *coords = malloc((size_t)n * 2 * sizeof *coords); // (2n): rows as given, then sorted
    if (!coords) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for %lld rows", s->path, (long long)n);
    for (int64_t i = 0; i < n; i++) coords[i] = coords[n + i] = (hsize_t)rows[i];
    qsort(coords + n, (size_t)n, sizeof *coords, cmp_hsize);
    for (int64_t i = 1; i < n; i++) {
        if (coords[n + i] == coords[n + i - 1]) {
            const long long dup = (long long)coords[n + i];
            free(coords);
            return rms_fail(err, RMS_ERR_ARG, "%s: row %lld is written twice in one call", s->path, dup);
        }
    }
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    const hsize_t count = (hsize_t)n;
    const void *const bufs[N_SCOLS] = {[S_CHOSEN] = chosen, [S_REJECTED] = rejected, [S_STATUS] = status};
    hid_t mem = H5Screate_simple(1, &count, NULL), fs = H5Dget_space(s->ds[S_CHOSEN]);
    rms_status st = RMS_OK;
    // the three datasets have one extent, so one point selection serves all three writes
    if (mem < 0 || fs < 0 || H5Sselect_elements(fs, H5S_SELECT_SET, (size_t)n, coords) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, s->path, "/scores", "cannot select rows");
    // scores first and flushed, then the statuses: a status on disk always has its scores on disk
    if (st == RMS_OK) st = scores_write_cols(s, S_CHOSEN, S_STATUS, mem, fs, bufs, err);
    if (st == RMS_OK) st = scores_write_cols(s, S_STATUS, N_SCOLS, mem, fs, bufs, err);
    rms_h5_close_id(&fs, H5Sclose);
    rms_h5_close_id(&mem, H5Sclose);
    rms_h5_quiet_end(&q);
    free(coords);
    return st;
}

rms_status rms_scores_close(rms_scores *s, rms_err *err) {
    if (!s) return RMS_OK;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = RMS_OK;
    if (s->writable && s->file >= 0) st = scores_flush(s, err);
    st = scores_free(s, st, err);
    rms_h5_quiet_end(&q);
    return st;
}
