/* jinja_eval.c — renders a template's syntax tree (jinja_internal.h): statements top to bottom, expressions
 * as jinja2 evaluates them, scopes as jinja2 has them (a for loop's body gets a new scope per iteration, so a
 * `set` inside it does not outlive the iteration; `if` makes none; a macro sees the scope it was defined in). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/text/jinja.h"
#include "src/text/jinja_internal.h"

enum { FLOW_OK = 0, FLOW_ERROR = -1, FLOW_BREAK = 1, FLOW_CONTINUE = 2 };

int jfail(jctx *c, const jnode *n, const char *fmt, ...) {
    if (c->failed) return -1; // keep the first (innermost) message
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) rms_fail(c->err, RMS_ERR_INPUT, "chat template line %d column %d: %s", n->line, n->col, msg);
    else rms_fail(c->err, RMS_ERR_INPUT, "chat template: %s", msg);
    c->failed = 1;
    return -1;
}

int jfail_nomem(jctx *c) {
    return jfail(c, c->at, "out of memory (a render may use at most %zu MiB)", RMS_JINJA_MAX_MEMORY >> 20);
}

/* ------------------------------------------------------------------ scopes */

static jscope *scope_new(jctx *c, jscope *parent) {
    jscope *s = ja_alloc(&c->arena, sizeof *s);
    if (!s) return jfail_nomem(c), NULL;
    s->parent = parent;
    return s;
}

static int scope_set(jctx *c, jscope *s, const char *name, jv v) {
    for (int64_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            s->vals[i] = v;
            return 0;
        }
    if (s->n == s->cap) {
        const int64_t cap = s->cap ? 2 * s->cap : 4;
        const char **names = ja_alloc(&c->arena, (size_t)cap * sizeof *names);
        jv *vals = ja_alloc(&c->arena, (size_t)cap * sizeof *vals);
        if (!names || !vals) return jfail_nomem(c);
        if (s->n) {
            memcpy(names, s->names, (size_t)s->n * sizeof *names);
            memcpy(vals, s->vals, (size_t)s->n * sizeof *vals);
        }
        s->names = names;
        s->vals = vals;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n++] = v;
    return 0;
}

static int scope_lookup(jctx *c, const jscope *s, const char *name, jv *out) {
    for (; s; s = s->parent)
        for (int64_t i = s->n - 1; i >= 0; i--)
            if (strcmp(s->names[i], name) == 0) {
                *out = s->vals[i];
                return 0;
            }
    const int g = jlib_global(c, name, out);
    if (g != 0) return g < 0 ? -1 : 0;
    char *why = ja_alloc(&c->arena, strlen(name) + 32);
    if (!why) return jfail_nomem(c);
    sprintf(why, "'%s' is undefined", name);
    *out = jv_undef(why);
    return 0;
}

/* ------------------------------------------------------------------ output */

static int emit(jctx *c, const jnode *n, const char *p, size_t len) {
    if (c->out->len + len > c->out_limit)
        return jfail(c, n, "the rendered text would pass %zu MiB (rmscore's limit)", c->out_limit >> 20);
    return rms_text_append(c->out, p, len) == 0 ? 0 : jfail_nomem(c);
}

static int emit_value(jctx *c, const jnode *n, jv v) {
    if (v.kind == JK_STR) return emit(c, n, v.s.p, v.s.n);
    const size_t before = c->out->len;
    if (jv_write_str(c, n, c->out, v) != 0) return -1;
    if (c->out->len > c->out_limit) {
        c->out->len = before;
        return jfail(c, n, "the rendered text would pass %zu MiB (rmscore's limit)", c->out_limit >> 20);
    }
    return 0;
}

/* Output of body captured as a string value (macro calls, block set, filter blocks). */
static int exec_body(jctx *c, jscope *s, const jnode *body);

static int capture(jctx *c, jscope *s, const jnode *body, jv *out) {
    rms_text buf, *saved = c->out;
    rms_text_init(&buf);
    c->out = &buf;
    const int flow = exec_body(c, s, body);
    c->out = saved;
    int st = flow == FLOW_ERROR ? -1 : 0;
    if (st == 0 && jv_new_str(c, buf.data ? buf.data : "", buf.len, out) != 0) st = -1;
    rms_text_free(&buf);
    return st;
}

/* ------------------------------------------------------------------ expressions */

static int eval(jctx *c, jscope *s, const jnode *n, jv *out);


static int eval_args(jctx *c, jscope *s, const jnode *n, jv **args, jv **kw) {
    *args = *kw = NULL;
    if (n->n_kids > 0) {
        if (!(*args = ja_alloc(&c->arena, (size_t)n->n_kids * sizeof **args))) return jfail_nomem(c);
        for (int64_t i = 0; i < n->n_kids; i++)
            if (eval(c, s, n->kids[i], &(*args)[i]) != 0) return -1;
    }
    if (n->n_kw > 0) {
        if (!(*kw = ja_alloc(&c->arena, (size_t)n->n_kw * sizeof **kw))) return jfail_nomem(c);
        for (int64_t i = 0; i < n->n_kw; i++)
            if (eval(c, s, n->kw[i], &(*kw)[i]) != 0) return -1;
    }
    return 0;
}

static int call_value(jctx *c, const jnode *n, jv callee, const jv *args, int64_t n_args, const char *const *kw_names,
                      const jv *kw, int64_t n_kw, jv *out) {
    if (callee.kind == JK_FUNC) return jlib_call(c, n, callee.fn, args, n_args, kw_names, kw, n_kw, out);
    if (callee.kind == JK_MACRO) return jeval_call_macro(c, n, callee.m, args, n_args, kw_names, kw, n_kw, out);
    if (callee.kind == JK_UNDEF) return jfail(c, n, "%s", callee.why ? callee.why : "undefined value called");
    return jfail(c, n, "'%s' object is not callable", jv_type_name(callee));
}

static int eval(jctx *c, jscope *s, const jnode *n, jv *out) {
    int st = 0;
    jv a, b;
    switch (n->type) {
    case E_CONST:
        *out = c->hole_node == n ? c->hole_value : n->value;
        break;
    case E_NAME:
        st = scope_lookup(c, s, n->str, out);
        break;
    case E_LIST:
    case E_TUPLE: {
        jlist *l = jl_new(c, n->n_kids);
        if (!l) {
            st = -1;
            break;
        }
        for (int64_t i = 0; st == 0 && i < n->n_kids; i++)
            if ((st = eval(c, s, n->kids[i], &a)) == 0) st = jl_push(c, l, a);
        out->kind = JK_LIST;
        out->tuple = n->type == E_TUPLE;
        out->l = l;
        break;
    }
    case E_DICT: {
        jdict *d = jd_new(c, n->n_kids);
        if (!d) {
            st = -1;
            break;
        }
        for (int64_t i = 0; st == 0 && i < n->n_kids; i++)
            if ((st = eval(c, s, n->kids[i], &a)) == 0 && (st = eval(c, s, n->kw[i], &b)) == 0) st = jd_set(c, d, a, b);
        *out = (jv){.kind = JK_DICT, .d = d};
        break;
    }
    case E_ATTR:
        if ((st = eval(c, s, n->a, &a)) == 0) st = jlib_getattr(c, n, a, n->str, strlen(n->str), out);
        break;
    case E_ITEM:
        if ((st = eval(c, s, n->a, &a)) == 0 && (st = eval(c, s, n->b, &b)) == 0) st = jlib_getitem(c, n, a, b, out);
        break;
    case E_SLICE: {
        jv parts[3] = {jv_none(), jv_none(), jv_none()};
        const jnode *pn[3] = {n->b, n->c, n->d};
        if ((st = eval(c, s, n->a, &a)) != 0) break;
        for (int k = 0; st == 0 && k < 3; k++)
            if (pn[k]) st = eval(c, s, pn[k], &parts[k]);
        if (st == 0) st = jlib_slice(c, n, a, parts[0], parts[1], parts[2], out);
        break;
    }
    case E_CALL: {
        jv *args, *kw;
        if ((st = eval(c, s, n->a, &a)) == 0 && (st = eval_args(c, s, n, &args, &kw)) == 0)
            st = call_value(c, n, a, args, n->n_kids, n->kw_names, kw, n->n_kw, out);
        break;
    }
    case E_FILTER: {
        jv *args, *kw;
        if ((st = eval(c, s, n->a, &a)) == 0 && (st = eval_args(c, s, n, &args, &kw)) == 0)
            st = jlib_filter(c, n, n->op, a, args, n->n_kids, n->kw_names, kw, n->n_kw, out);
        break;
    }
    case E_TEST: {
        jv *args, *kw;
        int r = 0;
        if ((st = eval(c, s, n->a, &a)) == 0 && (st = eval_args(c, s, n, &args, &kw)) == 0) {
            if (n->n_kw > 0) st = jfail(c, n, "keyword arguments to a test are outside rmscore's Jinja subset");
            else st = jlib_test(c, n, n->op, a, args, n->n_kids, &r);
        }
        *out = jv_bool(n->negated ? !r : r);
        break;
    }
    case E_BINOP:
        if ((st = eval(c, s, n->a, &a)) == 0 && (st = eval(c, s, n->b, &b)) == 0) st = jlib_binop(c, n, n->op, a, b, out);
        break;
    case E_NEG:
    case E_POS:
        if ((st = eval(c, s, n->a, &a)) != 0) break;
        if (a.kind == JK_INT || a.kind == JK_BOOL) {
            if (n->type == E_NEG && a.i == INT64_MIN) st = jfail(c, n, "integer overflow");
            else *out = jv_int(n->type == E_NEG ? -a.i : a.i);
        } else if (a.kind == JK_FLOAT) {
            *out = jv_float(n->type == E_NEG ? -a.f : a.f);
        } else if (a.kind == JK_UNDEF) {
            st = jfail(c, n, "%s", a.why);
        } else {
            st = jfail(c, n, "bad operand type for unary %c: '%s'", n->type == E_NEG ? '-' : '+', jv_type_name(a));
        }
        break;
    case E_NOT:
        if ((st = eval(c, s, n->a, &a)) == 0) *out = jv_bool(!jv_truthy(a));
        break;
    case E_AND:
    case E_OR:
        if ((st = eval(c, s, n->a, &a)) != 0) break;
        if (jv_truthy(a) == (n->type == E_OR)) *out = a;
        else st = eval(c, s, n->b, out);
        break;
    case E_COMPARE: {
        if ((st = eval(c, s, n->kids[0], &a)) != 0) break;
        jv r = jv_bool(1);
        for (int64_t i = 1; i < n->n_kids; i++) {
            if ((st = eval(c, s, n->kids[i], &b)) != 0) break;
            if ((st = jlib_binop(c, n, n->ops[i - 1], a, b, &r)) != 0) break;
            if (!jv_truthy(r)) break;
            a = b;
        }
        *out = r;
        break;
    }
    case E_COND:
        if ((st = eval(c, s, n->a, &a)) != 0) break;
        if (jv_truthy(a)) st = eval(c, s, n->b, out);
        else if (n->c) st = eval(c, s, n->c, out);
        else *out = jv_undef("the conditional expression had no else branch");
        break;
    case E_CONCAT: {
        rms_text buf;
        rms_text_init(&buf);
        for (int64_t i = 0; st == 0 && i < n->n_kids; i++)
            if ((st = eval(c, s, n->kids[i], &a)) == 0) st = jv_write_str(c, n, &buf, a);
        if (st == 0 && buf.len > c->out_limit) st = jfail(c, n, "a string longer than rmscore's limit");
        if (st == 0) st = jv_new_str(c, buf.data ? buf.data : "", buf.len, out);
        rms_text_free(&buf);
        break;
    }
    default:
        st = jfail(c, n, "internal error: statement where an expression belongs");
    }
    return st;
}

/* ------------------------------------------------------------------ macros */

int jeval_call_macro(jctx *c, const jnode *n, const jmacro *m, const jv *args, int64_t n_args,
                     const char *const *kw_names, const jv *kw, int64_t n_kw, jv *out) {
    const jnode *def = m->def;
    const char *name = def->type == N_MACRO ? def->str : "caller";
    if (n_args > def->n_names)
        return jfail(c, n, "macro '%s' takes not more than %lld argument(s)", name, (long long)def->n_names);
    if (c->depth >= RMS_JINJA_MAX_DEPTH)
        return jfail(c, n, "macro calls nested more than %d deep (recursion without end?)", RMS_JINJA_MAX_DEPTH);
    if (++c->iterations > RMS_JINJA_MAX_ITERATIONS)
        return jfail(c, n, "more than %d loop iterations and macro calls", RMS_JINJA_MAX_ITERATIONS);
    jscope *s = scope_new(c, m->closure);
    if (!s) return -1;
    for (int64_t k = 0; k < n_kw; k++) {
        int64_t p = 0;
        while (p < def->n_names && strcmp(def->names[p], kw_names[k]) != 0) p++;
        if (p == def->n_names) return jfail(c, n, "macro '%s' has no parameter named '%s'", name, kw_names[k]);
        if (p < n_args) return jfail(c, n, "macro '%s' got parameter '%s' twice", name, kw_names[k]);
    }
    for (int64_t p = 0; p < def->n_names; p++) {
        jv v;
        int64_t k = 0;
        while (k < n_kw && strcmp(def->names[p], kw_names[k]) != 0) k++;
        if (p < n_args) {
            v = args[p];
        } else if (k < n_kw) {
            v = kw[k];
        } else if (def->kw && def->kw[p]) {
            if (eval(c, s, def->kw[p], &v) != 0) return -1;
        } else {
            char *why = ja_alloc(&c->arena, strlen(def->names[p]) + 64);
            if (!why) return jfail_nomem(c);
            sprintf(why, "parameter '%s' was not provided", def->names[p]);
            v = jv_undef(why);
        }
        if (scope_set(c, s, def->names[p], v) != 0) return -1;
    }
    if (m->caller.kind == JK_MACRO && scope_set(c, s, "caller", m->caller) != 0) return -1;
    c->depth++;
    const int st = capture(c, s, def->a, out);
    c->depth--;
    return st;
}

/* ------------------------------------------------------------------ statements */

static int assign_unpacked(jctx *c, jscope *s, const jnode *n, const char *const *names, int64_t n_names, jv v) {
    const jlist *items;
    if (v.kind != JK_LIST && v.kind != JK_STR)
        return jfail(c, n, "cannot unpack a '%s' into %lld names", jv_type_name(v), (long long)n_names);
    if (jlib_iterate(c, n, v, &items) != 0) return -1;
    if (items->n != n_names)
        return jfail(c, n, "%s values to unpack (expected %lld, got %lld)", items->n > n_names ? "too many" : "not enough",
                     (long long)n_names, (long long)items->n);
    for (int64_t k = 0; k < n_names; k++)
        if (scope_set(c, s, names[k], items->v[k]) != 0) return -1;
    return 0;
}

static int bind_targets(jctx *c, jscope *s, const jnode *n, jv item) {
    if (n->op == 1) return assign_unpacked(c, s, n, n->names, n->n_names, item);
    return scope_set(c, s, n->names[0], item);
}

static int exec_for(jctx *c, jscope *s, const jnode *n) {
    jv seq;
    const jlist *all;
    if (eval(c, s, n->a, &seq) != 0 || jlib_iterate(c, n->a, seq, &all) != 0) return FLOW_ERROR;
    const jlist *items = all;
    if (n->c) { // {% for x in xs if cond %}: the loop sees only the items that pass
        jlist *kept = jl_new(c, all->n);
        if (!kept) return FLOW_ERROR;
        for (int64_t i = 0; i < all->n; i++) {
            if (++c->iterations > RMS_JINJA_MAX_ITERATIONS) return jfail(c, n, "more than %d loop iterations", RMS_JINJA_MAX_ITERATIONS);
            jscope *f = scope_new(c, s);
            jv ok;
            if (!f || bind_targets(c, f, n, all->v[i]) != 0 || eval(c, f, n->c, &ok) != 0) return FLOW_ERROR;
            if (jv_truthy(ok) && jl_push(c, kept, all->v[i]) != 0) return FLOW_ERROR;
        }
        items = kept;
    }
    if (items->n == 0) {
        if (!n->b) return FLOW_OK;
        jscope *f = scope_new(c, s);
        return f ? exec_body(c, f, n->b) : FLOW_ERROR;
    }
    jscope *f = NULL;
    for (int64_t i = 0; i < items->n; i++) {
        if (++c->iterations > RMS_JINJA_MAX_ITERATIONS) return jfail(c, n, "more than %d loop iterations", RMS_JINJA_MAX_ITERATIONS);
        // each iteration starts from a fresh scope: the last one is emptied and reused unless a macro kept it
        if (f && !f->captured) f->n = 0;
        else if (!(f = scope_new(c, s))) return FLOW_ERROR;
        jloop *it = ja_alloc(&c->arena, sizeof *it); // each iteration's loop object keeps its own index
        if (!it) return jfail_nomem(c);
        it->items = items;
        it->index0 = i;
        if (bind_targets(c, f, n, items->v[i]) != 0 || scope_set(c, f, "loop", (jv){.kind = JK_LOOP, .lp = it}) != 0)
            return FLOW_ERROR;
        const int flow = exec_body(c, f, n->d);
        if (flow == FLOW_ERROR) return FLOW_ERROR;
        if (flow == FLOW_BREAK) break;
    }
    return FLOW_OK;
}

/* A block set's or filter block's filters on its text: the chain's innermost node (hole_at) reads input. */
static int apply_filter_chain(jctx *c, jscope *s, const jnode *chain, const jnode *hole_at, jv input, jv *out) {
    const jnode *saved_node = c->hole_node;
    const jv saved_value = c->hole_value;
    c->hole_node = hole_at;
    c->hole_value = input;
    const int st = eval(c, s, chain, out);
    c->hole_node = saved_node;
    c->hole_value = saved_value;
    return st;
}

static int exec_stmt(jctx *c, jscope *s, const jnode *n) {
    jv v, w;
    c->at = n;
    switch (n->type) {
    case N_TEXT:
        return emit(c, n, n->str, n->len) == 0 ? FLOW_OK : FLOW_ERROR;
    case N_OUTPUT:
        return eval(c, s, n->a, &v) == 0 && emit_value(c, n, v) == 0 ? FLOW_OK : FLOW_ERROR;
    case N_BODY:
        return exec_body(c, s, n);
    case N_FOR:
        return exec_for(c, s, n);
    case N_IF:
        if (eval(c, s, n->a, &v) != 0) return FLOW_ERROR;
        if (jv_truthy(v)) return exec_body(c, s, n->b);
        return n->c ? exec_body(c, s, n->c) : FLOW_OK;
    case N_SET:
        if (eval(c, s, n->a, &v) != 0) return FLOW_ERROR;
        if (n->op == 2) { // ns.attr = v
            jv ns;
            if (scope_lookup(c, s, n->str, &ns) != 0) return FLOW_ERROR;
            if (ns.kind != JK_NS) return jfail(c, n, "cannot assign attribute on non-namespace object");
            jv key;
            if (jv_new_str(c, n->names[0], strlen(n->names[0]), &key) != 0) return FLOW_ERROR;
            return jd_set(c, ns.d, key, v) == 0 ? FLOW_OK : FLOW_ERROR;
        }
        return bind_targets(c, s, n, v) == 0 ? FLOW_OK : FLOW_ERROR;
    case N_SET_BLOCK:
        if (capture(c, s, n->a, &v) != 0) return FLOW_ERROR;
        if (n->c && apply_filter_chain(c, s, n->c, n->d, v, &v) != 0) return FLOW_ERROR;
        return scope_set(c, s, n->names[0], v) == 0 ? FLOW_OK : FLOW_ERROR;
    case N_FILTER_BLOCK:
        if (capture(c, s, n->a, &v) != 0 || apply_filter_chain(c, s, n->c, n->d, v, &w) != 0) return FLOW_ERROR;
        return emit_value(c, n, w) == 0 ? FLOW_OK : FLOW_ERROR;
    case N_MACRO: {
        jmacro *m = ja_alloc(&c->arena, sizeof *m);
        if (!m) return jfail_nomem(c);
        m->def = n;
        m->closure = s;
        for (jscope *k = s; k; k = k->parent) k->captured = 1;
        m->caller = jv_undef(NULL);
        return scope_set(c, s, n->str, (jv){.kind = JK_MACRO, .m = m}) == 0 ? FLOW_OK : FLOW_ERROR;
    }
    case N_CALL_BLOCK: {
        const jnode *call = n->b;
        jv callee, *args, *kw;
        if (eval(c, s, call->a, &callee) != 0 || eval_args(c, s, call, &args, &kw) != 0) return FLOW_ERROR;
        if (callee.kind != JK_MACRO) return jfail(c, n, "{%% call %%} needs a macro, got '%s'", jv_type_name(callee));
        jmacro *caller = ja_alloc(&c->arena, sizeof *caller), *m = ja_alloc(&c->arena, sizeof *m);
        if (!caller || !m) return jfail_nomem(c);
        caller->def = n;
        caller->closure = s;
        for (jscope *k = s; k; k = k->parent) k->captured = 1;
        caller->caller = jv_undef(NULL);
        *m = *callee.m;
        m->caller = (jv){.kind = JK_MACRO, .m = caller};
        if (jeval_call_macro(c, n, m, args, call->n_kids, call->kw_names, kw, call->n_kw, &v) != 0) return FLOW_ERROR;
        return emit_value(c, n, v) == 0 ? FLOW_OK : FLOW_ERROR;
    }
    case N_BREAK:
        return FLOW_BREAK;
    case N_CONTINUE:
        return FLOW_CONTINUE;
    default:
        return jfail(c, n, "internal error: expression where a statement belongs");
    }
}

static int exec_body(jctx *c, jscope *s, const jnode *body) {
    for (int64_t i = 0; i < body->n_kids; i++) {
        const int flow = exec_stmt(c, s, body->kids[i]);
        if (flow != FLOW_OK) return flow;
    }
    return FLOW_OK;
}

/* ------------------------------------------------------------------ API */

rms_status rms_jinja_render(const rms_jinja *t, const rms_jinja_var *vars, int n_vars, rms_text *out, rms_err *err) {
    rms_text_clear(out);
    jctx c = {.out = out, .out_limit = RMS_JINJA_MAX_OUTPUT, .err = err};
    ja_init(&c.arena, RMS_JINJA_MAX_MEMORY);
    int st = 0;
    jscope *root = scope_new(&c, NULL);
    if (!root) st = -1;
    for (int i = 0; st == 0 && i < n_vars; i++) {
        jv v;
        if ((st = jv_from_json(&c, vars[i].value, &v)) == 0) st = scope_set(&c, root, vars[i].name, v);
    }
    if (st == 0) {
        const int flow = exec_body(&c, root, t->body);
        st = flow == FLOW_ERROR ? -1 : 0;
    }
    jlib_state_free(&c);
    ja_free(&c.arena);
    if (st != 0) {
        rms_text_clear(out);
        return c.failed ? RMS_ERR_INPUT : rms_fail(err, RMS_ERR_NOMEM, "out of memory rendering a chat template");
    }
    return RMS_OK;
}
