/* outstream.c — failing writes of a stdio stream as an rms_status (see outstream.h). */
#include "src/base/outstream.h"

#include <errno.h>
#include <string.h>

/* errno of the failing write, or 0 when it is no longer known (the error flag was set by an earlier call). */
static rms_status out_fail(rms_err *err, const char *name, int e) {
    return rms_fail(err, RMS_ERR_IO, "writing %s: %s", name, e ? strerror(e) : "write error");
}

rms_status rms_out_check(FILE *f, const char *name, rms_err *err) {
    const int e = errno;
    return ferror(f) ? out_fail(err, name, e) : RMS_OK;
}

rms_status rms_out_close(FILE *f, const char *name, rms_err *err) {
    const int had_error = ferror(f);
    errno = 0;
    const int flush_failed = fflush(f) != 0;
    const int flush_errno = errno;
    errno = 0;
    const int close_failed = fclose(f) != 0;
    const int close_errno = errno;
    if (flush_failed || (had_error && flush_errno)) return out_fail(err, name, flush_errno);
    if (had_error) return out_fail(err, name, 0);
    if (close_failed) return out_fail(err, name, close_errno);
    return RMS_OK;
}
