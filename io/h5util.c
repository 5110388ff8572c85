/* h5util.c — HDF5 helpers shared by pairs_h5.c and scores_h5.c (see h5util.h). */
#define _GNU_SOURCE /* memmem */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ HDF5 error handling */

void rms_h5_process_init(void) { H5dont_atexit(); }

void rms_h5_quiet_begin(rms_h5_quiet *q) {
    q->saved = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void rms_h5_quiet_end(const rms_h5_quiet *q) {
    if (q->saved) H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* Keeps the first (most specific) description of the error stack, on one line. The file drivers' "file write
 * failed: time = ..., filename = ..., errno = 28, error message = 'No space left on device', buf = ..." becomes
 * "file write failed: No space left on device". */
static herr_t h5_first_desc(unsigned n, const H5E_error2_t *e, void *data) {
    if (n != 0 || !e->desc) return 0;
    char *d = data;
    static const char tag[] = "error message = '";
    const char *colon = strchr(e->desc, ':'), *m = strstr(e->desc, tag);
    const char *os = m ? m + sizeof tag - 1 : NULL, *end = os ? strchr(os, '\'') : NULL; // the OS error text
    if (colon && end && colon < m)
        snprintf(d, 512, "%.*s: %.*s", (int)(colon - e->desc), e->desc, (int)(end - os), os);
    else
        snprintf(d, 512, "%s", e->desc);
    for (char *p = d; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    return 0;
}

rms_status rms_h5_fail(rms_err *err, rms_status st, const char *path, const char *obj, const char *what) {
    char detail[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_first_desc, detail); // the most specific error first
    return rms_fail(err, st, "%s: %s%s%s%s%s%s", path, obj ? obj : "", obj ? ": " : "", what,
                    detail[0] ? " (HDF5: " : "", detail, detail[0] ? ")" : "");
}

void rms_h5_close_id(hid_t *id, herr_t (*close_fn)(hid_t)) {
    if (*id >= 0) close_fn(*id);
    *id = H5I_INVALID_HID;
}

/* ------------------------------------------------------------------ attributes */

hid_t rms_h5_utf8_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int rms_h5_write_str_attr(hid_t obj, const char *name, const char *value) {
    int ok = 0;
    hid_t t = rms_h5_utf8_str_type(), sp = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (t >= 0 && sp >= 0) {
        const htri_t exists = H5Aexists(obj, name);
        if (exists >= 0 && (exists == 0 || H5Adelete(obj, name) >= 0)) {
            a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
            ok = a >= 0 && H5Awrite(a, t, &value) >= 0;
        }
    }
    rms_h5_close_id(&a, H5Aclose);
    rms_h5_close_id(&sp, H5Sclose);
    rms_h5_close_id(&t, H5Tclose);
    return ok;
}

int rms_h5_write_i64_attr(hid_t obj, const char *name, int64_t value) {
    int ok = 0;
    hid_t sp = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (sp >= 0) {
        const htri_t exists = H5Aexists(obj, name);
        if (exists >= 0 && (exists == 0 || H5Adelete(obj, name) >= 0)) {
            a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
            ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0;
        }
    }
    rms_h5_close_id(&a, H5Aclose);
    rms_h5_close_id(&sp, H5Sclose);
    return ok;
}

rms_status rms_h5_open_attr(hid_t obj, const char *objname, const char *name, H5T_class_t cls, const char *path,
                            hid_t *attr, hid_t *type, rms_err *err) {
    *attr = *type = H5I_INVALID_HID;
    const htri_t exists = H5Aexists(obj, name);
    if (exists < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, objname, "cannot look up an attribute");
    if (exists == 0) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: missing attribute %s", path, objname, name);
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (*attr < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, objname, "cannot open an attribute");
    *type = H5Aget_type(*attr);
    hid_t sp = H5Aget_space(*attr);
    const hssize_t npoints = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    rms_h5_close_id(&sp, H5Sclose);
    if (*type < 0 || H5Tget_class(*type) != cls || npoints != 1) {
        rms_h5_close_id(type, H5Tclose);
        rms_h5_close_id(attr, H5Aclose);
        return rms_fail(err, RMS_ERR_FORMAT, "%s: %s: attribute %s is not a single %s", path, objname, name,
                        cls == H5T_STRING ? "string" : "integer");
    }
    return RMS_OK;
}

rms_status rms_h5_read_str_attr(hid_t obj, const char *objname, const char *name, char *out, size_t cap,
                                const char *path, rms_err *err) {
    hid_t a, t;
    out[0] = '\0';
    rms_status st = rms_h5_open_attr(obj, objname, name, H5T_STRING, path, &a, &t, err);
    if (st != RMS_OK) return st;
    const htri_t is_var = H5Tis_variable_str(t);
    char *s = NULL;
    size_t fixed_size = 0;
    herr_t rc = -1;
    if (is_var > 0) {
        rc = H5Aread(a, t, &s); // t from H5Aget_type is usable as the memory type
    } else if (is_var == 0) {
        fixed_size = H5Tget_size(t);
        s = fixed_size ? calloc(fixed_size + 1, 1) : NULL;
        rc = s ? H5Aread(a, t, s) : -1;
    }
    if (rc < 0) {
        st = rms_h5_fail(err, RMS_ERR_FORMAT, path, objname, "cannot read a string attribute");
    } else {
        const char *v = s ? s : "";
        const size_t len = strlen(v);
        if (len >= cap)
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: %s: attribute %s is too long (%zu bytes, at most %zu)", path,
                          objname, name, len, cap - 1);
        else
            memcpy(out, v, len + 1);
    }
    if (is_var > 0)
        H5free_memory(s);
    else
        free(s);
    rms_h5_close_id(&t, H5Tclose);
    rms_h5_close_id(&a, H5Aclose);
    if (st == RMS_OK) return st;
    out[0] = '\0';
    return st;
}

rms_status rms_h5_read_i64_attr(hid_t obj, const char *objname, const char *name, int64_t *out, const char *path,
                                rms_err *err) {
    hid_t a, t;
    rms_status st = rms_h5_open_attr(obj, objname, name, H5T_INTEGER, path, &a, &t, err);
    if (st != RMS_OK) return st;
    if (H5Aread(a, H5T_NATIVE_INT64, out) < 0)
        st = rms_h5_fail(err, RMS_ERR_FORMAT, path, objname, "cannot read an attribute");
    rms_h5_close_id(&t, H5Tclose);
    rms_h5_close_id(&a, H5Aclose);
    return st;
}

rms_status rms_h5_read_str_attr_or(hid_t obj, const char *objname, const char *name, const char *dflt, char *out,
                                   size_t cap, const char *path, rms_err *err) {
    const htri_t exists = H5Aexists(obj, name);
    if (exists < 0) return rms_h5_fail(err, RMS_ERR_FORMAT, path, objname, "cannot look up an attribute");
    if (exists == 0) {
        snprintf(out, cap, "%s", dflt);
        return RMS_OK;
    }
    return rms_h5_read_str_attr(obj, objname, name, out, cap, path, err);
}

/* ---------------------------------------------------------------- global heap check (rms_h5_check_heaps) */

#define GCOL_HEADER 16  /* "GCOL", version, 3 reserved, 8-byte collection size */
#define GCOL_OBJ_HEADER 16 /* 2-byte index, 2-byte reference count, 4 reserved, 8-byte object size */
#define GCOL_MIN_SIZE 4096 /* H5HG_MINSIZE */

static uint64_t le_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* NULL if the collection at c (avail bytes to the end of the file) parses as HDF5 1.10 parses it
 * (H5HG__cache_heap_deserialize) with every object inside it; else what is wrong. */
static const char *gcol_problem(const uint8_t *c, uint64_t avail) {
    const uint64_t size = le_u64(c + 8);
    if (size < GCOL_MIN_SIZE) return "collection smaller than 4096 bytes";
    if (size > avail) return "collection runs past the end of the file";
    uint64_t at = GCOL_HEADER;
    while (at < size) {
        if (size - at < GCOL_OBJ_HEADER) break; // too small for an object header: free space, as HDF5 takes it
        const unsigned idx = (unsigned)c[at] | (unsigned)c[at + 1] << 8;
        const uint64_t obj = le_u64(c + at + 8);
        if (obj > size - at) return "an object larger than its collection";
        // an object: its header and its data padded to 8 bytes; the free-space object (index 0): its size
        const uint64_t need = idx > 0 ? GCOL_OBJ_HEADER + ((obj + 7) & ~(uint64_t)7) : obj;
        if (need < GCOL_OBJ_HEADER || need > size - at) return "an object that does not fit its collection";
        at += need;
    }
    return NULL;
}

rms_status rms_h5_check_heaps(const char *path, rms_err *err) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) return RMS_OK; // HDF5 names the problem
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < GCOL_HEADER ||
        (int64_t)sb.st_size > RMS_H5_HEAP_CHECK_MAX) {
        close(fd);
        return RMS_OK;
    }
    const size_t n = (size_t)sb.st_size;
    const uint8_t *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return RMS_OK;
    rms_status st = RMS_OK;
    for (const uint8_t *p = m; st == RMS_OK && (size_t)(p - m) + GCOL_HEADER <= n;) {
        const uint8_t *hit = memmem(p, n - (size_t)(p - m), "GCOL", 4);
        if (!hit || (size_t)(hit - m) + GCOL_HEADER > n) break;
        // a collection header: version 1 and zero reserved bytes (other bytes that spell GCOL are data)
        if (hit[4] == 1 && hit[5] == 0 && hit[6] == 0 && hit[7] == 0) {
            const char *why = gcol_problem(hit, n - (size_t)(hit - m));
            if (why)
                st = rms_fail(err, RMS_ERR_FORMAT, "%s: damaged HDF5 global heap at byte %lld (%s): the file is "
                              "corrupt", path, (long long)(hit - m), why);
        }
        p = hit + 4;
    }
    munmap((void *)m, n);
    return st;
}

/* ---- recorded variable-length buffers (rms_h5_vlen_arena) */

static void *vlen_alloc(size_t size, void *info) {
    rms_h5_vlen_arena *a = info;
    if (a->n == a->cap) {
        const size_t cap = a->cap ? 2 * a->cap : 256;
        void **b = realloc(a->block, cap * sizeof *b);
        if (!b) return NULL; // HDF5 fails the read
        a->block = b;
        a->cap = cap;
    }
    void *p = malloc(size ? size : 1);
    if (p) a->block[a->n++] = p;
    return p;
}

static void vlen_release(void *mem, void *info) {
    rms_h5_vlen_arena *a = info;
    if (!mem) return;
    for (size_t i = a->n; i-- > 0;) // the latest blocks first: HDF5 frees what it just allocated
        if (a->block[i] == mem) {
            a->block[i] = NULL;
            break;
        }
    free(mem);
}

rms_status rms_h5_vlen_init(rms_h5_vlen_arena *a, const char *path, rms_err *err) {
    a->block = NULL;
    a->n = a->cap = 0;
    a->dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (a->dxpl < 0 || H5Pset_vlen_mem_manager(a->dxpl, vlen_alloc, a, vlen_release, a) < 0) {
        rms_h5_close_id(&a->dxpl, H5Pclose);
        return rms_h5_fail(err, RMS_ERR_IO, path, NULL, "cannot set up a read");
    }
    return RMS_OK;
}

void rms_h5_vlen_free(rms_h5_vlen_arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->block[i]);
    free(a->block);
    a->block = NULL;
    a->n = a->cap = 0;
    rms_h5_close_id(&a->dxpl, H5Pclose);
}

/* ---------------------------------------------------------------- probing in a child (rms_h5_probe) */

/* Waits for the probe's child: RMS_OK when it exited 0, else the damaged-file error. */
static rms_status probe_wait(const char *path, pid_t pid, rms_err *err) {
    struct timespec start, now;
    struct stat sb;
    const double limit = RMS_H5_PROBE_TIMEOUT + (stat(path, &sb) == 0 ? (double)sb.st_size / RMS_H5_PROBE_BYTES_PER_S : 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    long nap_ns = 100000; // 0.1 ms, doubling up to 20 ms: a quick probe is waited for quickly
    for (;;) {
        int wst;
        const pid_t r = waitpid(pid, &wst, WNOHANG);
        if (r == pid) {
            if (WIFSIGNALED(wst))
                return rms_fail(err, RMS_ERR_FORMAT, "%s: damaged HDF5 file: reading its metadata crashed HDF5 (signal "
                                "%d, %s)", path, WTERMSIG(wst), strsignal(WTERMSIG(wst)));
            if (WIFEXITED(wst) && WEXITSTATUS(wst) != 0) // e.g. a sanitizer's report (exit status 1) in an ASan build
                return rms_fail(err, RMS_ERR_FORMAT, "%s: damaged HDF5 file: reading its metadata crashed HDF5 (exit "
                                "status %d)", path, WEXITSTATUS(wst));
            return RMS_OK;
        }
        if (r < 0 && errno != EINTR) return RMS_OK; // not ours to wait for (SIGCHLD ignored): no verdict
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &wst, 0);
            return rms_fail(err, RMS_ERR_FORMAT, "%s: damaged HDF5 file: HDF5 did not finish reading its metadata "
                            "within %.0f s", path, limit);
        }
        const struct timespec nap = {0, nap_ns};
        nanosleep(&nap, NULL);
        if (nap_ns < 20000000) nap_ns *= 2;
    }
}

/* The probe's verdict as the child sends it: its status and message. */
typedef struct probe_answer {
    int status;
    char msg[RMS_ERR_MSG_MAX];
} probe_answer;

rms_status rms_h5_probe(const char *path, rms_status (*probe)(void *arg, rms_err *err), void *arg, rms_err *err) {
    fflush(NULL); // the child ends with _exit and never flushes, but leave no buffered output behind a fork
    int fds[2];
    if (pipe(fds) != 0) return RMS_OK;
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return RMS_OK;
    }
    if (pid == 0) { // the child: silent, no core file; it exits 0 after answering, anything else is a crash
        const int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        const struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        rms_err e = {{0}};
        probe_answer a = {(int)probe(arg, &e), {0}};
        memcpy(a.msg, e.msg, sizeof a.msg);
        a.msg[sizeof a.msg - 1] = '\0';
        const int ok = write(fds[1], &a, sizeof a) == (ssize_t)sizeof a; // < the pipe's capacity: never blocks
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    rms_status st = probe_wait(path, pid, err);
    probe_answer a = {RMS_OK, {0}};
    fcntl(fds[0], F_SETFL, O_NONBLOCK); // a child not waited for (SIGCHLD ignored) may not have answered yet
    if (st == RMS_OK && read(fds[0], &a, sizeof a) == (ssize_t)sizeof a && a.status != RMS_OK) {
        a.msg[sizeof a.msg - 1] = '\0';
        st = rms_fail(err, (rms_status)a.status, "%s", a.msg);
    }
    close(fds[0]);
    return st;
}
