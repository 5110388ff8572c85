/* jinja_internal.h — what the three parts of the Jinja interpreter share (not a public header):
 *   jinja.c        source -> tokens -> syntax tree (rms_jinja_compile)
 *   jinja_eval.c   the tree -> text (rms_jinja_render): statements, expressions, scopes
 *   jinja_lib.c    values as Python has them: str(), repr(), ==, <, truth, json.dumps, and the filters, tests,
 *                  methods and globals
 *
 * Ownership: the syntax tree lives in the template's arena (freed by rms_jinja_free); every value of a render
 * lives in the render's arena (freed when the render returns). Values are immutable once built, except
 * namespace() objects (set ns.attr), so they are shared, never copied.
 */
#ifndef RMS_JINJA_INTERNAL_H
#define RMS_JINJA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "io/json_value.h"
#include "src/base/status.h"
#include "src/base/text.h"
#include "src/text/jinja.h"

/* ------------------------------------------------------------------ arena */

typedef struct jarena {
    struct jblock *head;
    size_t total, limit; // bytes handed out so far; the most allowed (0: no limit)
} jarena;

void ja_init(jarena *a, size_t limit);
void ja_free(jarena *a);
/* 16-byte aligned, zeroed; NULL when out of memory or past the limit. */
void *ja_alloc(jarena *a, size_t n);
char *ja_strdup(jarena *a, const char *s, size_t n); // NUL-terminated copy

/* ------------------------------------------------------------------ values */

typedef enum jk {
    JK_UNDEF = 0, // jinja2's Undefined: prints "", false, empty when iterated; an error when used otherwise
    JK_NONE,
    JK_BOOL,
    JK_INT,
    JK_FLOAT,
    JK_BIGINT, // an integer beyond int64 from the JSON variables: its digits in s; printed, never computed with
    JK_STR,
    JK_LIST,  // list, or tuple when .tuple
    JK_DICT,
    JK_NS,    // namespace(): a dict whose entries `set ns.x = ...` may change
    JK_MACRO, // a macro, or the caller() of a call block
    JK_FUNC,  // a global function or a bound method
    JK_LOOP,  // the `loop` of a for loop
} jk;

typedef struct jlist {
    int64_t n, cap;
    struct jv *v; // (n)
} jlist;

typedef struct jdict {
    int64_t n, cap;
    struct jv *k, *v; // (n) keys, (n) values, in insertion order
} jdict;

typedef struct jv {
    jk kind;
    int tuple; // JK_LIST
    union {
        int64_t i;        // BOOL (0/1), INT
        double f;         // FLOAT
        struct {
            const char *p; // NUL-terminated after n bytes; may hold NUL
            size_t n;
        } s;               // STR, BIGINT
        jlist *l;          // LIST
        jdict *d;          // DICT, NS
        struct jmacro *m;  // MACRO
        struct jfunc *fn;  // FUNC
        struct jloop *lp;  // LOOP
    };
    const char *why; // UNDEF: what is undefined ("'x' is undefined"), for the error when it is used
} jv;

/* ------------------------------------------------------------------ syntax tree */

typedef enum jnode_type {
    // statements
    N_TEXT, N_OUTPUT, N_FOR, N_IF, N_SET, N_SET_BLOCK, N_MACRO, N_CALL_BLOCK, N_FILTER_BLOCK, N_BREAK, N_CONTINUE,
    N_BODY,
    // expressions
    E_CONST, E_NAME, E_LIST, E_TUPLE, E_DICT, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER, E_TEST, E_BINOP, E_NEG,
    E_POS, E_NOT, E_AND, E_OR, E_COMPARE, E_COND, E_CONCAT,
} jnode_type;

typedef enum jop {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jop;

typedef struct jnode jnode;
struct jnode {
    jnode_type type;
    int line, col;
    jnode *a, *b, *c, *d; // children by role (see jinja.c's constructors)
    jnode **kids;         // (n_kids): a body's statements, list/tuple items, call arguments, compare operands
    int64_t n_kids;
    jnode **kw;           // (n_kw): keyword argument values; dict values; a for loop's else body (in b)
    const char **kw_names; // (n_kw): keyword names
    int64_t n_kw;
    const char **names;   // (n_names): assignment targets, macro parameters
    int64_t n_names;
    const char *str;      // a name, attribute, filter/test name; TEXT's bytes
    size_t len;
    jv value;             // CONST
    int op;               // BINOP: a jop; FILTER/TEST: the id; FOR/SET: 1 = unpack into names, SET: 2 = str.names[0]
    int *ops;             // COMPARE: (n_kids - 1) jop operators between the operands in kids
    int negated;          // TEST: `is not`
};

struct rms_jinja {
    jarena arena;
    jnode *body; // N_BODY
};

/* ------------------------------------------------------------------ render state */

typedef struct jscope {
    struct jscope *parent;
    int captured;       // a macro defined here keeps it as its closure: never emptied for reuse
    int64_t n, cap;
    const char **names; // (n)
    jv *vals;           // (n)
} jscope;

typedef struct jmacro {
    const jnode *def; // N_MACRO (name, params in names, defaults in kw... see jinja.c), or N_CALL_BLOCK for caller()
    jscope *closure;
    jv caller;        // the caller() given to this invocation (UNDEF if none)
} jmacro;

typedef struct jfunc {
    int id;          // a JF_* id
    jv self;         // bound methods: the receiver
    const char *name; // for messages
} jfunc;

typedef struct jloop {
    const jlist *items; // the iterated items (after the loop's `if`)
    int64_t index0;
} jloop;

typedef struct jctx {
    jarena arena;
    rms_text *out;     // where output goes now (captures swap it)
    size_t out_limit;
    int64_t iterations; // loop iterations and macro calls so far
    int depth;          // macro calls in progress
    rms_err *err;
    const jnode *at;    // the statement being run (where an error without a node of its own is reported)
    int failed;         // an error is recorded in err
    const jnode *hole_node; // a block set's / filter block's filter chain reads hole_value at this node
    jv hole_value;
    struct jlib_state *lib; // jinja_lib.c's lazily made helpers (case mapping locale, Unicode classes)
} jctx;

/* Records an error at node n (line/column) and returns -1. */
int jfail(jctx *c, const jnode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int jfail_nomem(jctx *c);

/* ------------------------------------------------------------------ the library (jinja_lib.c) */

jv jv_undef(const char *why);
jv jv_none(void);
jv jv_bool(int b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_str(const char *p, size_t n); // borrows p
int jv_new_str(jctx *c, const char *p, size_t n, jv *out); // copies into the arena
jlist *jl_new(jctx *c, int64_t cap);
int jl_push(jctx *c, jlist *l, jv v);
jdict *jd_new(jctx *c, int64_t cap);
int jd_set(jctx *c, jdict *d, jv k, jv v); // replaces an equal key's value in place
const jv *jd_get(const jdict *d, jv k);
const jv *jd_get_str(const jdict *d, const char *key);

/* JSON (a render's variables) to values. */
int jv_from_json(jctx *c, const rms_json *j, jv *out);

int jv_truthy(jv v);
int jv_equal(jv a, jv b);
/* Python's <: -2 on a type error (recorded at n), else a<b. */
int jv_less(jctx *c, const jnode *n, jv a, jv b, int *result);
/* Appends Python's str(v) / repr(v); -1 on error (recorded). */
int jv_write_str(jctx *c, const jnode *n, rms_text *out, jv v);
int jv_write_repr(jctx *c, const jnode *n, rms_text *out, jv v);
int jv_to_str(jctx *c, const jnode *n, jv v, jv *out); // str(v) as a STR value
const char *jv_type_name(jv v); // Python's type name: 'str', 'dict', 'NoneType', ...

/* Filters and tests by name: an id >= 0, or -1 when rmscore does not have it. */
int jlib_filter_id(const char *name);
int jlib_test_id(const char *name);
/* Applies filter id to v with arguments (args: (n_args) positional; kw: (n_kw) by name). */
int jlib_filter(jctx *c, const jnode *n, int id, jv v, const jv *args, int64_t n_args, const char *const *kw_names,
                const jv *kw, int64_t n_kw, jv *out);
int jlib_test(jctx *c, const jnode *n, int id, jv v, const jv *args, int64_t n_args, int *result);
/* obj.name / obj[key] as the sandbox looks them up (a missing one is UNDEF; a method is a bound FUNC). */
int jlib_getattr(jctx *c, const jnode *n, jv obj, const char *name, size_t len, jv *out);
int jlib_getitem(jctx *c, const jnode *n, jv obj, jv key, jv *out);
int jlib_slice(jctx *c, const jnode *n, jv obj, jv start, jv stop, jv step, jv *out);
/* A global function by name (range, namespace, raise_exception, strftime_now, dict, ...): 1 found, 0 none,
 * -1 error. */
int jlib_global(jctx *c, const char *name, jv *out);
/* Calls a FUNC value. */
int jlib_call(jctx *c, const jnode *n, const jfunc *f, const jv *args, int64_t n_args, const char *const *kw_names,
              const jv *kw, int64_t n_kw, jv *out);
/* Binary operators +, -, *, /, //, %, ** and comparisons/in. */
int jlib_binop(jctx *c, const jnode *n, int op, jv a, jv b, jv *out);
/* The items a for loop iterates (list, tuple: items; dict: keys; str: characters; UNDEF: none). */
int jlib_iterate(jctx *c, const jnode *n, jv v, const jlist **items);
/* Releases c->lib (end of a render). */
void jlib_state_free(jctx *c);
/* Calls a macro value (jinja_eval.c). */
int jeval_call_macro(jctx *c, const jnode *n, const jmacro *m, const jv *args, int64_t n_args,
                     const char *const *kw_names, const jv *kw, int64_t n_kw, jv *out);

#endif
