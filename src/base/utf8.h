/* utf8.h — UTF-8 code points and Python's idea of whitespace, for the tokenizer's neighbours (chat templates,
 * JSON strings). Decoding is lenient: a byte that does not start a complete sequence decodes as itself (one
 * byte), so callers never read past len; validity is checked where it matters (the tokenizer). Nothing to free. */
#ifndef RMS_UTF8_H
#define RMS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/text.h"

/* The code point at s[i] (i < len); *next is the index after it. */
uint32_t rms_utf8_decode(const char *s, size_t len, size_t i, size_t *next);
/* Writes cp's UTF-8 bytes into out; returns how many (1 to 4). */
size_t rms_utf8_encode(char out[4], uint32_t cp);
/* Appends cp's UTF-8 bytes to t: 0, or -1 when out of memory. */
int rms_utf8_append(rms_text *t, uint32_t cp);
/* The number of code points in s (bytes that are not continuation bytes). */
int64_t rms_utf8_count(const char *s, size_t len);

/* Python's str.isspace() for one code point. */
int rms_py_isspace(uint32_t cp);
/* Python's str.strip() without arguments: the [*start, *end) byte range of s without the whitespace around it. */
void rms_py_strip(const char *s, size_t len, size_t *start, size_t *end);

#endif
