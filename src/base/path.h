/* path.h — joining a directory and a file name into a fixed buffer, refusing (never truncating) what does not fit.
 *
 * Ownership: out is the caller's buffer; nothing is allocated.
 */
#ifndef RMS_PATH_H
#define RMS_PATH_H

#include <stddef.h>

#include "src/base/status.h"

/* out[cap] = "<dir>/<name>". A result of cap bytes or more (NUL included) is RMS_ERR_ARG "<dir>/<name>: path too
 * long (N bytes, the limit is cap - 1)" with out left empty. */
rms_status rms_path_join(char *out, size_t cap, const char *dir, const char *name, rms_err *err);

#endif
