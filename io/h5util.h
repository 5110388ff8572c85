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

/* Silences HDF5's automatic error printing for the duration of one public call, restoring the caller's
 * setting afterwards (no process-wide change). */
typedef struct rms_h5_quiet {
    H5E_auto2_t func;
    void *data;
    int saved;
} rms_h5_quiet;

void rms_h5_quiet_begin(rms_h5_quiet *q);
void rms_h5_quiet_end(const rms_h5_quiet *q);

/* Fails with "<path>: <obj>: <what> (HDF5: <innermost HDF5 error>)"; obj NULL for the file itself. Returns st. */
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

#endif
