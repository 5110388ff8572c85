#include "src/base/utf8.h"

uint32_t rms_utf8_decode(const char *str, size_t len, size_t i, size_t *next) {
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + n > len) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t k = 1; k < n; k++) cp = cp << 6 | (s[i + k] & 0x3Fu);
    *next = i + n;
    return cp;
}

size_t rms_utf8_encode(char b[4], uint32_t cp) {
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | cp >> 18);
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int rms_utf8_append(rms_text *t, uint32_t cp) {
    char b[4];
    return rms_text_append(t, b, rms_utf8_encode(b, cp));
}

int64_t rms_utf8_count(const char *s, size_t len) {
    int64_t k = 0;
    for (size_t i = 0; i < len; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

int rms_py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

void rms_py_strip(const char *s, size_t len, size_t *start, size_t *end) {
    size_t i = 0, next;
    while (i < len && rms_py_isspace(rms_utf8_decode(s, len, i, &next))) i = next;
    size_t e = len;
    while (e > i) {
        size_t b = e - 1;
        while (b > i && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        if (!rms_py_isspace(rms_utf8_decode(s, len, b, &next)) || next != e) break;
        e = b;
    }
    *start = i;
    *end = e;
}
