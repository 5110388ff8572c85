/* jinja.c — Jinja source -> tokens -> syntax tree, as jinja2's lexer and parser read it with trim_blocks
 * and lstrip_blocks (jinja.h; jinja_internal.h for the tree). */
#include "src/text/jinja.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/utf8.h"
#include "src/text/jinja_internal.h"

#define MAX_NESTING 100 // statements and expressions nested deeper than this are refused (the parser recurses)

/* ------------------------------------------------------------------ arena */

typedef struct jblock {
    struct jblock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} jblock;

#define BLOCK_MIN ((size_t)64 << 10)

void ja_init(jarena *a, size_t limit) {
    a->head = NULL;
    a->total = 0;
    a->limit = limit;
}

void ja_free(jarena *a) {
    for (jblock *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->total = 0;
}

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (n > a->limit || a->total > a->limit - n)) return NULL;
    jblock *b = a->head;
    if (!b || b->cap - b->used < n) {
        const size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        if (!(b = malloc(sizeof *b + cap))) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *ja_strdup(jarena *a, const char *s, size_t n) {
    char *p = ja_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------------ Unicode helpers */

/* The length of the run of Python whitespace at s[i..len). */
static size_t space_run(const char *s, size_t len, size_t i) {
    size_t j = i, next;
    while (j < len && rms_py_isspace(rms_utf8_decode(s, len, j, &next))) j = next;
    return j - i;
}

/* The end of s[0..len) without its trailing Python whitespace (str.rstrip()). */
static size_t rstrip_end(const char *s, size_t len) {
    size_t e = len;
    while (e > 0) {
        size_t b = e - 1, next;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        if (!rms_py_isspace(rms_utf8_decode(s, len, b, &next)) || next != e) break;
        e = b;
    }
    return e;
}

/* ------------------------------------------------------------------ tokens */

typedef enum tk { T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF } tk;

typedef struct tok {
    tk type;
    int line, col;
    const char *s; // DATA, NAME, STRING (decoded), OP: text in the arena, NUL-terminated
    size_t n;
    int64_t i;     // INT
    double f;      // FLOAT
} tok;

typedef struct lexer {
    jarena *arena;
    const char *src; // normalized source (newlines \n, one trailing newline dropped)
    size_t len, pos;
    tok *toks;       // (n, cap): malloc'd
    int64_t n, cap;
    rms_err *err;
    rms_status *status; // set by every failure
} lexer;

/* Line and column (1-based, columns in characters) of byte offset off. */
static void line_col(const char *src, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off;) {
        size_t next;
        const uint32_t cp = rms_utf8_decode(src, off, i, &next);
        if (cp == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
        i = next;
    }
    *line = l;
    *col = c;
}

static int lex_fail(lexer *L, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_fail(lexer *L, size_t off, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(L->src, off, &line, &col);
    *L->status = rms_fail(L->err, RMS_ERR_FORMAT, "chat template line %d column %d: %s", line, col, msg);
    return -1;
}

static int push_tok(lexer *L, tk type, size_t off, const char *s, size_t n) {
    if (L->n == L->cap) {
        const int64_t cap = L->cap ? 2 * L->cap : 256;
        tok *t = realloc(L->toks, (size_t)cap * sizeof *t);
        if (!t) return *L->status = rms_fail(L->err, RMS_ERR_NOMEM, "out of memory parsing a chat template"), -1;
        L->toks = t;
        L->cap = cap;
    }
    tok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    line_col(L->src, off, &t->line, &t->col);
    if (s) {
        if (!(t->s = ja_strdup(L->arena, s, n))) return *L->status = rms_fail(L->err, RMS_ERR_NOMEM, "out of memory"), -1;
        t->n = n;
    }
    return 0;
}

static int is_name_start(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
static int is_name_char(unsigned char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}


/* A string literal at L->pos (quote q): decoded as Python's unicode-escape decodes it (what jinja2 does):
 * \\ \' \" \a \b \f \n \r \t \v, octal \ooo, \xhh, \uXXXX, \UXXXXXXXX, backslash-newline dropped; any other
 * backslash stays as it is. */
static int lex_string(lexer *L) {
    const size_t start = L->pos;
    const char q = L->src[L->pos++];
    rms_text v;
    rms_text_init(&v);
    int bad = 0;
    while (L->pos < L->len && L->src[L->pos] != q) {
        const char c = L->src[L->pos];
        if (c != '\\') {
            bad |= rms_text_append(&v, &c, 1);
            L->pos++;
            continue;
        }
        if (L->pos + 1 >= L->len) break;
        const char e = L->src[L->pos + 1];
        const size_t esc = L->pos;
        L->pos += 2;
        static const char from[] = "\\'\"abfnrtv", to[] = "\\'\"\a\b\f\n\r\t\v";
        const char *k = memchr(from, e, sizeof from - 1);
        if (k) {
            bad |= rms_text_append(&v, &to[k - from], 1);
        } else if (e == '\n') {
            // line continuation: nothing
        } else if (e >= '0' && e <= '7') {
            uint32_t cp = (uint32_t)(e - '0');
            for (int d = 0; d < 2 && L->pos < L->len && L->src[L->pos] >= '0' && L->src[L->pos] <= '7'; d++)
                cp = cp * 8 + (uint32_t)(L->src[L->pos++] - '0');
            bad |= rms_utf8_append(&v, cp);
        } else if (e == 'x' || e == 'u' || e == 'U') {
            const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < digits; d++) {
                const int h = L->pos < L->len ? hexval(L->src[L->pos]) : -1;
                if (h < 0) {
                    rms_text_free(&v);
                    return lex_fail(L, esc, "truncated \\%c escape in a string literal", e);
                }
                cp = cp * 16 + (uint32_t)h;
                L->pos++;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                rms_text_free(&v);
                return lex_fail(L, esc, "escape \\%c%.*s is not a Unicode scalar value", e, digits, L->src + esc + 2);
            }
            bad |= rms_utf8_append(&v, cp);
        } else if (e == 'N') {
            rms_text_free(&v);
            return lex_fail(L, esc, "\\N{...} escapes are outside rmscore's Jinja subset");
        } else {
            const char two[2] = {'\\', e};
            bad |= rms_text_append(&v, two, 2);
        }
    }
    if (L->pos >= L->len) {
        rms_text_free(&v);
        return lex_fail(L, start, "unterminated string literal");
    }
    L->pos++; // closing quote
    int st = bad ? (*L->status = rms_fail(L->err, RMS_ERR_NOMEM, "out of memory"), -1) : push_tok(L, T_STRING, start, v.data ? v.data : "", v.len);
    rms_text_free(&v);
    return st;
}

/* Digits with '_' separators ((\d+_)*\d+); returns the end. */
static size_t digits_end(const char *s, size_t len, size_t i) {
    if (i >= len || !is_digit((unsigned char)s[i])) return i;
    while (i < len) {
        if (is_digit((unsigned char)s[i])) i++;
        else if (s[i] == '_' && i + 1 < len && is_digit((unsigned char)s[i + 1])) i++;
        else break;
    }
    return i;
}

static int lex_number(lexer *L) {
    const char *s = L->src;
    const size_t start = L->pos;
    size_t i = digits_end(s, L->len, start);
    size_t frac = i, exp_end = i;
    if (i + 1 < L->len && s[i] == '.' && is_digit((unsigned char)s[i + 1])) frac = digits_end(s, L->len, i + 1);
    if (frac < L->len && (s[frac] == 'e' || s[frac] == 'E')) {
        size_t k = frac + 1;
        if (k < L->len && (s[k] == '+' || s[k] == '-')) k++;
        const size_t e = digits_end(s, L->len, k);
        if (e > k) exp_end = e;
    }
    const size_t end = exp_end > frac ? exp_end : frac;
    char buf[128];
    size_t m = 0;
    for (size_t k = start; k < end && m + 1 < sizeof buf; k++)
        if (s[k] != '_') buf[m++] = s[k];
    buf[m] = '\0';
    if (end - start >= sizeof buf - 1) return lex_fail(L, start, "number literal too long");
    if (end > i) { // a float
        if (push_tok(L, T_FLOAT, start, NULL, 0) != 0) return -1;
        L->toks[L->n - 1].f = strtod(buf, NULL);
    } else {
        if (m > 1 && buf[0] == '0') {
            if (buf[1] == 'b' || buf[1] == 'o' || buf[1] == 'x' || buf[1] == 'B' || buf[1] == 'O' || buf[1] == 'X')
                return lex_fail(L, start, "binary, octal and hex literals are outside rmscore's Jinja subset");
            for (size_t k = 1; k < m; k++)
                if (buf[k] != '0') return lex_fail(L, start, "leading zeros in a decimal literal");
        }
        errno = 0;
        const long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) return lex_fail(L, start, "integer literal out of range");
        if (push_tok(L, T_INT, start, NULL, 0) != 0) return -1;
        L->toks[L->n - 1].i = v;
    }
    L->pos = end;
    return 0;
}

static const char *const OPERATORS[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                        "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";", NULL};

/* The tokens inside {{ }} or {% %} up to its end marker; returns the end's strip sign ('-', '+' or 0). */
static int lex_tag(lexer *L, int block, size_t tag_start, int *sign) {
    int depth = 0; // open ( [ { : an end marker inside them is an operator
    for (;;) {
        L->pos += space_run(L->src, L->len, L->pos);
        if (L->pos >= L->len) return lex_fail(L, tag_start, "unexpected end of template: %s tag not closed", block ? "{%" : "{{");
        const char *p = L->src + L->pos;
        const size_t left = L->len - L->pos;
        if (depth == 0) {
            const char *end = block ? "%}" : "}}";
            if ((p[0] == '-' || (block && p[0] == '+')) && left >= 3 && memcmp(p + 1, end, 2) == 0) {
                *sign = p[0];
                if (push_tok(L, block ? T_BLOCK_END : T_VAR_END, L->pos, NULL, 0) != 0) return -1;
                L->pos += 3;
                return 0;
            }
            if (left >= 2 && memcmp(p, end, 2) == 0) {
                *sign = 0;
                if (push_tok(L, block ? T_BLOCK_END : T_VAR_END, L->pos, NULL, 0) != 0) return -1;
                L->pos += 2;
                return 0;
            }
        }
        const unsigned char c = (unsigned char)p[0];
        if (c == '\'' || c == '"') {
            if (lex_string(L) != 0) return -1;
        } else if (is_digit(c)) {
            if (lex_number(L) != 0) return -1;
        } else if (is_name_start(c)) {
            size_t e = L->pos;
            while (e < L->len && is_name_char((unsigned char)L->src[e])) e++;
            if (push_tok(L, T_NAME, L->pos, p, e - L->pos) != 0) return -1;
            L->pos = e;
        } else {
            const char *op = NULL;
            for (int k = 0; OPERATORS[k]; k++) {
                const size_t n = strlen(OPERATORS[k]);
                if (left >= n && memcmp(p, OPERATORS[k], n) == 0) {
                    op = OPERATORS[k];
                    break;
                }
            }
            if (!op) return lex_fail(L, L->pos, "unexpected character '%c'", c);
            if (op[0] == '(' || op[0] == '[' || op[0] == '{') depth++;
            if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && op[1] == '\0') {
                if (depth == 0) return lex_fail(L, L->pos, "unexpected '%s'", op);
                depth--;
            }
            if (push_tok(L, T_OP, L->pos, op, strlen(op)) != 0) return -1;
            L->pos += strlen(op);
        }
    }
}

/* After a tag's end at L->pos: `-` strips all whitespace that follows; a block or comment end without `+`
 * drops one newline (trim_blocks). */
static void after_tag(lexer *L, int sign, int block_like) {
    if (sign == '-') L->pos += space_run(L->src, L->len, L->pos);
    else if (block_like && sign != '+' && L->pos < L->len && L->src[L->pos] == '\n') L->pos++;
}

/* The data before a tag at tag_pos, with the tag's begin sign applied: `-` strips trailing whitespace;
 * a block/comment begin without `+` strips spaces before it on its own line (lstrip_blocks). */
static int emit_data(lexer *L, size_t start, size_t tag_pos, int begin_sign, int lstrip_applies) {
    const char *text = L->src + start;
    size_t n = tag_pos - start;
    if (begin_sign == '-') {
        n = rstrip_end(text, n);
    } else if (begin_sign != '+' && lstrip_applies) {
        size_t l_pos = n;
        while (l_pos > 0 && text[l_pos - 1] != '\n') l_pos--;
        const int line_starting = start == 0 || L->src[start - 1] == '\n';
        if ((l_pos > 0 || line_starting) && n > l_pos && space_run(text, n, l_pos) == n - l_pos) n = l_pos;
    }
    return n > 0 ? push_tok(L, T_DATA, start, text, n) : 0;
}

/* {% raw %} just lexed as its 3 tokens: the text up to {% endraw %} becomes data. */
static int lex_raw(lexer *L, size_t tag_start) {
    L->n -= 3; // BLOCK_BEGIN raw BLOCK_END
    for (size_t i = L->pos; i + 1 < L->len; i++) {
        if (L->src[i] != '{' || L->src[i + 1] != '%') continue;
        size_t k = i + 2;
        int sign = 0;
        if (k < L->len && (L->src[k] == '-' || L->src[k] == '+')) sign = L->src[k++];
        k += space_run(L->src, L->len, k);
        if (L->len - k < 6 || memcmp(L->src + k, "endraw", 6) != 0) continue;
        k += 6;
        k += space_run(L->src, L->len, k);
        int esign = 0;
        if (k < L->len && (L->src[k] == '-' || L->src[k] == '+')) esign = L->src[k++];
        if (L->len - k < 2 || memcmp(L->src + k, "%}", 2) != 0) continue;
        if (emit_data(L, L->pos, i, sign, 1) != 0) return -1;
        L->pos = k + 2;
        after_tag(L, esign, 1);
        return 0;
    }
    return lex_fail(L, tag_start, "missing {%% endraw %%}");
}

static int lex_all(lexer *L) {
    size_t data_start = 0;
    while (L->pos < L->len) {
        const char *open = NULL;
        size_t k;
        for (k = L->pos; k + 1 < L->len; k++)
            if (L->src[k] == '{' && (L->src[k + 1] == '{' || L->src[k + 1] == '%' || L->src[k + 1] == '#')) {
                open = L->src + k;
                break;
            }
        if (!open) break;
        const char kind = open[1];
        int sign = 0;
        size_t after = k + 2;
        if (after < L->len && (L->src[after] == '-' || (kind != '{' && L->src[after] == '+'))) sign = L->src[after++];
        if (emit_data(L, data_start, k, sign, kind != '{') != 0) return -1;
        if (kind == '#') {
            size_t e = after;
            while (e + 1 < L->len && !(L->src[e] == '#' && L->src[e + 1] == '}')) e++;
            if (e + 1 >= L->len) return lex_fail(L, k, "missing end of comment tag");
            const int esign = e > after && (L->src[e - 1] == '-' || L->src[e - 1] == '+') ? L->src[e - 1] : 0;
            L->pos = e + 2;
            after_tag(L, esign, 1);
        } else {
            if (push_tok(L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, k, NULL, 0) != 0) return -1;
            L->pos = after;
            int esign = 0;
            if (lex_tag(L, kind == '%', k, &esign) != 0) return -1;
            after_tag(L, esign, kind == '%');
            if (kind == '%' && L->n >= 3 && L->toks[L->n - 3].type == T_BLOCK_BEGIN && L->toks[L->n - 2].type == T_NAME &&
                strcmp(L->toks[L->n - 2].s, "raw") == 0 && L->toks[L->n - 1].type == T_BLOCK_END &&
                lex_raw(L, k) != 0)
                return -1;
        }
        data_start = L->pos;
    }
    if (emit_data(L, data_start, L->len, 0, 0) != 0) return -1;
    return push_tok(L, T_EOF, L->len, NULL, 0);
}

/* ------------------------------------------------------------------ parser */

typedef struct parser {
    jarena *arena;
    const tok *t; // (n)
    int64_t n, i;
    int depth;     // nesting of statements and expressions
    int in_loop;   // break/continue allowed
    const tok *opened; // the name of the statement whose body is parsed next (for "opened at" messages)
    rms_err *err;
    rms_status *status; // set by every failure
} parser;

static const tok *cur(parser *P) { return &P->t[P->i]; }
static const tok *peek(parser *P, int k) { return &P->t[P->i + k < P->n ? P->i + k : P->n - 1]; }

static int pfail(parser *P, const tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pfail(parser *P, const tok *t, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *P->status = rms_fail(P->err, RMS_ERR_FORMAT, "chat template line %d column %d: %s", t->line, t->col, msg);
    return -1;
}

static const char *tok_desc(const tok *t) {
    switch (t->type) {
    case T_DATA: return "template data";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_NAME: return t->s;
    case T_STRING: return "a string";
    case T_INT: return "an integer";
    case T_FLOAT: return "a float";
    case T_OP: return t->s;
    default: return "the end of the template";
    }
}

static int is_op(const tok *t, const char *op) { return t->type == T_OP && strcmp(t->s, op) == 0; }
static int is_name(const tok *t, const char *name) { return t->type == T_NAME && strcmp(t->s, name) == 0; }

static int expect_op(parser *P, const char *op) {
    if (!is_op(cur(P), op)) return pfail(P, cur(P), "expected '%s', got '%s'", op, tok_desc(cur(P)));
    P->i++;
    return 0;
}

static jnode *new_node(parser *P, jnode_type type, const tok *at) {
    jnode *n = ja_alloc(P->arena, sizeof *n);
    if (!n) {
        *P->status = rms_fail(P->err, RMS_ERR_NOMEM, "out of memory parsing a chat template");
        return NULL;
    }
    n->type = type;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* A growable array of node pointers (malloc'd while parsing, then copied into the arena). */
typedef struct nvec {
    jnode **v;
    const char **names;
    int64_t n, cap;
} nvec;

static int nvec_push(parser *P, nvec *v, jnode *node, const char *name) {
    if (v->n == v->cap) {
        const int64_t cap = v->cap ? 2 * v->cap : 8;
        jnode **nv = realloc(v->v, (size_t)cap * sizeof *nv);
        if (nv) v->v = nv;
        const char **nn = realloc(v->names, (size_t)cap * sizeof *nn);
        if (nn) v->names = nn;
        if (!nv || !nn) return *P->status = rms_fail(P->err, RMS_ERR_NOMEM, "out of memory"), -1;
        v->cap = cap;
    }
    v->v[v->n] = node;
    v->names[v->n++] = name;
    return 0;
}

static void nvec_free(nvec *v) {
    free(v->v);
    free(v->names);
}

/* Moves v's nodes (and names) into the arena. */
static int nvec_take(parser *P, nvec *v, jnode ***nodes, const char ***names, int64_t *n) {
    *n = v->n;
    *nodes = NULL;
    if (names) *names = NULL;
    if (v->n > 0) {
        if (!(*nodes = ja_alloc(P->arena, (size_t)v->n * sizeof **nodes))) goto nomem;
        memcpy(*nodes, v->v, (size_t)v->n * sizeof **nodes);
        if (names) {
            if (!(*names = ja_alloc(P->arena, (size_t)v->n * sizeof **names))) goto nomem;
            memcpy(*names, v->names, (size_t)v->n * sizeof **names);
        }
    }
    nvec_free(v);
    return 0;
nomem:
    nvec_free(v);
    return *P->status = rms_fail(P->err, RMS_ERR_NOMEM, "out of memory"), -1;
}

static jnode *parse_expression(parser *P, int with_condexpr);
static jnode *parse_tuple(parser *P, int simplified, int explicit_parens, const char *const *end_names);
static jnode *parse_unary(parser *P, int with_filter);
static jnode *parse_postfix(parser *P, jnode *node);
static jnode *parse_filter_expr(parser *P, jnode *node);
static jnode *parse_primary(parser *P);

static int enter(parser *P) {
    if (++P->depth > MAX_NESTING) return pfail(P, cur(P), "nested more than %d levels deep", MAX_NESTING);
    return 0;
}

static jnode *parse_condexpr(parser *P) {
    jnode *expr1 = parse_expression(P, 0);
    while (expr1 && is_name(cur(P), "if")) {
        const tok *at = cur(P);
        P->i++;
        jnode *cond = parse_expression(P, 0), *expr3 = NULL;
        if (!cond) return NULL;
        if (is_name(cur(P), "else")) {
            P->i++;
            if (!(expr3 = parse_condexpr(P))) return NULL;
        }
        jnode *n = new_node(P, E_COND, at);
        if (!n) return NULL;
        n->a = cond;
        n->b = expr1;
        n->c = expr3;
        expr1 = n;
    }
    return expr1;
}

static jnode *parse_or(parser *P);

static jnode *parse_expression(parser *P, int with_condexpr) {
    if (enter(P) != 0) return NULL;
    jnode *n = with_condexpr ? parse_condexpr(P) : parse_or(P);
    P->depth--;
    return n;
}

static jnode *parse_not(parser *P);

static jnode *binary(parser *P, jnode_type type, const tok *at, jnode *a, jnode *b, int op) {
    if (!a || !b) return NULL;
    jnode *n = new_node(P, type, at);
    if (n) {
        n->a = a;
        n->b = b;
        n->op = op;
    }
    return n;
}

/* `or` (lower) and `and` (higher): left-associative chains of the next level up. */
static jnode *parse_bool_op(parser *P, int is_or) {
    const char *word = is_or ? "or" : "and";
    jnode *left = is_or ? parse_bool_op(P, 0) : parse_not(P);
    while (left && is_name(cur(P), word)) {
        const tok *at = cur(P);
        P->i++;
        left = binary(P, is_or ? E_OR : E_AND, at, left, is_or ? parse_bool_op(P, 0) : parse_not(P), 0);
    }
    return left;
}

static jnode *parse_or(parser *P) { return parse_bool_op(P, 1); }

static jnode *parse_compare(parser *P);

static jnode *parse_not(parser *P) {
    if (is_name(cur(P), "not")) {
        const tok *at = cur(P);
        P->i++;
        if (enter(P) != 0) return NULL;
        jnode *x = parse_not(P);
        P->depth--;
        if (!x) return NULL;
        jnode *n = new_node(P, E_NOT, at);
        if (n) n->a = x;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_math1(parser *P);

static jnode *parse_compare(parser *P) {
    const tok *at = cur(P);
    jnode *expr = parse_math1(P);
    if (!expr) return NULL;
    nvec operands = {0};
    int ops[64];
    int n_ops = 0;
    if (nvec_push(P, &operands, expr, NULL) != 0) return NULL;
    for (;;) {
        const tok *t = cur(P);
        int op = -1;
        if (is_op(t, "==")) op = OP_EQ;
        else if (is_op(t, "!=")) op = OP_NE;
        else if (is_op(t, "<")) op = OP_LT;
        else if (is_op(t, "<=")) op = OP_LE;
        else if (is_op(t, ">")) op = OP_GT;
        else if (is_op(t, ">=")) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(peek(P, 1), "in")) op = OP_NOTIN;
        if (op < 0) break;
        P->i += op == OP_NOTIN ? 2 : 1;
        if (n_ops == 64) {
            nvec_free(&operands);
            return pfail(P, t, "more than 64 chained comparisons"), NULL;
        }
        ops[n_ops++] = op;
        jnode *x = parse_math1(P);
        if (!x || nvec_push(P, &operands, x, NULL) != 0) {
            nvec_free(&operands);
            return NULL;
        }
    }
    if (n_ops == 0) {
        nvec_free(&operands);
        return expr;
    }
    jnode *n = new_node(P, E_COMPARE, at);
    if (!n || nvec_take(P, &operands, &n->kids, NULL, &n->n_kids) != 0) return NULL;
    if (!(n->ops = ja_alloc(P->arena, (size_t)n_ops * sizeof *n->ops))) return NULL;
    memcpy(n->ops, ops, (size_t)n_ops * sizeof *ops);
    return n;
}

static jnode *parse_concat(parser *P);
static jnode *parse_math2(parser *P);
static jnode *parse_pow(parser *P);

static jnode *parse_math1(parser *P) {
    jnode *left = parse_concat(P);
    while (left && (is_op(cur(P), "+") || is_op(cur(P), "-"))) {
        const tok *at = cur(P);
        P->i++;
        left = binary(P, E_BINOP, at, left, parse_concat(P), at->s[0] == '+' ? OP_ADD : OP_SUB);
    }
    return left;
}

static jnode *parse_concat(parser *P) {
    const tok *at = cur(P);
    jnode *first = parse_math2(P);
    if (!first || !is_op(cur(P), "~")) return first;
    nvec args = {0};
    if (nvec_push(P, &args, first, NULL) != 0) return NULL;
    while (is_op(cur(P), "~")) {
        P->i++;
        jnode *x = parse_math2(P);
        if (!x || nvec_push(P, &args, x, NULL) != 0) {
            nvec_free(&args);
            return NULL;
        }
    }
    jnode *n = new_node(P, E_CONCAT, at);
    if (!n || nvec_take(P, &args, &n->kids, NULL, &n->n_kids) != 0) return NULL;
    return n;
}

static jnode *parse_math2(parser *P) {
    jnode *left = parse_pow(P);
    for (;;) {
        const tok *at = cur(P);
        int op = is_op(at, "*") ? OP_MUL : is_op(at, "/") ? OP_DIV : is_op(at, "//") ? OP_FLOORDIV : is_op(at, "%") ? OP_MOD : -1;
        if (!left || op < 0) return left;
        P->i++;
        left = binary(P, E_BINOP, at, left, parse_pow(P), op);
    }
}

static jnode *parse_pow(parser *P) {
    jnode *left = parse_unary(P, 1);
    while (left && is_op(cur(P), "**")) {
        const tok *at = cur(P);
        P->i++;
        left = binary(P, E_BINOP, at, left, parse_unary(P, 1), OP_POW);
    }
    return left;
}

static jnode *parse_unary(parser *P, int with_filter) {
    const tok *at = cur(P);
    jnode *node;
    if (enter(P) != 0) return NULL;
    if (is_op(at, "-") || is_op(at, "+")) {
        P->i++;
        jnode *x = parse_unary(P, 0);
        if (!x || !(node = new_node(P, at->s[0] == '-' ? E_NEG : E_POS, at))) return NULL;
        node->a = x;
    } else {
        node = parse_primary(P);
    }
    P->depth--;
    if (!node) return NULL;
    node = parse_postfix(P, node);
    if (node && with_filter) node = parse_filter_expr(P, node);
    return node;
}

static jnode *const_node(parser *P, const tok *at, jv v) {
    jnode *n = new_node(P, E_CONST, at);
    if (n) n->value = v;
    return n;
}

static jnode *parse_primary(parser *P) {
    const tok *t = cur(P);
    switch (t->type) {
    case T_NAME: {
        P->i++;
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) return const_node(P, t, jv_bool(1));
        if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) return const_node(P, t, jv_bool(0));
        if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) return const_node(P, t, jv_none());
        jnode *n = new_node(P, E_NAME, t);
        if (n) {
            n->str = t->s;
            n->len = t->n;
        }
        return n;
    }
    case T_STRING: {
        // adjacent string literals are one string
        rms_text buf;
        rms_text_init(&buf);
        int bad = 0;
        while (cur(P)->type == T_STRING) {
            bad |= rms_text_append(&buf, cur(P)->s, cur(P)->n);
            P->i++;
        }
        char *s = bad ? NULL : ja_strdup(P->arena, buf.data ? buf.data : "", buf.len);
        const size_t n = buf.len;
        rms_text_free(&buf);
        if (!s) return *P->status = rms_fail(P->err, RMS_ERR_NOMEM, "out of memory"), NULL;
        return const_node(P, t, jv_str(s, n));
    }
    case T_INT:
        P->i++;
        return const_node(P, t, jv_int(t->i));
    case T_FLOAT:
        P->i++;
        return const_node(P, t, jv_float(t->f));
    case T_OP:
        if (is_op(t, "(")) {
            P->i++;
            jnode *n = parse_tuple(P, 0, 1, NULL);
            if (!n || expect_op(P, ")") != 0) return NULL;
            return n;
        }
        if (is_op(t, "[") || is_op(t, "{")) {
            const int dict = t->s[0] == '{';
            const char *close = dict ? "}" : "]";
            P->i++;
            nvec items = {0}, values = {0};
            jnode *n = new_node(P, dict ? E_DICT : E_LIST, t);
            while (n && !is_op(cur(P), close)) {
                if (items.n > 0 && expect_op(P, ",") != 0) goto fail;
                if (is_op(cur(P), close)) break;
                jnode *k = parse_expression(P, 1);
                if (!k || nvec_push(P, &items, k, NULL) != 0) goto fail;
                if (dict) {
                    if (expect_op(P, ":") != 0) goto fail;
                    jnode *v = parse_expression(P, 1);
                    if (!v || nvec_push(P, &values, v, NULL) != 0) goto fail;
                }
            }
            if (!n || expect_op(P, close) != 0) goto fail;
            if (nvec_take(P, &items, &n->kids, NULL, &n->n_kids) != 0) {
                nvec_free(&values);
                return NULL;
            }
            if (nvec_take(P, &values, &n->kw, NULL, &n->n_kw) != 0) return NULL;
            return n;
        fail:
            nvec_free(&items);
            nvec_free(&values);
            return NULL;
        }
        break;
    default:
        break;
    }
    return pfail(P, t, "unexpected %s", tok_desc(t)), NULL;
}

/* Expressions separated by commas: a tuple, or the one expression when there is no comma. simplified: names
 * only (assignment targets of for/set). end_names: names that end the tuple (e.g. "in"). */
static jnode *parse_tuple(parser *P, int simplified, int explicit_parens, const char *const *end_names) {
    const tok *at = cur(P);
    nvec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.n > 0) {
            if (!is_op(cur(P), ",")) break;
            P->i++;
            is_tuple = 1;
        }
        const tok *t = cur(P);
        int ends = t->type == T_BLOCK_END || t->type == T_VAR_END || t->type == T_EOF || is_op(t, ")") ||
                   is_op(t, "]") || is_op(t, "}") || is_op(t, "=") || is_op(t, "|");
        for (int k = 0; end_names && end_names[k]; k++) ends |= is_name(t, end_names[k]);
        if (ends) break;
        jnode *x;
        if (simplified) {
            if (t->type != T_NAME) {
                nvec_free(&items);
                return pfail(P, t, "expected a name to assign to, got %s", tok_desc(t)), NULL;
            }
            P->i++;
            if ((x = new_node(P, E_NAME, t))) {
                x->str = t->s;
                x->len = t->n;
            }
        } else {
            x = parse_expression(P, 1);
        }
        if (!x || nvec_push(P, &items, x, NULL) != 0) {
            nvec_free(&items);
            return NULL;
        }
    }
    if (!is_tuple) {
        if (items.n == 1) {
            jnode *only = items.v[0];
            nvec_free(&items);
            return only;
        }
        if (!explicit_parens) {
            nvec_free(&items);
            return pfail(P, cur(P), "expected an expression, got %s", tok_desc(cur(P))), NULL;
        }
    }
    jnode *n = new_node(P, E_TUPLE, at);
    if (!n || nvec_take(P, &items, &n->kids, NULL, &n->n_kids) != 0) return NULL;
    return n;
}

/* Call arguments after '(' : positional into n->kids, keywords into n->kw / n->kw_names. */
static int parse_args(parser *P, jnode *n) {
    nvec args = {0}, kw = {0};
    if (expect_op(P, "(") != 0) return -1;
    while (!is_op(cur(P), ")")) {
        if (args.n + kw.n > 0 && expect_op(P, ",") != 0) goto fail;
        if (is_op(cur(P), ")")) break;
        if (is_op(cur(P), "*") || is_op(cur(P), "**")) {
            pfail(P, cur(P), "*args and **kwargs in calls are outside rmscore's Jinja subset");
            goto fail;
        }
        if (cur(P)->type == T_NAME && is_op(peek(P, 1), "=")) {
            const char *name = cur(P)->s;
            P->i += 2;
            jnode *v = parse_expression(P, 1);
            if (!v || nvec_push(P, &kw, v, name) != 0) goto fail;
        } else {
            if (kw.n > 0) {
                pfail(P, cur(P), "a positional argument after a keyword argument");
                goto fail;
            }
            jnode *v = parse_expression(P, 1);
            if (!v || nvec_push(P, &args, v, NULL) != 0) goto fail;
        }
    }
    P->i++; // ')'
    if (nvec_take(P, &args, &n->kids, NULL, &n->n_kids) != 0) {
        nvec_free(&kw);
        return -1;
    }
    return nvec_take(P, &kw, &n->kw, &n->kw_names, &n->n_kw);
fail:
    nvec_free(&args);
    nvec_free(&kw);
    return -1;
}

static jnode *parse_subscript(parser *P, jnode *node) {
    const tok *t = cur(P);
    if (is_op(t, ".")) {
        P->i++;
        const tok *a = cur(P);
        if (a->type == T_NAME) {
            P->i++;
            jnode *n = new_node(P, E_ATTR, a);
            if (n) {
                n->a = node;
                n->str = a->s;
                n->len = a->n;
            }
            return n;
        }
        if (a->type == T_INT) {
            P->i++;
            jnode *n = new_node(P, E_ITEM, a), *k = const_node(P, a, jv_int(a->i));
            if (!n || !k) return NULL;
            n->a = node;
            n->b = k;
            return n;
        }
        return pfail(P, a, "expected a name after '.', got %s", tok_desc(a)), NULL;
    }
    // '[' : an index or a slice (a tuple of them is outside the subset)
    P->i++;
    jnode *parts[3] = {NULL, NULL, NULL};
    int is_slice = 0, k = 0;
    for (;;) {
        if (is_op(cur(P), ":")) {
            if (++k > 2) return pfail(P, cur(P), "a slice takes at most two ':'"), NULL;
            is_slice = 1;
            P->i++;
            continue;
        }
        if (is_op(cur(P), "]")) break;
        if (parts[k]) return pfail(P, cur(P), "expected ':' or ']', got %s", tok_desc(cur(P))), NULL;
        if (!(parts[k] = parse_expression(P, 1))) return NULL;
        if (is_op(cur(P), ",")) return pfail(P, cur(P), "subscripts with ',' are outside rmscore's Jinja subset"), NULL;
    }
    P->i++; // ']'
    if (!is_slice && !parts[0]) return pfail(P, t, "empty subscript"), NULL;
    jnode *n = new_node(P, is_slice ? E_SLICE : E_ITEM, t);
    if (!n) return NULL;
    n->a = node;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static jnode *parse_call(parser *P, jnode *callee) {
    jnode *n = new_node(P, E_CALL, cur(P));
    if (!n) return NULL;
    n->a = callee;
    return parse_args(P, n) == 0 ? n : NULL;
}

static jnode *parse_postfix(parser *P, jnode *node) {
    while (node) {
        if (is_op(cur(P), ".") || is_op(cur(P), "[")) node = parse_subscript(P, node);
        else if (is_op(cur(P), "(")) node = parse_call(P, node);
        else break;
    }
    return node;
}

/* A dotted name after '|' or 'is'. */
static const char *dotted_name(parser *P, const tok **at) {
    *at = cur(P);
    if (cur(P)->type != T_NAME) return pfail(P, cur(P), "expected a name, got %s", tok_desc(cur(P))), NULL;
    const char *name = cur(P)->s;
    P->i++;
    if (is_op(cur(P), ".")) return pfail(P, cur(P), "dotted filter and test names are outside rmscore's Jinja subset"), NULL;
    return name;
}

static jnode *parse_filter(parser *P, jnode *node) {
    const tok *at;
    const char *name = dotted_name(P, &at);
    if (!name) return NULL;
    const int id = jlib_filter_id(name);
    if (id < 0) return pfail(P, at, "unknown filter '%s' (outside rmscore's Jinja subset)", name), NULL;
    jnode *n = new_node(P, E_FILTER, at);
    if (!n) return NULL;
    n->a = node;
    n->str = name;
    n->op = id;
    if (is_op(cur(P), "(") && parse_args(P, n) != 0) return NULL;
    return n;
}

static jnode *parse_test(parser *P, jnode *node) {
    int negated = 0;
    if (is_name(cur(P), "not")) {
        negated = 1;
        P->i++;
    }
    const tok *at;
    const char *name = dotted_name(P, &at);
    if (!name) return NULL;
    const int id = jlib_test_id(name);
    if (id < 0) return pfail(P, at, "unknown test '%s' (outside rmscore's Jinja subset)", name), NULL;
    jnode *n = new_node(P, E_TEST, at);
    if (!n) return NULL;
    n->a = node;
    n->str = name;
    n->op = id;
    n->negated = negated;
    const tok *t = cur(P);
    if (is_op(t, "(")) {
        if (parse_args(P, n) != 0) return NULL;
    } else if ((t->type == T_NAME || t->type == T_STRING || t->type == T_INT || t->type == T_FLOAT || is_op(t, "[") ||
                is_op(t, "{") || is_op(t, "(")) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
        if (is_name(t, "is")) return pfail(P, t, "you cannot chain multiple tests with 'is'"), NULL;
        jnode *arg = parse_primary(P);
        if (!arg || !(arg = parse_postfix(P, arg))) return NULL;
        if (!(n->kids = ja_alloc(P->arena, sizeof *n->kids))) return NULL;
        n->kids[0] = arg;
        n->n_kids = 1;
    }
    return n;
}

static jnode *parse_filter_expr(parser *P, jnode *node) {
    while (node) {
        if (is_op(cur(P), "|")) {
            P->i++;
            node = parse_filter(P, node);
        } else if (is_name(cur(P), "is")) {
            P->i++;
            node = parse_test(P, node);
        } else if (is_op(cur(P), "(")) {
            node = parse_call(P, node);
        } else {
            break;
        }
    }
    return node;
}

/* ------------------------------------------------------------------ statements */

static int parse_body(parser *P, const char *const *end_tags, jnode **body);

static int expect_block_end(parser *P) {
    if (cur(P)->type != T_BLOCK_END) return pfail(P, cur(P), "expected '%%}', got %s", tok_desc(cur(P)));
    P->i++;
    return 0;
}

/* The body up to one of end_tags; leaves the parser on the end tag's name. */
static jnode *body_until(parser *P, const char *const *end_tags) {
    jnode *b;
    return parse_body(P, end_tags, &b) == 0 ? b : NULL;
}

static jnode *parse_for(parser *P, const tok *at) {
    static const char *const IN[] = {"in", NULL};
    jnode *n = new_node(P, N_FOR, at);
    if (!n) return NULL;
    jnode *target;
    if (is_op(cur(P), "(")) { // {% for (a, b) in ... %}
        P->i++;
        if (!(target = parse_tuple(P, 1, 1, NULL)) || expect_op(P, ")") != 0) return NULL;
    } else if (!(target = parse_tuple(P, 1, 0, IN))) {
        return NULL;
    }
    if (!is_name(cur(P), "in")) return pfail(P, cur(P), "expected 'in', got %s", tok_desc(cur(P))), NULL;
    P->i++;
    // the iterable: a tuple without parentheses, up to `if` or `recursive`
    jnode *iter = parse_expression(P, 0);
    if (!iter) return NULL;
    if (is_op(cur(P), ",")) return pfail(P, cur(P), "an unparenthesized tuple after 'in' is outside rmscore's Jinja subset"), NULL;
    jnode *cond = NULL;
    if (is_name(cur(P), "if")) {
        P->i++;
        if (!(cond = parse_expression(P, 1))) return NULL;
    }
    if (is_name(cur(P), "recursive")) return pfail(P, cur(P), "recursive loops are outside rmscore's Jinja subset"), NULL;
    if (expect_block_end(P) != 0) return NULL;
    if (target->type == E_NAME) {
        if (!(n->names = ja_alloc(P->arena, sizeof *n->names))) return NULL;
        n->names[0] = target->str;
        n->n_names = 1;
    } else {
        if (!(n->names = ja_alloc(P->arena, (size_t)target->n_kids * sizeof *n->names))) return NULL;
        for (int64_t k = 0; k < target->n_kids; k++) n->names[k] = target->kids[k]->str;
        n->n_names = target->n_kids;
        n->op = 1; // unpack each item
    }
    n->a = iter;
    n->c = cond;
    static const char *const BODY_END[] = {"endfor", "else", NULL};
    const int was = P->in_loop;
    P->in_loop = 1;
    n->d = body_until(P, BODY_END);
    P->in_loop = was;
    if (!n->d) return NULL;
    if (is_name(cur(P), "else")) {
        P->i++;
        if (expect_block_end(P) != 0) return NULL;
        static const char *const ELSE_END[] = {"endfor", NULL};
        if (!(n->b = body_until(P, ELSE_END))) return NULL;
    }
    P->i++; // endfor
    return expect_block_end(P) == 0 ? n : NULL;
}

static jnode *parse_if(parser *P, const tok *at) {
    jnode *n = new_node(P, N_IF, at);
    if (!n || !(n->a = parse_tuple(P, 0, 0, NULL)) || expect_block_end(P) != 0) return NULL;
    static const char *const ENDS[] = {"elif", "else", "endif", NULL};
    if (!(n->b = body_until(P, ENDS))) return NULL;
    const tok *t = cur(P);
    P->i++;
    if (!strcmp(t->s, "elif")) {
        jnode *e = parse_if(P, t); // consumes through endif
        if (!e) return NULL;
        jnode *body = new_node(P, N_BODY, t);
        if (!body || !(body->kids = ja_alloc(P->arena, sizeof *body->kids))) return NULL;
        body->kids[0] = e;
        body->n_kids = 1;
        n->c = body;
        return n;
    }
    if (!strcmp(t->s, "else")) {
        if (expect_block_end(P) != 0) return NULL;
        static const char *const END[] = {"endif", NULL};
        if (!(n->c = body_until(P, END))) return NULL;
        P->i++;
    }
    return expect_block_end(P) == 0 ? n : NULL;
}

static jnode *parse_filter_chain(parser *P, jnode *input) {
    jnode *node = parse_filter(P, input);
    while (node && is_op(cur(P), "|")) {
        P->i++;
        node = parse_filter(P, node);
    }
    return node;
}

static jnode *parse_set(parser *P, const tok *at) {
    // target: name, name.attr (a namespace), or names separated by commas
    const tok *t = cur(P);
    if (t->type != T_NAME) return pfail(P, t, "expected a name after 'set', got %s", tok_desc(t)), NULL;
    jnode *n = new_node(P, N_SET, at);
    if (!n) return NULL;
    if (is_op(peek(P, 1), ".")) {
        const tok *attr = peek(P, 2);
        if (attr->type != T_NAME) return pfail(P, attr, "expected an attribute name"), NULL;
        P->i += 3;
        n->str = t->s; // the namespace
        n->op = 2;
        if (!(n->names = ja_alloc(P->arena, sizeof *n->names))) return NULL;
        n->names[0] = attr->s;
        n->n_names = 1;
    } else {
        static const char *const NONE[] = {NULL};
        jnode *target = parse_tuple(P, 1, 0, NONE);
        if (!target) return NULL;
        if (target->type == E_NAME) {
            if (!(n->names = ja_alloc(P->arena, sizeof *n->names))) return NULL;
            n->names[0] = target->str;
            n->n_names = 1;
        } else {
            if (!(n->names = ja_alloc(P->arena, (size_t)target->n_kids * sizeof *n->names))) return NULL;
            for (int64_t k = 0; k < target->n_kids; k++) n->names[k] = target->kids[k]->str;
            n->n_names = target->n_kids;
            n->op = 1; // unpack
        }
    }
    if (is_op(cur(P), "=")) {
        P->i++;
        if (!(n->a = parse_tuple(P, 0, 0, NULL)) || expect_block_end(P) != 0) return NULL;
        return n;
    }
    // block set: {% set x %}...{% endset %}, optionally {% set x | filter %}
    if (n->op != 0) return pfail(P, cur(P), "a block set assigns to one plain name"), NULL;
    n->type = N_SET_BLOCK;
    if (is_op(cur(P), "|")) {
        P->i++;
        jnode *hole = new_node(P, E_CONST, cur(P)); // replaced by the body's text when rendered
        if (!hole || !(n->c = parse_filter_chain(P, hole))) return NULL;
        n->d = hole;
    }
    if (expect_block_end(P) != 0) return NULL;
    static const char *const END[] = {"endset", NULL};
    if (!(n->a = body_until(P, END))) return NULL;
    P->i++;
    return expect_block_end(P) == 0 ? n : NULL;
}

/* Parameters "(a, b=default, ...)" of a macro or of a call block's caller. */
static int parse_params(parser *P, jnode *n) {
    nvec params = {0}, defaults = {0};
    if (expect_op(P, "(") != 0) return -1;
    while (!is_op(cur(P), ")")) {
        if (params.n > 0 && expect_op(P, ",") != 0) goto fail;
        if (is_op(cur(P), ")")) break;
        const tok *t = cur(P);
        if (t->type != T_NAME) {
            pfail(P, t, "expected a parameter name, got %s", tok_desc(t));
            goto fail;
        }
        P->i++;
        jnode *def = NULL;
        if (is_op(cur(P), "=")) {
            P->i++;
            if (!(def = parse_expression(P, 1))) goto fail;
        } else if (defaults.n > 0 && defaults.v[defaults.n - 1]) {
            pfail(P, t, "a parameter without a default after one with a default");
            goto fail;
        }
        if (nvec_push(P, &params, NULL, t->s) != 0 || nvec_push(P, &defaults, def, NULL) != 0) goto fail;
    }
    P->i++;
    n->n_names = params.n;
    n->names = NULL;
    if (params.n > 0) {
        if (!(n->names = ja_alloc(P->arena, (size_t)params.n * sizeof *n->names))) goto fail;
        memcpy(n->names, params.names, (size_t)params.n * sizeof *n->names);
    }
    nvec_free(&params);
    jnode **defs;
    int64_t nd;
    if (nvec_take(P, &defaults, &defs, NULL, &nd) != 0) return -1;
    n->kw = defs; // (n_names) defaults, NULL where none
    return 0;
fail:
    nvec_free(&params);
    nvec_free(&defaults);
    return -1;
}

static jnode *parse_macro(parser *P, const tok *at) {
    const tok *name = cur(P);
    if (name->type != T_NAME) return pfail(P, name, "expected a macro name"), NULL;
    P->i++;
    jnode *n = new_node(P, N_MACRO, at);
    if (!n) return NULL;
    n->str = name->s;
    if (parse_params(P, n) != 0 || expect_block_end(P) != 0) return NULL;
    static const char *const END[] = {"endmacro", NULL};
    const int was = P->in_loop;
    P->in_loop = 0;
    n->a = body_until(P, END);
    P->in_loop = was;
    if (!n->a) return NULL;
    P->i++;
    if (cur(P)->type == T_NAME && !strcmp(cur(P)->s, n->str)) P->i++; // {% endmacro name %}
    return expect_block_end(P) == 0 ? n : NULL;
}

static jnode *parse_call_block(parser *P, const tok *at) {
    jnode *n = new_node(P, N_CALL_BLOCK, at);
    if (!n) return NULL;
    if (is_op(cur(P), "(") && parse_params(P, n) != 0) return NULL;
    jnode *call = parse_expression(P, 1);
    if (!call) return NULL;
    if (call->type != E_CALL) return pfail(P, at, "expected a call after 'call'"), NULL;
    n->b = call;
    if (expect_block_end(P) != 0) return NULL;
    static const char *const END[] = {"endcall", NULL};
    const int was = P->in_loop;
    P->in_loop = 0;
    n->a = body_until(P, END);
    P->in_loop = was;
    if (!n->a) return NULL;
    P->i++;
    return expect_block_end(P) == 0 ? n : NULL;
}

static jnode *parse_filter_block(parser *P, const tok *at) {
    jnode *n = new_node(P, N_FILTER_BLOCK, at), *hole = new_node(P, E_CONST, at);
    if (!n || !hole || !(n->c = parse_filter_chain(P, hole)) || expect_block_end(P) != 0) return NULL;
    n->d = hole;
    static const char *const END[] = {"endfilter", NULL};
    if (!(n->a = body_until(P, END))) return NULL;
    P->i++;
    return expect_block_end(P) == 0 ? n : NULL;
}

/* One statement after '{%' (the parser on its name). */
static jnode *parse_statement(parser *P) {
    const tok *t = cur(P);
    if (t->type != T_NAME) return pfail(P, t, "expected a statement name, got %s", tok_desc(t)), NULL;
    P->i++;
    if (enter(P) != 0) return NULL;
    jnode *n = NULL;
    const char *s = t->s;
    P->opened = t;
    if (!strcmp(s, "for")) n = parse_for(P, t);
    else if (!strcmp(s, "if")) n = parse_if(P, t);
    else if (!strcmp(s, "set")) n = parse_set(P, t);
    else if (!strcmp(s, "macro")) n = parse_macro(P, t);
    else if (!strcmp(s, "call")) n = parse_call_block(P, t);
    else if (!strcmp(s, "filter")) n = parse_filter_block(P, t);
    else if (!strcmp(s, "generation")) { // transformers' AssistantTracker: the body as it is
        static const char *const END[] = {"endgeneration", NULL};
        if (expect_block_end(P) == 0 && (n = body_until(P, END))) {
            P->i++;
            if (expect_block_end(P) != 0) n = NULL;
        }
    } else if (!strcmp(s, "break") || !strcmp(s, "continue")) {
        if (!P->in_loop) n = (pfail(P, t, "'%s' outside of a loop", s), NULL);
        else if ((n = new_node(P, s[0] == 'b' ? N_BREAK : N_CONTINUE, t)) && expect_block_end(P) != 0) n = NULL;
    } else {
        n = (pfail(P, t, "unknown tag '%s' (outside rmscore's Jinja subset)", s), NULL);
    }
    P->depth--;
    return n;
}

static int parse_body(parser *P, const char *const *end_tags, jnode **body) {
    nvec kids = {0};
    const tok *start = cur(P), *opener = P->opened ? P->opened : start;
    for (;;) {
        const tok *t = cur(P);
        jnode *n = NULL;
        if (t->type == T_EOF) {
            if (end_tags) {
                const char *want = end_tags[0];
                for (int k = 0; end_tags[k]; k++)
                    if (!strncmp(end_tags[k], "end", 3)) want = end_tags[k];
                nvec_free(&kids);
                return pfail(P, t, "unexpected end of template: expected '%s' (the block opened at line %d column %d)",
                             want, opener->line, opener->col);
            }
            break;
        }
        if (t->type == T_DATA) {
            P->i++;
            if ((n = new_node(P, N_TEXT, t))) {
                n->str = t->s;
                n->len = t->n;
            }
        } else if (t->type == T_VAR_BEGIN) {
            P->i++;
            if ((n = new_node(P, N_OUTPUT, t)) && (n->a = parse_tuple(P, 0, 0, NULL))) {
                if (cur(P)->type != T_VAR_END) n = (pfail(P, cur(P), "expected '}}', got %s", tok_desc(cur(P))), NULL);
                else P->i++;
            } else {
                n = NULL;
            }
        } else if (t->type == T_BLOCK_BEGIN) {
            const tok *name = peek(P, 1);
            int is_end = 0;
            for (int k = 0; end_tags && end_tags[k]; k++) is_end |= is_name(name, end_tags[k]);
            if (is_end) {
                P->i++;
                break;
            }
            if (name->type == T_NAME && (!strncmp(name->s, "end", 3) || !strcmp(name->s, "else") || !strcmp(name->s, "elif"))) {
                nvec_free(&kids);
                const char *want = end_tags ? end_tags[0] : NULL;
                for (int k = 0; end_tags && end_tags[k]; k++)
                    if (!strncmp(end_tags[k], "end", 3)) want = end_tags[k];
                return pfail(P, name, "unexpected '%s'%s%s", name->s, want ? ", expected " : "", want ? want : "");
            }
            P->i++;
            n = parse_statement(P);
        } else {
            nvec_free(&kids);
            return pfail(P, t, "unexpected %s", tok_desc(t));
        }
        if (!n || nvec_push(P, &kids, n, NULL) != 0) {
            nvec_free(&kids);
            return -1;
        }
    }
    jnode *b = new_node(P, N_BODY, start);
    if (!b || nvec_take(P, &kids, &b->kids, NULL, &b->n_kids) != 0) return -1;
    *body = b;
    return 0;
}

/* ------------------------------------------------------------------ API */

rms_status rms_jinja_compile(rms_jinja **out, const char *source, size_t len, rms_err *err) {
    *out = NULL;
    rms_jinja *t = calloc(1, sizeof *t);
    if (!t) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    ja_init(&t->arena, 0);
    // newlines as jinja2 reads them: \r\n and \r become \n; one trailing newline is dropped
    char *src = ja_alloc(&t->arena, len + 1);
    if (!src) {
        rms_jinja_free(t);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else {
            src[n++] = source[i];
        }
    }
    if (n > 0 && src[n - 1] == '\n') n--;
    src[n] = '\0';
    rms_status status = RMS_OK;
    lexer L = {.arena = &t->arena, .src = src, .len = n, .err = err, .status = &status};
    int st = lex_all(&L);
    if (st == 0) {
        parser P = {.arena = &t->arena, .t = L.toks, .n = L.n, .err = err, .status = &status};
        st = parse_body(&P, NULL, &t->body);
    }
    free(L.toks);
    if (st != 0) {
        rms_jinja_free(t);
        return status != RMS_OK ? status : rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    *out = t;
    return RMS_OK;
}

void rms_jinja_free(rms_jinja *t) {
    if (!t) return;
    ja_free(&t->arena);
    free(t);
}
