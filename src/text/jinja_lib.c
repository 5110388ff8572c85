/* jinja_lib.c — the values of the Jinja interpreter as Python and jinja2 have them (jinja_internal.h):
 * str()/repr(), ==, <, truth, operators, attribute and item lookup as the sandbox does it, json.dumps as
 * transformers' tojson, and the filters, tests, methods and globals of rmscore's subset (jinja.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wctype.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "src/base/utf8.h"
#include "src/text/jinja_internal.h"

#define MAX_RANGE 100000 // jinja2's sandbox refuses longer range()s

typedef struct jlib_state {
    locale_t utf8;          // C.UTF-8, for towupper_l / towlower_l
    pcre2_code *unprintable; // Python's not-printable classes (repr)
    pcre2_code *alpha;       // \p{L} (str.isalpha)
    pcre2_code *cased;       // \p{Lu}, \p{Ll}, \p{Lt}: cased letters (str.title)
    pcre2_match_data *md;
} jlib_state;

void jlib_state_free(jctx *c) {
    jlib_state *s = c->lib;
    if (!s) return;
    if (s->utf8) freelocale(s->utf8);
    pcre2_code_free(s->unprintable);
    pcre2_code_free(s->alpha);
    pcre2_code_free(s->cased);
    pcre2_match_data_free(s->md);
    free(s);
    c->lib = NULL;
}

static jlib_state *lib(jctx *c) {
    if (!c->lib && !(c->lib = calloc(1, sizeof *c->lib))) jfail_nomem(c);
    return c->lib;
}

/* ------------------------------------------------------------------ values */

jv jv_undef(const char *why) { return (jv){.kind = JK_UNDEF, .why = why}; }
jv jv_none(void) { return (jv){.kind = JK_NONE}; }
jv jv_bool(int b) { return (jv){.kind = JK_BOOL, .i = b != 0}; }
jv jv_int(int64_t i) { return (jv){.kind = JK_INT, .i = i}; }
jv jv_float(double f) { return (jv){.kind = JK_FLOAT, .f = f}; }
jv jv_str(const char *p, size_t n) { return (jv){.kind = JK_STR, .s = {p, n}}; }

int jv_new_str(jctx *c, const char *p, size_t n, jv *out) {
    char *s = ja_strdup(&c->arena, p, n);
    if (!s) return jfail_nomem(c);
    *out = jv_str(s, n);
    return 0;
}

static jv list_value(jlist *l, int tuple) { return (jv){.kind = JK_LIST, .tuple = tuple, .l = l}; }

jlist *jl_new(jctx *c, int64_t cap) {
    jlist *l = ja_alloc(&c->arena, sizeof *l);
    if (!l) return jfail_nomem(c), NULL;
    if (cap > 0 && !(l->v = ja_alloc(&c->arena, (size_t)cap * sizeof *l->v))) return jfail_nomem(c), NULL;
    l->cap = cap > 0 ? cap : 0;
    return l;
}

int jl_push(jctx *c, jlist *l, jv v) {
    if (l->n == l->cap) {
        const int64_t cap = l->cap ? 2 * l->cap : 8;
        jv *nv = ja_alloc(&c->arena, (size_t)cap * sizeof *nv);
        if (!nv) return jfail_nomem(c);
        if (l->n) memcpy(nv, l->v, (size_t)l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

jdict *jd_new(jctx *c, int64_t cap) {
    jdict *d = ja_alloc(&c->arena, sizeof *d);
    if (!d) return jfail_nomem(c), NULL;
    if (cap > 0) {
        d->k = ja_alloc(&c->arena, (size_t)cap * sizeof *d->k);
        d->v = ja_alloc(&c->arena, (size_t)cap * sizeof *d->v);
        if (!d->k || !d->v) return jfail_nomem(c), NULL;
        d->cap = cap;
    }
    return d;
}

const jv *jd_get(const jdict *d, jv k) {
    for (int64_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) return &d->v[i];
    return NULL;
}

const jv *jd_get_str(const jdict *d, const char *key) { return jd_get(d, jv_str(key, strlen(key))); }

int jd_set(jctx *c, jdict *d, jv k, jv v) {
    for (int64_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) {
            d->v[i] = v;
            return 0;
        }
    if (d->n == d->cap) {
        const int64_t cap = d->cap ? 2 * d->cap : 4;
        jv *nk = ja_alloc(&c->arena, (size_t)cap * sizeof *nk), *nv = ja_alloc(&c->arena, (size_t)cap * sizeof *nv);
        if (!nk || !nv) return jfail_nomem(c);
        if (d->n) {
            memcpy(nk, d->k, (size_t)d->n * sizeof *nk);
            memcpy(nv, d->v, (size_t)d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
    return 0;
}

int jv_from_json(jctx *c, const rms_json *j, jv *out) {
    if (!j) {
        *out = jv_none();
        return 0;
    }
    switch (j->kind) {
    case RMS_JSON_NULL: *out = jv_none(); return 0;
    case RMS_JSON_BOOL: *out = jv_bool(j->boolean); return 0;
    case RMS_JSON_INT: *out = jv_int(j->i); return 0;
    case RMS_JSON_FLOAT: *out = jv_float(j->f); return 0;
    case RMS_JSON_STRING: *out = jv_str(j->s, j->len); return 0; // the doc outlives the render
    case RMS_JSON_BIGINT: *out = (jv){.kind = JK_BIGINT, .s = {j->s, j->len}}; return 0;
    case RMS_JSON_ARRAY: {
        jlist *l = jl_new(c, j->n);
        if (!l) return -1;
        for (int64_t i = 0; i < j->n; i++)
            if (jv_from_json(c, j->items[i], &l->v[i]) != 0) return -1;
        l->n = j->n;
        *out = list_value(l, 0);
        return 0;
    }
    case RMS_JSON_OBJECT: {
        jdict *d = jd_new(c, j->n);
        if (!d) return -1;
        for (int64_t i = 0; i < j->n; i++) { // keys are distinct (the parser keeps one of each)
            if (jv_from_json(c, j->members[i].value, &d->v[i]) != 0) return -1;
            d->k[i] = jv_str(j->members[i].key, j->members[i].key_len);
        }
        d->n = j->n;
        *out = (jv){.kind = JK_DICT, .d = d};
        return 0;
    }
    }
    return jfail(c, NULL, "internal error: unknown JSON kind");
}

/* ------------------------------------------------------------------ UTF-8 */

/* Byte offset of code point index cp in s (cp <= count). */
static size_t u8_offset(const char *s, size_t n, int64_t cp) {
    size_t i = 0;
    for (int64_t k = 0; k < cp && i < n; k++) rms_utf8_decode(s, n, i, &i);
    return i;
}


static pcre2_code *compile_class(jctx *c, const char *pattern) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (!re) jfail(c, NULL, "internal error: cannot compile %s", pattern);
    return re;
}

/* Whether code point cp is in the class (compiled lazily into *re from pattern). */
static int in_class(jctx *c, pcre2_code **re, const char *pattern, uint32_t cp, int *result) {
    jlib_state *s = lib(c);
    if (!s) return -1;
    if (!*re && !(*re = compile_class(c, pattern))) return -1;
    if (!s->md && !(s->md = pcre2_match_data_create(4, NULL))) return jfail_nomem(c);
    char b[4];
    const size_t n = rms_utf8_encode(b, cp);
    const int rc = pcre2_match(*re, (PCRE2_SPTR)b, n, 0, PCRE2_ANCHORED, s->md, NULL);
    *result = rc >= 0;
    return 0;
}

static int py_isprintable(jctx *c, uint32_t cp, int *result) {
    if (cp < 0x80) {
        *result = cp >= 0x20 && cp < 0x7F;
        return 0;
    }
    jlib_state *s = lib(c);
    if (!s) return -1;
    int np;
    if (in_class(c, &s->unprintable, "[\\p{Cc}\\p{Cf}\\p{Cs}\\p{Co}\\p{Cn}\\p{Zl}\\p{Zp}\\p{Zs}]", cp, &np) != 0) return -1;
    *result = !np;
    return 0;
}

/* Characters whose Python upper()/lower() is more than one character or depends on context (SpecialCasing.txt:
 * ß, ŉ, ǰ, ΐ, final sigma, ﬀ, ...): rmscore refuses to case-map them rather than give different text. */
static int special_casing(uint32_t cp) {
    return cp == 0xDF || cp == 0x130 || cp == 0x149 || cp == 0x1F0 || cp == 0x390 || cp == 0x3A3 || cp == 0x3B0 ||
           cp == 0x587 || (cp >= 0x1E96 && cp <= 0x1E9A) || cp == 0x1E9E || (cp >= 0x1F50 && cp <= 0x1F56) ||
           (cp >= 0x1F80 && cp <= 0x1FFC) || (cp >= 0xFB00 && cp <= 0xFB17);
}

/* Characters whose title case is not their upper case (the digraphs Ǆ ǅ ǆ, Ǉ..., Ǳ..., Georgian letters):
 * refused where title case is asked for (title(), capitalize()). */
static int special_titlecase(uint32_t cp) {
    return (cp >= 0x1C4 && cp <= 0x1CC) || (cp >= 0x1F1 && cp <= 0x1F3) || (cp >= 0x10D0 && cp <= 0x10FF);
}

enum { CASE_UPPER, CASE_LOWER, CASE_CAPITALIZE, CASE_TITLE, CASE_SWAP };

/* cp in upper case (upper = 1; title = 1: title case, as the first letter of a word in title()/capitalize()) or
 * lower case. */
static int map_case(jctx *c, const jnode *n, uint32_t cp, int upper, int title, uint32_t *out) {
    if (cp < 0x80) {
        *out = upper ? (cp >= 'a' && cp <= 'z' ? cp - 32 : cp) : (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        return 0;
    }
    if (special_casing(cp) || (upper && title && special_titlecase(cp)))
        return jfail(c, n, "case mapping of U+%04X is outside rmscore's Jinja subset (Python maps it specially)", cp);
    jlib_state *s = lib(c);
    if (!s) return -1;
    if (!s->utf8 && !(s->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0)))
        return jfail(c, n, "case mapping of non-ASCII text needs the C.UTF-8 locale, which is missing");
    *out = upper ? (uint32_t)towupper_l((wint_t)cp, s->utf8) : (uint32_t)towlower_l((wint_t)cp, s->utf8);
    return 0;
}

/* str.isalpha's letters (\p{L}), or with cased only the letters that have case (what str.title() follows). */
static int is_letter(jctx *c, uint32_t cp, int cased, int *result) {
    if (cp < 0x80) {
        *result = (cp | 32) >= 'a' && (cp | 32) <= 'z';
        return 0;
    }
    jlib_state *s = lib(c);
    if (!s) return -1;
    return cased ? in_class(c, &s->cased, "[\\p{Lu}\\p{Ll}\\p{Lt}]", cp, result) : in_class(c, &s->alpha, "\\p{L}", cp, result);
}

/* upper/lower/capitalize/title (jinja2's title filter: words start after - space ( { [ <)/swapcase. */
static int case_string(jctx *c, const jnode *n, jv v, int mode, int jinja_title, jv *out) {
    rms_text t;
    rms_text_init(&t);
    int st = 0, word_start = 1, first = 1;
    for (size_t i = 0, next; st == 0 && i < v.s.n; i = next) {
        const uint32_t cp = rms_utf8_decode(v.s.p, v.s.n, i, &next);
        uint32_t m = cp;
        int upper;
        if (mode == CASE_UPPER) upper = 1;
        else if (mode == CASE_LOWER) upper = 0;
        else if (mode == CASE_CAPITALIZE) upper = first;
        else if (mode == CASE_SWAP) {
            uint32_t lo = cp;
            if ((st = map_case(c, n, cp, 0, 0, &lo)) != 0) break;
            upper = lo == cp;
        } else if (jinja_title) {
            upper = word_start;
            word_start = cp == '-' || rms_py_isspace(cp) || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        } else { // str.title(): a letter after a non-letter starts a word
            int cased;
            if ((st = is_letter(c, cp, 1, &cased)) != 0) break;
            upper = word_start;
            word_start = !cased;
        }
        first = 0;
        if ((st = map_case(c, n, cp, upper, mode == CASE_CAPITALIZE || mode == CASE_TITLE, &m)) != 0) break;
        char b[4];
        if (rms_text_append(&t, b, rms_utf8_encode(b, m)) != 0) st = jfail_nomem(c);
    }
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

/* ------------------------------------------------------------------ type names, truth, ==, < */

const char *jv_type_name(jv v) {
    switch (v.kind) {
    case JK_UNDEF: return "Undefined";
    case JK_NONE: return "NoneType";
    case JK_BOOL: return "bool";
    case JK_INT: return "int";
    case JK_FLOAT: return "float";
    case JK_BIGINT: return "int";
    case JK_STR: return "str";
    case JK_LIST: return v.tuple == 1 ? "tuple" : "list";
    case JK_DICT: return "dict";
    case JK_NS: return "Namespace";
    case JK_MACRO: return "Macro";
    case JK_FUNC: return "builtin_function_or_method";
    case JK_LOOP: return "LoopContext";
    }
    return "object";
}

int jv_truthy(jv v) {
    switch (v.kind) {
    case JK_UNDEF:
    case JK_NONE: return 0;
    case JK_BOOL:
    case JK_INT: return v.i != 0;
    case JK_FLOAT: return v.f != 0.0;
    case JK_STR: return v.s.n > 0;
    case JK_LIST: return v.l->n > 0;
    case JK_DICT: return v.d->n > 0;
    default: return 1;
    }
}

static int is_number(jv v) { return v.kind == JK_INT || v.kind == JK_BOOL || v.kind == JK_FLOAT; }
static double num(jv v) { return v.kind == JK_FLOAT ? v.f : (double)v.i; }
static int is_intlike(jv v) { return v.kind == JK_INT || v.kind == JK_BOOL; }

int jv_equal(jv a, jv b) {
    if (is_number(a) && is_number(b)) {
        if (is_intlike(a) && is_intlike(b)) return a.i == b.i;
        return num(a) == num(b);
    }
    if (a.kind != b.kind) return 0;
    switch (a.kind) {
    case JK_UNDEF:
    case JK_NONE: return 1;
    case JK_STR:
    case JK_BIGINT: return a.s.n == b.s.n && memcmp(a.s.p, b.s.p, a.s.n) == 0;
    case JK_LIST:
        if ((a.tuple == 1) != (b.tuple == 1) || a.l->n != b.l->n) return 0;
        for (int64_t i = 0; i < a.l->n; i++)
            if (!jv_equal(a.l->v[i], b.l->v[i])) return 0;
        return 1;
    case JK_DICT:
        if (a.d->n != b.d->n) return 0;
        for (int64_t i = 0; i < a.d->n; i++) {
            const jv *w = jd_get(b.d, a.d->k[i]);
            if (!w || !jv_equal(a.d->v[i], *w)) return 0;
        }
        return 1;
    case JK_NS: return a.d == b.d;
    case JK_MACRO: return a.m == b.m;
    case JK_FUNC: return a.fn == b.fn;
    case JK_LOOP: return a.lp == b.lp;
    default: return 0;
    }
}

static int bigint_fail(jctx *c, const jnode *n, jv v) {
    return jfail(c, n, "computing with the integer %.40s (beyond 64 bits) is outside rmscore's Jinja subset", v.s.p);
}

int jv_less(jctx *c, const jnode *n, jv a, jv b, int *result) {
    if (a.kind == JK_UNDEF) return jfail(c, n, "%s", a.why);
    if (b.kind == JK_UNDEF) return jfail(c, n, "%s", b.why);
    if (a.kind == JK_BIGINT) return bigint_fail(c, n, a);
    if (b.kind == JK_BIGINT) return bigint_fail(c, n, b);
    if (is_number(a) && is_number(b)) {
        *result = is_intlike(a) && is_intlike(b) ? a.i < b.i : num(a) < num(b);
        return 0;
    }
    if (a.kind == JK_STR && b.kind == JK_STR) { // byte order of UTF-8 is code point order
        const size_t m = a.s.n < b.s.n ? a.s.n : b.s.n;
        const int k = memcmp(a.s.p, b.s.p, m);
        *result = k < 0 || (k == 0 && a.s.n < b.s.n);
        return 0;
    }
    if (a.kind == JK_LIST && b.kind == JK_LIST && (a.tuple == 1) == (b.tuple == 1)) {
        for (int64_t i = 0; i < a.l->n && i < b.l->n; i++)
            if (!jv_equal(a.l->v[i], b.l->v[i])) return jv_less(c, n, a.l->v[i], b.l->v[i], result);
        *result = a.l->n < b.l->n;
        return 0;
    }
    return jfail(c, n, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

/* ------------------------------------------------------------------ str() and repr() */

static int put(jctx *c, rms_text *out, const char *s, size_t n) { return rms_text_append(out, s, n) == 0 ? 0 : jfail_nomem(c); }
static int puts_(jctx *c, rms_text *out, const char *s) { return put(c, out, s, strlen(s)); }

static int write_repr_str(jctx *c, rms_text *out, const char *p, size_t n) {
    const int has_single = memchr(p, '\'', n) != NULL, has_double = memchr(p, '"', n) != NULL;
    const char q = has_single && !has_double ? '"' : '\'';
    if (put(c, out, &q, 1) != 0) return -1;
    for (size_t i = 0, next; i < n; i = next) {
        const uint32_t cp = rms_utf8_decode(p, n, i, &next);
        char b[16];
        int printable;
        if (cp == (uint32_t)q || cp == '\\') snprintf(b, sizeof b, "\\%c", (char)cp);
        else if (cp == '\t') strcpy(b, "\\t");
        else if (cp == '\n') strcpy(b, "\\n");
        else if (cp == '\r') strcpy(b, "\\r");
        else {
            if (py_isprintable(c, cp, &printable) != 0) return -1;
            if (printable) {
                if (put(c, out, p + i, next - i) != 0) return -1;
                continue;
            }
            if (cp <= 0xFF) snprintf(b, sizeof b, "\\x%02x", cp);
            else if (cp <= 0xFFFF) snprintf(b, sizeof b, "\\u%04x", cp);
            else snprintf(b, sizeof b, "\\U%08x", cp);
        }
        if (puts_(c, out, b) != 0) return -1;
    }
    return put(c, out, &q, 1);
}

static int write_value(jctx *c, const jnode *n, rms_text *out, jv v, int repr);

static int write_items(jctx *c, const jnode *n, rms_text *out, const jlist *l) {
    for (int64_t i = 0; i < l->n; i++)
        if ((i > 0 && puts_(c, out, ", ") != 0) || write_value(c, n, out, l->v[i], 1) != 0) return -1;
    return 0;
}

static int write_dict(jctx *c, const jnode *n, rms_text *out, const jdict *d) {
    if (puts_(c, out, "{") != 0) return -1;
    for (int64_t i = 0; i < d->n; i++)
        if ((i > 0 && puts_(c, out, ", ") != 0) || write_value(c, n, out, d->k[i], 1) != 0 || puts_(c, out, ": ") != 0 ||
            write_value(c, n, out, d->v[i], 1) != 0)
            return -1;
    return puts_(c, out, "}");
}

static int write_value(jctx *c, const jnode *n, rms_text *out, jv v, int repr) {
    char b[32];
    switch (v.kind) {
    case JK_UNDEF: return repr ? puts_(c, out, "Undefined") : 0;
    case JK_NONE: return puts_(c, out, "None");
    case JK_BOOL: return puts_(c, out, v.i ? "True" : "False");
    case JK_INT:
        snprintf(b, sizeof b, "%lld", (long long)v.i);
        return puts_(c, out, b);
    case JK_FLOAT: return rms_json_write_float(out, v.f, 0) == 0 ? 0 : jfail_nomem(c);
    case JK_BIGINT: return put(c, out, v.s.p, v.s.n);
    case JK_STR: return repr ? write_repr_str(c, out, v.s.p, v.s.n) : put(c, out, v.s.p, v.s.n);
    case JK_LIST: {
        static const char *const open[] = {"[", "(", "dict_items([", "dict_keys([", "dict_values(["};
        static const char *const close[] = {"]", ")", "])", "])", "])"};
        if (puts_(c, out, open[v.tuple]) != 0 || write_items(c, n, out, v.l) != 0) return -1;
        if (v.tuple == 1 && v.l->n == 1 && puts_(c, out, ",") != 0) return -1;
        return puts_(c, out, close[v.tuple]);
    }
    case JK_DICT: return write_dict(c, n, out, v.d);
    case JK_NS: return puts_(c, out, "<Namespace ") || write_dict(c, n, out, v.d) || puts_(c, out, ">") ? -1 : 0;
    default: return jfail(c, n, "printing a %s is outside rmscore's Jinja subset", jv_type_name(v));
    }
}

int jv_write_str(jctx *c, const jnode *n, rms_text *out, jv v) { return write_value(c, n, out, v, 0); }
int jv_write_repr(jctx *c, const jnode *n, rms_text *out, jv v) { return write_value(c, n, out, v, 1); }

int jv_to_str(jctx *c, const jnode *n, jv v, jv *out) {
    if (v.kind == JK_STR) {
        *out = v;
        return 0;
    }
    rms_text t;
    rms_text_init(&t);
    int st = jv_write_str(c, n, &t, v);
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

/* ------------------------------------------------------------------ json.dumps (tojson) */

typedef struct dumps_opts {
    int ensure_ascii, sort_keys;
    const char *indent; // NULL: no newlines
    jv item_sep, key_sep;
} dumps_opts;

static int dumps(jctx *c, const jnode *n, rms_text *out, jv v, const dumps_opts *o, int level);

static int newline_indent(jctx *c, rms_text *out, const dumps_opts *o, int level) {
    if (puts_(c, out, "\n") != 0) return -1;
    for (int k = 0; k < level; k++)
        if (puts_(c, out, o->indent) != 0) return -1;
    return 0;
}

/* A dict key as json.dumps converts it: str as is, int/float/bool/None spelled as JSON. */
static int json_key(jctx *c, const jnode *n, jv k, jv *out) {
    if (k.kind == JK_STR) {
        *out = k;
        return 0;
    }
    rms_text t;
    rms_text_init(&t);
    int st = 0;
    if (k.kind == JK_BOOL) st = puts_(c, &t, k.i ? "true" : "false");
    else if (k.kind == JK_NONE) st = puts_(c, &t, "null");
    else if (k.kind == JK_INT || k.kind == JK_FLOAT) st = write_value(c, n, &t, k, 0);
    else st = jfail(c, n, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    if (st == 0 && k.kind == JK_FLOAT) {
        t.len = 0;
        st = rms_json_write_float(&t, k.f, 1) == 0 ? 0 : jfail_nomem(c);
    }
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

static int sort_values(jctx *c, const jnode *n, jv *v, int64_t count, jv *keys); // stable, by keys (or v)

static int dumps(jctx *c, const jnode *n, rms_text *out, jv v, const dumps_opts *o, int level) {
    if (level > 200) return jfail(c, n, "tojson: nested too deeply");
    switch (v.kind) {
    case JK_NONE: return puts_(c, out, "null");
    case JK_BOOL: return puts_(c, out, v.i ? "true" : "false");
    case JK_INT: return write_value(c, n, out, v, 0);
    case JK_FLOAT: return rms_json_write_float(out, v.f, 1) == 0 ? 0 : jfail_nomem(c);
    case JK_BIGINT: return put(c, out, v.s.p, v.s.n);
    case JK_STR: return rms_json_write_string(out, v.s.p, v.s.n, o->ensure_ascii) == 0 ? 0 : jfail_nomem(c);
    case JK_LIST:
        if (v.tuple > 1) break; // dict views are not serializable
        if (v.l->n == 0) return puts_(c, out, "[]");
        if (puts_(c, out, "[") != 0) return -1;
        for (int64_t i = 0; i < v.l->n; i++) {
            if (i > 0 && put(c, out, o->item_sep.s.p, o->item_sep.s.n) != 0) return -1;
            if (o->indent && newline_indent(c, out, o, level + 1) != 0) return -1;
            if (dumps(c, n, out, v.l->v[i], o, level + 1) != 0) return -1;
        }
        if (o->indent && newline_indent(c, out, o, level) != 0) return -1;
        return puts_(c, out, "]");
    case JK_DICT: {
        if (v.d->n == 0) return puts_(c, out, "{}");
        jv *keys = ja_alloc(&c->arena, (size_t)v.d->n * sizeof *keys), *vals = ja_alloc(&c->arena, (size_t)v.d->n * sizeof *vals);
        if (!keys || !vals) return jfail_nomem(c);
        memcpy(keys, v.d->k, (size_t)v.d->n * sizeof *keys);
        memcpy(vals, v.d->v, (size_t)v.d->n * sizeof *vals);
        if (o->sort_keys) { // Python sorts the items by key before converting keys (so mixed types fail)
            jv *pairs = ja_alloc(&c->arena, (size_t)v.d->n * sizeof *pairs);
            if (!pairs) return jfail_nomem(c);
            for (int64_t i = 0; i < v.d->n; i++) {
                jlist *p = jl_new(c, 2);
                if (!p) return -1;
                p->v[0] = keys[i];
                p->v[1] = vals[i];
                p->n = 2;
                pairs[i] = list_value(p, 1);
            }
            if (sort_values(c, n, pairs, v.d->n, keys) != 0) return -1;
            for (int64_t i = 0; i < v.d->n; i++) {
                keys[i] = pairs[i].l->v[0];
                vals[i] = pairs[i].l->v[1];
            }
        }
        if (puts_(c, out, "{") != 0) return -1;
        for (int64_t i = 0; i < v.d->n; i++) {
            jv k = jv_none();
            if (i > 0 && put(c, out, o->item_sep.s.p, o->item_sep.s.n) != 0) return -1;
            if (o->indent && newline_indent(c, out, o, level + 1) != 0) return -1;
            if (json_key(c, n, keys[i], &k) != 0) return -1;
            if (rms_json_write_string(out, k.s.p, k.s.n, o->ensure_ascii) != 0) return jfail_nomem(c);
            if (put(c, out, o->key_sep.s.p, o->key_sep.s.n) != 0) return -1;
            if (dumps(c, n, out, vals[i], o, level + 1) != 0) return -1;
        }
        if (o->indent && newline_indent(c, out, o, level) != 0) return -1;
        return puts_(c, out, "}");
    }
    default:
        break;
    }
    if (v.kind == JK_UNDEF) return jfail(c, n, "tojson: %s", v.why ? v.why : "undefined value");
    return jfail(c, n, "tojson: Object of type %s is not JSON serializable", jv_type_name(v));
}

/* ------------------------------------------------------------------ arguments */

/* Binds positional and keyword arguments to params (after the filter's value); unset ones get defaults. */
static int bind_args(jctx *c, const jnode *n, const char *what, const char *const *params, const jv *defaults,
                     int n_params, const jv *args, int64_t n_args, const char *const *kw_names, const jv *kw,
                     int64_t n_kw, jv *bound) {
    if (n_args > n_params)
        return jfail(c, n, "%s takes at most %d argument(s), got %lld", what, n_params, (long long)n_args);
    for (int p = 0; p < n_params; p++) bound[p] = p < n_args ? args[p] : defaults[p];
    for (int64_t k = 0; k < n_kw; k++) {
        int p = 0;
        while (p < n_params && strcmp(params[p], kw_names[k]) != 0) p++;
        if (p == n_params) return jfail(c, n, "%s got an unexpected keyword argument '%s'", what, kw_names[k]);
        if (p < n_args) return jfail(c, n, "%s got multiple values for argument '%s'", what, kw_names[k]);
        bound[p] = kw[k];
    }
    return 0;
}

static int need_str(jctx *c, const jnode *n, const char *what, jv v) {
    if (v.kind == JK_STR) return 0;
    if (v.kind == JK_UNDEF) return jfail(c, n, "%s", v.why);
    return jfail(c, n, "%s expects a string, got '%s'", what, jv_type_name(v));
}

static int need_int(jctx *c, const jnode *n, const char *what, jv v) {
    if (is_intlike(v)) return 0;
    if (v.kind == JK_UNDEF) return jfail(c, n, "%s", v.why);
    return jfail(c, n, "%s expects an integer, got '%s'", what, jv_type_name(v));
}

/* ------------------------------------------------------------------ strings */

/* Python str.strip/lstrip/rstrip(chars): which = 0 both, 1 left, 2 right. */
static int strip_str(jctx *c, const jnode *n, jv s, jv chars, int which, jv *out) {
    const char *p = s.s.p;
    size_t b = 0, e = s.s.n, next;
    if (chars.kind != JK_NONE && chars.kind != JK_UNDEF && need_str(c, n, "strip", chars) != 0) return -1;
    const int ws = chars.kind == JK_NONE || chars.kind == JK_UNDEF;
    if (which != 2)
        while (b < e) {
            const uint32_t cp = rms_utf8_decode(p, e, b, &next);
            int hit = 0;
            if (ws) hit = rms_py_isspace(cp);
            else
                for (size_t k = 0, kn; k < chars.s.n && !hit; k = kn) hit = rms_utf8_decode(chars.s.p, chars.s.n, k, &kn) == cp;
            if (!hit) break;
            b = next;
        }
    if (which != 1)
        while (e > b) {
            size_t st = e - 1;
            while (st > b && ((unsigned char)p[st] & 0xC0) == 0x80) st--;
            const uint32_t cp = rms_utf8_decode(p, e, st, &next);
            int hit = 0;
            if (ws) hit = rms_py_isspace(cp);
            else
                for (size_t k = 0, kn; k < chars.s.n && !hit; k = kn) hit = rms_utf8_decode(chars.s.p, chars.s.n, k, &kn) == cp;
            if (!hit) break;
            e = st;
        }
    *out = jv_str(p + b, e - b); // a view into s (values are immutable)
    return 0;
}

/* str.split(sep=None, maxsplit=-1), and rsplit (from the right). */
static int split_str(jctx *c, const jnode *n, jv s, jv sep, jv maxsplit, int right, jv *out) {
    if (sep.kind != JK_NONE && need_str(c, n, "split", sep) != 0) return -1;
    if (maxsplit.kind != JK_NONE && need_int(c, n, "split", maxsplit) != 0) return -1;
    int64_t max = maxsplit.kind == JK_NONE ? -1 : maxsplit.i;
    jlist *l = jl_new(c, 4);
    if (!l) return -1;
    const char *p = s.s.p;
    const size_t len = s.s.n;
    if (sep.kind == JK_NONE) { // runs of whitespace; no empty parts
        // collect the words left to right, then join the tail past max (right: head)
        size_t i = 0, next;
        int64_t words = 0;
        jlist *parts = jl_new(c, 4);
        if (!parts) return -1;
        while (i < len) {
            while (i < len && rms_py_isspace(rms_utf8_decode(p, len, i, &next))) i = next;
            if (i >= len) break;
            size_t j = i;
            while (j < len && !rms_py_isspace(rms_utf8_decode(p, len, j, &next))) j = next;
            if (jl_push(c, parts, jv_str(p + i, j - i)) != 0) return -1;
            words++;
            i = j;
        }
        if (max < 0 || max >= words - 1 || words == 0) {
            *out = list_value(parts, 0);
            return 0;
        }
        if (!right) { // the first max words, then the rest of the text from the next word (its trailing space stripped)
            for (int64_t k = 0; k < max; k++)
                if (jl_push(c, l, parts->v[k]) != 0) return -1;
            const char *rest = parts->v[max].s.p;
            size_t e = len;
            while (e > (size_t)(rest - p)) {
                size_t b = e - 1;
                while (b > 0 && ((unsigned char)p[b] & 0xC0) == 0x80) b--;
                if (!rms_py_isspace(rms_utf8_decode(p, len, b, &next))) break;
                e = b;
            }
            if (jl_push(c, l, jv_str(rest, (size_t)(p + e - rest))) != 0) return -1;
        } else { // the text up to the end of word words-max-1 (leading space stripped), then the last max words
            const jv last_head = parts->v[words - max - 1];
            const char *head = parts->v[0].s.p;
            if (jl_push(c, l, jv_str(head, (size_t)(last_head.s.p + last_head.s.n - head))) != 0) return -1;
            for (int64_t k = words - max; k < words; k++)
                if (jl_push(c, l, parts->v[k]) != 0) return -1;
        }
        *out = list_value(l, 0);
        return 0;
    }
    if (sep.s.n == 0) return jfail(c, n, "empty separator");
    if (!right) {
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            const char *hit = (max < 0 || done < max) ? memmem(p + i, len - i, sep.s.p, sep.s.n) : NULL;
            if (!hit) break;
            if (jl_push(c, l, jv_str(p + i, (size_t)(hit - (p + i)))) != 0) return -1;
            i = (size_t)(hit - p) + sep.s.n;
            done++;
        }
        if (jl_push(c, l, jv_str(p + i, len - i)) != 0) return -1;
    } else {
        jlist *rev = jl_new(c, 4);
        if (!rev) return -1;
        size_t e = len;
        int64_t done = 0;
        while (max < 0 || done < max) {
            const char *hit = NULL;
            for (size_t k = e >= sep.s.n ? e - sep.s.n + 1 : 0; k-- > 0;)
                if (memcmp(p + k, sep.s.p, sep.s.n) == 0) {
                    hit = p + k;
                    break;
                }
            if (!hit) break;
            if (jl_push(c, rev, jv_str(hit + sep.s.n, (size_t)(p + e - hit - sep.s.n))) != 0) return -1;
            e = (size_t)(hit - p);
            done++;
        }
        if (jl_push(c, l, jv_str(p, e)) != 0) return -1;
        for (int64_t k = rev->n - 1; k >= 0; k--)
            if (jl_push(c, l, rev->v[k]) != 0) return -1;
    }
    *out = list_value(l, 0);
    return 0;
}

static int replace_str(jctx *c, const jnode *n, jv s, jv old, jv new_, jv count, jv *out) {
    if (need_str(c, n, "replace", old) != 0 || need_str(c, n, "replace", new_) != 0) return -1;
    if (count.kind != JK_NONE && need_int(c, n, "replace", count) != 0) return -1;
    int64_t max = count.kind == JK_NONE ? -1 : count.i;
    rms_text t;
    rms_text_init(&t);
    int st = 0;
    const char *p = s.s.p;
    const size_t len = s.s.n;
    int64_t done = 0;
    if (old.s.n == 0) { // before every character and at the end
        size_t i = 0, next;
        while (st == 0 && (max < 0 || done < max)) {
            st = put(c, &t, new_.s.p, new_.s.n);
            done++;
            if (i >= len) {
                i = len + 1;
                break;
            }
            rms_utf8_decode(p, len, i, &next);
            if (st == 0) st = put(c, &t, p + i, next - i);
            i = next;
        }
        if (st == 0 && i < len) st = put(c, &t, p + i, len - i);
    } else {
        size_t i = 0;
        while (st == 0) {
            const char *hit = (max < 0 || done < max) ? memmem(p + i, len - i, old.s.p, old.s.n) : NULL;
            if (!hit) break;
            st = put(c, &t, p + i, (size_t)(hit - (p + i)));
            if (st == 0) st = put(c, &t, new_.s.p, new_.s.n);
            i = (size_t)(hit - p) + old.s.n;
            done++;
            if (t.len > c->out_limit) st = jfail(c, n, "replace: the result passes rmscore's size limit");
        }
        if (st == 0) st = put(c, &t, p + i, len - i);
    }
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

/* The code point index of the first (or last) occurrence of sub, or -1. */
static int64_t find_str(jv s, jv sub, int last) {
    const char *hit = NULL;
    if (!last) {
        hit = sub.s.n == 0 ? s.s.p : memmem(s.s.p, s.s.n, sub.s.p, sub.s.n);
    } else {
        for (size_t k = s.s.n >= sub.s.n ? s.s.n - sub.s.n + 1 : 0; k-- > 0;)
            if (memcmp(s.s.p + k, sub.s.p, sub.s.n) == 0) {
                hit = s.s.p + k;
                break;
            }
    }
    return hit ? rms_utf8_count(s.s.p, (size_t)(hit - s.s.p)) : -1;
}

static int64_t count_str(jv s, jv sub) {
    if (sub.s.n == 0) return rms_utf8_count(s.s.p, s.s.n) + 1;
    int64_t k = 0;
    for (const char *p = s.s.p, *e = s.s.p + s.s.n; (p = memmem(p, (size_t)(e - p), sub.s.p, sub.s.n)); p += sub.s.n) k++;
    return k;
}

static int affix(jctx *c, const jnode *n, jv s, jv arg, int end, int *result) {
    *result = 0;
    if (arg.kind == JK_LIST && arg.tuple == 1) {
        for (int64_t i = 0; i < arg.l->n && !*result; i++)
            if (affix(c, n, s, arg.l->v[i], end, result) != 0) return -1;
        return 0;
    }
    if (arg.kind != JK_STR)
        return jfail(c, n, "%s first arg must be str or a tuple of str, not %s", end ? "endswith" : "startswith",
                     jv_type_name(arg));
    *result = arg.s.n <= s.s.n && memcmp(end ? s.s.p + s.s.n - arg.s.n : s.s.p, arg.s.p, arg.s.n) == 0;
    return 0;
}

static int splitlines_str(jctx *c, jv s, int keepends, jv *out) {
    jlist *l = jl_new(c, 4);
    if (!l) return -1;
    const char *p = s.s.p;
    size_t start = 0, i = 0, next;
    while (i < s.s.n) {
        const uint32_t cp = rms_utf8_decode(p, s.s.n, i, &next);
        const int brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
                        cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!brk) {
            i = next;
            continue;
        }
        size_t end = next;
        if (cp == '\r' && end < s.s.n && p[end] == '\n') end++;
        if (jl_push(c, l, jv_str(p + start, (keepends ? end : i) - start)) != 0) return -1;
        start = i = end;
    }
    if (start < s.s.n && jl_push(c, l, jv_str(p + start, s.s.n - start)) != 0) return -1;
    *out = list_value(l, 0);
    return 0;
}

/* ------------------------------------------------------------------ sorting */

/* Stable merge sort of v by keys (keys == NULL: by v itself) with Python's <. */
static int sort_values(jctx *c, const jnode *n, jv *v, int64_t count, jv *keys) {
    if (count < 2) return 0;
    jv *tmp = ja_alloc(&c->arena, (size_t)count * sizeof *tmp), *tk = ja_alloc(&c->arena, (size_t)count * sizeof *tk);
    jv *k = keys ? keys : v;
    if (!tmp || !tk) return jfail_nomem(c);
    for (int64_t width = 1; width < count; width *= 2) {
        for (int64_t lo = 0; lo < count; lo += 2 * width) {
            const int64_t mid = lo + width < count ? lo + width : count, hi = lo + 2 * width < count ? lo + 2 * width : count;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int less;
                if (jv_less(c, n, k[j], k[i], &less) != 0) return -1;
                if (less) {
                    tk[o] = k[j];
                    tmp[o++] = v[j++];
                } else {
                    tk[o] = k[i];
                    tmp[o++] = v[i++];
                }
            }
            while (i < mid) {
                tk[o] = k[i];
                tmp[o++] = v[i++];
            }
            while (j < hi) {
                tk[o] = k[j];
                tmp[o++] = v[j++];
            }
        }
        memcpy(v, tmp, (size_t)count * sizeof *v);
        if (keys) memcpy(keys, tk, (size_t)count * sizeof *keys);
    }
    return 0;
}

/* ------------------------------------------------------------------ lookup */

enum {
    JF_UNSUPPORTED = 0,
    // globals
    JF_RANGE, JF_NAMESPACE, JF_RAISE, JF_STRFTIME, JF_DICT,
    // str methods
    JF_STRIP, JF_LSTRIP, JF_RSTRIP, JF_SPLIT, JF_RSPLIT, JF_SPLITLINES, JF_STARTSWITH, JF_ENDSWITH, JF_UPPER,
    JF_LOWER, JF_TITLE, JF_CAPITALIZE, JF_SWAPCASE, JF_REPLACE, JF_FIND, JF_RFIND, JF_INDEX_STR, JF_RINDEX, JF_COUNT_STR,
    JF_JOIN, JF_ISSPACE, JF_ISALPHA, JF_ISDIGIT, JF_ISALNUM, JF_ISLOWER, JF_ISUPPER, JF_REMOVEPREFIX, JF_REMOVESUFFIX,
    // dict methods
    JF_GET, JF_ITEMS, JF_KEYS, JF_VALUES,
    // list methods
    JF_COUNT_LIST, JF_INDEX_LIST,
    // loop
    JF_CYCLE,
};

typedef struct method {
    const char *name;
    int id;
} method;

static const method STR_METHODS[] = {
    {"strip", JF_STRIP}, {"lstrip", JF_LSTRIP}, {"rstrip", JF_RSTRIP}, {"split", JF_SPLIT}, {"rsplit", JF_RSPLIT},
    {"splitlines", JF_SPLITLINES}, {"startswith", JF_STARTSWITH}, {"endswith", JF_ENDSWITH}, {"upper", JF_UPPER},
    {"lower", JF_LOWER}, {"title", JF_TITLE}, {"capitalize", JF_CAPITALIZE}, {"swapcase", JF_SWAPCASE},
    {"replace", JF_REPLACE}, {"find", JF_FIND}, {"rfind", JF_RFIND}, {"index", JF_INDEX_STR}, {"rindex", JF_RINDEX},
    {"count", JF_COUNT_STR}, {"join", JF_JOIN}, {"isspace", JF_ISSPACE}, {"isalpha", JF_ISALPHA},
    {"isdigit", JF_ISDIGIT}, {"isalnum", JF_ISALNUM}, {"islower", JF_ISLOWER}, {"isupper", JF_ISUPPER},
    {"removeprefix", JF_REMOVEPREFIX}, {"removesuffix", JF_REMOVESUFFIX},
    // Python has these too; calling them is outside the subset
    {"casefold", 0}, {"center", 0}, {"encode", 0}, {"expandtabs", 0}, {"format", 0}, {"format_map", 0},
    {"isascii", 0}, {"isdecimal", 0}, {"isidentifier", 0}, {"isnumeric", 0}, {"isprintable", 0}, {"istitle", 0},
    {"ljust", 0}, {"maketrans", 0}, {"partition", 0}, {"rjust", 0}, {"rpartition", 0}, {"translate", 0}, {"zfill", 0},
    {NULL, 0}};
static const method DICT_METHODS[] = {{"get", JF_GET}, {"items", JF_ITEMS}, {"keys", JF_KEYS}, {"values", JF_VALUES},
                                      {"copy", 0}, {"fromkeys", 0}, {NULL, 0}};
static const char *const DICT_UNSAFE[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};
static const method LIST_METHODS[] = {{"count", JF_COUNT_LIST}, {"index", JF_INDEX_LIST}, {"copy", 0}, {NULL, 0}};
static const char *const LIST_UNSAFE[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort", NULL};

static int func_value(jctx *c, int id, jv self, const char *name, jv *out) {
    jfunc *f = ja_alloc(&c->arena, sizeof *f);
    if (!f) return jfail_nomem(c);
    f->id = id;
    f->self = self;
    f->name = name;
    *out = (jv){.kind = JK_FUNC, .fn = f};
    return 0;
}

static int undef_attr(jctx *c, jv obj, const char *name, size_t len, jv *out) {
    char *why = ja_alloc(&c->arena, len + 64);
    if (!why) return jfail_nomem(c);
    snprintf(why, len + 64, "'%s object' has no attribute '%.*s'", jv_type_name(obj), (int)len, name);
    *out = jv_undef(why);
    return 0;
}

/* A method of obj by name: 1 found (*out set), 0 none, -1 error. */
static int find_method(jctx *c, jv obj, const char *name, size_t len, jv *out) {
    const method *table = obj.kind == JK_STR ? STR_METHODS : obj.kind == JK_DICT ? DICT_METHODS :
                          obj.kind == JK_LIST ? LIST_METHODS : NULL;
    const char *const *unsafe = obj.kind == JK_DICT ? DICT_UNSAFE : obj.kind == JK_LIST ? LIST_UNSAFE : NULL;
    for (int k = 0; table && table[k].name; k++)
        if (strlen(table[k].name) == len && memcmp(table[k].name, name, len) == 0)
            return func_value(c, table[k].id, obj, table[k].name, out) == 0 ? 1 : -1;
    for (int k = 0; unsafe && unsafe[k]; k++)
        if (strlen(unsafe[k]) == len && memcmp(unsafe[k], name, len) == 0) {
            char *why = ja_alloc(&c->arena, len + 80);
            if (!why) return jfail_nomem(c);
            snprintf(why, len + 80, "access to attribute '%.*s' of '%s' object is unsafe", (int)len, name, jv_type_name(obj));
            *out = jv_undef(why);
            return 1;
        }
    return 0;
}

static int loop_attr(jctx *c, jv obj, const char *name, size_t len, jv *out) {
    const jloop *lp = obj.lp;
    const int64_t i = lp->index0, n = lp->items->n;
#define IS(s) (len == strlen(s) && memcmp(name, s, len) == 0)
    if (IS("index")) *out = jv_int(i + 1);
    else if (IS("index0")) *out = jv_int(i);
    else if (IS("revindex")) *out = jv_int(n - i);
    else if (IS("revindex0")) *out = jv_int(n - i - 1);
    else if (IS("first")) *out = jv_bool(i == 0);
    else if (IS("last")) *out = jv_bool(i == n - 1);
    else if (IS("length")) *out = jv_int(n);
    else if (IS("depth")) *out = jv_int(1);
    else if (IS("depth0")) *out = jv_int(0);
    else if (IS("previtem")) *out = i > 0 ? lp->items->v[i - 1] : jv_undef("there is no previous item");
    else if (IS("nextitem")) *out = i + 1 < n ? lp->items->v[i + 1] : jv_undef("there is no next item");
    else if (IS("cycle")) return func_value(c, JF_CYCLE, obj, "cycle", out);
    else if (IS("changed")) return func_value(c, JF_UNSUPPORTED, obj, "loop.changed", out);
    else return undef_attr(c, obj, name, len, out);
#undef IS
    return 0;
}

int jlib_getattr(jctx *c, const jnode *n, jv obj, const char *name, size_t len, jv *out) {
    if (obj.kind == JK_UNDEF) return jfail(c, n, "%s", obj.why);
    if (obj.kind == JK_LOOP) return loop_attr(c, obj, name, len, out);
    if (obj.kind == JK_NS) {
        const jv *v = jd_get(obj.d, jv_str(name, len));
        return v ? (*out = *v, 0) : undef_attr(c, obj, name, len, out);
    }
    const int m = find_method(c, obj, name, len, out);
    if (m != 0) return m < 0 ? -1 : 0;
    if (obj.kind == JK_DICT) {
        const jv *v = jd_get(obj.d, jv_str(name, len));
        if (v) {
            *out = *v;
            return 0;
        }
    }
    return undef_attr(c, obj, name, len, out);
}

int jlib_getitem(jctx *c, const jnode *n, jv obj, jv key, jv *out) {
    if (obj.kind == JK_UNDEF) return jfail(c, n, "%s", obj.why);
    if (obj.kind == JK_DICT) {
        const jv *v = jd_get(obj.d, key);
        if (v) {
            *out = *v;
            return 0;
        }
    } else if ((obj.kind == JK_LIST || obj.kind == JK_STR) && is_intlike(key)) {
        const int64_t count = obj.kind == JK_LIST ? obj.l->n : rms_utf8_count(obj.s.p, obj.s.n);
        const int64_t i = key.i < 0 ? key.i + count : key.i;
        if (i >= 0 && i < count) {
            if (obj.kind == JK_LIST) {
                *out = obj.l->v[i];
            } else {
                size_t b = u8_offset(obj.s.p, obj.s.n, i), e;
                rms_utf8_decode(obj.s.p, obj.s.n, b, &e);
                *out = jv_str(obj.s.p + b, e - b);
            }
            return 0;
        }
        char *why = ja_alloc(&c->arena, 96);
        if (!why) return jfail_nomem(c);
        snprintf(why, 96, "'%s object' has no element %lld", jv_type_name(obj), (long long)key.i);
        *out = jv_undef(why);
        return 0;
    }
    if (key.kind == JK_STR && obj.kind != JK_DICT) return jlib_getattr(c, n, obj, key.s.p, key.s.n, out);
    if (key.kind == JK_STR) { // a dict: a method of that name, else undefined
        const int m = find_method(c, obj, key.s.p, key.s.n, out);
        if (m != 0) return m < 0 ? -1 : 0;
        return undef_attr(c, obj, key.s.p, key.s.n, out);
    }
    char *why = ja_alloc(&c->arena, 96);
    if (!why) return jfail_nomem(c);
    snprintf(why, 96, "'%s object' has no item of type %s", jv_type_name(obj), jv_type_name(key));
    *out = jv_undef(why);
    return 0;
}

/* Python's slice.indices: start, stop, step for a sequence of count items. */
static int slice_indices(jctx *c, const jnode *n, jv start, jv stop, jv step, int64_t count, int64_t *b, int64_t *e,
                         int64_t *s) {
    for (int k = 0; k < 3; k++) {
        const jv v = k == 0 ? start : k == 1 ? stop : step;
        if (v.kind != JK_NONE && !is_intlike(v))
            return jfail(c, n, "slice indices must be integers or None, not %s", jv_type_name(v));
    }
    *s = step.kind == JK_NONE ? 1 : step.i;
    if (*s == 0) return jfail(c, n, "slice step cannot be zero");
    const int64_t lo = *s < 0 ? -1 : 0, hi = *s < 0 ? count - 1 : count;
    if (start.kind == JK_NONE) *b = *s < 0 ? hi : lo;
    else {
        *b = start.i < 0 ? start.i + count : start.i;
        if (*b < lo) *b = lo;
        if (*b > hi) *b = hi;
    }
    if (stop.kind == JK_NONE) *e = *s < 0 ? lo : hi;
    else {
        *e = stop.i < 0 ? stop.i + count : stop.i;
        if (*e < lo) *e = lo;
        if (*e > hi) *e = hi;
    }
    return 0;
}

int jlib_slice(jctx *c, const jnode *n, jv obj, jv start, jv stop, jv step, jv *out) {
    if (obj.kind == JK_UNDEF) return jfail(c, n, "%s", obj.why);
    if (obj.kind != JK_LIST && obj.kind != JK_STR) {
        *out = jv_undef("a slice of a value that is not a sequence");
        return 0;
    }
    const int64_t count = obj.kind == JK_LIST ? obj.l->n : rms_utf8_count(obj.s.p, obj.s.n);
    int64_t b = 0, e = 0, s = 1;
    if (slice_indices(c, n, start, stop, step, count, &b, &e, &s) != 0) return -1;
    if (obj.kind == JK_STR && s == 1) { // a view
        if (e < b) e = b;
        const size_t ob = u8_offset(obj.s.p, obj.s.n, b);
        const size_t oe = ob + u8_offset(obj.s.p + ob, obj.s.n - ob, e - b);
        *out = jv_str(obj.s.p + ob, oe - ob);
        return 0;
    }
    // the items (or characters) at b, b+s, ... before e
    const jlist *items;
    if (jlib_iterate(c, n, obj, &items) != 0) return -1;
    jlist *l = jl_new(c, 0);
    if (!l) return -1;
    for (int64_t i = b; s > 0 ? i < e : i > e; i += s)
        if (jl_push(c, l, items->v[i]) != 0) return -1;
    if (obj.kind == JK_LIST) {
        *out = list_value(l, obj.tuple == 1);
        return 0;
    }
    rms_text t;
    rms_text_init(&t);
    int st = 0;
    for (int64_t i = 0; st == 0 && i < l->n; i++) st = put(c, &t, l->v[i].s.p, l->v[i].s.n);
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

int jlib_iterate(jctx *c, const jnode *n, jv v, const jlist **items) {
    static const jlist empty = {0, 0, NULL};
    switch (v.kind) {
    case JK_UNDEF: *items = &empty; return 0;
    case JK_LIST: *items = v.l; return 0;
    case JK_DICT: {
        jlist *l = jl_new(c, v.d->n);
        if (!l) return -1;
        if (v.d->n) memcpy(l->v, v.d->k, (size_t)v.d->n * sizeof *l->v);
        l->n = v.d->n;
        *items = l;
        return 0;
    }
    case JK_STR: {
        jlist *l = jl_new(c, (int64_t)v.s.n);
        if (!l) return -1;
        for (size_t i = 0, next; i < v.s.n; i = next) {
            rms_utf8_decode(v.s.p, v.s.n, i, &next);
            l->v[l->n++] = jv_str(v.s.p + i, next - i);
        }
        *items = l;
        return 0;
    }
    default:
        return jfail(c, n, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* ------------------------------------------------------------------ operators */

static int contains(jctx *c, const jnode *n, jv container, jv item, int *result) {
    *result = 0;
    switch (container.kind) {
    case JK_UNDEF: return 0;
    case JK_STR:
        if (item.kind != JK_STR)
            return jfail(c, n, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        *result = item.s.n == 0 || memmem(container.s.p, container.s.n, item.s.p, item.s.n) != NULL;
        return 0;
    case JK_LIST:
        for (int64_t i = 0; i < container.l->n && !*result; i++) *result = jv_equal(container.l->v[i], item);
        return 0;
    case JK_DICT:
    case JK_NS: *result = jd_get(container.d, item) != NULL; return 0;
    default: return jfail(c, n, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static int repeat(jctx *c, const jnode *n, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq.kind == JK_STR) {
        if (seq.s.n && (uint64_t)times > c->out_limit / seq.s.n) return jfail(c, n, "a string longer than rmscore's limit");
        char *p = ja_alloc(&c->arena, seq.s.n * (size_t)times + 1);
        if (!p) return jfail_nomem(c);
        for (int64_t k = 0; k < times; k++) memcpy(p + (size_t)k * seq.s.n, seq.s.p, seq.s.n);
        *out = jv_str(p, seq.s.n * (size_t)times);
        return 0;
    }
    if (seq.l->n && times > RMS_JINJA_MAX_ITERATIONS / seq.l->n) return jfail(c, n, "a list longer than rmscore's limit");
    jlist *l = jl_new(c, seq.l->n * times);
    if (!l) return -1;
    for (int64_t k = 0; k < times; k++)
        for (int64_t i = 0; i < seq.l->n; i++) l->v[l->n++] = seq.l->v[i];
    *out = list_value(l, seq.tuple == 1);
    return 0;
}

static void float_divmod(double a, double b, double *floordiv, double *mod) {
    double m = fmod(a, b), div = (a - m) / b;
    if (m != 0.0) {
        if ((b < 0) != (m < 0)) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, b);
    }
    double fd;
    if (div != 0.0) {
        fd = floor(div);
        if (div - fd > 0.5) fd += 1.0;
    } else {
        fd = copysign(0.0, a / b);
    }
    *floordiv = fd;
    *mod = m;
}

static const char *const OP_SYMBOL[] = {"+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in"};

int jlib_binop(jctx *c, const jnode *n, int op, jv a, jv b, jv *out) {
    int r;
    switch (op) {
    case OP_EQ: *out = jv_bool(jv_equal(a, b)); return 0;
    case OP_NE: *out = jv_bool(!jv_equal(a, b)); return 0;
    case OP_LT: if (jv_less(c, n, a, b, &r) != 0) return -1; *out = jv_bool(r); return 0;
    case OP_GT: if (jv_less(c, n, b, a, &r) != 0) return -1; *out = jv_bool(r); return 0;
    case OP_LE: if (jv_less(c, n, b, a, &r) != 0) return -1; *out = jv_bool(!r); return 0;
    case OP_GE: if (jv_less(c, n, a, b, &r) != 0) return -1; *out = jv_bool(!r); return 0;
    case OP_IN: if (contains(c, n, b, a, &r) != 0) return -1; *out = jv_bool(r); return 0;
    case OP_NOTIN: if (contains(c, n, b, a, &r) != 0) return -1; *out = jv_bool(!r); return 0;
    default: break;
    }
    if (a.kind == JK_UNDEF) return jfail(c, n, "%s", a.why);
    if (b.kind == JK_UNDEF) return jfail(c, n, "%s", b.why);
    if (a.kind == JK_BIGINT) return bigint_fail(c, n, a);
    if (b.kind == JK_BIGINT) return bigint_fail(c, n, b);
    if (is_number(a) && is_number(b)) {
        const int ints = is_intlike(a) && is_intlike(b);
        int64_t ri;
        double fd, fm;
        switch (op) {
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
            if (ints) {
                const int ovf = op == OP_ADD ? __builtin_add_overflow(a.i, b.i, &ri) :
                                op == OP_SUB ? __builtin_sub_overflow(a.i, b.i, &ri) : __builtin_mul_overflow(a.i, b.i, &ri);
                if (ovf) return jfail(c, n, "integer overflow (rmscore's integers are 64-bit)");
                *out = jv_int(ri);
            } else {
                *out = jv_float(op == OP_ADD ? num(a) + num(b) : op == OP_SUB ? num(a) - num(b) : num(a) * num(b));
            }
            return 0;
        case OP_DIV:
            if (num(b) == 0.0) return jfail(c, n, "division by zero");
            *out = jv_float(num(a) / num(b));
            return 0;
        case OP_FLOORDIV:
        case OP_MOD:
            if (ints) {
                if (b.i == 0) return jfail(c, n, "integer division or modulo by zero");
                if (a.i == INT64_MIN && b.i == -1) return jfail(c, n, "integer overflow");
                int64_t q = a.i / b.i, m = a.i % b.i;
                if (m != 0 && ((m < 0) != (b.i < 0))) {
                    m += b.i;
                    q -= 1;
                }
                *out = jv_int(op == OP_FLOORDIV ? q : m);
            } else {
                if (num(b) == 0.0) return jfail(c, n, "float division by zero");
                float_divmod(num(a), num(b), &fd, &fm);
                *out = jv_float(op == OP_FLOORDIV ? fd : fm);
            }
            return 0;
        case OP_POW:
            if (ints && b.i >= 0) {
                int64_t acc = 1, base = a.i, e = b.i;
                while (e > 0) {
                    if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) return jfail(c, n, "integer overflow");
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base)) return jfail(c, n, "integer overflow");
                }
                *out = jv_int(acc);
                return 0;
            }
            if (num(a) == 0.0 && num(b) < 0) return jfail(c, n, "0.0 cannot be raised to a negative power");
            *out = jv_float(pow(num(a), num(b)));
            return 0;
        default: break;
        }
    }
    if (op == OP_ADD && a.kind == JK_STR && b.kind == JK_STR) {
        if (a.s.n + b.s.n > c->out_limit) return jfail(c, n, "a string longer than rmscore's limit");
        char *p = ja_alloc(&c->arena, a.s.n + b.s.n + 1);
        if (!p) return jfail_nomem(c);
        memcpy(p, a.s.p, a.s.n);
        memcpy(p + a.s.n, b.s.p, b.s.n);
        *out = jv_str(p, a.s.n + b.s.n);
        return 0;
    }
    if (op == OP_ADD && a.kind == JK_LIST && b.kind == JK_LIST && (a.tuple == 1) == (b.tuple == 1) && a.tuple <= 1) {
        jlist *l = jl_new(c, a.l->n + b.l->n);
        if (!l) return -1;
        for (int64_t i = 0; i < a.l->n; i++) l->v[l->n++] = a.l->v[i];
        for (int64_t i = 0; i < b.l->n; i++) l->v[l->n++] = b.l->v[i];
        *out = list_value(l, a.tuple == 1);
        return 0;
    }
    if (op == OP_MUL && (a.kind == JK_STR || a.kind == JK_LIST) && is_intlike(b)) return repeat(c, n, a, b.i, out);
    if (op == OP_MUL && (b.kind == JK_STR || b.kind == JK_LIST) && is_intlike(a)) return repeat(c, n, b, a.i, out);
    if (op == OP_MOD && a.kind == JK_STR) return jfail(c, n, "printf-style '%%' string formatting is outside rmscore's Jinja subset");
    if (op == OP_ADD && a.kind == JK_STR)
        return jfail(c, n, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    return jfail(c, n, "unsupported operand type(s) for %s: '%s' and '%s'", OP_SYMBOL[op], jv_type_name(a), jv_type_name(b));
}

/* ------------------------------------------------------------------ globals and calls */

int jlib_global(jctx *c, const char *name, jv *out) {
    static const method GLOBALS[] = {{"range", JF_RANGE}, {"namespace", JF_NAMESPACE}, {"raise_exception", JF_RAISE},
                                     {"strftime_now", JF_STRFTIME}, {"dict", JF_DICT}, {"lipsum", 0}, {"cycler", 0},
                                     {"joiner", 0}, {NULL, 0}};
    for (int k = 0; GLOBALS[k].name; k++)
        if (strcmp(GLOBALS[k].name, name) == 0) return func_value(c, GLOBALS[k].id, jv_none(), GLOBALS[k].name, out) == 0 ? 1 : -1;
    return 0;
}

static int make_range(jctx *c, const jnode *n, const jv *args, int64_t n_args, jv *out) {
    if (n_args < 1 || n_args > 3) return jfail(c, n, "range expected 1 to 3 arguments, got %lld", (long long)n_args);
    for (int64_t k = 0; k < n_args; k++)
        if (need_int(c, n, "range", args[k]) != 0) return -1;
    const int64_t start = n_args == 1 ? 0 : args[0].i, stop = n_args == 1 ? args[0].i : args[1].i;
    const int64_t step = n_args == 3 ? args[2].i : 1;
    if (step == 0) return jfail(c, n, "range() arg 3 must not be zero");
    // length as Python computes it, in 128-bit to stay exact
    __int128 len = 0;
    if (step > 0 && start < stop) len = ((__int128)stop - start + step - 1) / step;
    if (step < 0 && start > stop) len = ((__int128)start - stop - step - 1) / -step;
    if (len > MAX_RANGE) return jfail(c, n, "range too big: the sandbox blocks ranges larger than %d", MAX_RANGE);
    jlist *l = jl_new(c, (int64_t)len);
    if (!l) return -1;
    for (int64_t i = 0; i < (int64_t)len; i++) l->v[l->n++] = jv_int(start + i * step);
    *out = list_value(l, 0);
    return 0;
}

static int make_dict(jctx *c, const jnode *n, jk kind, const jv *args, int64_t n_args, const char *const *kw_names,
                     const jv *kw, int64_t n_kw, jv *out) {
    jdict *d = jd_new(c, n_kw);
    if (!d) return -1;
    if (n_args > 1) return jfail(c, n, "%s expected at most 1 positional argument", kind == JK_NS ? "namespace" : "dict");
    if (n_args == 1) {
        if (args[0].kind != JK_DICT) return jfail(c, n, "a positional argument that is not a dict");
        for (int64_t i = 0; i < args[0].d->n; i++)
            if (jd_set(c, d, args[0].d->k[i], args[0].d->v[i]) != 0) return -1;
    }
    for (int64_t k = 0; k < n_kw; k++) {
        jv key;
        if (jv_new_str(c, kw_names[k], strlen(kw_names[k]), &key) != 0 || jd_set(c, d, key, kw[k]) != 0) return -1;
    }
    *out = (jv){.kind = kind, .d = d};
    return 0;
}

static int str_predicate(jctx *c, const jnode *n, int id, jv s, jv *out) {
    if (s.s.n == 0) {
        *out = jv_bool(0);
        return 0;
    }
    int all = 1, cased = 0;
    for (size_t i = 0, next; i < s.s.n; i = next) {
        const uint32_t cp = rms_utf8_decode(s.s.p, s.s.n, i, &next);
        int ok;
        if (id == JF_ISSPACE) ok = rms_py_isspace(cp);
        else if (id == JF_ISALPHA) {
            if (is_letter(c, cp, 0, &ok) != 0) return -1;
        } else {
            if (cp >= 0x80)
                return jfail(c, n, "str.%s of non-ASCII text is outside rmscore's Jinja subset",
                             id == JF_ISDIGIT ? "isdigit" : id == JF_ISALNUM ? "isalnum" : id == JF_ISLOWER ? "islower" : "isupper");
            const int digit = cp >= '0' && cp <= '9', lower = cp >= 'a' && cp <= 'z', upper = cp >= 'A' && cp <= 'Z';
            if (id == JF_ISDIGIT) ok = digit;
            else if (id == JF_ISALNUM) ok = digit || lower || upper;
            else { // islower / isupper: no cased character of the other case, at least one of this case
                ok = id == JF_ISLOWER ? !upper : !lower;
                cased |= id == JF_ISLOWER ? lower : upper;
            }
        }
        all &= ok;
    }
    *out = jv_bool(all && (id == JF_ISLOWER || id == JF_ISUPPER ? cased : 1));
    return 0;
}

static int call_method(jctx *c, const jnode *n, const jfunc *f, const jv *args, int64_t n_args,
                       const char *const *kw_names, const jv *kw, int64_t n_kw, jv *out) {
    static const char *const P2[] = {"a", "b", "c"};
    const jv none3[3] = {jv_none(), jv_none(), jv_none()};
    jv a[3];
    const jv self = f->self;
    int r;
    char what[64];
    snprintf(what, sizeof what, "%s.%s()", jv_type_name(self), f->name);
    int max_args = 0;
    switch (f->id) {
    case JF_STRIP: case JF_LSTRIP: case JF_RSTRIP: case JF_FIND: case JF_RFIND: case JF_INDEX_STR: case JF_RINDEX:
    case JF_COUNT_STR: case JF_JOIN: case JF_REMOVEPREFIX: case JF_REMOVESUFFIX: case JF_STARTSWITH: case JF_ENDSWITH:
    case JF_SPLITLINES: case JF_COUNT_LIST: case JF_INDEX_LIST: max_args = 1; break;
    case JF_SPLIT: case JF_RSPLIT: case JF_GET: max_args = 2; break;
    case JF_REPLACE: max_args = 3; break;
    default: max_args = 0;
    }
    if (n_kw > 0 && !(f->id == JF_SPLIT || f->id == JF_RSPLIT || f->id == JF_SPLITLINES))
        return jfail(c, n, "%s takes no keyword arguments", what);
    static const char *const SPLIT_P[] = {"sep", "maxsplit"}, *const LINES_P[] = {"keepends"};
    if (bind_args(c, n, what, f->id == JF_SPLITLINES ? LINES_P : (f->id == JF_SPLIT || f->id == JF_RSPLIT) ? SPLIT_P : P2,
                  none3, max_args, args, n_args, kw_names, kw, n_kw, a) != 0)
        return -1;
    switch (f->id) {
    case JF_STRIP: return strip_str(c, n, self, a[0], 0, out);
    case JF_LSTRIP: return strip_str(c, n, self, a[0], 1, out);
    case JF_RSTRIP: return strip_str(c, n, self, a[0], 2, out);
    case JF_SPLIT: return split_str(c, n, self, a[0], a[1], 0, out);
    case JF_RSPLIT: return split_str(c, n, self, a[0], a[1], 1, out);
    case JF_SPLITLINES: return splitlines_str(c, self, jv_truthy(a[0]), out);
    case JF_STARTSWITH:
    case JF_ENDSWITH:
        if (n_args != 1) return jfail(c, n, "%s takes exactly one argument here", what);
        if (affix(c, n, self, a[0], f->id == JF_ENDSWITH, &r) != 0) return -1;
        *out = jv_bool(r);
        return 0;
    case JF_UPPER: return case_string(c, n, self, CASE_UPPER, 0, out);
    case JF_LOWER: return case_string(c, n, self, CASE_LOWER, 0, out);
    case JF_TITLE: return case_string(c, n, self, CASE_TITLE, 0, out);
    case JF_SWAPCASE: return case_string(c, n, self, CASE_SWAP, 0, out);
    case JF_CAPITALIZE: return case_string(c, n, self, CASE_CAPITALIZE, 0, out);
    case JF_REPLACE:
        if (n_args < 2) return jfail(c, n, "%s takes at least 2 arguments", what);
        return replace_str(c, n, self, a[0], a[1], a[2], out);
    case JF_FIND: case JF_RFIND: case JF_INDEX_STR: case JF_RINDEX: case JF_COUNT_STR: {
        if (n_args != 1 || need_str(c, n, what, a[0]) != 0) return n_args != 1 ? jfail(c, n, "%s takes one argument here", what) : -1;
        if (f->id == JF_COUNT_STR) {
            *out = jv_int(count_str(self, a[0]));
            return 0;
        }
        const int64_t k = find_str(self, a[0], f->id == JF_RFIND || f->id == JF_RINDEX);
        if (k < 0 && (f->id == JF_INDEX_STR || f->id == JF_RINDEX)) return jfail(c, n, "substring not found");
        *out = jv_int(k);
        return 0;
    }
    case JF_JOIN: {
        const jlist *items;
        if (n_args != 1 || jlib_iterate(c, n, a[0], &items) != 0) return n_args != 1 ? jfail(c, n, "%s takes one argument", what) : -1;
        rms_text t;
        rms_text_init(&t);
        int st = 0;
        for (int64_t i = 0; st == 0 && i < items->n; i++) {
            if (items->v[i].kind != JK_STR) st = jfail(c, n, "sequence item %lld: expected str instance, %s found", (long long)i, jv_type_name(items->v[i]));
            else if (i > 0) st = put(c, &t, self.s.p, self.s.n);
            if (st == 0) st = put(c, &t, items->v[i].s.p, items->v[i].s.n);
        }
        if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
        rms_text_free(&t);
        return st;
    }
    case JF_ISSPACE: case JF_ISALPHA: case JF_ISDIGIT: case JF_ISALNUM: case JF_ISLOWER: case JF_ISUPPER:
        return str_predicate(c, n, f->id, self, out);
    case JF_REMOVEPREFIX:
    case JF_REMOVESUFFIX:
        if (n_args != 1 || need_str(c, n, what, a[0]) != 0) return n_args != 1 ? jfail(c, n, "%s takes one argument", what) : -1;
        if (affix(c, n, self, a[0], f->id == JF_REMOVESUFFIX, &r) != 0) return -1;
        *out = !r ? self : f->id == JF_REMOVEPREFIX ? jv_str(self.s.p + a[0].s.n, self.s.n - a[0].s.n)
                                                     : jv_str(self.s.p, self.s.n - a[0].s.n);
        return 0;
    case JF_GET: {
        if (n_args < 1) return jfail(c, n, "get expected at least 1 argument");
        const jv *v = jd_get(self.d, a[0]);
        *out = v ? *v : a[1];
        return 0;
    }
    case JF_ITEMS:
    case JF_KEYS:
    case JF_VALUES: {
        jlist *l = jl_new(c, self.d->n);
        if (!l) return -1;
        for (int64_t i = 0; i < self.d->n; i++) {
            if (f->id == JF_ITEMS) {
                jlist *p = jl_new(c, 2);
                if (!p) return -1;
                p->v[0] = self.d->k[i];
                p->v[1] = self.d->v[i];
                p->n = 2;
                l->v[i] = list_value(p, 1);
            } else {
                l->v[i] = f->id == JF_KEYS ? self.d->k[i] : self.d->v[i];
            }
        }
        l->n = self.d->n;
        *out = list_value(l, f->id == JF_ITEMS ? 2 : f->id == JF_KEYS ? 3 : 4);
        return 0;
    }
    case JF_COUNT_LIST:
    case JF_INDEX_LIST: {
        if (n_args != 1) return jfail(c, n, "%s takes one argument", what);
        int64_t k = 0, first = -1;
        for (int64_t i = 0; i < self.l->n; i++)
            if (jv_equal(self.l->v[i], a[0])) {
                if (first < 0) first = i;
                k++;
            }
        if (f->id == JF_INDEX_LIST && first < 0) return jfail(c, n, "value is not in list");
        *out = jv_int(f->id == JF_COUNT_LIST ? k : first);
        return 0;
    }
    default:
        return jfail(c, n, "%s is outside rmscore's Jinja subset", what);
    }
}

int jlib_call(jctx *c, const jnode *n, const jfunc *f, const jv *args, int64_t n_args, const char *const *kw_names,
              const jv *kw, int64_t n_kw, jv *out) {
    switch (f->id) {
    case JF_UNSUPPORTED: return jfail(c, n, "'%s' is outside rmscore's Jinja subset", f->name);
    case JF_RANGE:
        if (n_kw) return jfail(c, n, "range() takes no keyword arguments");
        return make_range(c, n, args, n_args, out);
    case JF_NAMESPACE: return make_dict(c, n, JK_NS, args, n_args, kw_names, kw, n_kw, out);
    case JF_DICT: return make_dict(c, n, JK_DICT, args, n_args, kw_names, kw, n_kw, out);
    case JF_RAISE: {
        jv msg = n_args > 0 ? args[0] : jv_str("", 0);
        if (jv_to_str(c, n, msg, &msg) != 0) return -1;
        return jfail(c, n, "raise_exception: %.*s", (int)(msg.s.n > 500 ? 500 : msg.s.n), msg.s.p);
    }
    case JF_STRFTIME: {
        if (n_args != 1 || need_str(c, n, "strftime_now", args[0]) != 0)
            return n_args != 1 ? jfail(c, n, "strftime_now takes one argument") : -1;
        if (memchr(args[0].s.p, '\0', args[0].s.n)) return jfail(c, n, "strftime_now: a format holding U+0000");
        const time_t now = time(NULL);
        struct tm tm;
        char buf[512];
        localtime_r(&now, &tm);
        const size_t len = strftime(buf, sizeof buf, args[0].s.p, &tm);
        if (len == 0 && args[0].s.n > 0) return jfail(c, n, "strftime_now: the formatted date is empty or too long");
        return jv_new_str(c, buf, len, out);
    }
    case JF_CYCLE: {
        if (n_args == 0) return jfail(c, n, "no items for cycling given");
        *out = args[f->self.lp->index0 % n_args];
        return 0;
    }
    default:
        return call_method(c, n, f, args, n_args, kw_names, kw, n_kw, out);
    }
}

/* ------------------------------------------------------------------ tests */

enum {
    T_DEFINED, T_UNDEFINED, T_NONE, T_BOOLEAN, T_FALSE, T_TRUE, T_INTEGER, T_FLOAT, T_NUMBER, T_STRING, T_MAPPING,
    T_ITERABLE, T_SEQUENCE, T_CALLABLE, T_SAMEAS, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_IN, T_ODD, T_EVEN,
    T_DIVISIBLEBY, T_LOWER, T_UPPER, T_FILTER, T_TEST, T_ESCAPED,
};

typedef struct named {
    const char *name;
    int id;
} named;

static const named TESTS[] = {
    {"defined", T_DEFINED}, {"undefined", T_UNDEFINED}, {"none", T_NONE}, {"boolean", T_BOOLEAN},
    {"false", T_FALSE}, {"true", T_TRUE}, {"integer", T_INTEGER}, {"float", T_FLOAT}, {"number", T_NUMBER},
    {"string", T_STRING}, {"mapping", T_MAPPING}, {"iterable", T_ITERABLE}, {"sequence", T_SEQUENCE},
    {"callable", T_CALLABLE}, {"sameas", T_SAMEAS}, {"eq", T_EQ}, {"equalto", T_EQ}, {"==", T_EQ}, {"ne", T_NE},
    {"!=", T_NE}, {"lt", T_LT}, {"lessthan", T_LT}, {"<", T_LT}, {"le", T_LE}, {"<=", T_LE}, {"gt", T_GT},
    {"greaterthan", T_GT}, {">", T_GT}, {"ge", T_GE}, {">=", T_GE}, {"in", T_IN}, {"odd", T_ODD}, {"even", T_EVEN},
    {"divisibleby", T_DIVISIBLEBY}, {"lower", T_LOWER}, {"upper", T_UPPER}, {"escaped", T_ESCAPED},
    {NULL, 0}};

int jlib_test_id(const char *name) {
    for (int k = 0; TESTS[k].name; k++)
        if (strcmp(TESTS[k].name, name) == 0) return TESTS[k].id;
    return -1;
}

int jlib_test(jctx *c, const jnode *n, int id, jv v, const jv *args, int64_t n_args, int *result) {
    const int want = id == T_SAMEAS || id == T_EQ || id == T_NE || id == T_LT || id == T_LE || id == T_GT || id == T_GE ||
                     id == T_IN || id == T_DIVISIBLEBY;
    if (n_args != want) return jfail(c, n, "test '%s' takes %d argument(s), got %lld", n->str, want, (long long)n_args);
    const jv b = want ? args[0] : jv_none();
    jv r;
    switch (id) {
    case T_DEFINED: *result = v.kind != JK_UNDEF; return 0;
    case T_UNDEFINED: *result = v.kind == JK_UNDEF; return 0;
    case T_NONE: *result = v.kind == JK_NONE; return 0;
    case T_BOOLEAN: *result = v.kind == JK_BOOL; return 0;
    case T_FALSE: *result = v.kind == JK_BOOL && !v.i; return 0;
    case T_TRUE: *result = v.kind == JK_BOOL && v.i; return 0;
    case T_INTEGER: *result = v.kind == JK_INT || v.kind == JK_BIGINT; return 0;
    case T_FLOAT: *result = v.kind == JK_FLOAT; return 0;
    case T_NUMBER: *result = is_number(v) || v.kind == JK_BIGINT; return 0;
    case T_STRING: *result = v.kind == JK_STR; return 0;
    case T_MAPPING: *result = v.kind == JK_DICT; return 0;
    case T_ITERABLE: *result = v.kind == JK_STR || v.kind == JK_LIST || v.kind == JK_DICT || v.kind == JK_UNDEF; return 0;
    case T_SEQUENCE: *result = v.kind == JK_STR || v.kind == JK_LIST || v.kind == JK_DICT || v.kind == JK_UNDEF; return 0;
    case T_CALLABLE: *result = v.kind == JK_FUNC || v.kind == JK_MACRO; return 0;
    case T_ESCAPED: *result = 0; return 0;
    case T_SAMEAS: // Python `is`: identity; the singletons and small values compare by value
        if (v.kind != b.kind) *result = 0;
        else if (v.kind == JK_NONE || v.kind == JK_UNDEF) *result = 1;
        else if (v.kind == JK_BOOL) *result = v.i == b.i;
        else if (v.kind == JK_LIST) *result = v.l == b.l;
        else if (v.kind == JK_DICT || v.kind == JK_NS) *result = v.d == b.d;
        else return jfail(c, n, "'sameas' on a %s is outside rmscore's Jinja subset", jv_type_name(v));
        return 0;
    case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE: case T_IN: {
        static const int OPS[] = {[T_EQ] = OP_EQ, [T_NE] = OP_NE, [T_LT] = OP_LT, [T_LE] = OP_LE, [T_GT] = OP_GT,
                                  [T_GE] = OP_GE, [T_IN] = OP_IN};
        if (jlib_binop(c, n, OPS[id], v, b, &r) != 0) return -1;
        *result = jv_truthy(r);
        return 0;
    }
    case T_ODD:
    case T_EVEN:
    case T_DIVISIBLEBY: {
        const jv m = id == T_DIVISIBLEBY ? b : jv_int(2);
        if (jlib_binop(c, n, OP_MOD, v, m, &r) != 0) return -1;
        *result = (id == T_ODD) == jv_truthy(r);
        return 0;
    }
    case T_LOWER:
    case T_UPPER: {
        jv s;
        if (jv_to_str(c, n, v, &s) != 0 || str_predicate(c, n, id == T_LOWER ? JF_ISLOWER : JF_ISUPPER, s, &r) != 0) return -1;
        *result = jv_truthy(r);
        return 0;
    }
    default:
        return jfail(c, n, "test '%s' is outside rmscore's Jinja subset", n->str);
    }
}

/* ------------------------------------------------------------------ filters */

enum {
    F_ABS, F_ATTR, F_CAPITALIZE, F_LENGTH, F_DEFAULT, F_DICTSORT, F_ESCAPE, F_FIRST, F_FLOAT, F_INDENT, F_INT,
    F_ITEMS, F_JOIN, F_LAST, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE,
    F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT, F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_UNIQUE, F_UPPER,
};

static const named FILTERS[] = {
    {"abs", F_ABS}, {"attr", F_ATTR}, {"capitalize", F_CAPITALIZE}, {"length", F_LENGTH}, {"count", F_LENGTH},
    {"default", F_DEFAULT}, {"d", F_DEFAULT}, {"dictsort", F_DICTSORT}, {"escape", F_ESCAPE}, {"e", F_ESCAPE},
    {"first", F_FIRST}, {"float", F_FLOAT}, {"indent", F_INDENT}, {"int", F_INT}, {"items", F_ITEMS},
    {"join", F_JOIN}, {"last", F_LAST}, {"list", F_LIST}, {"lower", F_LOWER}, {"map", F_MAP}, {"max", F_MAX},
    {"min", F_MIN}, {"reject", F_REJECT}, {"rejectattr", F_REJECTATTR}, {"replace", F_REPLACE},
    {"reverse", F_REVERSE}, {"round", F_ROUND}, {"safe", F_SAFE}, {"select", F_SELECT},
    {"selectattr", F_SELECTATTR}, {"sort", F_SORT}, {"string", F_STRING}, {"sum", F_SUM}, {"title", F_TITLE},
    {"tojson", F_TOJSON}, {"trim", F_TRIM}, {"unique", F_UNIQUE}, {"upper", F_UPPER},
    {NULL, 0}};

int jlib_filter_id(const char *name) {
    for (int k = 0; FILTERS[k].name; k++)
        if (strcmp(FILTERS[k].name, name) == 0) return FILTERS[k].id;
    return -1;
}

/* jinja2's make_attrgetter: "a.b.0" looked up part by part with getitem (integer parts as integers). */
static int attr_path(jctx *c, const jnode *n, jv item, jv path, jv *out) {
    if (is_intlike(path)) return jlib_getitem(c, n, item, path, out);
    if (need_str(c, n, "attribute", path) != 0) return -1;
    const char *p = path.s.p, *end = p + path.s.n;
    *out = item;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *e = dot ? dot : end;
        jv key = jv_str(p, (size_t)(e - p));
        int digits = e > p;
        for (const char *q = p; q < e; q++) digits &= *q >= '0' && *q <= '9';
        if (digits && e - p < 18) key = jv_int(strtoll(p, NULL, 10));
        if (jlib_getitem(c, n, *out, key, out) != 0) return -1;
        if (!dot) break;
        p = dot + 1;
    }
    return 0;
}

/* select/reject(test, args...) and selectattr/rejectattr(attr, test, args...). */
static int select_items(jctx *c, const jnode *n, jv seq, const jv *args, int64_t n_args, int by_attr, int keep, jv *out) {
    const jlist *items;
    if (jlib_iterate(c, n, seq, &items) != 0) return -1;
    if (by_attr && n_args < 1) return jfail(c, n, "selectattr/rejectattr need an attribute");
    const int t = by_attr ? 1 : 0;
    int test = -1;
    if (n_args > t) {
        if (need_str(c, n, "the test name", args[t]) != 0) return -1;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(args[t].s.n < 63 ? args[t].s.n : 63), args[t].s.p);
        if ((test = jlib_test_id(name)) < 0) return jfail(c, n, "no test named '%s' (outside rmscore's Jinja subset)", name);
    }
    jlist *l = jl_new(c, items->n);
    if (!l) return -1;
    jnode tn = *n;
    tn.str = "select";
    for (int64_t i = 0; i < items->n; i++) {
        jv x = items->v[i];
        int r;
        if (by_attr && attr_path(c, n, x, args[0], &x) != 0) return -1;
        if (test < 0) {
            r = jv_truthy(x);
        } else {
            const int64_t rest = n_args - t - 1;
            // a test takes one argument at most; the number it wants is checked by jlib_test
            if (jlib_test(c, &tn, test, x, args + t + 1, rest, &r) != 0) return -1;
        }
        if (r == keep && jl_push(c, l, items->v[i]) != 0) return -1;
    }
    *out = list_value(l, 0);
    return 0;
}

static int ignore_case(jctx *c, const jnode *n, jv v, int case_sensitive, jv *out) {
    if (!case_sensitive && v.kind == JK_STR) return case_string(c, n, v, CASE_LOWER, 0, out);
    *out = v;
    return 0;
}

/* The sort keys of items: the attribute (if any), lower-cased unless case_sensitive. */
static int sort_keys_of(jctx *c, const jnode *n, const jlist *items, jv attribute, int case_sensitive, jv **keys) {
    *keys = ja_alloc(&c->arena, (size_t)(items->n ? items->n : 1) * sizeof **keys);
    if (!*keys) return jfail_nomem(c);
    for (int64_t i = 0; i < items->n; i++) {
        jv k = items->v[i];
        if (attribute.kind != JK_NONE && attr_path(c, n, k, attribute, &k) != 0) return -1;
        if (ignore_case(c, n, k, case_sensitive, &(*keys)[i]) != 0) return -1;
    }
    return 0;
}

static int filter_min_max(jctx *c, const jnode *n, jv v, jv case_sensitive, jv attribute, int max, jv *out) {
    const jlist *items;
    jv *keys;
    if (jlib_iterate(c, n, v, &items) != 0 || sort_keys_of(c, n, items, attribute, jv_truthy(case_sensitive), &keys) != 0)
        return -1;
    if (items->n == 0) {
        *out = jv_undef("No aggregated item, sequence was empty.");
        return 0;
    }
    int64_t best = 0;
    for (int64_t i = 1; i < items->n; i++) {
        int less;
        if (jv_less(c, n, max ? keys[best] : keys[i], max ? keys[i] : keys[best], &less) != 0) return -1;
        if (less) best = i;
    }
    *out = items->v[best];
    return 0;
}

static int filter_tojson(jctx *c, const jnode *n, jv v, const jv *a, jv *out) {
    // a: ensure_ascii, indent, separators, sort_keys
    char spaces[64];
    dumps_opts o = {.ensure_ascii = jv_truthy(a[0]), .sort_keys = jv_truthy(a[3])};
    if (a[1].kind == JK_NONE) {
        o.indent = NULL;
    } else if (is_intlike(a[1])) {
        const int64_t k = a[1].i < 0 ? 0 : a[1].i;
        if (k >= (int64_t)sizeof spaces) return jfail(c, n, "tojson: indent %lld is outside rmscore's limits", (long long)k);
        memset(spaces, ' ', (size_t)k);
        spaces[k] = '\0';
        o.indent = spaces;
    } else if (a[1].kind == JK_STR && !memchr(a[1].s.p, '\0', a[1].s.n)) {
        o.indent = a[1].s.p;
    } else {
        return jfail(c, n, "tojson: indent must be an integer or a string");
    }
    if (a[2].kind == JK_NONE) {
        o.item_sep = jv_str(o.indent ? "," : ", ", o.indent ? 1 : 2);
        o.key_sep = jv_str(": ", 2);
    } else if (a[2].kind == JK_LIST && a[2].l->n == 2 && a[2].l->v[0].kind == JK_STR && a[2].l->v[1].kind == JK_STR) {
        o.item_sep = a[2].l->v[0];
        o.key_sep = a[2].l->v[1];
    } else {
        return jfail(c, n, "tojson: separators must be a pair of strings");
    }
    rms_text t;
    rms_text_init(&t);
    int st = dumps(c, n, &t, v, &o, 0);
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

/* jinja2's indent: s + "\n" split into lines; lines after the first get the pad (empty ones only with blank);
 * the first line too with first. */
static int filter_indent(jctx *c, const jnode *n, jv s, jv width, jv first, jv blank, jv *out) {
    char spaces[256];
    jv pad, lines;
    if (width.kind == JK_STR) {
        pad = width;
    } else if (is_intlike(width) && width.i < (int64_t)sizeof spaces) {
        const size_t k = width.i < 0 ? 0 : (size_t)width.i;
        memset(spaces, ' ', k);
        pad = jv_str(spaces, k);
    } else {
        return jfail(c, n, "indent: width must be a small integer or a string");
    }
    char *text = ja_alloc(&c->arena, s.s.n + 2);
    if (!text) return jfail_nomem(c);
    memcpy(text, s.s.p, s.s.n);
    text[s.s.n] = '\n';
    if (splitlines_str(c, jv_str(text, s.s.n + 1), 0, &lines) != 0) return -1;
    rms_text t;
    rms_text_init(&t);
    int st = jv_truthy(first) ? put(c, &t, pad.s.p, pad.s.n) : 0;
    for (int64_t i = 0; st == 0 && i < lines.l->n; i++) {
        const jv line = lines.l->v[i];
        if (i > 0) {
            st = puts_(c, &t, "\n");
            if (st == 0 && (jv_truthy(blank) || line.s.n > 0)) st = put(c, &t, pad.s.p, pad.s.n);
        }
        if (st == 0) st = put(c, &t, line.s.p, line.s.n);
    }
    if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
    rms_text_free(&t);
    return st;
}

int jlib_filter(jctx *c, const jnode *n, int id, jv v, const jv *args, int64_t n_args, const char *const *kw_names,
                const jv *kw, int64_t n_kw, jv *out) {
    jv a[4];
    const jv NONE = jv_none();
    char what[48];
    snprintf(what, sizeof what, "filter '%s'", n->str);
#define BIND(...)                                                                                                      \
    do {                                                                                                               \
        static const char *const P_[] = {__VA_ARGS__};                                                                 \
        if (bind_args(c, n, what, P_, defaults, (int)(sizeof P_ / sizeof *P_), args, n_args, kw_names, kw, n_kw, a) != 0) \
            return -1;                                                                                                 \
    } while (0)
#define NO_ARGS()                                                                                                      \
    do {                                                                                                               \
        if (n_args + n_kw > 0) return jfail(c, n, "%s takes no arguments", what);                                     \
    } while (0)
    const jlist *items;
    jv s;
    switch (id) {
    case F_ABS:
        NO_ARGS();
        if (is_intlike(v)) {
            if (v.i == INT64_MIN) return jfail(c, n, "integer overflow");
            *out = jv_int(v.i < 0 ? -v.i : v.i);
        } else if (v.kind == JK_FLOAT) {
            *out = jv_float(fabs(v.f));
        } else {
            return jfail(c, n, "bad operand type for abs(): '%s'", jv_type_name(v));
        }
        return 0;
    case F_ATTR: {
        const jv defaults[] = {NONE};
        BIND("name");
        if (need_str(c, n, what, a[0]) != 0) return -1;
        return jlib_getattr(c, n, v, a[0].s.p, a[0].s.n, out);
    }
    case F_CAPITALIZE:
    case F_UPPER:
    case F_LOWER:
    case F_TITLE:
        NO_ARGS();
        if (jv_to_str(c, n, v, &s) != 0) return -1;
        return case_string(c, n, s, id == F_UPPER ? CASE_UPPER : id == F_LOWER ? CASE_LOWER : id == F_TITLE ? CASE_TITLE : CASE_CAPITALIZE,
                           1, out);
    case F_LENGTH:
        NO_ARGS();
        switch (v.kind) {
        case JK_UNDEF: *out = jv_int(0); return 0;
        case JK_STR: *out = jv_int(rms_utf8_count(v.s.p, v.s.n)); return 0;
        case JK_LIST: *out = jv_int(v.l->n); return 0;
        case JK_DICT: *out = jv_int(v.d->n); return 0;
        default: return jfail(c, n, "object of type '%s' has no len()", jv_type_name(v));
        }
    case F_DEFAULT: {
        const jv defaults[] = {jv_str("", 0), jv_bool(0)};
        BIND("default_value", "boolean");
        *out = v.kind == JK_UNDEF || (jv_truthy(a[1]) && !jv_truthy(v)) ? a[0] : v;
        return 0;
    }
    case F_DICTSORT: {
        const jv defaults[] = {jv_bool(0), jv_str("key", 3), jv_bool(0)};
        BIND("case_sensitive", "by", "reverse");
        if (v.kind != JK_DICT) return jfail(c, n, "dictsort expects a dict, got '%s'", jv_type_name(v));
        const int by_value = a[1].kind == JK_STR && a[1].s.n == 5 && !memcmp(a[1].s.p, "value", 5);
        if (!by_value && !(a[1].kind == JK_STR && a[1].s.n == 3 && !memcmp(a[1].s.p, "key", 3)))
            return jfail(c, n, "You can only sort by either \"key\" or \"value\"");
        jlist *l = jl_new(c, v.d->n);
        jv *keys = ja_alloc(&c->arena, (size_t)(v.d->n + 1) * sizeof *keys);
        if (!l || !keys) return jfail_nomem(c);
        for (int64_t i = 0; i < v.d->n; i++) {
            jlist *p = jl_new(c, 2);
            if (!p) return -1;
            p->v[0] = v.d->k[i];
            p->v[1] = v.d->v[i];
            p->n = 2;
            l->v[i] = list_value(p, 1);
            if (ignore_case(c, n, by_value ? v.d->v[i] : v.d->k[i], jv_truthy(a[0]), &keys[i]) != 0) return -1;
        }
        l->n = v.d->n;
        if (sort_values(c, n, l->v, l->n, keys) != 0) return -1;
        if (jv_truthy(a[2]))
            for (int64_t i = 0, j = l->n - 1; i < j; i++, j--) {
                const jv t = l->v[i];
                l->v[i] = l->v[j];
                l->v[j] = t;
            }
        *out = list_value(l, 0);
        return 0;
    }
    case F_ESCAPE: {
        NO_ARGS();
        if (jv_to_str(c, n, v, &s) != 0) return -1;
        rms_text t;
        rms_text_init(&t);
        int st = 0;
        for (size_t i = 0; st == 0 && i < s.s.n; i++) {
            const char ch = s.s.p[i];
            st = ch == '&' ? puts_(c, &t, "&amp;") : ch == '<' ? puts_(c, &t, "&lt;") : ch == '>' ? puts_(c, &t, "&gt;") :
                 ch == '"' ? puts_(c, &t, "&#34;") : ch == '\'' ? puts_(c, &t, "&#39;") : put(c, &t, &ch, 1);
        }
        if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
        rms_text_free(&t);
        return st;
    }
    case F_FIRST:
    case F_LAST:
        NO_ARGS();
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        if (items->n == 0) *out = jv_undef(id == F_FIRST ? "No first item, sequence was empty." : "No last item, sequence was empty.");
        else *out = items->v[id == F_FIRST ? 0 : items->n - 1];
        return 0;
    case F_FLOAT: {
        const jv defaults[] = {jv_float(0.0)};
        BIND("default");
        if (is_number(v)) *out = jv_float(num(v));
        else if (v.kind == JK_STR) {
            char buf[128];
            char *end;
            size_t b = 0, e = v.s.n;
            while (b < e && rms_py_isspace((unsigned char)v.s.p[b])) b++;
            while (e > b && rms_py_isspace((unsigned char)v.s.p[e - 1])) e--;
            if (e - b == 0 || e - b >= sizeof buf) { *out = a[0]; return 0; }
            memcpy(buf, v.s.p + b, e - b);
            buf[e - b] = '\0';
            const double f = strtod(buf, &end);
            *out = *end == '\0' && !strpbrk(buf, "xXpP") ? jv_float(f) : a[0];
        } else *out = a[0];
        return 0;
    }
    case F_INDENT: {
        const jv defaults[] = {jv_int(4), jv_bool(0), jv_bool(0)};
        BIND("width", "first", "blank");
        if (jv_to_str(c, n, v, &s) != 0) return -1;
        return filter_indent(c, n, s, a[0], a[1], a[2], out);
    }
    case F_INT: {
        const jv defaults[] = {jv_int(0), jv_int(10)};
        BIND("default", "base");
        if (is_intlike(v)) *out = jv_int(v.i);
        else if (v.kind == JK_FLOAT) {
            if (!(v.f > -9.2e18 && v.f < 9.2e18)) *out = a[0];
            else *out = jv_int((int64_t)v.f);
        } else if (v.kind == JK_STR) {
            char buf[128];
            size_t b = 0, e = v.s.n;
            while (b < e && rms_py_isspace((unsigned char)v.s.p[b])) b++;
            while (e > b && rms_py_isspace((unsigned char)v.s.p[e - 1])) e--;
            if (e - b == 0 || e - b >= sizeof buf || !is_intlike(a[1]) || a[1].i != 10) {
                if (is_intlike(a[1]) && a[1].i != 10) return jfail(c, n, "int: a base other than 10 is outside rmscore's Jinja subset");
                *out = a[0];
                return 0;
            }
            memcpy(buf, v.s.p + b, e - b);
            buf[e - b] = '\0';
            int ok = 1;
            for (size_t k = (buf[0] == '-' || buf[0] == '+'); buf[k]; k++) ok &= (buf[k] >= '0' && buf[k] <= '9') || (buf[k] == '_' && k > 0 && buf[k + 1] >= '0' && buf[k + 1] <= '9');
            if (ok && (buf[0] != '-' && buf[0] != '+' ? buf[0] != '\0' : buf[1] != '\0')) {
                char digits[128];
                size_t m = 0;
                for (size_t k = 0; buf[k]; k++)
                    if (buf[k] != '_') digits[m++] = buf[k];
                digits[m] = '\0';
                errno = 0;
                const long long x = strtoll(digits, NULL, 10);
                if (errno) return jfail(c, n, "int: %s is out of rmscore's 64-bit range", digits);
                *out = jv_int(x);
            } else { // jinja2 then tries int(float(value))
                char *end;
                const double f = strtod(buf, &end);
                *out = *end == '\0' && f > -9.2e18 && f < 9.2e18 && !strpbrk(buf, "xXpP") ? jv_int((int64_t)f) : a[0];
            }
        } else *out = a[0];
        return 0;
    }
    case F_ITEMS:
        NO_ARGS();
        if (v.kind == JK_UNDEF) {
            jlist *l = jl_new(c, 0);
            if (!l) return -1;
            *out = list_value(l, 0);
            return 0;
        }
        if (v.kind != JK_DICT) return jfail(c, n, "items: can only get item pairs from a mapping");
        {
            jfunc f = {.id = JF_ITEMS, .self = v, .name = "items"};
            if (call_method(c, n, &f, NULL, 0, NULL, NULL, 0, out) != 0) return -1;
            out->tuple = 0;
            return 0;
        }
    case F_JOIN: {
        const jv defaults[] = {jv_str("", 0), NONE};
        BIND("d", "attribute");
        if (jlib_iterate(c, n, v, &items) != 0 || jv_to_str(c, n, a[0], &a[0]) != 0) return -1;
        rms_text t;
        rms_text_init(&t);
        int st = 0;
        for (int64_t i = 0; st == 0 && i < items->n; i++) {
            jv x = items->v[i];
            if (a[1].kind != JK_NONE) st = attr_path(c, n, x, a[1], &x);
            if (st == 0 && i > 0) st = put(c, &t, a[0].s.p, a[0].s.n);
            if (st == 0) st = jv_write_str(c, n, &t, x);
        }
        if (st == 0) st = jv_new_str(c, t.data ? t.data : "", t.len, out);
        rms_text_free(&t);
        return st;
    }
    case F_LIST: {
        NO_ARGS();
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        jlist *l = jl_new(c, items->n);
        if (!l) return -1;
        if (items->n) memcpy(l->v, items->v, (size_t)items->n * sizeof *l->v);
        l->n = items->n;
        *out = list_value(l, 0);
        return 0;
    }
    case F_MAP: {
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        jlist *l = jl_new(c, items->n);
        if (!l) return -1;
        int64_t attr_kw = -1, default_kw = -1;
        for (int64_t k = 0; k < n_kw; k++) {
            if (!strcmp(kw_names[k], "attribute")) attr_kw = k;
            else if (!strcmp(kw_names[k], "default")) default_kw = k;
            else return jfail(c, n, "map: unexpected keyword argument '%s'", kw_names[k]);
        }
        if (attr_kw >= 0) {
            if (n_args > 0) return jfail(c, n, "map: positional arguments with attribute=");
            for (int64_t i = 0; i < items->n; i++) {
                jv x;
                if (attr_path(c, n, items->v[i], kw[attr_kw], &x) != 0) return -1;
                if (x.kind == JK_UNDEF && default_kw >= 0) x = kw[default_kw];
                l->v[l->n++] = x;
            }
        } else {
            if (n_args < 1 || need_str(c, n, "map's filter name", args[0]) != 0)
                return n_args < 1 ? jfail(c, n, "map: a filter name or attribute= is required") : -1;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(args[0].s.n < 63 ? args[0].s.n : 63), args[0].s.p);
            const int fid = jlib_filter_id(name);
            if (fid < 0) return jfail(c, n, "no filter named '%s' (outside rmscore's Jinja subset)", name);
            jnode fn = *n;
            fn.str = ja_strdup(&c->arena, name, strlen(name));
            if (!fn.str) return jfail_nomem(c);
            for (int64_t i = 0; i < items->n; i++)
                if (jlib_filter(c, &fn, fid, items->v[i], args + 1, n_args - 1, kw_names, kw, n_kw, &l->v[l->n++]) != 0) return -1;
        }
        *out = list_value(l, 0);
        return 0;
    }
    case F_MAX:
    case F_MIN: {
        const jv defaults[] = {jv_bool(0), NONE};
        BIND("case_sensitive", "attribute");
        return filter_min_max(c, n, v, a[0], a[1], id == F_MAX, out);
    }
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR:
        if (n_kw) return jfail(c, n, "%s takes no keyword arguments", what);
        return select_items(c, n, v, args, n_args, id == F_SELECTATTR || id == F_REJECTATTR, id == F_SELECT || id == F_SELECTATTR,
                            out);
    case F_REPLACE: {
        const jv defaults[] = {NONE, NONE, NONE};
        BIND("old", "new", "count");
        if (n_args + n_kw < 2) return jfail(c, n, "replace needs old and new");
        if (jv_to_str(c, n, v, &s) != 0) return -1;
        return replace_str(c, n, s, a[0], a[1], a[2], out);
    }
    case F_REVERSE: {
        NO_ARGS();
        if (v.kind == JK_STR) return jlib_slice(c, n, v, NONE, NONE, jv_int(-1), out);
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        jlist *l = jl_new(c, items->n);
        if (!l) return -1;
        for (int64_t i = items->n - 1; i >= 0; i--) l->v[l->n++] = items->v[i];
        *out = list_value(l, 0);
        return 0;
    }
    case F_ROUND: {
        const jv defaults[] = {jv_int(0), jv_str("common", 6)};
        BIND("precision", "method");
        if (need_int(c, n, what, a[0]) != 0 || need_str(c, n, what, a[1]) != 0) return -1;
        if (!is_number(v)) return jfail(c, n, "round: '%s' is not a number", jv_type_name(v));
        const int common = a[1].s.n == 6 && !memcmp(a[1].s.p, "common", 6);
        const int is_floor = a[1].s.n == 5 && !memcmp(a[1].s.p, "floor", 5), is_ceil = a[1].s.n == 4 && !memcmp(a[1].s.p, "ceil", 4);
        if (!common && !is_floor && !is_ceil) return jfail(c, n, "method must be common, ceil or floor");
        if (a[0].i < 0 || a[0].i > 15) return jfail(c, n, "round: a precision outside 0..15 is outside rmscore's Jinja subset");
        if (common && is_intlike(v)) { // round(int, ndigits) stays an int
            *out = jv_int(v.i);
            return 0;
        }
        const double scale = pow(10.0, (double)a[0].i), x = num(v);
        if (is_floor || is_ceil) {
            *out = jv_float((is_floor ? floor(x * scale) : ceil(x * scale)) / scale);
            return 0;
        }
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)a[0].i, x); // correctly rounded, halves to even, as Python's round()
        *out = jv_float(strtod(buf, NULL));
        return 0;
    }
    case F_SAFE:
        NO_ARGS();
        *out = v;
        return 0;
    case F_SORT: {
        const jv defaults[] = {jv_bool(0), jv_bool(0), NONE};
        BIND("reverse", "case_sensitive", "attribute");
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        jlist *l = jl_new(c, items->n);
        jv *keys;
        if (!l || sort_keys_of(c, n, items, a[2], jv_truthy(a[1]), &keys) != 0) return -1;
        if (items->n) memcpy(l->v, items->v, (size_t)items->n * sizeof *l->v);
        l->n = items->n;
        if (jv_truthy(a[0])) { // Python's reverse=True keeps equal items in their order: reverse, sort, reverse
            for (int64_t i = 0, j = l->n - 1; i < j; i++, j--) {
                jv t = l->v[i]; l->v[i] = l->v[j]; l->v[j] = t;
                t = keys[i]; keys[i] = keys[j]; keys[j] = t;
            }
        }
        if (sort_values(c, n, l->v, l->n, keys) != 0) return -1;
        if (jv_truthy(a[0]))
            for (int64_t i = 0, j = l->n - 1; i < j; i++, j--) {
                const jv t = l->v[i]; l->v[i] = l->v[j]; l->v[j] = t;
            }
        *out = list_value(l, 0);
        return 0;
    }
    case F_STRING:
        NO_ARGS();
        return jv_to_str(c, n, v, out);
    case F_SUM: {
        const jv defaults[] = {NONE, jv_int(0)};
        BIND("attribute", "start");
        if (jlib_iterate(c, n, v, &items) != 0) return -1;
        jv acc = a[1];
        for (int64_t i = 0; i < items->n; i++) {
            jv x = items->v[i];
            if (a[0].kind != JK_NONE && attr_path(c, n, x, a[0], &x) != 0) return -1;
            if (jlib_binop(c, n, OP_ADD, acc, x, &acc) != 0) return -1;
        }
        *out = acc;
        return 0;
    }
    case F_TOJSON: {
        const jv defaults[] = {jv_bool(0), NONE, NONE, jv_bool(0)};
        BIND("ensure_ascii", "indent", "separators", "sort_keys");
        return filter_tojson(c, n, v, a, out);
    }
    case F_TRIM: {
        const jv defaults[] = {NONE};
        BIND("chars");
        if (jv_to_str(c, n, v, &s) != 0) return -1;
        return strip_str(c, n, s, a[0], 0, out);
    }
    case F_UNIQUE: {
        const jv defaults[] = {jv_bool(0), NONE};
        BIND("case_sensitive", "attribute");
        jv *keys;
        if (jlib_iterate(c, n, v, &items) != 0 || sort_keys_of(c, n, items, a[1], jv_truthy(a[0]), &keys) != 0) return -1;
        jlist *l = jl_new(c, items->n), *seen = jl_new(c, items->n);
        if (!l || !seen) return -1;
        for (int64_t i = 0; i < items->n; i++) {
            int dup = 0;
            for (int64_t k = 0; k < seen->n && !dup; k++) dup = jv_equal(seen->v[k], keys[i]);
            if (!dup) {
                seen->v[seen->n++] = keys[i];
                l->v[l->n++] = items->v[i];
            }
        }
        *out = list_value(l, 0);
        return 0;
    }
    default:
        return jfail(c, n, "filter '%s' is outside rmscore's Jinja subset", n->str);
    }
#undef BIND
#undef NO_ARGS
}
