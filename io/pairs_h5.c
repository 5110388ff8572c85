/* pairs_h5.c — the preference dataset file: group /pairs of 11 row-aligned 1-D datasets (see pairs_h5.h).
 *
 * Writer: every dataset starts empty with maxdims H5S_UNLIMITED and chunks of RMS_PAIRS_CHUNK_ROWS rows;
 * appended rows are copied into a one-chunk buffer, and each full buffer is written by extending all datasets
 * by that many rows. n_rows is written last (at close), so a file whose `prepare` was killed lacks it and the
 * reader rejects it as incomplete.
 * Note: deflate compresses the chunks, which hold the rows' fixed-size columns and, for the variable-length
 * columns, only references into HDF5's global heap: the strings and id arrays themselves are stored uncompressed.
 *
 * Reader: checks the layout once at open, then reads columns whole, ids of chosen rows by a point selection, or
 * strings of a row range by a hyperslab. HDF5's own error printing is silenced inside every function here; the
 * innermost HDF5 error text goes into the rms_err message instead, beside the file and dataset names.
 */
#include "io/pairs_h5.h"

#include "io/h5util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ the layout */

typedef enum col_kind { COL_STR, COL_IDS, COL_I32, COL_I8 } col_kind;

enum {
    C_ID,
    C_SOURCE,
    C_CHOSEN_IDS,
    C_REJECTED_IDS,
    C_CHOSEN_LEN,
    C_REJECTED_LEN,
    C_SHARED_PREFIX,
    C_CHOSEN_TEXT,
    C_REJECTED_TEXT,
    C_STATUS,
    C_ERROR,
    N_COLS
};

static const struct {
    const char *name; // dataset name in /pairs
    const char *path; // for messages
    col_kind kind;
} COLS[N_COLS] = {
    [C_ID] = {"id", "/pairs/id", COL_STR},
    [C_SOURCE] = {"source", "/pairs/source", COL_STR},
    [C_CHOSEN_IDS] = {"chosen_ids", "/pairs/chosen_ids", COL_IDS},
    [C_REJECTED_IDS] = {"rejected_ids", "/pairs/rejected_ids", COL_IDS},
    [C_CHOSEN_LEN] = {"chosen_len", "/pairs/chosen_len", COL_I32},
    [C_REJECTED_LEN] = {"rejected_len", "/pairs/rejected_len", COL_I32},
    [C_SHARED_PREFIX] = {"shared_prefix", "/pairs/shared_prefix", COL_I32},
    [C_CHOSEN_TEXT] = {"chosen_text", "/pairs/chosen_text", COL_STR},
    [C_REJECTED_TEXT] = {"rejected_text", "/pairs/rejected_text", COL_STR},
    [C_STATUS] = {"status", "/pairs/status", COL_I8},
    [C_ERROR] = {"error", "/pairs/error", COL_STR},
};

static size_t kind_elem_size(col_kind k) {
    switch (k) {
    case COL_STR: return sizeof(char *);
    case COL_IDS: return sizeof(hvl_t);
    case COL_I32: return sizeof(int32_t);
    case COL_I8: return sizeof(int8_t);
    }
    return 0;
}

static char *dup_str(const char *s) {
    if (!s) s = "";
    const size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------ writer */

struct rms_pairs_writer {
    char *path;
    hid_t file, group;
    hid_t ds[N_COLS];
    hid_t t_str;                   // variable-length UTF-8 string (file and memory)
    hid_t t_ids_mem, t_ids_file;   // vlen of native int32 / of int32 little-endian
    void *buf[N_COLS];             // (RMS_PAIRS_CHUNK_ROWS) elements of each column: char*, hvl_t, int32, int8
    int n_buf;                     // rows buffered
    int64_t n_written;             // rows in the file
    int failed;                    // a write failed: close only cleans up
    char format[16];               // the rows' format, written at close (prepare knows it after the first row)
};

static hid_t writer_mem_type(const rms_pairs_writer *w, col_kind k) {
    switch (k) {
    case COL_STR: return w->t_str;
    case COL_IDS: return w->t_ids_mem;
    case COL_I32: return H5T_NATIVE_INT32;
    case COL_I8: return H5T_NATIVE_INT8;
    }
    return H5I_INVALID_HID;
}

static hid_t writer_file_type(const rms_pairs_writer *w, col_kind k) {
    switch (k) {
    case COL_STR: return w->t_str;
    case COL_IDS: return w->t_ids_file;
    case COL_I32: return H5T_STD_I32LE;
    case COL_I8: return H5T_STD_I8LE;
    }
    return H5I_INVALID_HID;
}

/* Frees the copies held by buffered rows [0, n_buf). */
static void writer_free_rows(rms_pairs_writer *w) {
    for (int c = 0; c < N_COLS; c++) {
        for (int i = 0; i < w->n_buf; i++) {
            if (COLS[c].kind == COL_STR) {
                char **s = w->buf[c];
                free(s[i]);
                s[i] = NULL;
            } else if (COLS[c].kind == COL_IDS) {
                hvl_t *v = w->buf[c];
                free(v[i].p);
                v[i].p = NULL;
                v[i].len = 0;
            }
        }
    }
    w->n_buf = 0;
}

static void writer_free(rms_pairs_writer *w) {
    if (!w) return;
    writer_free_rows(w);
    for (int c = 0; c < N_COLS; c++) {
        rms_h5_close_id(&w->ds[c], H5Dclose);
        free(w->buf[c]);
    }
    rms_h5_close_id(&w->group, H5Gclose);
    rms_h5_close_id(&w->file, H5Fclose);
    rms_h5_close_id(&w->t_str, H5Tclose);
    rms_h5_close_id(&w->t_ids_mem, H5Tclose);
    rms_h5_close_id(&w->t_ids_file, H5Tclose);
    free(w->path);
    free(w);
}

/* Writes the buffered rows at the end of every dataset (extending it) and frees their copies. */
static rms_status writer_flush_rows(rms_pairs_writer *w, rms_err *err) {
    if (w->n_buf == 0) return RMS_OK;
    const hsize_t start = (hsize_t)w->n_written, count = (hsize_t)w->n_buf, new_size = start + count;
    hid_t mem = H5Screate_simple(1, &count, NULL);
    rms_status st = RMS_OK;
    if (mem < 0) st = rms_h5_fail(err, RMS_ERR_IO, w->path, "/pairs", "cannot create a dataspace");
    for (int c = 0; c < N_COLS && st == RMS_OK; c++) {
        hid_t fs = H5I_INVALID_HID;
        if (H5Dset_extent(w->ds[c], &new_size) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot extend the dataset");
        else if ((fs = H5Dget_space(w->ds[c])) < 0 ||
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot select rows");
        else if (H5Dwrite(w->ds[c], writer_mem_type(w, COLS[c].kind), mem, fs, H5P_DEFAULT, w->buf[c]) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot write rows");
        rms_h5_close_id(&fs, H5Sclose);
    }
    rms_h5_close_id(&mem, H5Sclose);
    if (st == RMS_OK) w->n_written += w->n_buf;
    else w->failed = 1;
    writer_free_rows(w);
    return st;
}

static rms_status writer_create_dataset(rms_pairs_writer *w, int c, rms_err *err) {
    const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = RMS_PAIRS_CHUNK_ROWS;
    hid_t sp = H5Screate_simple(1, &zero, &unlimited), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    rms_status st = RMS_OK;
    const int fixed = COLS[c].kind == COL_I32 || COLS[c].kind == COL_I8;
    if (sp < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 || (fixed && H5Pset_shuffle(dcpl) < 0) ||
        H5Pset_deflate(dcpl, 4) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot set up the dataset's layout");
    else if ((w->ds[c] = H5Dcreate2(w->group, COLS[c].name, writer_file_type(w, COLS[c].kind), sp, H5P_DEFAULT,
                                    dcpl, H5P_DEFAULT)) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot create the dataset");
    rms_h5_close_id(&dcpl, H5Pclose);
    rms_h5_close_id(&sp, H5Sclose);
    return st;
}

static rms_status writer_open(rms_pairs_writer *w, const char *path, const rms_pairs_meta *meta, rms_err *err) {
    w->t_str = rms_h5_utf8_str_type();
    w->t_ids_mem = H5Tvlen_create(H5T_NATIVE_INT32);
    w->t_ids_file = H5Tvlen_create(H5T_STD_I32LE);
    if (w->t_str < 0 || w->t_ids_mem < 0 || w->t_ids_file < 0)
        return rms_h5_fail(err, RMS_ERR_IO, path, "/pairs", "cannot create the HDF5 types");
    for (int c = 0; c < N_COLS; c++)
        if (!(w->buf[c] = calloc(RMS_PAIRS_CHUNK_ROWS, kind_elem_size(COLS[c].kind))))
            return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for the row buffer", path);
    if ((w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_IO, path, NULL, "cannot create");
    if ((w->group = H5Gcreate2(w->file, "pairs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_IO, path, "/pairs", "cannot create the group");
    for (int c = 0; c < N_COLS; c++) {
        rms_status st = writer_create_dataset(w, c, err);
        if (st != RMS_OK) return st;
    }
    if (!rms_h5_write_str_attr(w->group, "tokenizer_sha256", meta->tokenizer_sha256) ||
        !rms_h5_write_str_attr(w->group, "template", meta->template_name) ||
        !rms_h5_write_str_attr(w->group, "template_sha256", meta->template_sha256) ||
        !rms_h5_write_str_attr(w->group, "tokenization", meta->tokenization) ||
        !rms_h5_write_str_attr(w->group, "tool_version", meta->tool_version))
        return rms_h5_fail(err, RMS_ERR_IO, path, "/pairs", "cannot write the attributes");
    return RMS_OK;
}

rms_status rms_pairs_writer_open(rms_pairs_writer **out, const char *path, const rms_pairs_meta *meta, rms_err *err) {
    *out = NULL;
    if (strnlen(meta->tokenizer_sha256, sizeof meta->tokenizer_sha256) == sizeof meta->tokenizer_sha256 ||
        strnlen(meta->template_name, sizeof meta->template_name) == sizeof meta->template_name ||
        strnlen(meta->template_sha256, sizeof meta->template_sha256) == sizeof meta->template_sha256 ||
        strnlen(meta->format, sizeof meta->format) == sizeof meta->format ||
        strnlen(meta->tokenization, sizeof meta->tokenization) == sizeof meta->tokenization ||
        strnlen(meta->tool_version, sizeof meta->tool_version) == sizeof meta->tool_version)
        return rms_fail(err, RMS_ERR_ARG, "%s: pairs metadata strings are not NUL-terminated", path);
    rms_pairs_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = dup_str(path))) {
        free(w);
        return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    }
    w->file = w->group = w->t_str = w->t_ids_mem = w->t_ids_file = H5I_INVALID_HID;
    for (int c = 0; c < N_COLS; c++) w->ds[c] = H5I_INVALID_HID;
    snprintf(w->format, sizeof w->format, "%s", meta->format);
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = writer_open(w, path, meta, err);
    if (st != RMS_OK)
        writer_free(w);
    else
        *out = w;
    rms_h5_quiet_end(&q);
    return st;
}

rms_status rms_pairs_writer_append(rms_pairs_writer *w, const rms_pair_row *row, rms_err *err) {
    if (w->failed) return rms_fail(err, RMS_ERR_IO, "%s: cannot append: an earlier write failed", w->path);
    const int64_t row_no = w->n_written + w->n_buf;
    if (row->status != RMS_PAIR_STATUS_OK && row->status != RMS_PAIR_STATUS_BAD)
        return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: status %d is neither ok (0) nor bad (3)", w->path,
                        (long long)row_no, row->status);
    if (row->n_chosen < 0 || row->n_chosen > INT32_MAX || row->n_rejected < 0 || row->n_rejected > INT32_MAX ||
        (row->n_chosen && !row->chosen_ids) || (row->n_rejected && !row->rejected_ids))
        return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: bad id arrays (%lld chosen, %lld rejected ids)", w->path,
                        (long long)row_no, (long long)row->n_chosen, (long long)row->n_rejected);
    if (row->status == RMS_PAIR_STATUS_BAD && (row->n_chosen || row->n_rejected))
        return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: a bad row must have empty id arrays", w->path,
                        (long long)row_no);
    if (row->shared_prefix < 0 || row->shared_prefix > row->n_chosen || row->shared_prefix > row->n_rejected)
        return rms_fail(err, RMS_ERR_ARG, "%s: row %lld: shared_prefix %d exceeds the id arrays", w->path,
                        (long long)row_no, row->shared_prefix);

    const int i = w->n_buf;
    const char *strs[N_COLS] = {[C_ID] = row->id, [C_SOURCE] = row->source, [C_CHOSEN_TEXT] = row->chosen_text,
                                [C_REJECTED_TEXT] = row->rejected_text, [C_ERROR] = row->error};
    const int32_t *ids[N_COLS] = {[C_CHOSEN_IDS] = row->chosen_ids, [C_REJECTED_IDS] = row->rejected_ids};
    const int64_t n_ids[N_COLS] = {[C_CHOSEN_IDS] = row->n_chosen, [C_REJECTED_IDS] = row->n_rejected};
    int ok = 1;
    for (int c = 0; c < N_COLS; c++) {
        if (COLS[c].kind == COL_STR) {
            char **s = w->buf[c];
            ok &= (s[i] = dup_str(strs[c])) != NULL;
        } else if (COLS[c].kind == COL_IDS) {
            hvl_t *v = w->buf[c];
            v[i].len = (size_t)n_ids[c];
            v[i].p = NULL;
            if (n_ids[c]) {
                v[i].p = malloc((size_t)n_ids[c] * sizeof(int32_t));
                if (v[i].p) memcpy(v[i].p, ids[c], (size_t)n_ids[c] * sizeof(int32_t));
                ok &= v[i].p != NULL;
            }
        }
    }
    ((int32_t *)w->buf[C_CHOSEN_LEN])[i] = (int32_t)row->n_chosen;
    ((int32_t *)w->buf[C_REJECTED_LEN])[i] = (int32_t)row->n_rejected;
    ((int32_t *)w->buf[C_SHARED_PREFIX])[i] = row->shared_prefix;
    ((int8_t *)w->buf[C_STATUS])[i] = row->status;
    w->n_buf++;
    if (!ok) { // drop this row's partial copies
        for (int c = 0; c < N_COLS; c++) {
            if (COLS[c].kind == COL_STR) {
                char **s = w->buf[c];
                free(s[i]);
                s[i] = NULL;
            } else if (COLS[c].kind == COL_IDS) {
                hvl_t *v = w->buf[c];
                free(v[i].p);
                v[i].p = NULL;
                v[i].len = 0;
            }
        }
        w->n_buf--;
        return rms_fail(err, RMS_ERR_NOMEM, "%s: row %lld: out of memory", w->path, (long long)row_no);
    }
    if (w->n_buf < RMS_PAIRS_CHUNK_ROWS) return RMS_OK;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = writer_flush_rows(w, err);
    rms_h5_quiet_end(&q);
    return st;
}

rms_status rms_pairs_writer_close(rms_pairs_writer *w, rms_err *err) {
    if (!w) return RMS_OK;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = RMS_OK;
    if (w->failed) {
        st = rms_fail(err, RMS_ERR_IO, "%s: incomplete: an earlier write failed", w->path);
    } else {
        st = writer_flush_rows(w, err);
        if (st == RMS_OK && !rms_h5_write_str_attr(w->group, "format", w->format))
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, "/pairs", "cannot write attribute format");
        if (st == RMS_OK && !rms_h5_write_i64_attr(w->group, "n_rows", w->n_written))
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, "/pairs", "cannot write attribute n_rows");
    }
    for (int c = 0; c < N_COLS; c++)
        if (w->ds[c] >= 0 && H5Dclose(w->ds[c]) < 0 && st == RMS_OK)
            st = rms_h5_fail(err, RMS_ERR_IO, w->path, COLS[c].path, "cannot close the dataset");
    for (int c = 0; c < N_COLS; c++) w->ds[c] = H5I_INVALID_HID;
    if (w->group >= 0 && H5Gclose(w->group) < 0 && st == RMS_OK)
        st = rms_h5_fail(err, RMS_ERR_IO, w->path, "/pairs", "cannot close the group");
    w->group = H5I_INVALID_HID;
    if (w->file >= 0 && H5Fclose(w->file) < 0 && st == RMS_OK)
        st = rms_h5_fail(err, RMS_ERR_IO, w->path, NULL, "cannot close");
    w->file = H5I_INVALID_HID;
    writer_free(w);
    rms_h5_quiet_end(&q);
    return st;
}

void rms_pairs_writer_set_format(rms_pairs_writer *w, const char *format) {
    snprintf(w->format, sizeof w->format, "%s", format);
}

/* ------------------------------------------------------------------ reader */

struct rms_pairs_reader {
    char *path;
    hid_t file, group;
    hid_t ds[N_COLS];
    hid_t t_mem[N_COLS]; // memory type of each column (for strings: the dataset's own, keeping its character set)
    int64_t n;           // rows
};

static void reader_free(rms_pairs_reader *r) {
    if (!r) return;
    for (int c = 0; c < N_COLS; c++) {
        rms_h5_close_id(&r->ds[c], H5Dclose);
        if (COLS[c].kind == COL_STR || COLS[c].kind == COL_IDS) rms_h5_close_id(&r->t_mem[c], H5Tclose);
    }
    rms_h5_close_id(&r->group, H5Gclose);
    rms_h5_close_id(&r->file, H5Fclose);
    free(r->path);
    free(r);
}

/* An integer type that converts to a signed integer of `size` bytes without loss. */
static int int_type_fits(hid_t t, size_t size) {
    if (H5Tget_class(t) != H5T_INTEGER) return 0;
    const size_t ts = H5Tget_size(t);
    return ts < size || (ts == size && H5Tget_sign(t) == H5T_SGN_2);
}

/* Opens column c, checks its type and shape, and sets its length into *len. */
static rms_status reader_open_column(rms_pairs_reader *r, int c, int64_t *len, rms_err *err) {
    const char *path = r->path, *dname = COLS[c].path;
    const htri_t exists = H5Lexists(r->group, COLS[c].name, H5P_DEFAULT);
    if (exists < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot look up the dataset");
    if (exists == 0) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: missing dataset", path, dname);
    if ((r->ds[c] = H5Dopen2(r->group, COLS[c].name, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot open the dataset");
    hid_t sp = H5Dget_space(r->ds[c]);
    hsize_t dims = 0;
    const int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (rank == 1) H5Sget_simple_extent_dims(sp, &dims, NULL);
    rms_h5_close_id(&sp, H5Sclose);
    if (rank != 1) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: not a 1-D dataset", path, dname);
    *len = (int64_t)dims;

    hid_t t = H5Dget_type(r->ds[c]);
    if (t < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot read the datatype");
    int ok = 0;
    const char *want = "";
    switch (COLS[c].kind) {
    case COL_STR:
        want = "variable-length strings";
        ok = H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0;
        if (ok) {
            r->t_mem[c] = t; // a type from H5Dget_type is a valid memory type
            t = H5I_INVALID_HID;
        }
        break;
    case COL_IDS: {
        want = "variable-length int32 arrays";
        if (H5Tget_class(t) == H5T_VLEN) {
            hid_t base = H5Tget_super(t);
            ok = base >= 0 && int_type_fits(base, 4);
            rms_h5_close_id(&base, H5Tclose);
        }
        if (ok && (r->t_mem[c] = H5Tvlen_create(H5T_NATIVE_INT32)) < 0) {
            rms_h5_close_id(&t, H5Tclose);
            return rms_h5_fail(err, RMS_ERR_FORMAT, path, dname, "cannot create the memory type");
        }
        break;
    }
    case COL_I32:
        want = "int32";
        ok = int_type_fits(t, 4);
        r->t_mem[c] = H5T_NATIVE_INT32;
        break;
    case COL_I8:
        want = "int8";
        ok = int_type_fits(t, 1);
        r->t_mem[c] = H5T_NATIVE_INT8;
        break;
    }
    rms_h5_close_id(&t, H5Tclose);
    if (!ok) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: wrong datatype (expected %s)", path, dname, want);
    return RMS_OK;
}

static rms_status reader_open(rms_pairs_reader *r, rms_pairs_meta *meta, rms_err *err) {
    const char *path = r->path;
    struct stat sb;
    if (stat(path, &sb) != 0) return rms_fail(err, RMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if ((r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_FORMAT, path, NULL,
                           "cannot open as HDF5 (not an HDF5 file, locked by a writer, or damaged)");
    const htri_t has_group = H5Lexists(r->file, "pairs", H5P_DEFAULT);
    if (has_group <= 0)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /pairs: missing group (not a pairs file from `rmscore prepare`)",
                        path);
    if ((r->group = H5Gopen2(r->file, "pairs", H5P_DEFAULT)) < 0)
        return rms_h5_fail(err, RMS_ERR_FORMAT, path, "/pairs", "cannot open the group");
    int64_t len[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        rms_status st = reader_open_column(r, c, &len[c], err);
        if (st != RMS_OK) return st;
    }
    rms_status st;
    if (H5Aexists(r->group, "n_rows") == 0)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /pairs: missing attribute n_rows (incomplete file: was `prepare` "
                        "interrupted?)", path);
    if ((st = rms_h5_read_i64_attr(r->group, "/pairs", "n_rows", &meta->n_rows, path, err)) != RMS_OK ||
        (st = rms_h5_read_str_attr(r->group, "/pairs", "tokenizer_sha256", meta->tokenizer_sha256,
                                   sizeof meta->tokenizer_sha256, path, err)) != RMS_OK ||
        (st = rms_h5_read_str_attr(r->group, "/pairs", "template", meta->template_name, sizeof meta->template_name,
                                   path, err)) != RMS_OK ||
        (st = rms_h5_read_str_attr(r->group, "/pairs", "tool_version", meta->tool_version, sizeof meta->tool_version,
                                   path, err)) != RMS_OK ||
        (st = rms_h5_read_str_attr_or(r->group, "/pairs", "template_sha256", "", meta->template_sha256,
                                      sizeof meta->template_sha256, path, err)) != RMS_OK ||
        (st = rms_h5_read_str_attr_or(r->group, "/pairs", "format", "tulu", meta->format, sizeof meta->format, path,
                                      err)) != RMS_OK ||
        (st = rms_h5_read_str_attr_or(r->group, "/pairs", "tokenization", "chat-template", meta->tokenization,
                                      sizeof meta->tokenization, path, err)) != RMS_OK)
        return st;
    if (meta->n_rows < 0)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /pairs: negative n_rows %lld", path, (long long)meta->n_rows);
    if (meta->n_rows > RMS_PAIRS_MAX_ROWS)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: /pairs: n_rows %lld is above rmscore's limit of %lld rows", path,
                        (long long)meta->n_rows, (long long)RMS_PAIRS_MAX_ROWS);
    for (int c = 0; c < N_COLS; c++)
        if (len[c] != meta->n_rows)
            return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: wrong length: %lld rows, but n_rows is %lld", path,
                            COLS[c].path, (long long)len[c], (long long)meta->n_rows);
    r->n = meta->n_rows;
    return RMS_OK;
}

static rms_status pairs_open_direct(rms_pairs_reader **out, const char *path, rms_pairs_meta *meta, rms_err *err) {
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    rms_pairs_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = dup_str(path))) {
        free(r);
        return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    }
    r->file = r->group = H5I_INVALID_HID;
    for (int c = 0; c < N_COLS; c++) r->ds[c] = r->t_mem[c] = H5I_INVALID_HID;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = reader_open(r, meta, err);
    if (st != RMS_OK) {
        reader_free(r);
        memset(meta, 0, sizeof *meta);
    } else {
        *out = r;
    }
    rms_h5_quiet_end(&q);
    return st;
}

/* rms_h5_probe's child: the open and the fixed-size columns, as score reads them; the open's status (what the
 * columns hold is rms_pairs_reader_columns' to judge: they are read here only for HDF5 to crash on, if it does). */
static rms_status pairs_probe(void *arg, rms_err *err) {
    const char *path = arg;
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_status st = pairs_open_direct(&r, path, &meta, err);
    if (st != RMS_OK) return st;
    const size_t n = (size_t)(r->n > 0 ? r->n : 1);
    int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    int8_t *d = malloc(n);
    rms_err ignored;
    if (a && b && c && d) (void)rms_pairs_reader_columns(r, a, b, c, d, &ignored);
    free(a);
    free(b);
    free(c);
    free(d);
    rms_pairs_reader_close(r);
    return RMS_OK;
}

rms_status rms_pairs_reader_open(rms_pairs_reader **out, const char *path, rms_pairs_meta *meta, rms_err *err) {
    *out = NULL;
    memset(meta, 0, sizeof *meta);
    // HDF5 1.10 crashes or hangs on some damaged files instead of failing: a damaged global heap is found by
    // looking at it, a damaged object header by letting a child process read the file first (h5util.h)
    rms_status st = rms_h5_check_heaps(path, err);
    if (st == RMS_OK) st = rms_h5_probe(path, pairs_probe, (void *)path, err);
    return st == RMS_OK ? pairs_open_direct(out, path, meta, err) : st;
}

void rms_pairs_reader_close(rms_pairs_reader *r) {
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    reader_free(r);
    rms_h5_quiet_end(&q);
}

rms_status rms_pairs_reader_columns(rms_pairs_reader *r, int32_t *chosen_len, int32_t *rejected_len,
                                    int32_t *shared_prefix, int8_t *status, rms_err *err) {
    if (r->n == 0) return RMS_OK;
    const struct {
        int c;
        void *buf;
    } reads[] = {{C_CHOSEN_LEN, chosen_len}, {C_REJECTED_LEN, rejected_len}, {C_SHARED_PREFIX, shared_prefix},
                 {C_STATUS, status}};
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_status st = RMS_OK;
    for (size_t k = 0; k < sizeof reads / sizeof reads[0] && st == RMS_OK; k++)
        if (reads[k].buf && H5Dread(r->ds[reads[k].c], r->t_mem[reads[k].c], H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                    reads[k].buf) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, r->path, COLS[reads[k].c].path, "cannot read");
    rms_h5_quiet_end(&q);
    for (int64_t i = 0; i < r->n && st == RMS_OK; i++) {
        const int64_t lc = chosen_len ? chosen_len[i] : 0, lr = rejected_len ? rejected_len[i] : 0;
        const char *what = NULL;
        if (lc < 0 || lc > RMS_PAIRS_MAX_IDS || lr < 0 || lr > RMS_PAIRS_MAX_IDS)
            what = "a conversation length outside [0, 2^24]";
        else if (status && status[i] != RMS_PAIR_STATUS_OK && status[i] != RMS_PAIR_STATUS_BAD)
            what = "a status other than 0 (ok) or 3 (bad input)";
        else if (shared_prefix && (shared_prefix[i] < 0 ||
                                   (chosen_len && rejected_len && shared_prefix[i] > (lc < lr ? lc : lr))))
            what = "a shared_prefix outside [0, the shorter conversation's length]";
        if (what)
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: /pairs: row %lld has %s (corrupt file)", r->path, (long long)i, what);
    }
    return st;
}

typedef struct row_ref {
    int64_t row, i; // requested row, its position in the request
} row_ref;

static int cmp_row_ref(const void *a, const void *b) {
    const row_ref *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The point-selection reads of rms_pairs_reader_ids: lengths and ids of the m distinct rows coords (sorted). The
 * id arrays HDF5 allocates are recorded in arena (the caller frees them all, also after a failed read). */
static rms_status ids_read_points(rms_pairs_reader *r, const hsize_t *coords, size_t m, int32_t *len[2],
                                  hvl_t *vl[2], rms_h5_vlen_arena *arena, rms_err *err) {
    const hsize_t count = m;
    hid_t mem = H5Screate_simple(1, &count, NULL), fs = H5Dget_space(r->ds[C_CHOSEN_LEN]);
    rms_status st = RMS_OK;
    // every column has the same extent, so one file selection serves all four reads
    if (mem < 0 || fs < 0 || H5Sselect_elements(fs, H5S_SELECT_SET, m, coords) < 0)
        st = rms_h5_fail(err, RMS_ERR_IO, r->path, "/pairs", "cannot select rows");
    const int len_cols[2] = {C_CHOSEN_LEN, C_REJECTED_LEN}, ids_cols[2] = {C_CHOSEN_IDS, C_REJECTED_IDS};
    for (int k = 0; k < 2 && st == RMS_OK; k++) {
        if (H5Dread(r->ds[len_cols[k]], H5T_NATIVE_INT32, mem, fs, H5P_DEFAULT, len[k]) < 0) {
            st = rms_h5_fail(err, RMS_ERR_IO, r->path, COLS[len_cols[k]].path, "cannot read rows");
            break;
        }
        if (H5Dread(r->ds[ids_cols[k]], r->t_mem[ids_cols[k]], mem, fs, arena->dxpl, vl[k]) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, r->path, COLS[ids_cols[k]].path, "cannot read rows");
    }
    rms_h5_close_id(&fs, H5Sclose);
    rms_h5_close_id(&mem, H5Sclose);
    return st;
}

rms_status rms_pairs_reader_ids(rms_pairs_reader *r, const int64_t *rows, int64_t n, rms_ids *out, int64_t *offsets,
                                rms_err *err) {
    offsets[0] = 0;
    if (n <= 0) return n == 0 ? RMS_OK : rms_fail(err, RMS_ERR_ARG, "%s: negative row count", r->path);
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= r->n)
            return rms_fail(err, RMS_ERR_ARG, "%s: row %lld is outside the dataset's %lld rows", r->path,
                            (long long)rows[i], (long long)r->n);

    // Distinct rows in file order: HDF5 then visits each chunk once, and no row is read twice.
    row_ref *refs = malloc((size_t)n * sizeof *refs);   // (n) requests sorted by row
    int64_t *slot = malloc((size_t)n * sizeof *slot);   // (n) position of rows[i] among the distinct rows
    hsize_t *coords = malloc((size_t)n * sizeof *coords); // (m) distinct rows, ascending
    int32_t *len[2] = {malloc((size_t)n * sizeof(int32_t)), malloc((size_t)n * sizeof(int32_t))}; // (m)
    hvl_t *vl[2] = {calloc((size_t)n, sizeof(hvl_t)), calloc((size_t)n, sizeof(hvl_t))};         // (m)
    size_t m = 0;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_h5_vlen_arena arena; // the id arrays HDF5 allocates into vl, freed all at the end
    rms_status st = rms_h5_vlen_init(&arena, r->path, err);
    if (st != RMS_OK) {
    } else if (!refs || !slot || !coords || !len[0] || !len[1] || !vl[0] || !vl[1]) {
        st = rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for reading %lld rows", r->path, (long long)n);
    } else {
        for (int64_t i = 0; i < n; i++) refs[i] = (row_ref){rows[i], i};
        qsort(refs, (size_t)n, sizeof *refs, cmp_row_ref);
        for (int64_t k = 0; k < n; k++) {
            if (m == 0 || (int64_t)coords[m - 1] != refs[k].row) coords[m++] = (hsize_t)refs[k].row;
            slot[refs[k].i] = (int64_t)m - 1;
        }
        st = ids_read_points(r, coords, m, len, vl, &arena, err);
    }
    for (size_t j = 0; j < m && st == RMS_OK; j++) {
        for (int k = 0; k < 2; k++) {
            if (len[k][j] < 0 || (size_t)len[k][j] != vl[k][j].len) {
                st = rms_fail(err, RMS_ERR_FORMAT, "%s: %s: row %lld has %zu ids, but %s says %d (corrupt file)",
                              r->path, COLS[k ? C_REJECTED_IDS : C_CHOSEN_IDS].path, (long long)coords[j],
                              vl[k][j].len, COLS[k ? C_REJECTED_LEN : C_CHOSEN_LEN].path, len[k][j]);
                break;
            }
        }
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n && st == RMS_OK; i++) total += (int64_t)len[0][slot[i]] + len[1][slot[i]];
    if (st == RMS_OK && rms_ids_reserve(out, out->n + total) != 0)
        st = rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for %lld token ids", r->path, (long long)total);
    if (st == RMS_OK) {
        int64_t at = 0;
        for (int64_t i = 0; i < n; i++) {
            for (int k = 0; k < 2; k++) {
                const hvl_t *v = &vl[k][slot[i]];
                if (v->len) memcpy(out->ids + out->n + at, v->p, v->len * sizeof(int32_t));
                at += (int64_t)v->len;
                offsets[2 * i + k + 1] = at;
            }
        }
        out->n += at;
    }
    rms_h5_vlen_free(&arena);
    rms_h5_quiet_end(&q);
    free(vl[0]);
    free(vl[1]);
    free(len[0]);
    free(len[1]);
    free(coords);
    free(slot);
    free(refs);
    return st;
}

static int string_column(const char *name) {
    for (int c = 0; c < N_COLS; c++)
        if (COLS[c].kind == COL_STR && strcmp(COLS[c].name, name) == 0) return c;
    return -1;
}

rms_status rms_pairs_reader_strings(rms_pairs_reader *r, const char *name, int64_t row0, int64_t n, rms_text *out,
                                    int64_t *starts, rms_err *err) {
    const int c = string_column(name);
    if (c < 0) return rms_fail(err, RMS_ERR_ARG, "%s: /pairs/%s: not a string column", r->path, name);
    if (row0 < 0 || n < 0 || row0 > r->n || n > r->n - row0)
        return rms_fail(err, RMS_ERR_ARG, "%s: %s: rows [%lld, %lld) are outside the dataset's %lld rows", r->path,
                        COLS[c].path, (long long)row0, (long long)(row0 + n), (long long)r->n);
    rms_text_clear(out);
    if (!out->data) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", r->path);
    if (n == 0) return RMS_OK;
    char **s = calloc((size_t)n, sizeof *s); // (n) HDF5-allocated strings (in arena)
    if (!s) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for %lld strings", r->path, (long long)n);
    const hsize_t start = (hsize_t)row0, count = (hsize_t)n;
    rms_h5_quiet q;
    rms_h5_quiet_begin(&q);
    rms_h5_vlen_arena arena; // every string HDF5 allocates, freed at the end (also after a failed read)
    rms_status st = rms_h5_vlen_init(&arena, r->path, err);
    hid_t mem = H5Screate_simple(1, &count, NULL), fs = H5Dget_space(r->ds[c]);
    if (st != RMS_OK) {
    } else if (mem < 0 || fs < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0) {
        st = rms_h5_fail(err, RMS_ERR_IO, r->path, COLS[c].path, "cannot select rows");
    } else {
        if (H5Dread(r->ds[c], r->t_mem[c], mem, fs, arena.dxpl, s) < 0)
            st = rms_h5_fail(err, RMS_ERR_IO, r->path, COLS[c].path, "cannot read rows");
    }
    for (int64_t i = 0; i < n && st == RMS_OK; i++) {
        starts[i] = (int64_t)out->len;
        const char *v = s[i] ? s[i] : ""; // an unwritten element reads as NULL
        if (rms_text_append(out, v, strlen(v) + 1) != 0) // with its NUL
            st = rms_fail(err, RMS_ERR_NOMEM, "%s: %s: out of memory", r->path, COLS[c].path);
    }
    rms_h5_vlen_free(&arena);
    rms_h5_close_id(&fs, H5Sclose);
    rms_h5_close_id(&mem, H5Sclose);
    rms_h5_quiet_end(&q);
    free(s);
    return st;
}
