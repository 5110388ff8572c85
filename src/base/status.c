#include "src/base/status.h"

#include <stdarg.h>
#include <string.h>

rms_status rms_fail(rms_err *err, rms_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

rms_status rms_fail_prefix(rms_err *err, rms_status status, const char *fmt, ...) {
    if (err) {
        char old[RMS_ERR_MSG_MAX];
        memcpy(old, err->msg, sizeof old);
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        size_t used = k < 0 ? 0 : (size_t)k < sizeof err->msg ? (size_t)k : sizeof err->msg - 1;
        const size_t room = sizeof err->msg - used;
        if (room > 2) {
            err->msg[used++] = ':';
            err->msg[used++] = ' ';
            const size_t n = strnlen(old, room - 3);
            memcpy(err->msg + used, old, n);
            err->msg[used + n] = '\0';
        }
    }
    return status;
}

int rms_status_exit_code(rms_status st) {
    switch (st) {
    case RMS_OK:
    case RMS_HELP: return 0;
    case RMS_ERR_USAGE: return 2;
    case RMS_INTERRUPTED: return 3;
    case RMS_BAD_ROWS: return 4;
    default: return 1;
    }
}
