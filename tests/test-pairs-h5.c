#define _GNU_SOURCE /* memmem */
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "io/h5util.h"
#include "io/pairs_h5.h"
#include "tests/check.h"

static const char *dir;

static const char *file_path(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static rms_pairs_meta test_meta(void) {
    rms_pairs_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.tokenizer_sha256, sizeof m.tokenizer_sha256, "%064d", 7);
    snprintf(m.template_name, sizeof m.template_name, "tulu");
    snprintf(m.tool_version, sizeof m.tool_version, "0.1.0");
    return m;
}

/* Row i of the test files: ids of varying length (some empty), unicode text, row 3 bad. */
typedef struct test_row {
    char id[64], source[64], chosen_text[128], rejected_text[128], error[64];
    int32_t chosen[16], rejected[16];
    rms_pair_row row;
} test_row;

static void make_row(int64_t i, test_row *t) {
    const int bad = i == 3;
    const int64_t nc = bad ? 0 : (i * 7) % 13, nr = bad ? 0 : (i * 5) % 11, p = (nc < nr ? nc : nr) / 2;
    for (int64_t j = 0; j < nc; j++) t->chosen[j] = (int32_t)(i * 1000 + j);
    for (int64_t j = 0; j < nr; j++) t->rejected[j] = j < p ? t->chosen[j] : (int32_t)(i * 1000 + 500 + j);
    snprintf(t->id, sizeof t->id, "row-%lld", (long long)i);
    snprintf(t->source, sizeof t->source, i % 3 ? "wildchat ✓ 日本語" : "flan_v2");
    snprintf(t->chosen_text, sizeof t->chosen_text, "[{\"role\":\"user\",\"content\":\"héllo 🌍 %lld\"}]", (long long)i);
    snprintf(t->rejected_text, sizeof t->rejected_text, "[{\"role\":\"user\",\"content\":\"nö %lld\"}]", (long long)i);
    snprintf(t->error, sizeof t->error, "%s", bad ? "chosen: not a list of messages" : "");
    t->row = (rms_pair_row){.id = t->id, .source = t->source, .chosen_text = t->chosen_text,
                            .rejected_text = t->rejected_text, .error = bad ? t->error : NULL,
                            .chosen_ids = t->chosen, .n_chosen = nc, .rejected_ids = t->rejected, .n_rejected = nr,
                            .shared_prefix = (int32_t)p, .status = bad ? RMS_PAIR_STATUS_BAD : RMS_PAIR_STATUS_OK};
}

static rms_status write_test_file(const char *path, int64_t n) {
    rms_pairs_meta meta = test_meta();
    rms_pairs_writer *w = NULL;
    rms_err err = {{0}};
    rms_status st = rms_pairs_writer_open(&w, path, &meta, &err);
    if (st != RMS_OK) {
        fprintf(stderr, "  %s\n", err.msg);
        return st;
    }
    test_row t;
    for (int64_t i = 0; i < n && st == RMS_OK; i++) {
        make_row(i, &t);
        st = rms_pairs_writer_append(w, &t.row, &err);
    }
    rms_status st2 = rms_pairs_writer_close(w, &err);
    if (st == RMS_OK) st = st2;
    if (st != RMS_OK) fprintf(stderr, "  %s\n", err.msg);
    return st;
}

/* Checks ids of rows[0..n) read into out (from out->n == base) against make_row. */
static void check_ids(const rms_ids *out, int64_t base, const int64_t *rows, int64_t n, const int64_t *offsets) {
    test_row t;
    CHECK_EQ_INT(offsets[0], 0);
    for (int64_t i = 0; i < n; i++) {
        make_row(rows[i], &t);
        const int32_t *want[2] = {t.row.chosen_ids, t.row.rejected_ids};
        const int64_t want_n[2] = {t.row.n_chosen, t.row.n_rejected};
        for (int k = 0; k < 2; k++) {
            const int64_t lo = offsets[2 * i + k], hi = offsets[2 * i + k + 1];
            CHECK_EQ_INT(hi - lo, want_n[k]);
            if (hi - lo != want_n[k]) return;
            CHECK(want_n[k] == 0 || memcmp(out->ids + base + lo, want[k], (size_t)want_n[k] * 4) == 0);
        }
    }
    CHECK_EQ_INT(out->n, base + offsets[2 * n]);
}

static void check_strings(rms_pairs_reader *r, const char *col, int64_t row0, int64_t n) {
    rms_text text;
    rms_text_init(&text);
    int64_t *starts = malloc((size_t)n * sizeof *starts);
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_strings(r, col, row0, n, &text, starts, &err), RMS_OK);
    test_row t;
    int bad = 0;
    for (int64_t i = 0; i < n && !bad; i++) {
        make_row(row0 + i, &t);
        const char *want = !strcmp(col, "id") ? t.id
                           : !strcmp(col, "source") ? t.source
                           : !strcmp(col, "chosen_text") ? t.chosen_text
                           : !strcmp(col, "rejected_text") ? t.rejected_text
                                                           : (row0 + i == 3 ? t.error : "");
        bad = strcmp(text.data + starts[i], want) != 0;
        CHECK(!bad);
    }
    free(starts);
    rms_text_free(&text);
}

static void test_2500_rows_of_three_chunks_read_back_row_for_row(void) {
    const char *path = file_path("round-trip.h5");
    const int64_t n = 2500;
    CHECK_EQ_INT(write_test_file(path, n), RMS_OK);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    CHECK_EQ_INT(meta.n_rows, n);
    CHECK(strcmp(meta.tokenizer_sha256, test_meta().tokenizer_sha256) == 0);
    CHECK(strcmp(meta.template_name, "tulu") == 0);
    CHECK(strcmp(meta.tool_version, "0.1.0") == 0);

    int32_t *cl = malloc(n * 4), *rl = malloc(n * 4), *sp = malloc(n * 4);
    int8_t *status = malloc(n);
    CHECK_EQ_INT(rms_pairs_reader_columns(r, cl, rl, sp, status, &err), RMS_OK);
    test_row t;
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        make_row(i, &t);
        wrong += cl[i] != t.row.n_chosen || rl[i] != t.row.n_rejected || sp[i] != t.row.shared_prefix ||
                 status[i] != t.row.status;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(rms_pairs_reader_columns(r, NULL, rl, NULL, NULL, &err), RMS_OK);

    int64_t *rows = malloc(n * sizeof *rows), *offsets = malloc((2 * n + 1) * sizeof *offsets);
    for (int64_t i = 0; i < n; i++) rows[i] = i;
    rms_ids ids;
    rms_ids_init(&ids);
    CHECK_EQ_INT(rms_pairs_reader_ids(r, rows, n, &ids, offsets, &err), RMS_OK);
    check_ids(&ids, 0, rows, n, offsets);

    const char *cols[] = {"id", "source", "chosen_text", "rejected_text", "error"};
    for (int c = 0; c < 5; c++) check_strings(r, cols[c], 0, n);
    check_strings(r, "source", 1020, 30); // across a chunk boundary
    rms_ids_free(&ids);
    free(rows);
    free(offsets);
    free(cl);
    free(rl);
    free(sp);
    free(status);
    rms_pairs_reader_close(r);
}

static void test_empty_id_arrays_unicode_and_a_bad_row_with_its_error_read_back(void) {
    const char *path = file_path("small.h5");
    CHECK_EQ_INT(write_test_file(path, 5), RMS_OK);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    int8_t status[5];
    int32_t cl[5];
    CHECK_EQ_INT(rms_pairs_reader_columns(r, cl, NULL, NULL, status, &err), RMS_OK);
    CHECK_EQ_INT(cl[0], 0); // row 0 has no chosen ids
    CHECK_EQ_INT(status[3], RMS_PAIR_STATUS_BAD);
    CHECK_EQ_INT(status[2], RMS_PAIR_STATUS_OK);

    rms_text text;
    rms_text_init(&text);
    int64_t starts[5];
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "error", 0, 5, &text, starts, &err), RMS_OK);
    CHECK(strcmp(text.data + starts[3], "chosen: not a list of messages") == 0);
    CHECK(strcmp(text.data + starts[2], "") == 0);
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "chosen_text", 1, 1, &text, starts, &err), RMS_OK);
    CHECK_EQ_INT(starts[0], 0);
    CHECK(strcmp(text.data, "[{\"role\":\"user\",\"content\":\"héllo 🌍 1\"}]") == 0);
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "source", 2, 1, &text, starts, &err), RMS_OK);
    CHECK(strcmp(text.data, "wildchat ✓ 日本語") == 0);

    const int64_t rows[2] = {3, 0};
    int64_t offsets[5];
    rms_ids ids;
    rms_ids_init(&ids);
    CHECK_EQ_INT(rms_pairs_reader_ids(r, rows, 2, &ids, offsets, &err), RMS_OK);
    CHECK_EQ_INT(offsets[1], 0); // row 3: bad, both empty
    CHECK_EQ_INT(offsets[2], 0);
    CHECK_EQ_INT(offsets[3], 0); // row 0: no chosen ids
    check_ids(&ids, 0, rows, 2, offsets);
    rms_ids_free(&ids);
    rms_text_free(&text);
    rms_pairs_reader_close(r);
}

static void test_ids_of_unsorted_and_repeated_rows_come_back_in_request_order(void) {
    const char *path = file_path("unsorted.h5");
    CHECK_EQ_INT(write_test_file(path, 2100), RMS_OK);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    const int64_t rows[] = {2099, 5, 1024, 5, 1, 0, 2099, 1023, 7, 7, 7, 3};
    const int64_t n = sizeof rows / sizeof rows[0];
    int64_t offsets[2 * sizeof rows / sizeof rows[0] + 1];
    rms_ids ids;
    rms_ids_init(&ids);
    // ids already in the buffer stay; offsets are relative to them
    for (int k = 0; k < 3; k++) {
        int64_t added;
        char line[16];
        snprintf(line, sizeof line, "[%d]", 10 + k);
        CHECK_EQ_INT(rms_ids_parse_line(&ids, line, 100, &added, &err), RMS_OK);
    }
    CHECK_EQ_INT(rms_pairs_reader_ids(r, rows, n, &ids, offsets, &err), RMS_OK);
    CHECK_EQ_INT(ids.ids[0], 10);
    CHECK_EQ_INT(ids.ids[2], 12);
    check_ids(&ids, 3, rows, n, offsets);
    // a second call appends after the first
    const int64_t again[] = {1500};
    int64_t off2[3];
    const int64_t base = ids.n;
    CHECK_EQ_INT(rms_pairs_reader_ids(r, again, 1, &ids, off2, &err), RMS_OK);
    check_ids(&ids, base, again, 1, off2);
    rms_ids_free(&ids);
    rms_pairs_reader_close(r);
}

static void test_rows_outside_the_file_and_unknown_columns_are_argument_errors(void) {
    const char *path = file_path("args.h5");
    CHECK_EQ_INT(write_test_file(path, 4), RMS_OK);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    const int64_t rows[] = {1, 4};
    int64_t offsets[5], starts[4];
    rms_ids ids;
    rms_ids_init(&ids);
    CHECK_EQ_INT(rms_pairs_reader_ids(r, rows, 2, &ids, offsets, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "row 4");
    CHECK_EQ_INT(ids.n, 0);
    rms_text text;
    rms_text_init(&text);
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "chosen_ids", 0, 1, &text, starts, &err), RMS_ERR_ARG);
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "id", 3, 2, &text, starts, &err), RMS_ERR_ARG);
    CHECK_EQ_INT(rms_pairs_reader_strings(r, "id", 4, 0, &text, starts, &err), RMS_OK);
    rms_text_free(&text);
    rms_ids_free(&ids);
    rms_pairs_reader_close(r);
}

static void test_an_empty_dataset_round_trips(void) {
    const char *path = file_path("empty.h5");
    CHECK_EQ_INT(write_test_file(path, 0), RMS_OK);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    CHECK_EQ_INT(meta.n_rows, 0);
    CHECK_EQ_INT(rms_pairs_reader_columns(r, NULL, NULL, NULL, NULL, &err), RMS_OK);
    rms_pairs_reader_close(r);
}

static void test_the_writer_refuses_rows_that_break_the_layout(void) {
    const char *path = file_path("refused.h5");
    rms_pairs_meta meta = test_meta();
    rms_pairs_writer *w = NULL;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_pairs_writer_open(&w, path, &meta, &err), RMS_OK);
    if (!w) return;
    test_row t;
    make_row(1, &t);
    rms_pair_row bad = t.row;
    bad.status = RMS_PAIR_STATUS_BAD; // a bad row with ids
    CHECK_EQ_INT(rms_pairs_writer_append(w, &bad, &err), RMS_ERR_ARG);
    bad = t.row;
    bad.shared_prefix = (int32_t)t.row.n_chosen + 1;
    CHECK_EQ_INT(rms_pairs_writer_append(w, &bad, &err), RMS_ERR_ARG);
    bad = t.row;
    bad.status = 1;
    CHECK_EQ_INT(rms_pairs_writer_append(w, &bad, &err), RMS_ERR_ARG);
    CHECK_EQ_INT(rms_pairs_writer_append(w, &t.row, &err), RMS_OK);
    CHECK_EQ_INT(rms_pairs_writer_close(w, &err), RMS_OK);
    rms_pairs_reader *r = NULL;
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    CHECK_EQ_INT(meta.n_rows, 1);
    rms_pairs_reader_close(r);
}

/* --- the file layout, as other tools (h5py) see it */

static void test_datasets_are_unlimited_chunked_and_deflated_with_utf8_strings(void) {
    const char *path = file_path("layout.h5");
    CHECK_EQ_INT(write_test_file(path, 10), RMS_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    const char *names[] = {"id", "chosen_ids", "chosen_len", "status", "error"};
    for (int k = 0; k < 5; k++) {
        char p[64];
        snprintf(p, sizeof p, "/pairs/%s", names[k]);
        hid_t d = H5Dopen2(f, p, H5P_DEFAULT), dcpl = H5Dget_create_plist(d), sp = H5Dget_space(d);
        hsize_t chunk = 0, dims = 0, maxdims = 0;
        CHECK_EQ_INT(H5Pget_chunk(dcpl, 1, &chunk), 1);
        CHECK_EQ_INT(chunk, RMS_PAIRS_CHUNK_ROWS);
        H5Sget_simple_extent_dims(sp, &dims, &maxdims);
        CHECK_EQ_INT(dims, 10);
        CHECK(maxdims == H5S_UNLIMITED);
        unsigned flags, cd[8];
        size_t ncd = 8;
        int has_deflate = 0, has_shuffle = 0;
        for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
            ncd = 8;
            const H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
            has_deflate |= id == H5Z_FILTER_DEFLATE;
            has_shuffle |= id == H5Z_FILTER_SHUFFLE;
        }
        CHECK(has_deflate);
        CHECK_EQ_INT(has_shuffle, !strcmp(names[k], "chosen_len") || !strcmp(names[k], "status"));
        H5Sclose(sp);
        H5Pclose(dcpl);
        H5Dclose(d);
    }
    hid_t d = H5Dopen2(f, "/pairs/source", H5P_DEFAULT), t = H5Dget_type(d);
    CHECK(H5Tis_variable_str(t) > 0);
    CHECK_EQ_INT(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t);
    H5Dclose(d);
    hid_t g = H5Gopen2(f, "/pairs", H5P_DEFAULT), a = H5Aopen(g, "template", H5P_DEFAULT);
    t = H5Aget_type(a);
    CHECK(H5Tis_variable_str(t) > 0); // h5py reads variable-length string attributes as str
    CHECK_EQ_INT(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
}

/* --- malformed files */

/* Writes a good 3-row file at name, then lets damage() change it through the HDF5 API; returns the path. */
static const char *damaged_file(const char *name, void (*damage)(hid_t group)) {
    const char *path = file_path(name);
    CHECK_EQ_INT(write_test_file(path, 3), RMS_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), g = H5Gopen2(f, "pairs", H5P_DEFAULT);
    damage(g);
    H5Gclose(g);
    H5Fclose(f);
    return path;
}

static void delete_shared_prefix(hid_t g) { CHECK(H5Ldelete(g, "shared_prefix", H5P_DEFAULT) >= 0); }

static void shorten_chosen_len(hid_t g) {
    hid_t d = H5Dopen2(g, "chosen_len", H5P_DEFAULT);
    const hsize_t two = 2;
    CHECK(H5Dset_extent(d, &two) >= 0);
    H5Dclose(d);
}

static void delete_n_rows(hid_t g) { CHECK(H5Adelete(g, "n_rows") >= 0); }

static void lie_about_row_1_length(hid_t g) {
    hid_t d = H5Dopen2(g, "rejected_len", H5P_DEFAULT), fs = H5Dget_space(d);
    const hsize_t row = 1, one = 1;
    const int32_t value = 99;
    hid_t mem = H5Screate_simple(1, &one, NULL);
    H5Sselect_elements(fs, H5S_SELECT_SET, 1, &row);
    CHECK(H5Dwrite(d, H5T_NATIVE_INT32, mem, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(mem);
    H5Sclose(fs);
    H5Dclose(d);
}

static void replace_status_with_floats(hid_t g) {
    CHECK(H5Ldelete(g, "status", H5P_DEFAULT) >= 0);
    const hsize_t three = 3;
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t d = H5Dcreate2(g, "status", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
}

static rms_status open_fails(const char *path, rms_err *err) {
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_status st = rms_pairs_reader_open(&r, path, &meta, err);
    CHECK(r == NULL);
    rms_pairs_reader_close(r);
    return st;
}

static void test_a_missing_dataset_is_an_error_naming_the_file_and_dataset(void) {
    rms_err err = {{0}};
    const char *path = damaged_file("no-prefix.h5", delete_shared_prefix);
    CHECK_EQ_INT(open_fails(path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "no-prefix.h5");
    CHECK_CONTAINS(err.msg, "/pairs/shared_prefix: missing dataset");
}

static void test_a_dataset_of_the_wrong_length_is_an_error_naming_it(void) {
    rms_err err = {{0}};
    CHECK_EQ_INT(open_fails(damaged_file("short.h5", shorten_chosen_len), &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/pairs/chosen_len: wrong length: 2 rows, but n_rows is 3");
}

static void test_a_dataset_of_the_wrong_type_is_an_error_naming_it(void) {
    rms_err err = {{0}};
    CHECK_EQ_INT(open_fails(damaged_file("float-status.h5", replace_status_with_floats), &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/pairs/status: wrong datatype");
}

static void test_a_file_without_n_rows_is_reported_incomplete(void) {
    rms_err err = {{0}};
    CHECK_EQ_INT(open_fails(damaged_file("no-n-rows.h5", delete_n_rows), &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "missing attribute n_rows");
}

static void test_ids_that_disagree_with_their_length_column_are_a_corrupt_file(void) {
    rms_err err = {{0}};
    const char *path = damaged_file("lying-length.h5", lie_about_row_1_length);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
    if (!r) return;
    const int64_t rows[] = {2, 1};
    int64_t offsets[5];
    rms_ids ids;
    rms_ids_init(&ids);
    CHECK_EQ_INT(rms_pairs_reader_ids(r, rows, 2, &ids, offsets, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/pairs/rejected_ids: row 1 has 5 ids, but /pairs/rejected_len says 99");
    CHECK_EQ_INT(ids.n, 0);
    rms_ids_free(&ids);
    rms_pairs_reader_close(r);
}

/* Sets row `row` of the 1-D dataset `name` to value (as int64, converted to the dataset's type). */
static void set_value(hid_t g, const char *name, hsize_t row, int64_t value) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), fs = H5Dget_space(d);
    const hsize_t one = 1;
    hid_t mem = H5Screate_simple(1, &one, NULL);
    H5Sselect_elements(fs, H5S_SELECT_SET, 1, &row);
    CHECK(H5Dwrite(d, H5T_NATIVE_INT64, mem, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(mem);
    H5Sclose(fs);
    H5Dclose(d);
}

static void negative_chosen_len(hid_t g) { set_value(g, "chosen_len", 1, -5); }
static void huge_rejected_len(hid_t g) { set_value(g, "rejected_len", 2, ((int64_t)1 << 24) + 1); }
static void unknown_status(hid_t g) { set_value(g, "status", 2, 7); }
static void long_shared_prefix(hid_t g) { set_value(g, "shared_prefix", 0, 1000); }
static void negative_shared_prefix(hid_t g) { set_value(g, "shared_prefix", 1, -1); }
static void absurd_n_rows(hid_t g) { CHECK(rms_h5_write_i64_attr(g, "n_rows", (int64_t)1 << 40)); }

static void test_column_values_outside_their_bounds_are_a_corrupt_file_naming_the_row(void) {
    static const struct { const char *name; void (*damage)(hid_t); const char *msg; } cases[] = {
        {"neg-len.h5", negative_chosen_len, "row 1 has a conversation length outside [0, 2^24] (corrupt file)"},
        {"huge-len.h5", huge_rejected_len, "row 2 has a conversation length outside [0, 2^24]"},
        {"bad-status.h5", unknown_status, "row 2 has a status other than 0 (ok) or 3 (bad input)"},
        {"long-prefix.h5", long_shared_prefix, "row 0 has a shared_prefix outside [0, the shorter"},
        {"neg-prefix.h5", negative_shared_prefix, "row 1 has a shared_prefix outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rms_err err = {{0}};
        const char *path = damaged_file(cases[i].name, cases[i].damage);
        rms_pairs_reader *r = NULL;
        rms_pairs_meta meta;
        CHECK_EQ_INT(rms_pairs_reader_open(&r, path, &meta, &err), RMS_OK);
        if (!r) continue;
        int32_t lc[3], lr[3], shared[3];
        int8_t status[3];
        CHECK_EQ_INT(rms_pairs_reader_columns(r, lc, lr, shared, status, &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, cases[i].name);
        CHECK_CONTAINS(err.msg, cases[i].msg);
        rms_pairs_reader_close(r);
    }
}

static void test_n_rows_above_the_limit_is_refused_at_open(void) {
    rms_err err = {{0}};
    CHECK_EQ_INT(open_fails(damaged_file("absurd-n-rows.h5", absurd_n_rows), &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/pairs: n_rows 1099511627776 is above rmscore's limit of 4294967296 rows");
}

/* A good file whose first global heap collection (the variable-length values: ids, strings, attributes) gets an
 * object of size 0 (HDF5 1.10 would parse it forever) or one larger than the collection (it would copy past its
 * buffer): refused before HDF5 reads it. */
static void test_a_damaged_global_heap_is_refused_before_hdf5_reads_it(void) {
    for (int k = 0; k < 2; k++) {
        rms_err err = {{0}};
        const char *path = file_path(k ? "heap-big.h5" : "heap-zero.h5");
        CHECK_EQ_INT(write_test_file(path, 3), RMS_OK);
        FILE *fp = fopen(path, "r+b");
        CHECK(fp != NULL);
        if (!fp) continue;
        char buf[1 << 16];
        const size_t n = fread(buf, 1, sizeof buf, fp);
        const char *gcol = memmem(buf, n, "GCOL", 4);
        CHECK(gcol != NULL && (size_t)(gcol - buf) + 32 <= n);
        if (gcol) {
            unsigned char obj[16] = {0}; // index 0 (free space) of size 0
            if (k) memcpy(obj, "\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00", 16); // 2^44 B
            fseek(fp, (long)(gcol - buf) + 16, SEEK_SET);
            CHECK(fwrite(obj, 1, sizeof obj, fp) == sizeof obj);
        }
        fclose(fp);
        CHECK_EQ_INT(open_fails(path, &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "damaged HDF5 global heap at byte");
        CHECK_CONTAINS(err.msg, k ? "an object larger than its collection" : "an object that does not fit");
    }
}

static rms_status probe_returns(void *arg, rms_err *err) {
    return *(int *)arg ? rms_fail(err, RMS_ERR_FORMAT, "x.h5: /pairs: missing group") : RMS_OK;
}
static rms_status probe_crashes(void *arg, rms_err *err) {
    (void)arg;
    (void)err;
    raise(SIGKILL); // not SIGSEGV: a sanitizer build handles that itself and exits with its own status
    return RMS_OK;
}
static rms_status probe_exits(void *arg, rms_err *err) {
    (void)arg;
    (void)err;
    _exit(3);
}

static void test_a_probe_that_crashes_or_fails_to_exit_cleanly_marks_the_file_damaged(void) {
    rms_err err = {{0}};
    int one = 1, zero = 0;
    CHECK_EQ_INT(rms_h5_probe("f.h5", probe_returns, &zero, &err), RMS_OK);
    // an error the child's reads met comes back as it is, message and status
    CHECK_EQ_INT(rms_h5_probe("f.h5", probe_returns, &one, &err), RMS_ERR_FORMAT);
    CHECK(strcmp(err.msg, "x.h5: /pairs: missing group") == 0);
    CHECK_EQ_INT(rms_h5_probe("f.h5", probe_crashes, NULL, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "f.h5: damaged HDF5 file: reading its metadata crashed HDF5 (signal 9");
    CHECK_EQ_INT(rms_h5_probe("f.h5", probe_exits, NULL, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "(exit status 3)");
}

static void test_a_missing_file_and_a_text_file_are_clear_errors(void) {
    rms_err err = {{0}};
    CHECK_EQ_INT(open_fails(file_path("nothing-here.h5"), &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "nothing-here.h5: cannot open: No such file");
    const char *path = file_path("text.h5");
    FILE *f = fopen(path, "w");
    fputs("{\"id\": 1}\n", f);
    fclose(f);
    CHECK_EQ_INT(open_fails(path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "text.h5");
    CHECK_CONTAINS(err.msg, "not an HDF5 file");
    // an HDF5 file without /pairs
    path = file_path("other.h5");
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK_EQ_INT(open_fails(path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "/pairs: missing group");
}

int main(void) {
    dir = check_tmpdir("pairs-h5");
    RUN(test_2500_rows_of_three_chunks_read_back_row_for_row);
    RUN(test_empty_id_arrays_unicode_and_a_bad_row_with_its_error_read_back);
    RUN(test_ids_of_unsorted_and_repeated_rows_come_back_in_request_order);
    RUN(test_rows_outside_the_file_and_unknown_columns_are_argument_errors);
    RUN(test_an_empty_dataset_round_trips);
    RUN(test_the_writer_refuses_rows_that_break_the_layout);
    RUN(test_datasets_are_unlimited_chunked_and_deflated_with_utf8_strings);
    RUN(test_a_missing_dataset_is_an_error_naming_the_file_and_dataset);
    RUN(test_a_dataset_of_the_wrong_length_is_an_error_naming_it);
    RUN(test_a_dataset_of_the_wrong_type_is_an_error_naming_it);
    RUN(test_a_file_without_n_rows_is_reported_incomplete);
    RUN(test_ids_that_disagree_with_their_length_column_are_a_corrupt_file);
    RUN(test_column_values_outside_their_bounds_are_a_corrupt_file_naming_the_row);
    RUN(test_n_rows_above_the_limit_is_refused_at_open);
    RUN(test_a_damaged_global_heap_is_refused_before_hdf5_reads_it);
    RUN(test_a_probe_that_crashes_or_fails_to_exit_cleanly_marks_the_file_damaged);
    RUN(test_a_missing_file_and_a_text_file_are_clear_errors);
    return check_summary();
}
