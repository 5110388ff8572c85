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
    RMS_OK = 0,              /* success: the only spelling of it */
    RMS_ERR_USAGE = 1,       /* bad command line or run config (exit status 2) */
    RMS_ERR_ARG = 2,         /* a bad value reaching a library call: a range, a row, a layer split */
    RMS_ERR_IO = 3,          /* open/read/write/mmap or MPI communication failed */
    RMS_ERR_FORMAT = 4,      /* malformed or mismatched file (safetensors, config.json, ...) */
    RMS_ERR_INPUT = 5,       /* malformed input data (stdin lines, datasets) */
    RMS_ERR_NOMEM = 6,       /* allocation failed */
    RMS_ERR_UNSUPPORTED = 7, /* valid but not supported (another architecture, dtype, ...) */
    RMS_ERR_PEER = 8,        /* another MPI rank failed (it reports the cause); this one just stops */
    RMS_INTERRUPTED = 9,     /* stopped on request (SIGINT/SIGTERM) with the work so far saved: rerun to resume */
    RMS_HELP = 10,           /* --help was given: the caller prints the usage; nothing else to do (exit 0) */
    RMS_BAD_ROWS = 11,       /* the job completed, but rows of its input are bad and --strict asked to say so (exit 4) */
} rms_status;

/* The process exit status for a command's final status: 0 done (RMS_OK, RMS_HELP), 2 usage
 * (RMS_ERR_USAGE), 3 interrupted and resumable (RMS_INTERRUPTED), 4 done with bad input rows under --strict
 * (RMS_BAD_ROWS), 1 any other error. */
int rms_status_exit_code(rms_status st);

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
