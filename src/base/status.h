/* status.h — error codes and the error message carrier shared by every module.
 *
 * Two tiers of errors (see ../shared/style.md):
 *   - bugs: RMS_ASSERT aborts with file:line;
 *   - what users can cause (bad files, bad input, out of memory): functions return an
 *     rms_status and fill an rms_err with one human-readable line. Only main prints it.
 *
 * Ownership: rms_err is a plain value (fixed buffer), owned by the caller; nothing to free.
 */
#ifndef RMS_STATUS_H
#define RMS_STATUS_H

#include <stdio.h>
#include <stdlib.h>

typedef enum rms_status {
    RMS_OK = 0,
    RMS_ERR_ARG = 1,      /* bad command-line argument or API misuse a user can cause */
    RMS_ERR_IO = 2,       /* open/read/write/mmap failed */
    RMS_ERR_FORMAT = 3,   /* malformed or mismatched file (safetensors, config.json, ...) */
    RMS_ERR_INPUT = 4,    /* malformed input data (stdin lines, datasets) */
    RMS_ERR_NOMEM = 5,    /* allocation failed */
    RMS_ERR_UNSUPPORTED = 6, /* valid but not supported (another architecture, dtype, ...) */
    RMS_ERR_PEER = 7         /* another MPI rank failed (it reports the cause); this one just stops */
} rms_status;

#define RMS_ERR_MSG_MAX 1024

typedef struct rms_err {
    char msg[RMS_ERR_MSG_MAX]; /* one line, no trailing newline, no "rmscore: error:" prefix */
} rms_err;

/* Formats msg into err (if err is non-NULL) and returns status. */
rms_status rms_fail(rms_err *err, rms_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the current message: "<prefix>: <old message>". Returns status unchanged. */
rms_status rms_fail_prefix(rms_err *err, rms_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define RMS_ASSERT(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "rmscore: internal error: %s:%d: assertion `%s` failed\n", \
                    __FILE__, __LINE__, #cond);                                        \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif
