/* json_value.h — JSON text to a tree of values, as Python's json.loads reads it, for the rows and
 * conversations rmscore renders (cJSON cannot: its strings stop at U+0000).
 *
 * - Strict as json.loads: whitespace is space, tab, CR, LF; no comments, trailing commas, leading zeros,
 *   single quotes; the literals NaN, Infinity and -Infinity are read (as json.loads reads them) as floats.
 * - Strings keep their length: U+0000 and any other character a JSON string can spell survive. They are
 *   decoded with the same escape decoder as `tokenize` (json_string.c): \uXXXX surrogate pairs joined; a raw
 *   control character or a bad escape is an error, and so is a lone surrogate (Python accepts one, but it has
 *   no UTF-8 form). Raw bytes are kept as they are (UTF-8 validity is the tokenizer's check).
 * - Objects keep their key order; a repeated key keeps its first place and takes the last value (Python's
 *   dict). Numbers: an integer literal (no fraction, no exponent) that fits in int64 is RMS_JSON_INT; a
 *   larger one is RMS_JSON_BIGINT, kept as its literal text in s/len (Python reads it exactly; rmscore only
 *   writes it back), up to RMS_JSON_MAX_DIGITS digits (Python's int() limit; more is an error). Any other
 *   number is RMS_JSON_FLOAT, the double nearest to the literal as Python's float() gives it (1e400 -> inf).
 *   strtod and snprintf run in the C locale's number format (rmscore never calls setlocale).
 * - Nesting deeper than RMS_JSON_MAX_DEPTH is an error, never a stack overflow.
 * - Each node records the byte range of its text in the source ([src_start, src_end)), so a caller can
 *   keep a value's original spelling.
 *
 * Ownership: a rms_json_doc owns every node and string of the trees parsed into it or built in it
 * (one arena); rms_json_doc_free frees them all at once. Nodes are read-only after parsing; the builders
 * below make new nodes in a doc (for rows rmscore assembles itself, e.g. a RewardBench prompt + response).
 */
#ifndef RMS_JSON_VALUE_H
#define RMS_JSON_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/status.h"
#include "src/base/text.h"

#define RMS_JSON_MAX_DEPTH 256
#define RMS_JSON_MAX_DIGITS 4300

typedef enum rms_json_kind {
    RMS_JSON_NULL = 0,
    RMS_JSON_BOOL,
    RMS_JSON_INT,
    RMS_JSON_FLOAT,
    RMS_JSON_BIGINT, // an integer beyond int64: its literal (sign and digits) in s, len
    RMS_JSON_STRING,
    RMS_JSON_ARRAY,
    RMS_JSON_OBJECT,
} rms_json_kind;

typedef struct rms_json rms_json;

typedef struct rms_json_member {
    const char *key; /* NUL-terminated after key_len bytes; may hold NUL */
    size_t key_len;
    rms_json *value;
} rms_json_member;

struct rms_json {
    rms_json_kind kind;
    int boolean;               // BOOL
    int64_t i;                 // INT
    double f;                  // FLOAT
    const char *s;             // STRING: (len) bytes, NUL-terminated after them; may hold NUL; BIGINT: digits
    size_t len;                // STRING, BIGINT
    rms_json **items;          // ARRAY: (n)
    rms_json_member *members;  // OBJECT: (n), in source order
    int64_t n;                 // ARRAY, OBJECT
    size_t src_start, src_end; // byte range in the parsed text; 0, 0 for built nodes
};

typedef struct rms_json_doc rms_json_doc;

/* A new, empty doc to parse into and build in (several parses may share one); NULL when out of memory. */
rms_json_doc *rms_json_doc_new(void);
void rms_json_doc_free(rms_json_doc *doc);

/* Parses text (len bytes, not necessarily NUL-terminated; one JSON value, whitespace around it allowed,
 * nothing else) into doc; *root is the value (NULL on error). Errors are RMS_ERR_INPUT with the byte offset
 * from 0 and what was wrong ("invalid JSON at byte 17: expected ',' or '}'"), RMS_ERR_NOMEM when out of
 * memory. The offset is where json.loads reports its error (as bytes, not characters), except for what only
 * rmscore refuses (a lone surrogate, an integer of more than 4300 digits: refused wherever they are, even in a value a
 * repeated key drops) and for an unterminated string, always reported at its opening quote. On error, nodes
 * already made stay in doc until it is freed. */
rms_status rms_json_parse(rms_json_doc *doc, const char *text, size_t len, rms_json **root, rms_err *err);

/* The value of key (a C string) in an object; NULL when obj is not an object or has no such key. */
const rms_json *rms_json_get(const rms_json *obj, const char *key);

/* Builders: nodes in doc, strings copied into doc. NULL when out of memory. Arrays and objects are made with
 * room for n entries, all NULL / empty; fill items[i] / members[i] before use (writing an unfilled entry is
 * a bug: it asserts). A built tree may point at nodes parsed into the same doc, and share them. */
rms_json *rms_json_new_string(rms_json_doc *doc, const char *s, size_t len);
rms_json *rms_json_new_array(rms_json_doc *doc, int64_t n);
rms_json *rms_json_new_object(rms_json_doc *doc, int64_t n);
/* Sets members[i] of obj to (key, value), key copied into doc. 0, or -1 when out of memory. */
int rms_json_set_member(rms_json_doc *doc, rms_json *obj, int64_t i, const char *key, rms_json *value);

/* Appends v as Python's json.dumps(v, ensure_ascii=False, separators=(",", ":")) writes it (compact:
 * U+0000 and other control characters as \u00XX, '"' '\\' and \b \f \n \r \t escaped, all else raw;
 * floats as Python's repr; keys in order). 0, or -1 when out of memory. */
int rms_json_write(rms_text *out, const rms_json *v);

/* Appends the JSON string literal of s (len bytes) with quotes, as json.dumps escapes it: with ensure_ascii,
 * DEL and every character above U+007F as \uXXXX (lower-case hex; surrogate pairs above U+FFFF), else raw.
 * With ensure_ascii, s should be UTF-8: a byte that starts no valid UTF-8 sequence is written as \ufffd.
 * 0, or -1 when out of memory. */
int rms_json_write_string(rms_text *out, const char *s, size_t len, int ensure_ascii);

/* Appends Python's repr() of a float: the shortest digits that read back as f (the nearest to f among
 * them), in exponent form when the decimal exponent is < -4 or >= 16: "1.0", "0.1", "-0.0", "1e+16",
 * "1.5e-07", "inf", "-inf", "nan"; with json_style, "Infinity", "-Infinity", "NaN" as json.dumps writes
 * them. 0, or -1 when out of memory. */
int rms_json_write_float(rms_text *out, double f, int json_style);

#endif
