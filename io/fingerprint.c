/* fingerprint.c — SHA-256 of a checkpoint's config.json, safetensors files and index, as a manifest (see
 * fingerprint.h). Files are hashed in parallel, one per thread, largest first. */
#define _GNU_SOURCE
#include "io/fingerprint.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/safetensors.h"
#include "io/sha256.h"

#define CONFIG_NAME "config.json"

typedef struct fp_file {
    char *name; // base name, owned
    char *path; // dir/name, owned
    uint64_t size;
    char hex[65];
    rms_status st;
    rms_err err;
} fp_file;

typedef struct fp_queue {
    fp_file *files; // (n)
    int *order;     // (n) largest first
    int n, next;
    pthread_mutex_t mu;
} fp_queue;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *hash_worker(void *arg) {
    fp_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        const int k = q->next < q->n ? q->order[q->next++] : -1;
        pthread_mutex_unlock(&q->mu);
        if (k < 0) return NULL;
        fp_file *f = &q->files[k];
        f->st = rms_sha256_file(f->path, f->hex, &f->err);
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const fp_file *)a)->name, ((const fp_file *)b)->name);
}

typedef struct size_index {
    uint64_t size;
    int index;
} size_index;

static int by_size_desc(const void *a, const void *b) {
    const size_index *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : x->index - y->index;
}

/* Adds dir/name to files (stat'ed: it must be a regular file). */
static rms_status add_file(fp_file *files, int *n, const char *dir, const char *name, rms_err *err) {
    fp_file *f = &files[*n];
    memset(f, 0, sizeof *f);
    const size_t len = strlen(dir) + strlen(name) + 2;
    f->name = strdup(name);
    f->path = malloc(len);
    if (!f->name || !f->path) {
        free(f->name);
        free(f->path);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    snprintf(f->path, len, "%s/%s", dir, name);
    (*n)++;
    struct stat sb;
    if (stat(f->path, &sb) != 0) return rms_fail(err, RMS_ERR_IO, "%s: cannot fingerprint the model: %s", f->path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rms_fail(err, RMS_ERR_IO, "%s: cannot fingerprint the model: not a regular file", f->path);
    f->size = (uint64_t)sb.st_size;
    return RMS_OK;
}

/* The files of the fingerprint: config.json, the weight files of the checkpoint, its index if sharded. */
static rms_status list_files(const char *dir, fp_file **out, int *n, rms_err *err) {
    *out = NULL;
    *n = 0;
    st_checkpoint ck;
    rms_status st = st_checkpoint_open(&ck, dir, err);
    if (st != RMS_OK) return st;
    fp_file *files = calloc((size_t)ck.n_files + 2, sizeof *files);
    if (!files) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK) st = add_file(files, n, dir, CONFIG_NAME, err);
    for (int i = 0; st == RMS_OK && i < ck.n_files; i++) st = add_file(files, n, dir, ck.file_names[i], err);
    if (st == RMS_OK && ck.sharded) st = add_file(files, n, dir, ST_INDEX_NAME, err);
    st_checkpoint_close(&ck);
    *out = files;
    return st;
}

static void free_files(fp_file *files, int n) {
    for (int i = 0; files && i < n; i++) {
        free(files[i].name);
        free(files[i].path);
    }
    free(files);
}

/* Runs the hashing on up to threads threads; the first failure (in name order) is the status. */
static rms_status hash_files(fp_file *files, int n, int threads, rms_err *err) {
    fp_queue q = {.files = files, .n = n};
    q.order = malloc((size_t)(n > 0 ? n : 1) * sizeof *q.order);
    size_index *by_size = malloc((size_t)(n > 0 ? n : 1) * sizeof *by_size);
    if (!q.order || !by_size) {
        free(q.order);
        free(by_size);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) by_size[i] = (size_index){files[i].size, i};
    qsort(by_size, (size_t)n, sizeof *by_size, by_size_desc);
    for (int i = 0; i < n; i++) q.order[i] = by_size[i].index;
    free(by_size);
    pthread_mutex_init(&q.mu, NULL);
    const int nt = threads < 1 ? 1 : threads > n ? n : threads;
    pthread_t *tid = calloc((size_t)(nt > 1 ? nt - 1 : 1), sizeof *tid);
    int started = 0;
    for (int t = 0; tid && t < nt - 1; t++, started++)
        if (pthread_create(&tid[t], NULL, hash_worker, &q) != 0) break; // fewer threads: still correct
    hash_worker(&q);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    free(tid);
    pthread_mutex_destroy(&q.mu);
    free(q.order);
    for (int i = 0; i < n; i++)
        if (files[i].st != RMS_OK) {
            if (err) *err = files[i].err;
            return rms_fail_prefix(err, files[i].st, "cannot fingerprint the model");
        }
    return RMS_OK;
}

rms_status rms_model_fingerprint_compute(rms_model_fingerprint *fp, const char *dir, int threads, rms_err *err) {
    memset(fp, 0, sizeof *fp);
    const double t0 = now_seconds();
    fp_file *files;
    int n;
    rms_status st = list_files(dir, &files, &n, err);
    if (st == RMS_OK) st = hash_files(files, n, threads, err);
    char *manifest = NULL;
    size_t len = 0;
    if (st == RMS_OK) {
        qsort(files, (size_t)n, sizeof *files, by_name);
        size_t cap = 1;
        for (int i = 0; i < n; i++) cap += 64 + 2 + strlen(files[i].name) + 1;
        if (!(manifest = malloc(cap))) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        for (int i = 0; st == RMS_OK && i < n; i++) {
            len += (size_t)sprintf(manifest + len, "%s  %s\n", files[i].hex, files[i].name);
            fp->bytes += files[i].size;
        }
    }
    if (st == RMS_OK) st = rms_sha256_bytes(manifest, len, fp->sha256, err);
    if (st == RMS_OK) {
        fp->n_files = n;
        if (len < sizeof fp->manifest) {
            memcpy(fp->manifest, manifest, len + 1);
        } else { // whole lines that fit, then a line saying how many are left out
            size_t keep = 0;
            int kept = 0;
            for (const char *p = manifest; *p; kept++) {
                const size_t line = (size_t)(strchr(p, '\n') - p) + 1;
                if (keep + line + 64 >= sizeof fp->manifest) break;
                keep += line;
                p += line;
            }
            memcpy(fp->manifest, manifest, keep);
            snprintf(fp->manifest + keep, sizeof fp->manifest - keep, "... %d more files\n", n - kept);
        }
        fp->seconds = now_seconds() - t0;
    }
    free(manifest);
    free_files(files, n);
    if (st != RMS_OK) memset(fp, 0, sizeof *fp);
    return st;
}

/* The hex digest of name's line in manifest m (64 chars, not NUL-terminated), or NULL. */
static const char *manifest_find(const char *m, const char *name, size_t name_len) {
    for (const char *p = m; p && *p;) {
        const char *end = strchr(p, '\n');
        const size_t line = end ? (size_t)(end - p) : strlen(p);
        if (line == 66 + name_len && p[64] == ' ' && p[65] == ' ' && strncmp(p + 66, name, name_len) == 0) return p;
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* Appends to out the files of manifest a missing from b and, when a_first, those whose digests differ. */
static void diff_one_way(const char *a, const char *b, int a_first, char *out, size_t cap) {
    for (const char *p = a; p && *p;) {
        const char *end = strchr(p, '\n');
        const size_t line = end ? (size_t)(end - p) : strlen(p);
        if (line > 66 && p[64] == ' ' && p[65] == ' ') {
            const char *name = p + 66;
            const size_t name_len = line - 66;
            const char *other = manifest_find(b, name, name_len);
            const size_t used = strlen(out);
            if (!other && used + 1 < cap)
                snprintf(out + used, cap - used, "%s%.*s only in the %s", used ? "; " : "", (int)name_len, name,
                         a_first ? "first" : "second");
            else if (other && a_first && strncmp(other, p, 64) != 0 && used + 1 < cap)
                snprintf(out + used, cap - used, "%s%.*s: sha256 %.12s... vs %.12s...", used ? "; " : "",
                         (int)name_len, name, p, other);
        }
        p = end ? end + 1 : NULL;
    }
}

void rms_fingerprint_manifest_diff(const char *a, const char *b, char *out, size_t cap) {
    if (cap == 0) return;
    out[0] = '\0';
    if (!a || !b || !*a || !*b) return;
    diff_one_way(a, b, 1, out, cap);
    diff_one_way(b, a, 0, out, cap);
}
