/* pref_row.c — preference JSONL rows (tulu, rewardbench, trl) to normalised pairs (pref_row.h). */
#include "io/pref_row.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const FORMAT_NAMES[] = {"auto", "tulu", "rewardbench", "trl"};

const char *rms_row_format_name(rms_row_format f) {
    return (unsigned)f < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] ? FORMAT_NAMES[f] : "?";
}

int rms_row_format_parse(const char *name, rms_row_format *f) {
    for (size_t i = 0; i < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0]; i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0) {
            *f = (rms_row_format)i;
            return 0;
        }
    return -1;
}

/* "a string", "a list", ... for messages about a value's type. */
static const char *kind_text(const rms_json *v) {
    switch (v->kind) {
    case RMS_JSON_NULL: return "null";
    case RMS_JSON_BOOL: return "a boolean";
    case RMS_JSON_INT:
    case RMS_JSON_BIGINT:
    case RMS_JSON_FLOAT: return "a number";
    case RMS_JSON_STRING: return "a string";
    case RMS_JSON_ARRAY: return "a list";
    case RMS_JSON_OBJECT: return "an object";
    }
    return "a value";
}

/* Why a row has the shape of its format (for the message when another format was asked for). */
static const char *shape_text(rms_row_format f) {
    switch (f) {
    case RMS_ROW_REWARDBENCH: return "\"chosen\" is a string";
    case RMS_ROW_TRL: return "\"prompt\" and \"chosen\" are lists";
    case RMS_ROW_TULU: return "\"chosen\" is a list and \"prompt\" is not";
    default: return "";
    }
}

rms_status rms_row_format_detect(const rms_json *row, rms_row_format *f, rms_err *err) {
    if (!row || row->kind != RMS_JSON_OBJECT)
        return rms_fail(err, RMS_ERR_INPUT, "the row is %s, expected a JSON object", row ? kind_text(row) : "missing");
    const rms_json *chosen = rms_json_get(row, "chosen"), *prompt = rms_json_get(row, "prompt");
    if (!chosen) return rms_fail(err, RMS_ERR_INPUT, "no \"chosen\"");
    if (!rms_json_get(row, "rejected")) return rms_fail(err, RMS_ERR_INPUT, "no \"rejected\"");
    if (chosen->kind == RMS_JSON_STRING)
        *f = RMS_ROW_REWARDBENCH;
    else if (chosen->kind == RMS_JSON_ARRAY)
        *f = prompt && prompt->kind == RMS_JSON_ARRAY ? RMS_ROW_TRL : RMS_ROW_TULU;
    else
        return rms_fail(err, RMS_ERR_INPUT, "\"chosen\" is %s, expected a list of messages or a string", kind_text(chosen));
    return RMS_OK;
}

/* list (the value of key) must be a list of message objects. */
static rms_status check_messages(const rms_json *list, const char *key, rms_err *err) {
    if (list->kind != RMS_JSON_ARRAY)
        return rms_fail(err, RMS_ERR_INPUT, "\"%s\" is %s, expected a list of messages", key, kind_text(list));
    for (int64_t i = 0; i < list->n; i++)
        if (list->items[i]->kind != RMS_JSON_OBJECT)
            return rms_fail(err, RMS_ERR_INPUT, "message %" PRId64 " of \"%s\" is not an object (it is %s)", i + 1, key,
                            kind_text(list->items[i]));
    return RMS_OK;
}

/* The value of key, which must be a string ("<key> is a list, expected a string"; "no <key>"). */
static rms_status get_string(const rms_json *root, const char *key, const rms_json **out, rms_err *err) {
    const rms_json *v = rms_json_get(root, key);
    if (!v) return rms_fail(err, RMS_ERR_INPUT, "no \"%s\"", key);
    if (v->kind != RMS_JSON_STRING) return rms_fail(err, RMS_ERR_INPUT, "\"%s\" is %s, expected a string", key, kind_text(v));
    *out = v;
    return RMS_OK;
}

/* [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}] built in doc. */
static rms_json *user_assistant(rms_json_doc *doc, const rms_json *prompt, const rms_json *answer) {
    rms_json *conv = rms_json_new_array(doc, 2);
    if (!conv) return NULL;
    const char *roles[2] = {"user", "assistant"};
    const rms_json *contents[2] = {prompt, answer};
    for (int i = 0; i < 2; i++) {
        rms_json *msg = rms_json_new_object(doc, 2), *role = rms_json_new_string(doc, roles[i], strlen(roles[i]));
        if (!msg || !role || rms_json_set_member(doc, msg, 0, "role", role) ||
            rms_json_set_member(doc, msg, 1, "content", (rms_json *)contents[i]))
            return NULL;
        conv->items[i] = msg;
    }
    return conv;
}

/* prompt + answer (two lists) as one new list in doc (the message nodes are shared, not copied). */
static rms_json *concat(rms_json_doc *doc, const rms_json *prompt, const rms_json *answer) {
    rms_json *conv = rms_json_new_array(doc, prompt->n + answer->n);
    if (!conv) return NULL;
    if (prompt->n) memcpy(conv->items, prompt->items, (size_t)prompt->n * sizeof *conv->items);
    if (answer->n) memcpy(conv->items + prompt->n, answer->items, (size_t)answer->n * sizeof *conv->items);
    return conv;
}

/* row->id from "id": a string as it is, an integer as str(int), missing or null -> the row index. */
static rms_status take_id(rms_json_doc *doc, const rms_json *root, int64_t index, rms_pref_row *row, rms_err *err) {
    const rms_json *id = rms_json_get(root, "id");
    if (id && (id->kind == RMS_JSON_STRING || id->kind == RMS_JSON_BIGINT)) { // a big integer as its digits: str(int)
        if (memchr(id->s, '\0', id->len))
            return rms_fail(err, RMS_ERR_INPUT, "\"id\" holds U+0000 (ids are stored as C strings)");
        row->id = id->s;
        row->id_len = id->len;
        return RMS_OK;
    }
    int64_t num = index;
    if (id && id->kind == RMS_JSON_INT)
        num = id->i;
    else if (id && id->kind == RMS_JSON_FLOAT)
        return rms_fail(err, RMS_ERR_INPUT, "\"id\" is a number that is not an integer, expected a string or an integer");
    else if (id && id->kind != RMS_JSON_NULL)
        return rms_fail(err, RMS_ERR_INPUT, "\"id\" is %s, expected a string or an integer", kind_text(id));
    char buf[32];
    const int n = snprintf(buf, sizeof buf, "%" PRId64, num);
    const rms_json *s = rms_json_new_string(doc, buf, (size_t)n);
    if (!s) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    row->id = s->s;
    row->id_len = s->len;
    return RMS_OK;
}

/* row->source from key ("source", or "subset" for rewardbench): a string, or "" when missing or null. */
static rms_status take_source(const rms_json *root, const char *key, rms_pref_row *row, rms_err *err) {
    const rms_json *v = rms_json_get(root, key);
    row->source = "";
    row->source_len = 0;
    if (!v || v->kind == RMS_JSON_NULL) return RMS_OK;
    if (v->kind != RMS_JSON_STRING) return rms_fail(err, RMS_ERR_INPUT, "\"%s\" is %s, expected a string", key, kind_text(v));
    if (memchr(v->s, '\0', v->len))
        return rms_fail(err, RMS_ERR_INPUT, "\"%s\" holds U+0000 (sources are stored as C strings)", key);
    row->source = v->s;
    row->source_len = v->len;
    return RMS_OK;
}

rms_status rms_pref_row_from_json(rms_json_doc *doc, const rms_json *root, int64_t index, rms_row_format want,
                                  rms_pref_row *row, rms_err *err) {
    memset(row, 0, sizeof *row);
    rms_row_format f = RMS_ROW_AUTO;
    rms_status st = rms_row_format_detect(root, &f, err);
    if (st != RMS_OK) return st;
    row->format = f; // also on the errors below: the caller may check a file's formats row by row
    row->root = root;
    if (want != RMS_ROW_AUTO && want != f)
        return rms_fail(err, RMS_ERR_INPUT, "the row is in the %s format (%s), not %s as asked", rms_row_format_name(f),
                        shape_text(f), rms_row_format_name(want));
    const rms_json *chosen = rms_json_get(root, "chosen"), *rejected = rms_json_get(root, "rejected");
    const rms_json *convs[2] = {NULL, NULL};
    if (f == RMS_ROW_REWARDBENCH) {
        const rms_json *prompt = NULL;
        if (rejected->kind != RMS_JSON_STRING)
            return rms_fail(err, RMS_ERR_INPUT, "\"rejected\" is %s, expected a string as \"chosen\" is", kind_text(rejected));
        if ((st = get_string(root, "prompt", &prompt, err)) != RMS_OK) return st;
        if (!(convs[0] = user_assistant(doc, prompt, chosen)) || !(convs[1] = user_assistant(doc, prompt, rejected)))
            return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    } else {
        if (rejected->kind != RMS_JSON_ARRAY)
            return rms_fail(err, RMS_ERR_INPUT, "\"rejected\" is %s, expected a list of messages as \"chosen\" is",
                            kind_text(rejected));
        if ((st = check_messages(chosen, "chosen", err)) != RMS_OK || (st = check_messages(rejected, "rejected", err)) != RMS_OK)
            return st;
        if (f == RMS_ROW_TRL) {
            const rms_json *prompt = rms_json_get(root, "prompt");
            if ((st = check_messages(prompt, "prompt", err)) != RMS_OK) return st;
            if (!(convs[0] = concat(doc, prompt, chosen)) || !(convs[1] = concat(doc, prompt, rejected)))
                return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        } else {
            convs[0] = chosen;
            convs[1] = rejected;
        }
    }
    const char *sides[2] = {"chosen", "rejected"};
    for (int s = 0; s < 2; s++)
        if (convs[s]->n == 0)
            return rms_fail(err, RMS_ERR_INPUT, "the %s conversation is empty (no messages)", sides[s]);
    if ((st = take_id(doc, root, index, row, err)) != RMS_OK ||
        (st = take_source(root, f == RMS_ROW_REWARDBENCH ? "subset" : "source", row, err)) != RMS_OK)
        return st;
    row->chosen = convs[0];
    row->rejected = convs[1];
    return RMS_OK;
}

rms_status rms_pref_row_parse(rms_json_doc *doc, const char *line, size_t len, int64_t index, rms_row_format want,
                              rms_pref_row *row, rms_err *err) {
    memset(row, 0, sizeof *row);
    size_t i = 0; // line need not be NUL-terminated
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) i++;
    if (i == len) return rms_fail(err, RMS_ERR_INPUT, "empty line");
    rms_json *root;
    rms_status st = rms_json_parse(doc, line, len, &root, err);
    if (st != RMS_OK) return st;
    return rms_pref_row_from_json(doc, root, index, want, row, err);
}
