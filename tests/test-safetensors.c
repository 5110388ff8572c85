#include <stdint.h>

#include "io/safetensors.h"
#include "tests/check.h"

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

/* ---------------------------------------------------------------- helpers */

/* A scratch directory for one test: $RMS_TEST_TMPDIR/safetensors-<test>. */
static void scratch(char *dir, size_t cap, const char *test) {
    char name[256];
    snprintf(name, sizeof name, "safetensors-%s", test);
    snprintf(dir, cap, "%s", check_tmpdir(name));
}

static void join(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(bytes, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

/* A safetensors file byte by byte: the 8-byte little-endian `header_len` (which may lie), the
 * header text, then `data_len` bytes of data (zeros if data is NULL). */
static void write_st_raw(const char *path, uint64_t header_len, const char *header, const void *data,
                         size_t data_len) {
    size_t hlen = strlen(header);
    uint8_t *buf = calloc(8 + hlen + data_len + 1, 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (data) memcpy(buf + 8 + hlen, data, data_len);
    write_bytes(path, buf, 8 + hlen + data_len);
    free(buf);
}

/* A well-formed frame around `header` (its true length) and zeroed data. */
static void write_st(const char *path, const char *header, size_t data_len) {
    write_st_raw(path, strlen(header), header, NULL, data_len);
}

/* Opens DIR/NAME written from `header` + data_len bytes; returns the status, fills err. */
static rms_status open_header(const char *test, const char *name, const char *header,
                              size_t data_len, rms_err *err) {
    char dir[4096], path[4400];
    st_file f;
    scratch(dir, sizeof dir, test);
    join(path, sizeof path, dir, name);
    write_st(path, header, data_len);
    err->msg[0] = '\0';
    rms_status st = st_file_open(&f, path, err);
    if (st == RMS_OK) st_file_close(&f);
    CHECK(f.fd == -1 && f.map == NULL && f.tensors == NULL);
    return st;
}

static void fill_bf16(uint16_t *dst, int n, float scale) {
    for (int i = 0; i < n; i++) dst[i] = rms_f32_to_bf16(scale * (float)(i + 1));
}

/* Writes PATH with the given tensors and bytes through st_writer, in two chunks per tensor. */
static void write_with_writer(const char *path, const st_writer_tensor *t, int n,
                              const void *const *data, const size_t *nbytes) {
    st_writer w;
    rms_err err;
    CHECK_EQ_INT(st_writer_open(&w, path, t, n, "pt", &err), RMS_OK);
    for (int i = 0; i < n; i++) {
        size_t half = nbytes[i] / 2;
        CHECK_EQ_INT(st_writer_write(&w, data[i], half, &err), RMS_OK);
        CHECK_EQ_INT(st_writer_write(&w, (const uint8_t *)data[i] + half, nbytes[i] - half, &err), RMS_OK);
    }
    CHECK_EQ_INT(st_writer_close(&w, &err), RMS_OK);
}

/* A single model.safetensors in DIR with "a" (BF16 [2, 3]) and "b" (F32 [4]). */
static void write_small_model(const char *dir, uint16_t a[6], float b[4]) {
    char path[4400];
    st_writer_tensor t[2] = {{"a", RMS_DTYPE_BF16, 2, {2, 3}}, {"b", RMS_DTYPE_F32, 1, {4}}};
    const void *data[2] = {a, b};
    size_t nbytes[2] = {6 * sizeof a[0], 4 * sizeof b[0]};
    fill_bf16(a, 6, 0.5f);
    for (int i = 0; i < 4; i++) b[i] = -1.25f * (float)i;
    join(path, sizeof path, dir, ST_SINGLE_NAME);
    write_with_writer(path, t, 2, data, nbytes);
}

/* Two shards + index in DIR: "x" (BF16 [4]) in SHARD1, "y.weight" (F16 [2, 2]) in SHARD2. */
static void write_sharded_model(const char *dir, uint16_t x[4], uint16_t y[4]) {
    char path[4400];
    rms_err err;
    st_writer_tensor tx = {"x", RMS_DTYPE_BF16, 1, {4}}, ty = {"y.weight", RMS_DTYPE_F16, 2, {2, 2}};
    const void *dx = x, *dy = y;
    size_t n = 8;
    fill_bf16(x, 4, 2.0f);
    for (int i = 0; i < 4; i++) y[i] = rms_f32_to_f16(0.25f * (float)i);
    join(path, sizeof path, dir, SHARD1);
    write_with_writer(path, &tx, 1, &dx, &n);
    join(path, sizeof path, dir, SHARD2);
    write_with_writer(path, &ty, 1, &dy, &n);
    const char *names[2] = {"y.weight", "x"}, *files[2] = {SHARD2, SHARD1};
    CHECK_EQ_INT(st_write_index(dir, 16, names, files, 2, &err), RMS_OK);
}

static char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    buf = calloc((size_t)n + 1, 1);
    *len = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    return buf;
}

/* ---------------------------------------------------------------- good files */

static void test_a_written_file_reads_back_with_equal_values(void) {
    char dir[4096], path[4400];
    uint16_t a[6];
    float b[4];
    st_file f;
    rms_err err;
    scratch(dir, sizeof dir, "roundtrip");
    write_small_model(dir, a, b);
    join(path, sizeof path, dir, ST_SINGLE_NAME);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_OK);
    CHECK_EQ_INT(f.n_tensors, 2);
    CHECK_EQ_INT(f.data_offset % 8, 0);
    CHECK_EQ_INT(f.file_size, f.data_offset + sizeof a + sizeof b);
    const st_tensor_info *ta = st_file_find(&f, "a"), *tb = st_file_find(&f, "b");
    CHECK(ta && tb && !st_file_find(&f, "c") && !st_file_find(&f, "__metadata__"));
    if (ta && tb) {
        CHECK(ta->dtype_supported && ta->dtype == RMS_DTYPE_BF16);
        CHECK(strcmp(ta->dtype_name, "BF16") == 0);
        CHECK(ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3);
        CHECK(ta->begin == 0 && ta->end == sizeof a);
        CHECK(tb->dtype == RMS_DTYPE_F32 && tb->ndim == 1 && tb->shape[0] == 4);
        CHECK(memcmp(st_file_data(&f, ta), a, sizeof a) == 0);
        CHECK(memcmp(st_file_data(&f, tb), b, sizeof b) == 0);
    }
    st_file_close(&f);
    CHECK(f.fd == -1 && f.map == NULL && f.path == NULL);
}

static void test_the_writer_pads_the_header_with_spaces_and_records_the_format(void) {
    char dir[4096], path[4400];
    uint16_t a[6];
    float b[4];
    size_t len;
    scratch(dir, sizeof dir, "padding");
    write_small_model(dir, a, b);
    join(path, sizeof path, dir, ST_SINGLE_NAME);
    char *bytes = read_all(path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)bytes[i];
    CHECK_EQ_INT(n % 8, 0);
    CHECK(bytes[8] == '{');
    size_t last = 8 + n - 1;
    while (bytes[last] == ' ') last--;
    CHECK(bytes[last] == '}' && 8 + n - 1 - last < 8);
    bytes[8 + n] = '\0';
    CHECK_CONTAINS(bytes + 8, "\"__metadata__\":{\"format\":\"pt\"}");
    CHECK_CONTAINS(bytes + 8, "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}");
    free(bytes);
}

static void test_offsets_beyond_four_gigabytes_are_written_exactly(void) {
    char dir[4096], path[4400];
    size_t len;
    st_writer w;
    rms_err err;
    st_writer_tensor t[2] = {{"big", RMS_DTYPE_F32, 2, {1LL << 31, 2}}, {"after", RMS_DTYPE_F16, 1, {3}}};
    scratch(dir, sizeof dir, "big-offsets");
    join(path, sizeof path, dir, "big.safetensors");
    CHECK_EQ_INT(st_writer_open(&w, path, t, 2, NULL, &err), RMS_OK);
    CHECK(w.total_bytes == (1ULL << 34) + 6);
    CHECK_EQ_INT(st_writer_close(&w, &err), RMS_ERR_ARG); /* no data written */
    CHECK_CONTAINS(err.msg, "0 of 17179869190 data bytes written");
    char *bytes = read_all(path, &len);
    CHECK_CONTAINS(bytes + 8, "\"shape\":[2147483648,2],\"data_offsets\":[0,17179869184]");
    CHECK_CONTAINS(bytes + 8, "\"data_offsets\":[17179869184,17179869190]");
    free(bytes);
    rms_status st = st_file_open(&(st_file){0}, path, &err); /* the header alone: data missing */
    CHECK_EQ_INT(st, RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "big.safetensors: tensor ");
    CHECK_CONTAINS(err.msg, "end past the data section (0 bytes)");
}

static void test_a_zero_length_data_section_opens(void) {
    rms_err err;
    const char *h = "{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]}}";
    CHECK_EQ_INT(open_header("zero-data", "z.safetensors", h, 0, &err), RMS_OK);
    CHECK_EQ_INT(open_header("zero-data", "m.safetensors", "{\"__metadata__\":{\"format\":\"pt\"}}", 0,
                             &err), RMS_OK);
    CHECK_EQ_INT(open_header("zero-data", "o.safetensors", "{}", 0, &err), RMS_OK);
}

static void test_a_scalar_and_any_trailing_whitespace_are_accepted(void) {
    rms_err err;
    const char *h = "{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}} \t\r\n  ";
    CHECK_EQ_INT(open_header("whitespace", "w.safetensors", h, 2, &err), RMS_OK);
}

static void test_known_dtypes_other_than_floats_open_but_are_flagged(void) {
    char dir[4096], path[4400];
    st_file f;
    rms_err err;
    scratch(dir, sizeof dir, "i64");
    join(path, sizeof path, dir, "ids.safetensors");
    write_st(path, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
                   "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[24,26]}}", 26);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_OK);
    const st_tensor_info *t = st_file_find(&f, "ids");
    CHECK(t && !t->dtype_supported && strcmp(t->dtype_name, "I64") == 0);
    st_file_close(&f);
}

static void test_gaps_between_tensors_are_allowed(void) {
    rms_err err;
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}";
    CHECK_EQ_INT(open_header("gaps", "g.safetensors", h, 10, &err), RMS_OK);
}

static void test_dtype_names_have_their_safetensors_sizes(void) {
    CHECK_EQ_INT(st_dtype_name_size("BOOL"), 1);
    CHECK_EQ_INT(st_dtype_name_size("F8_E4M3"), 1);
    CHECK_EQ_INT(st_dtype_name_size("BF16"), 2);
    CHECK_EQ_INT(st_dtype_name_size("U32"), 4);
    CHECK_EQ_INT(st_dtype_name_size("F64"), 8);
    CHECK_EQ_INT(st_dtype_name_size("U64"), 8);
    CHECK_EQ_INT(st_dtype_name_size("bf16"), 0);
    CHECK_EQ_INT(st_dtype_name_size("Q4_0"), 0);
}

/* ---------------------------------------------------------------- bad files */

static void test_a_missing_file_is_an_io_error(void) {
    char dir[4096], path[4400];
    st_file f;
    rms_err err;
    scratch(dir, sizeof dir, "missing");
    join(path, sizeof path, dir, "nothing.safetensors");
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "nothing.safetensors: cannot open");
    CHECK_EQ_INT(st_file_open(&f, dir, &err), RMS_ERR_IO); /* a directory */
    CHECK_CONTAINS(err.msg, "not a regular file");
}

static void test_a_truncated_file_is_a_clear_error(void) {
    char dir[4096], path[4400];
    st_file f;
    rms_err err;
    scratch(dir, sizeof dir, "truncated");
    join(path, sizeof path, dir, "short.safetensors");
    write_bytes(path, "\x10\0\0\0\0", 5);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "short.safetensors: truncated: 5 bytes");
    write_bytes(path, "", 0);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "truncated: 0 bytes");
}

static void test_a_header_length_larger_than_the_file_is_a_clear_error(void) {
    char dir[4096], path[4400];
    st_file f;
    rms_err err;
    scratch(dir, sizeof dir, "header-length");
    join(path, sizeof path, dir, "long.safetensors");
    write_st_raw(path, 1000, "{}", NULL, 0);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "long.safetensors: truncated: header length 1000 runs past the end of the file (10 bytes)");
    write_st_raw(path, 1ULL << 62, "{}", NULL, 0);
    CHECK_EQ_INT(st_file_open(&f, path, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "exceeds the limit");
}

static void test_bad_header_json_is_a_clear_error(void) {
    rms_err err;
    CHECK_EQ_INT(open_header("bad-json", "j.safetensors", "{\"a\": {\"dtype\": ", 0, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "j.safetensors: header is not valid JSON");
    CHECK_EQ_INT(open_header("bad-json", "e.safetensors", "", 4, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "e.safetensors: header is not valid JSON");
    CHECK_EQ_INT(open_header("bad-json", "t.safetensors", "{} x", 0, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "t.safetensors: header has trailing bytes");
}

static void test_a_header_that_is_not_an_object_is_rejected(void) {
    rms_err err;
    CHECK_EQ_INT(open_header("not-object", "arr.safetensors", "[1, 2]", 0, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "arr.safetensors: header is not a JSON object");
    CHECK_EQ_INT(open_header("not-object", "ent.safetensors", "{\"w\": [1]}", 0, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "ent.safetensors: tensor w: entry is not a JSON object");
    CHECK_EQ_INT(open_header("not-object", "meta.safetensors", "{\"__metadata__\": {\"n\": 3}}", 0, &err),
                 RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"__metadata__\" value \"n\" is not a string");
}

static void test_an_unknown_dtype_names_the_tensor_and_file(void) {
    rms_err err;
    const char *h = "{\"model.norm.weight\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}";
    CHECK_EQ_INT(open_header("dtype", "q.safetensors", h, 1, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "q.safetensors: tensor model.norm.weight: unknown dtype \"Q4\"");
    h = "{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,1]}}";
    CHECK_EQ_INT(open_header("dtype", "n.safetensors", h, 1, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor w: missing or non-string \"dtype\"");
}

static void test_negative_or_fractional_shapes_are_rejected(void) {
    rms_err err;
    const char *neg = "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,8]}}";
    const char *frac = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}";
    const char *str = "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}";
    const char *deep = "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}";
    const char *none = "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}";
    CHECK_EQ_INT(open_header("shape", "neg.safetensors", neg, 8, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "neg.safetensors: tensor w: shape must be an array of non-negative integers");
    CHECK_EQ_INT(open_header("shape", "frac.safetensors", frac, 8, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "frac.safetensors: tensor w: shape must be");
    CHECK_EQ_INT(open_header("shape", "str.safetensors", str, 8, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(open_header("shape", "deep.safetensors", deep, 1, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "shape has 9 dimensions (at most 8)");
    CHECK_EQ_INT(open_header("shape", "none.safetensors", none, 1, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor w: missing or non-array \"shape\"");
}

static void test_offsets_past_the_data_section_name_the_tensor_and_file(void) {
    rms_err err;
    const char *h = "{\"model.layers.3.mlp.up_proj.weight\":{\"dtype\":\"U8\",\"shape\":[99999989],"
                    "\"data_offsets\":[10,99999999]}}";
    CHECK_EQ_INT(open_header("past-end", "model-00002-of-00004.safetensors", h, 4096, &err),
                 RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "model-00002-of-00004.safetensors: tensor model.layers.3.mlp.up_proj.weight: "
                            "data_offsets [10, 99999999] end past the data section (4096 bytes)");
}

static void test_begin_after_end_is_rejected(void) {
    rms_err err;
    const char *h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}";
    CHECK_EQ_INT(open_header("begin-end", "be.safetensors", h, 16, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "be.safetensors: tensor w: data_offsets [8, 4] begin > end");
    h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,4]}}";
    CHECK_EQ_INT(open_header("begin-end", "neg.safetensors", h, 16, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor w: \"data_offsets\" must be two non-negative integers");
    h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0]}}";
    CHECK_EQ_INT(open_header("begin-end", "one.safetensors", h, 16, &err), RMS_ERR_FORMAT);
}

static void test_a_size_that_does_not_match_the_shape_is_rejected(void) {
    rms_err err;
    const char *h = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}";
    CHECK_EQ_INT(open_header("size", "s.safetensors", h, 16, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "s.safetensors: tensor w: data_offsets [0, 8] hold 8 bytes but shape [2, 3] "
                            "of BF16 needs 12");
}

static void test_a_shape_whose_size_overflows_is_rejected(void) {
    rms_err err;
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}";
    CHECK_EQ_INT(open_header("overflow", "o.safetensors", h, 8, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "o.safetensors: tensor w: shape [4294967296, 4294967296] is too large");
}

static void test_overlapping_tensors_are_rejected(void) {
    rms_err err;
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[3,7]}}";
    CHECK_EQ_INT(open_header("overlap", "ov.safetensors", h, 8, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "ov.safetensors: tensor b: data_offsets [3, 7] overlap tensor a [0, 4]");
    h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
        "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[5,7]}}";
    CHECK_EQ_INT(open_header("overlap", "inside.safetensors", h, 8, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "overlap tensor a [0, 8]");
}

static void test_a_duplicate_tensor_name_is_rejected(void) {
    rms_err err;
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
    CHECK_EQ_INT(open_header("duplicate", "d.safetensors", h, 2, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "d.safetensors: tensor a: appears twice in the header");
}

/* ---------------------------------------------------------------- checkpoints */

static void test_a_single_file_checkpoint_gets_tensors(void) {
    char dir[4096];
    uint16_t a[6];
    float b[4];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "single");
    write_small_model(dir, a, b);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK(!ck.sharded && ck.n_files == 1 && ck.n_entries == 2 && ck.files[0].fd >= 0);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "b", 1, (int64_t[]){4}, &v, &err), RMS_OK);
    CHECK(v.dtype == RMS_DTYPE_F32 && v.ndim == 1 && v.shape[0] == 4);
    CHECK(strcmp(v.file, ST_SINGLE_NAME) == 0 && memcmp(v.data, b, sizeof b) == 0);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "missing.weight", 1, (int64_t[]){4}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor missing.weight not found in ");
    CHECK_CONTAINS(err.msg, "/" ST_SINGLE_NAME);
    st_checkpoint_close(&ck);
}

static void test_get_with_a_wrong_shape_prints_both_shapes(void) {
    char dir[4096];
    uint16_t a[6];
    float b[4];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "wrong-shape");
    write_small_model(dir, a, b);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "a", 2, (int64_t[]){3, 2}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor a in model.safetensors has shape [2, 3], expected [3, 2]");
    CHECK_EQ_INT(st_checkpoint_get(&ck, "a", 1, (int64_t[]){6}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "has shape [2, 3], expected [6]");
    st_checkpoint_close(&ck);
}

static void test_get_rejects_dtypes_rmscore_cannot_read(void) {
    char dir[4096], path[4400];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "get-i64");
    join(path, sizeof path, dir, ST_SINGLE_NAME);
    write_st(path, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", 24);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "ids", 1, (int64_t[]){3}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor ids in model.safetensors has dtype I64");
    st_checkpoint_close(&ck);
}

static void test_a_sharded_checkpoint_opens_shards_lazily(void) {
    char dir[4096];
    uint16_t x[4], y[4];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "sharded");
    write_sharded_model(dir, x, y);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK(ck.sharded && ck.n_files == 2 && ck.n_entries == 2);
    CHECK(strcmp(ck.entry_names[0], "x") == 0 && strcmp(ck.entry_names[1], "y.weight") == 0);
    int i1 = strcmp(ck.file_names[0], SHARD1) == 0 ? 0 : 1, i2 = 1 - i1;
    CHECK(ck.files[0].fd == -1 && ck.files[1].fd == -1);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "y.weight", 2, (int64_t[]){2, 2}, &v, &err), RMS_OK);
    CHECK(ck.files[i2].fd >= 0 && ck.files[i1].fd == -1); /* SHARD1 was not asked for */
    CHECK(v.dtype == RMS_DTYPE_F16 && strcmp(v.file, SHARD2) == 0 && memcmp(v.data, y, sizeof y) == 0);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "x", 2, (int64_t[]){2, 2}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor x in " SHARD1 " has shape [4], expected [2, 2]");
    CHECK_EQ_INT(st_checkpoint_get(&ck, "x", 1, (int64_t[]){4}, &v, &err), RMS_OK);
    CHECK(ck.files[i1].fd >= 0 && memcmp(v.data, x, sizeof x) == 0);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "z", 1, (int64_t[]){4}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor z not found in ");
    CHECK_CONTAINS(err.msg, ST_INDEX_NAME);
    st_checkpoint_close(&ck);
}

static void test_the_index_records_total_size_and_weight_map(void) {
    char dir[4096], path[4400];
    uint16_t x[4], y[4];
    size_t len;
    scratch(dir, sizeof dir, "index-text");
    write_sharded_model(dir, x, y);
    join(path, sizeof path, dir, ST_INDEX_NAME);
    char *text = read_all(path, &len);
    CHECK_CONTAINS(text, "\"total_size\":\t16");
    CHECK_CONTAINS(text, "\"y.weight\":\t\"" SHARD2 "\"");
    free(text);
}

static void test_an_index_naming_a_missing_shard_is_rejected(void) {
    char dir[4096], path[4400];
    uint16_t x[4], y[4];
    st_checkpoint ck;
    rms_err err;
    scratch(dir, sizeof dir, "missing-shard");
    write_sharded_model(dir, x, y);
    join(path, sizeof path, dir, SHARD2);
    remove(path);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, ST_INDEX_NAME ": names shard " SHARD2 ", which is missing from ");
    CHECK(ck.files == NULL && ck.dir == NULL);
}

static void test_an_index_entry_whose_shard_lacks_the_tensor_is_a_clear_error(void) {
    char dir[4096];
    uint16_t x[4], y[4];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "wrong-shard");
    write_sharded_model(dir, x, y);
    const char *names[2] = {"y.weight", "x"}, *files[2] = {SHARD1, SHARD1};
    CHECK_EQ_INT(st_write_index(dir, 16, names, files, 2, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "y.weight", 2, (int64_t[]){2, 2}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "tensor y.weight: " ST_INDEX_NAME " maps it to " SHARD1
                            ", which has no such tensor");
    st_checkpoint_close(&ck);
}

static void test_a_corrupt_shard_is_reported_when_first_used(void) {
    char dir[4096], path[4400];
    uint16_t x[4], y[4];
    st_checkpoint ck;
    st_view v;
    rms_err err;
    scratch(dir, sizeof dir, "corrupt-shard");
    write_sharded_model(dir, x, y);
    join(path, sizeof path, dir, SHARD2);
    write_st_raw(path, 500, "{}", NULL, 0);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "x", 1, (int64_t[]){4}, &v, &err), RMS_OK);
    CHECK_EQ_INT(st_checkpoint_get(&ck, "y.weight", 2, (int64_t[]){2, 2}, &v, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, SHARD2 ": truncated: header length 500");
    CHECK_EQ_INT(st_checkpoint_get(&ck, "y.weight", 2, (int64_t[]){2, 2}, &v, &err), RMS_ERR_FORMAT);
    st_checkpoint_close(&ck);
}

static void test_bad_indexes_are_clear_errors(void) {
    char dir[4096], path[4400];
    st_checkpoint ck;
    rms_err err;
    static const struct { const char *text, *msg; } cases[] = {
        {"{\"weight_map\": ", "not valid JSON"},
        {"[]", "no \"weight_map\" object"},
        {"{\"metadata\": {}}", "no \"weight_map\" object"},
        {"{\"weight_map\": {\"a\": 3}}", "weight_map entry for tensor a must name a file"},
        {"{\"weight_map\": {\"a\": \"../model.safetensors\"}}", "weight_map entry for tensor a must"},
        {"{\"weight_map\": {\"a\": \"\"}}", "weight_map entry for tensor a must"},
        {"{\"weight_map\": {\"a\": \"s\", \"a\": \"s\"}}", "tensor a: listed twice in weight_map"},
    };
    scratch(dir, sizeof dir, "bad-index");
    join(path, sizeof path, dir, "s");
    write_st(path, "{}", 0);
    join(path, sizeof path, dir, ST_INDEX_NAME);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(path, cases[i].text, strlen(cases[i].text));
        CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, ST_INDEX_NAME);
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
}

static void test_index_entries_outside_the_directory_are_refused(void) {
    char dir[4096], path[4400];
    st_checkpoint ck;
    rms_err err;
    static const char *const names[] = {"/etc/passwd", "..", ".", "sub/s", "a\\nb", "s\\u0001", "../s"};
    scratch(dir, sizeof dir, "index-outside");
    join(path, sizeof path, dir, "s");
    write_st(path, "{}", 0);
    join(path, sizeof path, dir, ST_INDEX_NAME);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"weight_map\": {\"t\": \"%s\"}}", names[i]);
        write_bytes(path, text, strlen(text));
        CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "weight_map entry for tensor t must name a file inside the model directory");
    }
}

static void test_an_index_naming_more_shards_than_the_limit_is_refused(void) {
    char dir[4096], path[4400];
    st_checkpoint ck;
    rms_err err;
    scratch(dir, sizeof dir, "index-many-shards");
    join(path, sizeof path, dir, ST_INDEX_NAME);
    FILE *fp = fopen(path, "w"); // ST_MAX_SHARDS + 1 distinct files, one tensor each (~2.5 MB)
    CHECK(fp != NULL);
    if (!fp) return;
    fputs("{\"weight_map\": {", fp);
    for (int i = 0; i <= ST_MAX_SHARDS; i++) fprintf(fp, "%s\"t%d\": \"f%d\"", i ? ", " : "", i, i);
    fputs("}}", fp);
    fclose(fp);
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "weight_map names more than 65536 files");
}

static void test_a_directory_without_weights_is_an_io_error(void) {
    char dir[4096];
    st_checkpoint ck;
    rms_err err;
    scratch(dir, sizeof dir, "no-weights");
    CHECK_EQ_INT(st_checkpoint_open(&ck, dir, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "no " ST_INDEX_NAME " or " ST_SINGLE_NAME);
}

/* ---------------------------------------------------------------- writer misuse */

static void test_the_writer_refuses_too_many_or_too_few_bytes(void) {
    char dir[4096], path[4400];
    uint8_t bytes[16] = {0};
    st_writer w;
    rms_err err;
    st_writer_tensor t = {"w", RMS_DTYPE_F32, 1, {2}};
    scratch(dir, sizeof dir, "writer-count");
    join(path, sizeof path, dir, "w.safetensors");
    CHECK_EQ_INT(st_writer_open(&w, path, &t, 1, NULL, &err), RMS_OK);
    CHECK_EQ_INT(st_writer_write(&w, bytes, 12, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "w.safetensors: writing 12 bytes would pass the declared data size");
    CHECK_EQ_INT(st_writer_write(&w, bytes, 4, &err), RMS_OK);
    CHECK_EQ_INT(st_writer_close(&w, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "w.safetensors: 4 of 8 data bytes written");
    CHECK(w.fp == NULL && w.path == NULL);
}

static void test_the_writer_rejects_bad_tables(void) {
    char dir[4096], path[4400];
    st_writer w;
    rms_err err;
    st_writer_tensor dup[2] = {{"w", RMS_DTYPE_F32, 1, {2}}, {"w", RMS_DTYPE_F16, 0, {0}}};
    st_writer_tensor neg = {"n", RMS_DTYPE_F32, 2, {2, -1}};
    st_writer_tensor meta = {"__metadata__", RMS_DTYPE_F32, 0, {0}};
    scratch(dir, sizeof dir, "writer-table");
    join(path, sizeof path, dir, "t.safetensors");
    CHECK_EQ_INT(st_writer_open(&w, path, dup, 2, NULL, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "t.safetensors: tensor w: appears twice in the table");
    CHECK_EQ_INT(st_writer_open(&w, path, &neg, 1, NULL, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "tensor n: negative or too large shape");
    CHECK_EQ_INT(st_writer_open(&w, path, &meta, 1, NULL, &err), RMS_ERR_ARG);
    join(path, sizeof path, dir, "no/such/dir.safetensors");
    CHECK_EQ_INT(st_writer_open(&w, path, &neg, 0, NULL, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "dir.safetensors: cannot create");
}

int main(void) {
    RUN(test_a_written_file_reads_back_with_equal_values);
    RUN(test_the_writer_pads_the_header_with_spaces_and_records_the_format);
    RUN(test_offsets_beyond_four_gigabytes_are_written_exactly);
    RUN(test_a_zero_length_data_section_opens);
    RUN(test_a_scalar_and_any_trailing_whitespace_are_accepted);
    RUN(test_known_dtypes_other_than_floats_open_but_are_flagged);
    RUN(test_gaps_between_tensors_are_allowed);
    RUN(test_dtype_names_have_their_safetensors_sizes);
    RUN(test_a_missing_file_is_an_io_error);
    RUN(test_a_truncated_file_is_a_clear_error);
    RUN(test_a_header_length_larger_than_the_file_is_a_clear_error);
    RUN(test_bad_header_json_is_a_clear_error);
    RUN(test_a_header_that_is_not_an_object_is_rejected);
    RUN(test_an_unknown_dtype_names_the_tensor_and_file);
    RUN(test_negative_or_fractional_shapes_are_rejected);
    RUN(test_offsets_past_the_data_section_name_the_tensor_and_file);
    RUN(test_begin_after_end_is_rejected);
    RUN(test_a_size_that_does_not_match_the_shape_is_rejected);
    RUN(test_a_shape_whose_size_overflows_is_rejected);
    RUN(test_overlapping_tensors_are_rejected);
    RUN(test_a_duplicate_tensor_name_is_rejected);
    RUN(test_a_single_file_checkpoint_gets_tensors);
    RUN(test_get_with_a_wrong_shape_prints_both_shapes);
    RUN(test_get_rejects_dtypes_rmscore_cannot_read);
    RUN(test_a_sharded_checkpoint_opens_shards_lazily);
    RUN(test_the_index_records_total_size_and_weight_map);
    RUN(test_an_index_naming_a_missing_shard_is_rejected);
    RUN(test_an_index_entry_whose_shard_lacks_the_tensor_is_a_clear_error);
    RUN(test_a_corrupt_shard_is_reported_when_first_used);
    RUN(test_bad_indexes_are_clear_errors);
    RUN(test_index_entries_outside_the_directory_are_refused);
    RUN(test_an_index_naming_more_shards_than_the_limit_is_refused);
    RUN(test_a_directory_without_weights_is_an_io_error);
    RUN(test_the_writer_refuses_too_many_or_too_few_bytes);
    RUN(test_the_writer_rejects_bad_tables);
    return check_summary();
}
