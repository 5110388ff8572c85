#include "io/json_string.h"

#include "src/base/utf8.h"

#include <string.h>

static int hex4(const char *p, const char *end, unsigned *out) {
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}


static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

const char *rms_json_string_error_text(rms_json_string_error e) {
    switch (e) {
    case RMS_JSON_STRING_OK: return "no error";
    case RMS_JSON_STRING_UNTERMINATED: return "unterminated string";
    case RMS_JSON_STRING_CONTROL: return "raw control character in a string (it must be escaped)";
    case RMS_JSON_STRING_BAD_ESCAPE: return "invalid escape in a string";
    case RMS_JSON_STRING_BAD_U_ESCAPE: return "invalid \\uXXXX escape in a string";
    case RMS_JSON_STRING_LONE_SURROGATE: return "lone surrogate \\uXXXX escape in a string (not representable in UTF-8)";
    case RMS_JSON_STRING_NOMEM: return "out of memory";
    }
    return "unknown string error";
}

/* Decodes the escape whose backslash is body[*pos]; advances *pos past it, or sets it to the fault. */
static rms_json_string_error decode_escape(const char *body, size_t len, size_t *pos, rms_text *out) {
    const char *end = body + len, *bs = body + *pos, *p = bs + 1;
    if (p >= end) {
        *pos = len;
        return RMS_JSON_STRING_UNTERMINATED;
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = memchr(from, *p, sizeof from - 1);
    if (k) {
        *pos += 2;
        return rms_text_append(out, &to[k - from], 1) ? RMS_JSON_STRING_NOMEM : RMS_JSON_STRING_OK;
    }
    unsigned cp, lo;
    if (*p != 'u') return RMS_JSON_STRING_BAD_ESCAPE; // *pos: the backslash
    if (hex4(p + 1, end, &cp) != 0) {
        *pos = (size_t)(p - body);
        return RMS_JSON_STRING_BAD_U_ESCAPE;
    }
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return RMS_JSON_STRING_LONE_SURROGATE; // a low half first
    if (cp >= 0xD800 && cp <= 0xDBFF) {                                       // needs its low half next
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return RMS_JSON_STRING_LONE_SURROGATE;
        if (hex4(p + 2, end, &lo) != 0) {
            *pos = (size_t)(p + 1 - body);
            return RMS_JSON_STRING_BAD_U_ESCAPE;
        }
        if (lo < 0xDC00 || lo > 0xDFFF) return RMS_JSON_STRING_LONE_SURROGATE;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *pos = (size_t)(p - body);
    return rms_utf8_append(out, cp) ? RMS_JSON_STRING_NOMEM : RMS_JSON_STRING_OK;
}

rms_json_string_error rms_json_decode_string_body(const char *body, size_t len, rms_text *out, size_t *pos) {
    size_t i = 0;
    for (;;) {
        size_t run = i;
        while (i < len && body[i] != '"' && body[i] != '\\' && (unsigned char)body[i] >= 0x20) i++;
        if (i > run && rms_text_append(out, body + run, i - run) != 0) {
            *pos = run;
            return RMS_JSON_STRING_NOMEM;
        }
        if (i >= len) {
            *pos = len;
            return RMS_JSON_STRING_UNTERMINATED;
        }
        if (body[i] == '"') {
            *pos = i + 1;
            return RMS_JSON_STRING_OK;
        }
        if (body[i] != '\\') {
            *pos = i;
            return RMS_JSON_STRING_CONTROL;
        }
        const rms_json_string_error e = decode_escape(body, len, &i, out);
        if (e != RMS_JSON_STRING_OK) {
            *pos = i;
            return e;
        }
    }
}

rms_status rms_json_decode_string_line(const char *line, size_t len, rms_text *out, rms_err *err) {
    rms_text_clear(out);
    const char *p = line, *end = line + len;
    while (p < end && is_ws(*p)) p++;
    if (p >= end) return rms_fail(err, RMS_ERR_INPUT, "empty line (expected a JSON string)");
    if (*p != '"') return rms_fail(err, RMS_ERR_INPUT, "not a JSON string");
    p++;
    size_t used = 0;
    switch (rms_json_decode_string_body(p, (size_t)(end - p), out, &used)) {
    case RMS_JSON_STRING_OK: break;
    case RMS_JSON_STRING_UNTERMINATED: return rms_fail(err, RMS_ERR_INPUT, "unterminated JSON string");
    case RMS_JSON_STRING_CONTROL:
        return rms_fail(err, RMS_ERR_INPUT, "raw control character in a JSON string (escape it)");
    case RMS_JSON_STRING_NOMEM: return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    default: return rms_fail(err, RMS_ERR_INPUT, "bad escape or lone surrogate in a JSON string");
    }
    p += used;
    while (p < end && is_ws(*p)) p++;
    if (p != end) return rms_fail(err, RMS_ERR_INPUT, "text after the JSON string");
    return RMS_OK;
}

