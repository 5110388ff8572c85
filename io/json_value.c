/* json_value.c — the JSON reader and writer of json_value.h: a recursive-descent parser bounded by
 * RMS_JSON_MAX_DEPTH into a per-doc arena, and writers that print what Python's json.dumps prints. */
#include "io/json_value.h"

#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_string.h"

/* ------------------------------------------------------------------ arena */

#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK (1u << 20)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[]; // (cap)
} arena_chunk;

struct rms_json_doc {
    arena_chunk *chunks; // the head is the one being filled
    size_t next_cap;     // size of the next regular chunk
};

rms_json_doc *rms_json_doc_new(void) {
    rms_json_doc *doc = calloc(1, sizeof *doc);
    if (doc) doc->next_cap = ARENA_FIRST_CHUNK;
    return doc;
}

void rms_json_doc_free(rms_json_doc *doc) {
    if (!doc) return;
    for (arena_chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

/* n bytes aligned for any type, zeroed; NULL when out of memory. */
static void *arena_alloc(rms_json_doc *doc, size_t n) {
    const size_t align = alignof(max_align_t);
    if (n > SIZE_MAX - align) return NULL;
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    arena_chunk *head = doc->chunks;
    if (head && head->cap - head->used >= n) {
        void *p = head->data + head->used;
        head->used += n;
        memset(p, 0, n);
        return p;
    }
    if (n > doc->next_cap / 2) { // a block of its own, behind the head so the head stays in use
        arena_chunk *c = malloc(sizeof *c + n);
        if (!c) return NULL;
        c->cap = c->used = n;
        if (head) {
            c->next = head->next;
            head->next = c;
        } else {
            c->next = NULL;
            doc->chunks = c;
        }
        memset(c->data, 0, n);
        return c->data;
    }
    arena_chunk *c = malloc(sizeof *c + doc->next_cap);
    if (!c) return NULL;
    c->cap = doc->next_cap;
    c->used = n;
    c->next = head;
    doc->chunks = c;
    if (doc->next_cap < ARENA_MAX_CHUNK) doc->next_cap *= 2;
    memset(c->data, 0, n);
    return c->data;
}

/* A copy of s (len bytes) with a NUL after it. */
static char *arena_strdup(rms_json_doc *doc, const char *s, size_t len) {
    if (len == SIZE_MAX) return NULL;
    char *d = arena_alloc(doc, len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static rms_json *new_node(rms_json_doc *doc, rms_json_kind kind) {
    rms_json *v = arena_alloc(doc, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

/* ------------------------------------------------------------------ builders */

rms_json *rms_json_new_string(rms_json_doc *doc, const char *s, size_t len) {
    rms_json *v = new_node(doc, RMS_JSON_STRING);
    if (!v || !(v->s = arena_strdup(doc, s, len))) return NULL;
    v->len = len;
    return v;
}

rms_json *rms_json_new_array(rms_json_doc *doc, int64_t n) {
    RMS_ASSERT(n >= 0);
    rms_json *v = new_node(doc, RMS_JSON_ARRAY);
    if (!v || (uint64_t)n > SIZE_MAX / sizeof *v->items) return NULL;
    if (!(v->items = arena_alloc(doc, (size_t)n * sizeof *v->items))) return NULL;
    v->n = n;
    return v;
}

rms_json *rms_json_new_object(rms_json_doc *doc, int64_t n) {
    RMS_ASSERT(n >= 0);
    rms_json *v = new_node(doc, RMS_JSON_OBJECT);
    if (!v || (uint64_t)n > SIZE_MAX / sizeof *v->members) return NULL;
    if (!(v->members = arena_alloc(doc, (size_t)n * sizeof *v->members))) return NULL;
    v->n = n;
    return v;
}

int rms_json_set_member(rms_json_doc *doc, rms_json *obj, int64_t i, const char *key, rms_json *value) {
    RMS_ASSERT(obj && obj->kind == RMS_JSON_OBJECT && i >= 0 && i < obj->n);
    const size_t len = strlen(key);
    char *k = arena_strdup(doc, key, len);
    if (!k) return -1;
    obj->members[i].key = k;
    obj->members[i].key_len = len;
    obj->members[i].value = value;
    return 0;
}

const rms_json *rms_json_get(const rms_json *obj, const char *key) {
    if (!obj || obj->kind != RMS_JSON_OBJECT) return NULL;
    const size_t len = strlen(key);
    for (int64_t i = 0; i < obj->n; i++)
        if (obj->members[i].key_len == len && memcmp(obj->members[i].key, key, len) == 0) return obj->members[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ parser */

typedef struct parser {
    rms_json_doc *doc;
    const char *t; // (len) the text
    size_t len, pos;
    rms_json **items; // (cap_items) values of the open arrays, innermost last
    size_t n_items, cap_items;
    rms_json_member *members; // (cap_members) members of the open objects, innermost last
    size_t n_members, cap_members;
    rms_text scratch; // a decoded string before it is copied into the doc
    rms_err *err;
} parser;

static rms_status fail_at(parser *P, size_t at, const char *what) {
    return rms_fail(P->err, RMS_ERR_INPUT, "invalid JSON at byte %zu: %s", at, what);
}

static rms_status fail_nomem(parser *P) { return rms_fail(P->err, RMS_ERR_NOMEM, "out of memory"); }

static void skip_ws(parser *P) {
    while (P->pos < P->len) {
        const char c = P->t[P->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        P->pos++;
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Decodes the string literal at P->pos (a '"') into P->scratch; P->pos moves past it. */
static rms_status scan_string(parser *P) {
    const size_t start = P->pos;
    size_t used = 0;
    rms_text_clear(&P->scratch);
    if (!P->scratch.data) return fail_nomem(P);
    const rms_json_string_error e = rms_json_decode_string_body(P->t + start + 1, P->len - start - 1, &P->scratch, &used);
    if (e == RMS_JSON_STRING_NOMEM) return fail_nomem(P);
    if (e == RMS_JSON_STRING_UNTERMINATED) return fail_at(P, start, "unterminated string (it starts here)");
    if (e != RMS_JSON_STRING_OK) return fail_at(P, start + 1 + used, rms_json_string_error_text(e));
    P->pos = start + 1 + used;
    return RMS_OK;
}

/* A number as Python's json reads it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?; where the optional
 * parts do not match completely, the number ends before them. */
static rms_status parse_number(parser *P, rms_json **out) {
    const char *t = P->t;
    const size_t start = P->pos, len = P->len;
    size_t i = start;
    const int neg = t[i] == '-';
    if (neg) i++;
    if (i < len && t[i] == '0') i++;
    else if (i < len && t[i] >= '1' && t[i] <= '9')
        while (i < len && is_digit(t[i])) i++;
    else
        return fail_at(P, start, "expected a value");
    const size_t int_end = i;
    if (i + 1 < len && t[i] == '.' && is_digit(t[i + 1])) {
        i += 2;
        while (i < len && is_digit(t[i])) i++;
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        size_t q = i + 1;
        if (q < len && (t[q] == '+' || t[q] == '-')) q++;
        if (q < len && is_digit(t[q])) {
            i = q;
            while (i < len && is_digit(t[i])) i++;
        }
    }
    rms_json *v;
    if (i == int_end) { // an integer literal
        const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t u = 0;
        int big = 0;
        for (size_t k = start + (size_t)neg; k < i && !big; k++) {
            const unsigned d = (unsigned)(t[k] - '0');
            if (u > (limit - d) / 10) big = 1;
            else u = u * 10 + d;
        }
        if (big) { // kept as its digits (Python reads it exactly), up to Python's int() limit of 4300 digits
            if (i - start - (size_t)neg > RMS_JSON_MAX_DIGITS)
                return fail_at(P, start, "integer out of range (more than 4300 digits, Python's int() limit)");
            if (!(v = new_node(P->doc, RMS_JSON_BIGINT)) || !(v->s = arena_strdup(P->doc, t + start, i - start)))
                return fail_nomem(P);
            v->len = i - start;
        } else {
            if (!(v = new_node(P->doc, RMS_JSON_INT))) return fail_nomem(P);
            v->i = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        }
    } else { // strtod needs a NUL-terminated copy: the text need not end after the number
        char small[128], *buf = small;
        const size_t n = i - start;
        if (n >= sizeof small && !(buf = malloc(n + 1))) return fail_nomem(P);
        memcpy(buf, t + start, n);
        buf[n] = '\0';
        const double f = strtod(buf, NULL); // correctly rounded, as Python's float(); overflow gives ±inf
        if (buf != small) free(buf);
        if (!(v = new_node(P->doc, RMS_JSON_FLOAT))) return fail_nomem(P);
        v->f = f;
    }
    v->src_start = start;
    v->src_end = i;
    P->pos = i;
    *out = v;
    return RMS_OK;
}

static rms_status parse_value(parser *P, int depth, rms_json **out);

static rms_status push_item(parser *P, rms_json *v) {
    if (P->n_items == P->cap_items) {
        const size_t cap = P->cap_items ? 2 * P->cap_items : 64;
        rms_json **p = realloc(P->items, cap * sizeof *p);
        if (!p) return fail_nomem(P);
        P->items = p;
        P->cap_items = cap;
    }
    P->items[P->n_items++] = v;
    return RMS_OK;
}

static rms_status push_member(parser *P, const char *key, size_t key_len, rms_json *v) {
    if (P->n_members == P->cap_members) {
        const size_t cap = P->cap_members ? 2 * P->cap_members : 64;
        rms_json_member *p = realloc(P->members, cap * sizeof *p);
        if (!p) return fail_nomem(P);
        P->members = p;
        P->cap_members = cap;
    }
    P->members[P->n_members++] = (rms_json_member){.key = key, .key_len = key_len, .value = v};
    return RMS_OK;
}

static rms_status parse_array(parser *P, int depth, rms_json **out) {
    const size_t start = P->pos, base = P->n_items;
    P->pos++;
    skip_ws(P);
    if (P->pos < P->len && P->t[P->pos] == ']') {
        P->pos++;
    } else {
        for (;;) {
            rms_json *item;
            rms_status st = parse_value(P, depth, &item);
            if (st == RMS_OK) st = push_item(P, item);
            if (st != RMS_OK) return st;
            skip_ws(P);
            if (P->pos < P->len && P->t[P->pos] == ']') {
                P->pos++;
                break;
            }
            if (P->pos >= P->len || P->t[P->pos] != ',') return fail_at(P, P->pos, "expected ',' or ']'");
            P->pos++;
        }
    }
    const size_t n = P->n_items - base;
    rms_json *v = rms_json_new_array(P->doc, (int64_t)n);
    if (!v) return fail_nomem(P);
    if (n) memcpy(v->items, P->items + base, n * sizeof *v->items);
    P->n_items = base;
    v->src_start = start;
    v->src_end = P->pos;
    *out = v;
    return RMS_OK;
}

typedef struct key_ref {
    const char *key;
    size_t len;
    size_t index;
} key_ref;

static int key_ref_cmp(const void *pa, const void *pb) {
    const key_ref *a = pa, *b = pb;
    const size_t n = a->len < b->len ? a->len : b->len;
    const int c = memcmp(a->key, b->key, n);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int same_key(const rms_json_member *a, const rms_json_member *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Merges repeated keys of m[0..n) as Python's dict does (first place, last value); returns the new count. */
static rms_status dedupe_members(parser *P, rms_json_member *m, size_t n, size_t *n_out) {
    size_t k = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < k && !same_key(&m[j], &m[i])) j++;
            if (j < k) m[j].value = m[i].value;
            else m[k++] = m[i];
        }
        *n_out = k;
        return RMS_OK;
    }
    key_ref *refs = malloc(n * sizeof *refs);
    unsigned char *dead = calloc(n, 1);
    if (!refs || !dead) {
        free(refs);
        free(dead);
        return fail_nomem(P);
    }
    for (size_t i = 0; i < n; i++) refs[i] = (key_ref){m[i].key, m[i].key_len, i};
    qsort(refs, n, sizeof *refs, key_ref_cmp);
    for (size_t g = 0; g < n;) { // a run of equal keys, in source order
        size_t e = g + 1;
        while (e < n && refs[e].len == refs[g].len && memcmp(refs[e].key, refs[g].key, refs[g].len) == 0) e++;
        if (e - g > 1) {
            m[refs[g].index].value = m[refs[e - 1].index].value;
            for (size_t r = g + 1; r < e; r++) dead[refs[r].index] = 1;
        }
        g = e;
    }
    for (size_t i = 0; i < n; i++)
        if (!dead[i]) m[k++] = m[i];
    free(refs);
    free(dead);
    *n_out = k;
    return RMS_OK;
}

static rms_status parse_object(parser *P, int depth, rms_json **out) {
    const size_t start = P->pos, base = P->n_members;
    P->pos++;
    skip_ws(P);
    if (P->pos < P->len && P->t[P->pos] == '}') {
        P->pos++;
    } else {
        for (;;) {
            if (P->pos >= P->len || P->t[P->pos] != '"')
                return fail_at(P, P->pos, "expected a key (a string in double quotes)");
            rms_status st = scan_string(P);
            if (st != RMS_OK) return st;
            const char *key = arena_strdup(P->doc, P->scratch.data, P->scratch.len);
            if (!key) return fail_nomem(P);
            const size_t key_len = P->scratch.len;
            skip_ws(P);
            if (P->pos >= P->len || P->t[P->pos] != ':') return fail_at(P, P->pos, "expected ':'");
            P->pos++;
            rms_json *value;
            if ((st = parse_value(P, depth, &value)) != RMS_OK || (st = push_member(P, key, key_len, value)) != RMS_OK)
                return st;
            skip_ws(P);
            if (P->pos < P->len && P->t[P->pos] == '}') {
                P->pos++;
                break;
            }
            if (P->pos >= P->len || P->t[P->pos] != ',') return fail_at(P, P->pos, "expected ',' or '}'");
            P->pos++;
            skip_ws(P);
        }
    }
    size_t n = 0;
    // P->members is NULL until a first member is pushed: no pointer arithmetic on it for an empty object
    rms_status st = P->n_members > base ? dedupe_members(P, P->members + base, P->n_members - base, &n) : RMS_OK;
    if (st != RMS_OK) return st;
    rms_json *v = rms_json_new_object(P->doc, (int64_t)n);
    if (!v) return fail_nomem(P);
    if (n) memcpy(v->members, P->members + base, n * sizeof *v->members);
    P->n_members = base;
    v->src_start = start;
    v->src_end = P->pos;
    *out = v;
    return RMS_OK;
}

/* 1 if the text at P->pos starts with word. */
static int at_word(const parser *P, const char *word) {
    const size_t n = strlen(word);
    return P->len - P->pos >= n && memcmp(P->t + P->pos, word, n) == 0;
}

/* A literal word (null, true, false, NaN, Infinity, -Infinity) at P->pos. */
static rms_status parse_word(parser *P, const char *word, rms_json_kind kind, int boolean, double f, rms_json **out) {
    if (!at_word(P, word)) return fail_at(P, P->pos, "expected a value");
    rms_json *v = new_node(P->doc, kind);
    if (!v) return fail_nomem(P);
    v->boolean = boolean;
    v->f = f;
    v->src_start = P->pos;
    P->pos += strlen(word);
    v->src_end = P->pos;
    *out = v;
    return RMS_OK;
}

/* The value at P->pos (after whitespace), inside depth open arrays/objects. */
static rms_status parse_value(parser *P, int depth, rms_json **out) {
    skip_ws(P);
    if (P->pos >= P->len) return fail_at(P, P->pos, "expected a value");
    const char c = P->t[P->pos];
    switch (c) {
    case '[':
    case '{':
        if (depth >= RMS_JSON_MAX_DEPTH) {
            char what[96];
            snprintf(what, sizeof what, "nesting deeper than %d arrays and objects", RMS_JSON_MAX_DEPTH);
            return fail_at(P, P->pos, what);
        }
        return c == '[' ? parse_array(P, depth + 1, out) : parse_object(P, depth + 1, out);
    case '"': {
        const size_t start = P->pos;
        rms_status st = scan_string(P);
        if (st != RMS_OK) return st;
        rms_json *v = rms_json_new_string(P->doc, P->scratch.data, P->scratch.len);
        if (!v) return fail_nomem(P);
        v->src_start = start;
        v->src_end = P->pos;
        *out = v;
        return RMS_OK;
    }
    case 'n': return parse_word(P, "null", RMS_JSON_NULL, 0, 0.0, out);
    case 't': return parse_word(P, "true", RMS_JSON_BOOL, 1, 0.0, out);
    case 'f': return parse_word(P, "false", RMS_JSON_BOOL, 0, 0.0, out);
    case 'N': return parse_word(P, "NaN", RMS_JSON_FLOAT, 0, NAN, out);
    case 'I': return parse_word(P, "Infinity", RMS_JSON_FLOAT, 0, INFINITY, out);
    case '-':
        if (P->pos + 1 < P->len && P->t[P->pos + 1] == 'I') return parse_word(P, "-Infinity", RMS_JSON_FLOAT, 0, -INFINITY, out);
        return parse_number(P, out);
    default:
        if (is_digit(c)) return parse_number(P, out);
        return fail_at(P, P->pos, "expected a value");
    }
}

rms_status rms_json_parse(rms_json_doc *doc, const char *text, size_t len, rms_json **root, rms_err *err) {
    parser P = {.doc = doc, .t = text, .len = len, .err = err};
    rms_text_init(&P.scratch);
    rms_json *v = NULL;
    rms_status st = parse_value(&P, 0, &v);
    if (st == RMS_OK) {
        skip_ws(&P);
        if (P.pos != len) st = fail_at(&P, P.pos, "text after the JSON value");
    }
    free(P.items);
    free(P.members);
    rms_text_free(&P.scratch);
    *root = st == RMS_OK ? v : NULL;
    return st;
}

/* ------------------------------------------------------------------ writers */

/* The code point of the UTF-8 sequence at s[0..n) (n >= 1) and its length; 0 when invalid there. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp) {
    const unsigned c = s[0];
    size_t k;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) { k = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { k = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { k = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return k;
}

static int put_u_escape(rms_text *out, unsigned u) {
    char b[16];
    snprintf(b, sizeof b, "\\u%04x", u); // lower-case hex, as json.dumps
    return rms_text_append(out, b, 6);
}

int rms_json_write_string(rms_text *out, const char *s, size_t len, int ensure_ascii) {
    const unsigned char *u = (const unsigned char *)s;
    if (rms_text_append(out, "\"", 1)) return -1;
    size_t i = 0;
    while (i < len) {
        const size_t run = i;
        while (i < len && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && (!ensure_ascii || u[i] < 0x7F)) i++;
        if (i > run && rms_text_append(out, s + run, i - run)) return -1;
        if (i >= len) break;
        const unsigned char c = u[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc) {
            if (rms_text_append(out, esc, 2)) return -1;
            i++;
        } else if (c < 0x80) { // another control character, or DEL with ensure_ascii
            if (put_u_escape(out, c)) return -1;
            i++;
        } else { // ensure_ascii: a UTF-8 sequence
            unsigned cp;
            const size_t k = utf8_decode(u + i, len - i, &cp);
            if (k == 0) { // not UTF-8 (see the header)
                if (put_u_escape(out, 0xFFFD)) return -1;
                i++;
                continue;
            }
            if (cp > 0xFFFF) {
                cp -= 0x10000;
                if (put_u_escape(out, 0xD800 + (cp >> 10)) || put_u_escape(out, 0xDC00 + (cp & 0x3FF))) return -1;
            } else if (put_u_escape(out, cp)) {
                return -1;
            }
            i += k;
        }
    }
    return rms_text_append(out, "\"", 1);
}

/* d[0..n) (n digits, '1'..'9' first) plus or minus one unit in the last place; *e10 follows a carry/borrow
 * out of the first digit, so the result keeps n digits. */
static void step_digits(char *d, int n, int *e10, int up) {
    int i = n - 1;
    if (up) {
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i >= 0) {
            d[i]++;
        } else { // 99..9 + 1 = 100..0 with one more place
            d[0] = '1';
            (*e10)++;
        }
    } else {
        while (i >= 0 && d[i] == '0') d[i--] = '9';
        d[i]--; // i >= 0: the first digit is not 0
        if (d[0] == '0') { // 100..0 - 1 = 99..9 with one place less
            memset(d, '9', (size_t)n);
            (*e10)--;
        }
    }
}

/* x (finite, > 0) == strtod of the digits d[0..n) times 10^(e10 - n + 1)? */
static int digits_round_trip(const char *d, int n, int e10, double x) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.*se%d", n, d, e10 - n + 1);
    return strtod(buf, NULL) == x;
}

/* The shortest digits d (no trailing zeros) and exponent e10 with x == d[0].d[1..] * 10^e10 read back, the
 * nearest to x among them (what Python's repr prints). x finite, > 0. Returns the number of digits. */
static int shortest_digits(double x, char d[24], int *e10) {
    for (int p = 1; p <= 17; p++) {
        char buf[48];
        snprintf(buf, sizeof buf, "%.*e", p - 1, x); // correctly rounded to p digits: d.ddde±XX
        int n = 0;
        for (const char *q = buf; *q && *q != 'e'; q++)
            if (is_digit(*q)) d[n++] = *q;
        RMS_ASSERT(n == p);
        const int e = atoi(strchr(buf, 'e') + 1);
        int found = 0;
        *e10 = e;
        const double y = strtod(buf, NULL);
        if (y == x) {
            found = 1;
        } else { // the nearest p digits miss x's rounding interval; the p digits on x's other side may not
            char d2[24];
            int e2 = e;
            memcpy(d2, d, (size_t)p);
            step_digits(d2, p, &e2, y < x);
            if (digits_round_trip(d2, p, e2, x)) {
                memcpy(d, d2, (size_t)p);
                *e10 = e2;
                found = 1;
            }
        }
        if (found) {
            while (n > 1 && d[n - 1] == '0') n--;
            return n;
        }
    }
    RMS_ASSERT(0); // 17 significant digits always round-trip
    return 0;
}

int rms_json_write_float(rms_text *out, double f, int json_style) {
    if (isnan(f)) return rms_text_append_str(out, json_style ? "NaN" : "nan");
    if (isinf(f)) return rms_text_append_str(out, f > 0 ? (json_style ? "Infinity" : "inf") : (json_style ? "-Infinity" : "-inf"));
    if (f == 0.0) return rms_text_append_str(out, signbit(f) ? "-0.0" : "0.0");
    char d[24], buf[64];
    int e10;
    const int n = shortest_digits(fabs(f), d, &e10);
    size_t k = 0;
    if (f < 0) buf[k++] = '-';
    if (e10 < -4 || e10 >= 16) { // Python's repr switches to exponent form here
        buf[k++] = d[0];
        if (n > 1) {
            buf[k++] = '.';
            memcpy(buf + k, d + 1, (size_t)n - 1);
            k += (size_t)n - 1;
        }
        k += (size_t)snprintf(buf + k, sizeof buf - k, "e%+03d", e10);
    } else if (e10 >= 0) { // n digits, e10 + 1 of them before the point
        const int before = e10 + 1;
        for (int i = 0; i < before; i++) buf[k++] = i < n ? d[i] : '0';
        buf[k++] = '.';
        if (n > before) {
            memcpy(buf + k, d + before, (size_t)(n - before));
            k += (size_t)(n - before);
        } else {
            buf[k++] = '0';
        }
    } else { // 0.000ddd
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -e10 - 1; i++) buf[k++] = '0';
        memcpy(buf + k, d, (size_t)n);
        k += (size_t)n;
    }
    return rms_text_append(out, buf, k);
}

int rms_json_write(rms_text *out, const rms_json *v) {
    RMS_ASSERT(v != NULL); // a builder's slot left unfilled is a bug
    switch (v->kind) {
    case RMS_JSON_NULL: return rms_text_append_str(out, "null");
    case RMS_JSON_BOOL: return rms_text_append_str(out, v->boolean ? "true" : "false");
    case RMS_JSON_INT: {
        char b[32];
        const int n = snprintf(b, sizeof b, "%" PRId64, v->i);
        return rms_text_append(out, b, (size_t)n);
    }
    case RMS_JSON_FLOAT: return rms_json_write_float(out, v->f, 1);
    case RMS_JSON_BIGINT: return rms_text_append(out, v->s, v->len);
    case RMS_JSON_STRING: return rms_json_write_string(out, v->s, v->len, 0);
    case RMS_JSON_ARRAY:
        if (rms_text_append(out, "[", 1)) return -1;
        for (int64_t i = 0; i < v->n; i++)
            if ((i && rms_text_append(out, ",", 1)) || rms_json_write(out, v->items[i])) return -1;
        return rms_text_append(out, "]", 1);
    case RMS_JSON_OBJECT:
        if (rms_text_append(out, "{", 1)) return -1;
        for (int64_t i = 0; i < v->n; i++) {
            RMS_ASSERT(v->members[i].key != NULL);
            if ((i && rms_text_append(out, ",", 1)) ||
                rms_json_write_string(out, v->members[i].key, v->members[i].key_len, 0) ||
                rms_text_append(out, ":", 1) || rms_json_write(out, v->members[i].value))
                return -1;
        }
        return rms_text_append(out, "}", 1);
    }
    RMS_ASSERT(0);
    return -1;
}
