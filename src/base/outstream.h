/* outstream.h — failing writes of a stdio stream (stdout above all) as an rms_status.
 *
 * stdio buffers: a write that fails (a full disk, /dev/full, a file-size limit, a closed pipe) sets the stream's
 * error flag and errno at the moment the buffer is written out, not when the caller printed. So a command that
 * prints data checks the stream after each unit it prints (rms_out_check: errno is then still the failing
 * write's) and main closes stdout at exit (rms_out_close), which writes what is still buffered.
 * The message is "writing <name>: <the OS error>", e.g. "writing standard output: No space left on device".
 *
 * Ownership: nothing is kept; the stream stays the caller's (rms_out_close closes it).
 */
#ifndef RMS_OUTSTREAM_H
#define RMS_OUTSTREAM_H

#include <stdio.h>

#include "src/base/status.h"

/* RMS_ERR_IO if f's error flag is set (call right after the writes, so that errno is theirs); else RMS_OK. */
rms_status rms_out_check(FILE *f, const char *name, rms_err *err);

/* Flushes and closes f; RMS_ERR_IO if a write failed now or earlier (the error flag), or the close failed. */
rms_status rms_out_close(FILE *f, const char *name, rms_err *err);

#endif
