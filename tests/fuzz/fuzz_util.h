/* fuzz_util.h — helpers shared by the fuzz targets tests/fuzz/fuzz-<name>.c (header-only; each target is one
 * translation unit built either as a libFuzzer executable or with replay.c).
 *
 * A target whose parser reads paths writes the input to a file in a private scratch directory made once per
 * process (under $TMPDIR, else /tmp; removed at exit). Everything here aborts on an environment failure (no
 * space for the scratch file): that is not a finding of the parser, and must not pass silently either.
 *
 * Ownership: fuzz_scratch_dir() and fuzz_path() return pointers to static storage, valid for the process;
 * fuzz_strndup's result is the caller's to free.
 */
#ifndef RMS_FUZZ_UTIL_H
#define RMS_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* snprintf into an array, aborting rather than truncating a path. */
#define FUZZ_PRINT(buf, ...)                                                  \
    do {                                                                      \
        if (snprintf(buf, sizeof buf, __VA_ARGS__) >= (int)sizeof buf) {      \
            fprintf(stderr, "fuzz: path too long: %s\n", buf);                \
            abort();                                                          \
        }                                                                     \
    } while (0)

static char fuzz_scratch[4096];

static inline void fuzz_rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[8192];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        FUZZ_PRINT(p, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) fuzz_rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static inline void fuzz_scratch_remove(void) {
    if (fuzz_scratch[0]) fuzz_rm_tree(fuzz_scratch);
}

/* The scratch directory of this process (made on first use). */
static inline const char *fuzz_scratch_dir(void) {
    if (!fuzz_scratch[0]) {
        const char *tmp = getenv("TMPDIR");
        FUZZ_PRINT(fuzz_scratch, "%s/rmscore-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_scratch)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_scratch_remove);
    }
    return fuzz_scratch;
}

/* SCRATCH/name (a static buffer per call site is not needed: callers copy or use it at once). */
static inline const char *fuzz_path(const char *name) {
    static char p[8192];
    FUZZ_PRINT(p, "%s/%s", fuzz_scratch_dir(), name);
    return p;
}

/* Writes size bytes to SCRATCH/name (replacing it); name may be "dir/file" (dir made if needed). */
static inline void fuzz_write_file(const char *name, const void *data, size_t size) {
    const char *slash = strchr(name, '/');
    if (slash) {
        char sub[256];
        FUZZ_PRINT(sub, "%.*s", (int)(slash - name), name);
        mkdir(fuzz_path(sub), 0700); // EEXIST after the first time
    }
    const char *p = fuzz_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing a scratch file");
        abort();
    }
}

/* A NUL-terminated copy of the input. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Reads every byte of p (what a caller does with data it got): makes ASan see a bad pointer or length. */
static inline unsigned fuzz_touch(const void *p, size_t n) {
    const volatile unsigned char *b = p;
    unsigned h = 0;
    for (size_t i = 0; i < n; i++) h = h * 31u + b[i];
    return h;
}

#endif
