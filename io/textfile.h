/* textfile.h — reading a whole (small) text file, e.g. config.json, tokenizer.json, an index, as text
 * or as parsed JSON. The returned buffer (free()) or cJSON tree (cJSON_Delete) is owned by the caller. */
#ifndef RMS_TEXTFILE_H
#define RMS_TEXTFILE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "src/base/status.h"

/* Largest file read whole: 1 GiB. The biggest of these in published checkpoints is a tokenizer.json of ~35 MB
 * (Gemma 3); a larger file is refused before anything is allocated. */
#define RMS_TEXT_FILE_MAX ((int64_t)1 << 30)

/* Reads all of path into *out (*len bytes, not counting the added NUL; len may be NULL).
 * Errors: RMS_ERR_IO ("<path>: cannot open: ..."), RMS_ERR_FORMAT (larger than RMS_TEXT_FILE_MAX), RMS_ERR_NOMEM. */
rms_status rms_read_text_file(const char *path, char **out, size_t *len, rms_err *err);

/* Reads path and parses it as JSON into *out (free with cJSON_Delete). Errors: those of
 * rms_read_text_file, RMS_ERR_FORMAT ("<path>: not valid JSON"). */
rms_status rms_read_json_file(const char *path, cJSON **out, rms_err *err);

#endif
