/* json_string.h — exact decoding of JSON string literals, NUL characters included (cJSON stops C
 * strings at U+0000, so lines that are one JSON string are decoded here).
 * Decoded text goes into a caller-owned rms_text. */
#ifndef RMS_JSON_STRING_H
#define RMS_JSON_STRING_H

#include <stddef.h>

#include "src/base/status.h"
#include "src/base/text.h"

/* line (len bytes) must be one JSON string, optionally surrounded by whitespace (a trailing newline
 * included). Escapes \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs joined) are decoded; a lone
 * surrogate, a raw control character, a bad escape or trailing text is an RMS_ERR_INPUT error. Raw
 * bytes are copied as they are (UTF-8 validity is the tokenizer's check). out is replaced. */
rms_status rms_json_decode_string_line(const char *line, size_t len, rms_text *out, rms_err *err);

/* 1 if the JSON text holds a \u0000 escape (outside an escaped backslash), else 0. */
int rms_json_has_nul_escape(const char *json);

#endif
