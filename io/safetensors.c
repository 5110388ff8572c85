#define _GNU_SOURCE
#include "io/safetensors.h"
#include "io/textfile.h"
#include "src/base/hashmap.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_JSON_MAX_INT ((uint64_t)1 << 53) /* larger JSON numbers are not exact in a double */
#define ST_SHAPE_TEXT_MAX 256

/* ---------------------------------------------------------------- small helpers */

size_t st_dtype_name_size(const char *dtype_name) {
    static const struct { const char *name; size_t size; } sizes[] = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
        {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
        {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8},
    };
    if (!dtype_name) return 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(dtype_name, sizes[i].name) == 0) return sizes[i].size;
    return 0;
}

/* "[64, 32]" into buf. */
static const char *shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

/* prod(shape) * elem_size; 0 on overflow (with *ok = 0). */
static uint64_t tensor_nbytes(int ndim, const int64_t *shape, size_t elem_size, int *ok) {
    uint64_t n = elem_size;
    *ok = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) {
            *ok = 0;
            return 0;
        }
    }
    return n;
}

/* A JSON number that is a non-negative integer exactly representable in a double. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= (double)ST_JSON_MAX_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static char *path_join(const char *dir, const char *name) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    return p;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- reading one file */

static rms_status map_file(st_file *f, rms_err *err) {
    struct stat sb;
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return rms_fail(err, RMS_ERR_IO, "cannot open: %s", strerror(errno));
    if (fstat(f->fd, &sb) != 0) return rms_fail(err, RMS_ERR_IO, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rms_fail(err, RMS_ERR_IO, "not a regular file");
    if (sb.st_size < 8)
        return rms_fail(err, RMS_ERR_FORMAT,
                        "truncated: %lld bytes, too short for the 8-byte header length",
                        (long long)sb.st_size);
    if ((uint64_t)sb.st_size > SIZE_MAX) return rms_fail(err, RMS_ERR_IO, "file too large to map");
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED) return rms_fail(err, RMS_ERR_IO, "cannot mmap: %s", strerror(errno));
    f->map = m;
    f->file_size = (size_t)sb.st_size;
    return RMS_OK;
}

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static rms_status parse_dtype(st_tensor_info *t, const cJSON *e, rms_err *err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(d))
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: missing or non-string \"dtype\"", t->name);
    if (strlen(d->valuestring) >= sizeof t->dtype_name || st_dtype_name_size(d->valuestring) == 0)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: unknown dtype \"%.32s\"", t->name,
                        d->valuestring);
    strcpy(t->dtype_name, d->valuestring);
    t->dtype_supported = rms_dtype_parse(t->dtype_name, &t->dtype) == 0;
    return RMS_OK;
}

static rms_status parse_shape(st_tensor_info *t, const cJSON *e, rms_err *err) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(s))
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: missing or non-array \"shape\"", t->name);
    int n = cJSON_GetArraySize(s);
    if (n > ST_MAX_DIMS)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: shape has %d dimensions (at most %d)",
                        t->name, n, ST_MAX_DIMS);
    const cJSON *v;
    t->ndim = 0;
    cJSON_ArrayForEach(v, s) {
        uint64_t dim;
        if (!json_u64(v, &dim))
            return rms_fail(err, RMS_ERR_FORMAT,
                            "tensor %s: shape must be an array of non-negative integers", t->name);
        t->shape[t->ndim++] = (int64_t)dim;
    }
    return RMS_OK;
}

static rms_status parse_offsets(st_tensor_info *t, const cJSON *e, rms_err *err) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2 || !json_u64(o->child, &t->begin) ||
        !json_u64(o->child->next, &t->end))
        return rms_fail(err, RMS_ERR_FORMAT,
                        "tensor %s: \"data_offsets\" must be two non-negative integers", t->name);
    return RMS_OK;
}

/* Offsets inside the data section and matching shape * element size. */
static rms_status check_extent(const st_tensor_info *t, uint64_t data_size, rms_err *err) {
    char sh[ST_SHAPE_TEXT_MAX];
    if (t->begin > t->end)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                        "] begin > end", t->name, t->begin, t->end);
    if (t->end > data_size)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                        "] end past the data section (%" PRIu64 " bytes)", t->name, t->begin,
                        t->end, data_size);
    int ok;
    uint64_t want = tensor_nbytes(t->ndim, t->shape, st_dtype_name_size(t->dtype_name), &ok);
    shape_text(sh, sizeof sh, t->ndim, t->shape);
    if (!ok)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: shape %s is too large", t->name, sh);
    if (t->end - t->begin != want)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                        "] hold %" PRIu64 " bytes but shape %s of %s needs %" PRIu64, t->name,
                        t->begin, t->end, t->end - t->begin, sh, t->dtype_name, want);
    return RMS_OK;
}

static rms_status parse_entry(st_tensor_info *t, const cJSON *e, uint64_t data_size, rms_err *err) {
    t->name = strdup(e->string);
    if (!t->name) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (!cJSON_IsObject(e))
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: entry is not a JSON object", t->name);
    rms_status st = parse_dtype(t, e, err);
    if (st == RMS_OK) st = parse_shape(t, e, err);
    if (st == RMS_OK) st = parse_offsets(t, e, err);
    if (st == RMS_OK) st = check_extent(t, data_size, err);
    return st;
}

static rms_status check_metadata(const cJSON *m, rms_err *err) {
    const cJSON *v;
    if (!cJSON_IsObject(m))
        return rms_fail(err, RMS_ERR_FORMAT, "\"__metadata__\" is not a JSON object");
    cJSON_ArrayForEach(v, m) {
        if (!cJSON_IsString(v))
            return rms_fail(err, RMS_ERR_FORMAT, "\"__metadata__\" value \"%s\" is not a string",
                            v->string);
    }
    return RMS_OK;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const st_tensor_info *)a)->name, ((const st_tensor_info *)b)->name);
}

static rms_status parse_entries(st_file *f, const cJSON *root, rms_err *err) {
    uint64_t data_size = f->file_size - f->data_offset;
    const cJSON *e;
    int n = cJSON_GetArraySize(root);
    if (n > ST_MAX_TENSORS + 1) /* + 1: __metadata__ */
        return rms_fail(err, RMS_ERR_FORMAT, "header declares %d tensors, above rmscore's limit of %d", n,
                        ST_MAX_TENSORS);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(e, root) {
        rms_status st;
        if (strcmp(e->string, "__metadata__") == 0)
            st = check_metadata(e, err);
        else /* counted first, so st_file_close frees a half-parsed entry */
            st = parse_entry(&f->tensors[f->n_tensors++], e, data_size, err);
        if (st != RMS_OK) return st;
    }
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_tensor_name);
    for (int64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: appears twice in the header",
                            f->tensors[i].name);
    return RMS_OK;
}

static rms_status parse_header(st_file *f, rms_err *err) {
    uint64_t n = read_le64(f->map);
    if (n > ST_MAX_HEADER_BYTES)
        return rms_fail(err, RMS_ERR_FORMAT, "header length %" PRIu64 " exceeds the limit (%" PRIu64
                        " bytes)", n, ST_MAX_HEADER_BYTES);
    if (n > f->file_size - 8)
        return rms_fail(err, RMS_ERR_FORMAT, "truncated: header length %" PRIu64
                        " runs past the end of the file (%zu bytes)", n, f->file_size);
    f->data_offset = 8 + (size_t)n;
    const char *text = (const char *)f->map + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root)
        return rms_fail(err, RMS_ERR_FORMAT, "header is not valid JSON (error near byte %td)",
                        end ? end - text : (ptrdiff_t)0);
    while (end < text + n && is_json_space(*end)) end++;
    rms_status st = RMS_OK;
    if (end != text + n)
        st = rms_fail(err, RMS_ERR_FORMAT, "header has trailing bytes after the JSON (at byte %td)",
                      end - text);
    else if (!cJSON_IsObject(root))
        st = rms_fail(err, RMS_ERR_FORMAT, "header is not a JSON object");
    else
        st = parse_entries(f, root, err);
    cJSON_Delete(root);
    return st;
}

static int cmp_tensor_begin(const void *a, const void *b) {
    const st_tensor_info *x = *(const st_tensor_info *const *)a, *y = *(const st_tensor_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* No two non-empty byte ranges intersect. */
static rms_status check_overlaps(const st_file *f, rms_err *err) {
    const st_tensor_info **by_begin = malloc(((size_t)f->n_tensors + 1) * sizeof *by_begin);
    if (!by_begin) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < f->n_tensors; i++) by_begin[i] = &f->tensors[i];
    qsort(by_begin, (size_t)f->n_tensors, sizeof *by_begin, cmp_tensor_begin);
    rms_status st = RMS_OK;
    const st_tensor_info *last = NULL; /* the non-empty tensor reaching furthest so far */
    for (int64_t i = 0; i < f->n_tensors && st == RMS_OK; i++) {
        const st_tensor_info *t = by_begin[i];
        if (t->begin == t->end) continue;
        if (last && t->begin < last->end)
            st = rms_fail(err, RMS_ERR_FORMAT, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                          "] overlap tensor %s [%" PRIu64 ", %" PRIu64 "]", t->name, t->begin,
                          t->end, last->name, last->begin, last->end);
        if (!last || t->end > last->end) last = t;
    }
    free(by_begin);
    return st;
}

static void st_file_init(st_file *f) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

rms_status st_file_open(st_file *f, const char *path, rms_err *err) {
    st_file_init(f);
    f->path = strdup(path);
    if (!f->path) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    rms_status st = map_file(f, err);
    if (st == RMS_OK) st = parse_header(f, err);
    if (st == RMS_OK) st = check_overlaps(f, err);
    if (st != RMS_OK) {
        rms_fail_prefix(err, st, "%s", path);
        st_file_close(f);
    }
    return st;
}

void st_file_close(st_file *f) {
    for (int64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->map) munmap((void *)f->map, f->file_size);
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    st_file_init(f);
}

const st_tensor_info *st_file_find(const st_file *f, const char *name) {
    st_tensor_info key;
    key.name = (char *)name;
    if (f->n_tensors == 0) return NULL;
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof key, cmp_tensor_name);
}

const void *st_file_data(const st_file *f, const st_tensor_info *t) {
    return f->map + f->data_offset + t->begin;
}

/* ---------------------------------------------------------------- checkpoint directories */

static rms_status alloc_files(st_checkpoint *ck, int64_t capacity, rms_err *err) {
    ck->file_names = calloc((size_t)capacity + 1, sizeof *ck->file_names);
    ck->files = calloc((size_t)capacity + 1, sizeof *ck->files);
    if (!ck->file_names || !ck->files) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i <= capacity; i++) st_file_init(&ck->files[i]);
    return RMS_OK;
}

static rms_status alloc_entries(st_checkpoint *ck, int64_t n, rms_err *err) {
    ck->entry_names = calloc((size_t)n + 1, sizeof *ck->entry_names);
    ck->entry_file = calloc((size_t)n + 1, sizeof *ck->entry_file);
    if (!ck->entry_names || !ck->entry_file) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    return RMS_OK;
}

/* Index of file `name` in ck->file_names, appending it if new; -1 when out of memory. */
static int find_or_add_file(st_checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->n_files; i++)
        if (strcmp(ck->file_names[i], name) == 0) return i;
    ck->file_names[ck->n_files] = strdup(name);
    return ck->file_names[ck->n_files] ? ck->n_files++ : -1;
}

/* A file name inside the directory: not empty, no '/' (so neither absolute nor reaching into another directory),
 * not "." or "..", no control characters. */
static int is_plain_file_name(const char *s) {
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return 0;
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static rms_status open_single(st_checkpoint *ck, const char *path, rms_err *err) {
    rms_status st = alloc_files(ck, 1, err);
    if (st != RMS_OK) return st;
    if (find_or_add_file(ck, ST_SINGLE_NAME) < 0) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    st = st_file_open(&ck->files[0], path, err);
    if (st == RMS_OK) st = alloc_entries(ck, ck->files[0].n_tensors, err);
    for (int64_t i = 0; st == RMS_OK && i < ck->files[0].n_tensors; i++) {
        ck->entry_names[i] = strdup(ck->files[0].tensors[i].name);
        if (!ck->entry_names[i]) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        ck->n_entries++;
    }
    return st;
}

typedef struct index_entry {
    const char *name; /* borrowed from the parsed JSON */
    int file;
} index_entry;

static int cmp_index_entry(const void *a, const void *b) {
    return strcmp(((const index_entry *)a)->name, ((const index_entry *)b)->name);
}

/* Index of shard `name` in ck->file_names (files: name -> index), appending it if new; -1 when out of memory. */
static int index_file(st_checkpoint *ck, rms_strmap *files, const char *name) {
    int64_t i;
    if (rms_strmap_get(files, name, strlen(name), &i)) return (int)i;
    if (!(ck->file_names[ck->n_files] = strdup(name))) return -1;
    const int k = ck->n_files++;
    return rms_strmap_put(files, name, strlen(name), k) == 0 ? k : -1;
}

/* Reads weight_map into ents (in JSON order), registering shard names in ck. */
static rms_status collect_weight_map(st_checkpoint *ck, const cJSON *map, index_entry *ents,
                                     rms_err *err) {
    const cJSON *v;
    int64_t i = 0;
    rms_strmap files;
    rms_strmap_init(&files);
    rms_status st = RMS_OK;
    cJSON_ArrayForEach(v, map) {
        if (!cJSON_IsString(v) || !is_plain_file_name(v->valuestring)) {
            st = rms_fail(err, RMS_ERR_FORMAT,
                          "weight_map entry for tensor %.200s must name a file inside the model directory (no '/', "
                          "'..' or absolute path)", v->string);
            break;
        }
        ents[i].name = v->string;
        ents[i].file = index_file(ck, &files, v->valuestring);
        if (ents[i++].file < 0) {
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            break;
        }
        if (ck->n_files > ST_MAX_SHARDS) {
            st = rms_fail(err, RMS_ERR_FORMAT, "weight_map names more than %d files, rmscore's limit", ST_MAX_SHARDS);
            break;
        }
    }
    rms_strmap_free(&files);
    return st;
}

static rms_status index_entries(st_checkpoint *ck, const cJSON *root, rms_err *err) {
    const cJSON *map = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) return rms_fail(err, RMS_ERR_FORMAT, "no \"weight_map\" object");
    int64_t n = cJSON_GetArraySize(map);
    if (n > ST_MAX_TENSORS)
        return rms_fail(err, RMS_ERR_FORMAT, "weight_map lists %lld tensors, above rmscore's limit of %d",
                        (long long)n, ST_MAX_TENSORS);
    index_entry *ents = calloc((size_t)n + 1, sizeof *ents);
    rms_status st = ents ? alloc_files(ck, n, err) : rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK) st = alloc_entries(ck, n, err);
    if (st == RMS_OK) st = collect_weight_map(ck, map, ents, err);
    if (st == RMS_OK) qsort(ents, (size_t)n, sizeof *ents, cmp_index_entry);
    for (int64_t i = 0; st == RMS_OK && i < n; i++) {
        if (i > 0 && strcmp(ents[i - 1].name, ents[i].name) == 0)
            st = rms_fail(err, RMS_ERR_FORMAT, "tensor %s: listed twice in weight_map", ents[i].name);
        else if (!(ck->entry_names[i] = strdup(ents[i].name)))
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        else
            ck->entry_file[ck->n_entries++] = ents[i].file;
    }
    free(ents);
    return st;
}

static rms_status check_shards_exist(const st_checkpoint *ck, rms_err *err) {
    for (int i = 0; i < ck->n_files; i++) {
        struct stat sb;
        char *path = path_join(ck->dir, ck->file_names[i]);
        if (!path) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        int ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        free(path);
        if (!ok)
            return rms_fail(err, RMS_ERR_FORMAT, "names shard %s, which is missing from %s",
                            ck->file_names[i], ck->dir);
    }
    return RMS_OK;
}

static rms_status open_index(st_checkpoint *ck, const char *path, rms_err *err) {
    cJSON *root;
    rms_status st = rms_read_json_file(path, &root, err);
    if (st != RMS_OK) return st;
    st = index_entries(ck, root, err);
    cJSON_Delete(root);
    if (st == RMS_OK) st = check_shards_exist(ck, err);
    if (st != RMS_OK) rms_fail_prefix(err, st, "%s", path);
    return st;
}

rms_status st_checkpoint_open(st_checkpoint *ck, const char *dir, rms_err *err) {
    memset(ck, 0, sizeof *ck);
    ck->dir = strdup(dir);
    char *index = path_join(dir, ST_INDEX_NAME), *single = path_join(dir, ST_SINGLE_NAME);
    rms_status st;
    if (!ck->dir || !index || !single) {
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    } else if (access(index, F_OK) == 0) {
        ck->sharded = 1;
        st = open_index(ck, index, err);
    } else if (access(single, F_OK) == 0) {
        st = open_single(ck, single, err);
    } else {
        st = rms_fail(err, RMS_ERR_IO, "%s: no %s or %s in this directory", dir, ST_INDEX_NAME,
                      ST_SINGLE_NAME);
    }
    free(index);
    free(single);
    if (st != RMS_OK) st_checkpoint_close(ck);
    return st;
}

void st_checkpoint_close(st_checkpoint *ck) {
    for (int i = 0; ck->files && i < ck->n_files; i++) st_file_close(&ck->files[i]);
    for (int i = 0; ck->file_names && i < ck->n_files; i++) free(ck->file_names[i]);
    for (int64_t i = 0; ck->entry_names && i < ck->n_entries; i++) free(ck->entry_names[i]);
    free(ck->files);
    free(ck->file_names);
    free(ck->entry_names);
    free(ck->entry_file);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

static rms_status ensure_open(st_checkpoint *ck, int i, rms_err *err) {
    if (ck->files[i].fd >= 0) return RMS_OK;
    char *path = path_join(ck->dir, ck->file_names[i]);
    if (!path) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_status st = st_file_open(&ck->files[i], path, err);
    free(path);
    return st;
}

static rms_status check_view(const st_tensor_info *t, const char *file, int ndim,
                             const int64_t *shape, rms_err *err) {
    char have[ST_SHAPE_TEXT_MAX], want[ST_SHAPE_TEXT_MAX];
    if (!t->dtype_supported)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s in %s has dtype %s; rmscore reads F32, F16 "
                        "and BF16", t->name, file, t->dtype_name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s in %s has shape %s, expected %s", t->name,
                        file, shape_text(have, sizeof have, t->ndim, t->shape),
                        shape_text(want, sizeof want, ndim, shape));
    return RMS_OK;
}

rms_status st_checkpoint_get(st_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                             st_view *out, rms_err *err) {
    RMS_ASSERT(ndim >= 0 && ndim <= ST_MAX_DIMS && (ndim == 0 || shape));
    char *const *hit = ck->n_entries ? bsearch(&name, ck->entry_names, (size_t)ck->n_entries,
                                               sizeof *ck->entry_names, cmp_str_ptr)
                                     : NULL;
    if (!hit)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s not found in %s/%s", name, ck->dir,
                        ck->sharded ? ST_INDEX_NAME : ST_SINGLE_NAME);
    int fi = ck->entry_file[hit - ck->entry_names];
    rms_status st = ensure_open(ck, fi, err);
    if (st != RMS_OK) return st;
    const st_tensor_info *t = st_file_find(&ck->files[fi], name);
    if (!t)
        return rms_fail(err, RMS_ERR_FORMAT, "tensor %s: %s maps it to %s, which has no such tensor",
                        name, ST_INDEX_NAME, ck->file_names[fi]);
    st = check_view(t, ck->file_names[fi], ndim, shape, err);
    if (st != RMS_OK) return st;
    out->data = st_file_data(&ck->files[fi], t);
    out->dtype = t->dtype;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->file = ck->file_names[fi];
    return RMS_OK;
}

/* ---------------------------------------------------------------- writing */

/* Validates the table (names, dims, sizes) and sums the data section size. */
static rms_status check_writer_table(const st_writer_tensor *tensors, int64_t n, uint64_t *total,
                                     rms_err *err) {
    *total = 0;
    for (int64_t i = 0; i < n; i++) {
        const st_writer_tensor *t = &tensors[i];
        int ok = t->name && strcmp(t->name, "__metadata__") != 0 && t->ndim >= 0 &&
                 t->ndim <= ST_MAX_DIMS;
        if (!ok) return rms_fail(err, RMS_ERR_ARG, "tensor #%" PRId64 ": bad name or ndim", i);
        uint64_t nbytes = tensor_nbytes(t->ndim, t->shape, rms_dtype_size(t->dtype), &ok);
        if (!ok || __builtin_add_overflow(*total, nbytes, total))
            return rms_fail(err, RMS_ERR_ARG, "tensor %s: negative or too large shape", t->name);
    }
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    if (!names) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) names[i] = tensors[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    rms_status st = RMS_OK;
    for (int64_t i = 1; i < n && st == RMS_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = rms_fail(err, RMS_ERR_ARG, "tensor %s: appears twice in the table", names[i]);
    free(names);
    return st;
}

/* Appends a JSON integer written exactly (cJSON would print large doubles with an exponent). */
static int add_u64(cJSON *array, uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON *item = cJSON_CreateRaw(buf);
    if (item && cJSON_AddItemToArray(array, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

static int add_writer_entry(cJSON *root, const st_writer_tensor *t, uint64_t begin, uint64_t end) {
    cJSON *e = cJSON_AddObjectToObject(root, t->name);
    int ok = e && cJSON_AddStringToObject(e, "dtype", rms_dtype_name(t->dtype));
    cJSON *shape = ok ? cJSON_AddArrayToObject(e, "shape") : NULL;
    ok = shape != NULL;
    for (int d = 0; ok && d < t->ndim; d++) ok = add_u64(shape, (uint64_t)t->shape[d]);
    cJSON *offsets = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
    return offsets && add_u64(offsets, begin) && add_u64(offsets, end);
}

/* Header JSON with offsets in table order; NULL when out of memory. Free with cJSON_free. */
static char *writer_header(const st_writer_tensor *tensors, int64_t n, const char *format) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && format) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta && cJSON_AddStringToObject(meta, "format", format);
    }
    uint64_t offset = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        int fits;
        const st_writer_tensor *t = &tensors[i];
        uint64_t nbytes = tensor_nbytes(t->ndim, t->shape, rms_dtype_size(t->dtype), &fits);
        ok = add_writer_entry(root, t, offset, offset + nbytes);
        offset += nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static int write_le64(FILE *fp, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, sizeof b, fp) == sizeof b;
}

/* 8-byte length, header, spaces up to a multiple of 8 bytes. */
static rms_status write_header(st_writer *w, const char *header, rms_err *err) {
    static const char spaces[8] = "        ";
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    int ok = write_le64(w->fp, padded) && fwrite(header, 1, len, w->fp) == len &&
             fwrite(spaces, 1, padded - len, w->fp) == padded - len;
    return ok ? RMS_OK : rms_fail(err, RMS_ERR_IO, "cannot write: %s", strerror(errno));
}

rms_status st_writer_open(st_writer *w, const char *path, const st_writer_tensor *tensors, int64_t n,
                          const char *metadata_format, rms_err *err) {
    memset(w, 0, sizeof *w);
    RMS_ASSERT(n >= 0 && (n == 0 || tensors));
    rms_status st = check_writer_table(tensors, n, &w->total_bytes, err);
    char *header = st == RMS_OK ? writer_header(tensors, n, metadata_format) : NULL;
    if (st == RMS_OK && !header) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK && !(w->path = strdup(path))) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK && !(w->fp = fopen(path, "wb")))
        st = rms_fail(err, RMS_ERR_IO, "cannot create: %s", strerror(errno));
    if (st == RMS_OK) st = write_header(w, header, err);
    cJSON_free(header);
    if (st != RMS_OK) {
        rms_fail_prefix(err, st, "%s", path);
        if (w->fp) fclose(w->fp);
        free(w->path);
        memset(w, 0, sizeof *w);
    }
    return st;
}

rms_status st_writer_write(st_writer *w, const void *data, size_t nbytes, rms_err *err) {
    RMS_ASSERT(w->fp);
    if (nbytes > w->total_bytes - w->written)
        return rms_fail(err, RMS_ERR_ARG, "%s: writing %zu bytes would pass the declared data size "
                        "(%" PRIu64 " of %" PRIu64 " bytes written)", w->path, nbytes, w->written,
                        w->total_bytes);
    if (nbytes && fwrite(data, 1, nbytes, w->fp) != nbytes)
        return rms_fail(err, RMS_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    w->written += nbytes;
    return RMS_OK;
}

rms_status st_writer_close(st_writer *w, rms_err *err) {
    rms_status st = RMS_OK;
    if (w->fp && w->written != w->total_bytes)
        st = rms_fail(err, RMS_ERR_ARG, "%s: %" PRIu64 " of %" PRIu64 " data bytes written", w->path,
                      w->written, w->total_bytes);
    if (w->fp && fclose(w->fp) != 0 && st == RMS_OK)
        st = rms_fail(err, RMS_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    free(w->path);
    memset(w, 0, sizeof *w);
    return st;
}

static rms_status write_text(const char *path, const char *text, rms_err *err) {
    FILE *fp = fopen(path, "w");
    if (!fp) return rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fputs(text, fp) >= 0 && fputc('\n', fp) != EOF;
    ok = (fclose(fp) == 0) && ok;
    return ok ? RMS_OK : rms_fail(err, RMS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
}

static cJSON *index_json(uint64_t total_size, const char *const *names, const char *const *files,
                         int64_t n) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = root ? cJSON_AddObjectToObject(root, "metadata") : NULL;
    char size[24];
    snprintf(size, sizeof size, "%" PRIu64, total_size); /* exact, as a raw JSON integer */
    int ok = meta && cJSON_AddRawToObject(meta, "total_size", size);
    cJSON *map = ok ? cJSON_AddObjectToObject(root, "weight_map") : NULL;
    ok = map != NULL;
    for (int64_t i = 0; ok && i < n; i++) ok = cJSON_AddStringToObject(map, names[i], files[i]) != NULL;
    if (ok) return root;
    cJSON_Delete(root);
    return NULL;
}

rms_status st_write_index(const char *dir, uint64_t total_size, const char *const *names,
                          const char *const *files, int64_t n, rms_err *err) {
    for (int64_t i = 0; i < n; i++)
        if (!names[i] || !files[i] || !is_plain_file_name(files[i]))
            return rms_fail(err, RMS_ERR_ARG, "%s: index entry #%" PRId64 " needs a tensor name and "
                            "a file name without '/'", dir, i);
    cJSON *root = index_json(total_size, names, files, n);
    char *text = root ? cJSON_Print(root) : NULL;
    char *path = path_join(dir, ST_INDEX_NAME);
    rms_status st = text && path ? write_text(path, text, err)
                                 : rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    cJSON_free(text);
    cJSON_Delete(root);
    free(path);
    return st;
}
