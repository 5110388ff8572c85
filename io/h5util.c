/* h5util.c — HDF5 helpers shared by pairs_h5.c and scores_h5.c (see h5util.h). */
#include "io/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ HDF5 error handling */

void rms_h5_quiet_begin(rms_h5_quiet *q) {
    q->saved = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void rms_h5_quiet_end(const rms_h5_quiet *q) {
    if (q->saved) H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* Keeps the first (most specific) description of the error stack, on one line. */
static herr_t h5_first_desc(unsigned n, const H5E_error2_t *e, void *data) {
    if (n != 0 || !e->desc) return 0;
    char *d = data;
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
