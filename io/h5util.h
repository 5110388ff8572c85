/* h5util.h — HDF5 helpers shared by the io/ file formats (pairs_h5, scores_h5): a quiet error stack, error
 * messages that carry HDF5's innermost error text, handle closing, and scalar string / int64 attributes.
 *
 * Errors: functions returning rms_status fill err with "<path>: <object>: <what> (HDF5: <detail>)"; the int
 * writers return 1 on success, 0 on failure (the caller then reports it with rms_h5_fail, which reads the
 * HDF5 error stack that failure left).
 * Ownership: nothing here keeps a pointer it is given. Every hid_t handed out (rms_h5_utf8_str_type, the
 * *attr and *type of rms_h5_open_attr) is the caller's to close (rms_h5_close_id). Strings read go into
 * caller buffers.
 */
#ifndef RMS_H5UTIL_H
#define RMS_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/status.h"

/* Call at the start of main, before any other HDF5 call: HDF5 will not run its clean-up at exit (H5dont_atexit).
 * After a failed close (a full disk, a file-size limit) HDF5 1.10 keeps the file half-closed and its clean-up at
 * exit crashes on it (SIGSEGV in H5F__close_cb); rmscore closes every file it opens itself. */
void rms_h5_process_init(void);

/* Silences HDF5's automatic error printing for the duration of one public call, restoring the caller's
 * setting afterwards (no process-wide change). */
typedef struct rms_h5_quiet {
    H5E_auto2_t func;
    void *data;
    int saved;
} rms_h5_quiet;

void rms_h5_quiet_begin(rms_h5_quiet *q);
void rms_h5_quiet_end(const rms_h5_quiet *q);

/* Fails with "<path>: <obj>: <what> (HDF5: <innermost HDF5 error>)"; obj NULL for the file itself. Returns st.
 * A failed read or write of the file names the OS error: "(HDF5: file write failed: No space left on device)". */
rms_status rms_h5_fail(rms_err *err, rms_status st, const char *path, const char *obj, const char *what);

/* Closes *id with close_fn if it is valid and sets it to H5I_INVALID_HID. */
void rms_h5_close_id(hid_t *id, herr_t (*close_fn)(hid_t));

/* A variable-length UTF-8 string type (caller closes), or H5I_INVALID_HID. */
hid_t rms_h5_utf8_str_type(void);

/* Write (replacing) a scalar attribute of obj: a variable-length UTF-8 string (h5py reads it as str) or a
 * little-endian int64. 1 on success, 0 on failure. */
int rms_h5_write_str_attr(hid_t obj, const char *name, const char *value);
int rms_h5_write_i64_attr(hid_t obj, const char *name, int64_t value);

/* Opens attribute `name` of obj (named objname in messages, path is the file) holding exactly one element of
 * class cls; *attr and *type are the caller's to close. On failure both are H5I_INVALID_HID. */
rms_status rms_h5_open_attr(hid_t obj, const char *objname, const char *name, H5T_class_t cls, const char *path,
                            hid_t *attr, hid_t *type, rms_err *err);

/* Reads a string attribute (variable-length or fixed-size, any character set) into out (cap bytes with the
 * NUL); out is "" on failure. */
rms_status rms_h5_read_str_attr(hid_t obj, const char *objname, const char *name, char *out, size_t cap,
                                const char *path, rms_err *err);

/* As rms_h5_read_str_attr, but when obj has no attribute `name` (files written before it was recorded), out is
 * dflt. */
rms_status rms_h5_read_str_attr_or(hid_t obj, const char *objname, const char *name, const char *dflt, char *out,
                                   size_t cap, const char *path, rms_err *err);

/* Reads an integer attribute as int64. */
rms_status rms_h5_read_i64_attr(hid_t obj, const char *objname, const char *name, int64_t *out, const char *path,
                                rms_err *err);

/* Files up to this size get their global heaps checked by rms_h5_check_heaps (every scores file of a realistic
 * size; pairs files of up to ~10^5 pairs); a larger file is opened without the check (scanning it would read all
 * of it at every start). */
#define RMS_H5_HEAP_CHECK_MAX ((int64_t)1 << 30)

/* Checks the global heap collections of the HDF5 file at path (up to RMS_H5_HEAP_CHECK_MAX bytes) before HDF5
 * reads it: HDF5 1.10 trusts their object sizes, and a damaged one makes it copy past its buffers (SIGSEGV) or
 * loop forever, inside the library, on the first variable-length string or array it reads. Every collection
 * ("GCOL", version 1) must lie inside the file, be at least 4096 bytes, and hold objects that tile it exactly, as
 * HDF5 parses them. A damaged one is RMS_ERR_FORMAT "<path>: damaged HDF5 global heap at byte N (...)"; a file
 * that cannot be opened or read is left to HDF5 to report (RMS_OK). */
rms_status rms_h5_check_heaps(const char *path, rms_err *err);

/* Seconds rms_h5_probe waits for its child before it counts the file as one HDF5 cannot finish reading: this
 * much, plus one second per RMS_H5_PROBE_BYTES_PER_S bytes of the file (a slow file system reading a large file's
 * columns). */
#define RMS_H5_PROBE_TIMEOUT 5.0
#define RMS_H5_PROBE_BYTES_PER_S 1e8

/* Runs probe(arg) — the reads a caller is about to do on the HDF5 file at path (open, layout, attributes,
 * fixed-size columns), returning their status and message — in a forked child first. HDF5 1.10 has no checksums on its metadata and trusts what it
 * finds there: a damaged object header or variable-length descriptor makes it crash (SIGSEGV) or loop inside the
 * library. A child that ends by a signal or does not end in time (RMS_H5_PROBE_TIMEOUT above) gives
 * RMS_ERR_FORMAT "<path>: damaged HDF5 file: reading its metadata crashed HDF5 (signal 11, ...)"; so does a child
 * that exits with a non-zero status (a sanitizer's report in an ASan build). A child that gets through gives what
 * probe returned, its message passed back through a pipe (so the caller need not repeat reads that failed, which
 * on a damaged file can take seconds); RMS_OK: the caller does its own reads. The child's stdout and stderr go to
 * /dev/null, it writes no core file and ends with _exit (no atexit handlers, no stdio flush). If fork fails the
 * probe is skipped (RMS_OK). */
rms_status rms_h5_probe(const char *path, rms_status (*probe)(void *arg, rms_err *err), void *arg, rms_err *err);

/* The variable-length buffers HDF5 allocates during reads (strings, id arrays), recorded so that all are freed
 * afterwards, also when a read fails midway: HDF5 1.10 then loses the elements it had already converted (they sit
 * in its conversion buffer, out of H5Dvlen_reclaim's reach), so a corrupt file would leak them (found by fuzzing,
 * tests/fuzz/regressions/pairs-h5). Reads pass dxpl (a transfer property list whose vlen memory manager records
 * every block); the caller never frees the blocks itself: rms_h5_vlen_free frees them all and closes dxpl.
 * Ownership: the arena is caller-allocated; init/free pair (free is safe after a failed init). */
typedef struct rms_h5_vlen_arena {
    hid_t dxpl;   // H5P_DATASET_XFER with the recording allocator
    void **block; // (n) live blocks; NULL where HDF5 freed one itself
    size_t n, cap;
} rms_h5_vlen_arena;

rms_status rms_h5_vlen_init(rms_h5_vlen_arena *a, const char *path, rms_err *err);
void rms_h5_vlen_free(rms_h5_vlen_arena *a);

#endif
