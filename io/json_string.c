#include "io/json_string.h"

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

static int put_utf8(rms_text *out, unsigned cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return rms_text_append(out, b, n);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Decodes the escape after a backslash at *pp; advances *pp. Returns 0, -1 (bad escape), -2 (OOM). */
static int decode_escape(const char **pp, const char *end, rms_text *out) {
    const char *p = *pp;
    if (p >= end) return -1;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = memchr(from, *p, sizeof from - 1);
    if (k) {
        *pp = p + 1;
        return rms_text_append(out, &to[k - from], 1) ? -2 : 0;
    }
    unsigned cp, lo;
    if (*p != 'u' || hex4(p + 1, end, &cp) != 0) return -1;
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; // lone low surrogate
    if (cp >= 0xD800 && cp <= 0xDBFF) {           // needs its low half
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *pp = p;
    return put_utf8(out, cp) ? -2 : 0;
}

rms_status rms_json_decode_string_line(const char *line, size_t len, rms_text *out, rms_err *err) {
    rms_text_clear(out);
    const char *p = line, *end = line + len;
    while (p < end && is_ws(*p)) p++;
    if (p >= end) return rms_fail(err, RMS_ERR_INPUT, "empty line (expected a JSON string)");
    if (*p != '"') return rms_fail(err, RMS_ERR_INPUT, "not a JSON string");
    p++;
    for (;;) {
        if (p >= end) return rms_fail(err, RMS_ERR_INPUT, "unterminated JSON string");
        const char c = *p;
        if (c == '"') break;
        if ((unsigned char)c < 0x20) return rms_fail(err, RMS_ERR_INPUT, "raw control character in a JSON string (escape it)");
        if (c == '\\') {
            p++;
            const int rc = decode_escape(&p, end, out);
            if (rc == -2) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            if (rc != 0) return rms_fail(err, RMS_ERR_INPUT, "bad escape or lone surrogate in a JSON string");
            continue;
        }
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        if (rms_text_append(out, run, (size_t)(p - run)) != 0) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    p++;
    while (p < end && is_ws(*p)) p++;
    if (p != end) return rms_fail(err, RMS_ERR_INPUT, "text after the JSON string");
    return RMS_OK;
}

int rms_json_has_nul_escape(const char *json) {
    for (const char *p = json; (p = strstr(p, "\\u")) != NULL; p += 2) {
        size_t backslashes = 0;
        for (const char *q = p; q >= json && *q == '\\'; q--) backslashes++;
        if (backslashes % 2 == 1 && strncmp(p + 2, "0000", 4) == 0) return 1;
    }
    return 0;
}
