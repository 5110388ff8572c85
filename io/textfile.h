/* textfile.h — reading a whole (small) text file, e.g. config.json, tokenizer.json, an index.
 * The returned buffer is NUL-terminated and owned by the caller (free()). */
#ifndef RMS_TEXTFILE_H
#define RMS_TEXTFILE_H

#include <stddef.h>

#include "src/base/status.h"

/* Reads all of path into *out (*len bytes, not counting the added NUL; len may be NULL).
 * Errors: RMS_ERR_IO ("<path>: cannot open: ..."), RMS_ERR_NOMEM. */
rms_status rms_read_text_file(const char *path, char **out, size_t *len, rms_err *err);

#endif
