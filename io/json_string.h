/* json_string.h — exact decoding of JSON string literals, NUL characters included (cJSON stops C
 * strings at U+0000, so lines that are one JSON string are decoded here). One decoder of a literal's
 * body serves both the line reader below and the JSON parser (json_value.c).
 * Decoded text goes into a caller-owned rms_text.
 */
#ifndef RMS_JSON_STRING_H
#define RMS_JSON_STRING_H

#include <stddef.h>

#include "src/base/status.h"
#include "src/base/text.h"

/* What rms_json_decode_string_body found wrong (RMS_JSON_STRING_OK: nothing). */
typedef enum rms_json_string_error {
    RMS_JSON_STRING_OK = 0,
    RMS_JSON_STRING_UNTERMINATED,   /* no closing quote before the end of the text */
    RMS_JSON_STRING_CONTROL,        /* a raw control character U+0000..U+001F (must be escaped) */
    RMS_JSON_STRING_BAD_ESCAPE,     /* a backslash followed by something else than " \ / b f n r t u */
    RMS_JSON_STRING_BAD_U_ESCAPE,   /* \u not followed by four hex digits */
    RMS_JSON_STRING_LONE_SURROGATE, /* a \uXXXX surrogate without its other half (not representable in UTF-8) */
    RMS_JSON_STRING_NOMEM,          /* out of memory appending to out */
} rms_json_string_error;

/* A short description of e ("raw control character in a string", ...). Static; never NULL. */
const char *rms_json_string_error_text(rms_json_string_error e);

/* Decodes the body of a JSON string literal: body (len bytes) starts just after the opening quote.
 * Escapes \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs joined) are decoded; raw bytes are copied as
 * they are (UTF-8 validity is the caller's check). The decoded bytes are appended to out (not replaced).
 * On success *pos is the number of bytes read, the closing quote included. On an error *pos is the offset
 * in body of the fault, as Python's json reports it: the control character; the backslash of a bad escape
 * or of a lone surrogate; the 'u' of a bad \u escape; len for an unterminated string. */
rms_json_string_error rms_json_decode_string_body(const char *body, size_t len, rms_text *out, size_t *pos);

/* line (len bytes) must be one JSON string, optionally surrounded by whitespace (a trailing newline
 * included). Escapes are decoded as above; a lone surrogate, a raw control character, a bad escape or
 * trailing text is an RMS_ERR_INPUT error. out is replaced. */
rms_status rms_json_decode_string_line(const char *line, size_t len, rms_text *out, rms_err *err);


#endif
