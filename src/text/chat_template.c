#include "src/text/chat_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/sha256.h"
#include "src/base/path.h"
#include "io/textfile.h"

#define PATH_LEN 4096

/* The built-in sources, each newline inside their string literals written as the 2-character escape \n.
 * A tokenizer_config.json may hold either that escape or a real newline there: the released
 * Llama-3.1-Tulu-3 files (open-instruct writes the template in ordinary Python strings) and Meta's Llama 3
 * file have real newlines, other copies the escape. Jinja reads both alike; a file template that is one of
 * these in either spelling is named after it (same_template). */
static const char *const TULU_TEMPLATE =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + "
    "'\\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}{% elif "
    "message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\\n'  + message['content'] + "
    "eos_token + '\\n' }}{% else %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}{% endif %}{% endif "
    "%}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}";

static const char *const LLAMA3_TEMPLATE =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% "
    "endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

static const char *const SPECIAL_KEYS[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token", NULL};

/* Whether the template cand (n bytes) is the stored source src, where each escape \n of src (all of them
 * inside Jinja string literals) may also be a real newline in cand. */
static int same_template(const char *cand, size_t n, const char *src) {
    const char *end = cand + n;
    while (*src) {
        if (src[0] == '\\' && src[1] == 'n' && cand < end && cand[0] == '\n') {
            cand++;
            src += 2;
        } else if (src[0] == '\\' && src[1] != '\0') { // any other escape, e.g. \\ before an n, as it is
            if (end - cand < 2 || cand[0] != src[0] || cand[1] != src[1]) return 0;
            cand += 2;
            src += 2;
        } else {
            if (cand >= end || *cand != *src) return 0;
            cand++;
            src++;
        }
    }
    return cand == end;
}

/* ------------------------------------------------------------------ loading */

/* A special token's text: a string, or an AddedToken object {"content": ...}; NULL when unset (null). */
static const rms_json *token_text(const rms_json *v) {
    if (v && v->kind == RMS_JSON_OBJECT) v = rms_json_get(v, "content");
    return v && v->kind == RMS_JSON_STRING ? v : NULL;
}

static rms_status add_specials(rms_chat_template *ct, const rms_json *cfg, const char *path, rms_err *err) {
    for (int k = 0; SPECIAL_KEYS[k]; k++) {
        const rms_json *raw = rms_json_get(cfg, SPECIAL_KEYS[k]);
        const rms_json *v = token_text(raw);
        if (raw && raw->kind != RMS_JSON_NULL && !v)
            return rms_fail(err, RMS_ERR_FORMAT, "%s: %s is neither a string nor an object with \"content\"", path,
                            SPECIAL_KEYS[k]);
        if (!v) continue;
        ct->vars[ct->n_vars++] = (rms_jinja_var){SPECIAL_KEYS[k], v};
        if (k == 0) snprintf(ct->bos, sizeof ct->bos, "%.*s", (int)(v->len < sizeof ct->bos ? v->len : sizeof ct->bos - 1), v->s);
    }
    const rms_json *extra = rms_json_get(cfg, "additional_special_tokens");
    if (extra && extra->kind == RMS_JSON_ARRAY) { // strings or AddedToken objects: as their texts
        rms_json *list = rms_json_new_array(ct->specials, extra->n);
        if (!list) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < extra->n; i++) {
            const rms_json *v = token_text(extra->items[i]);
            if (!v) return rms_fail(err, RMS_ERR_FORMAT, "%s: additional_special_tokens[%lld] is not a token", path, (long long)i);
            list->items[i] = (rms_json *)v;
        }
        ct->vars[ct->n_vars++] = (rms_jinja_var){"additional_special_tokens", list};
    }
    return RMS_OK;
}

/* The file template of dir: chat_template.jinja, else tokenizer_config.json's chat_template (string, or the
 * list form's "default"). *src points into *owned (free) or into cfg. */
static rms_status file_template(const char *dir, const rms_json *cfg, const char *cfg_path, const char **src,
                                size_t *len, char **owned, rms_chat_template *ct, rms_err *err) {
    char path[PATH_LEN];
    struct stat sb;
    rms_status jst = rms_path_join(path, sizeof path, dir, "chat_template.jinja", err);
    if (jst != RMS_OK) return jst;
    if (stat(path, &sb) == 0) {
        rms_status st = rms_read_text_file(path, owned, len, err);
        if (st != RMS_OK) return st;
        *src = *owned;
        snprintf(ct->name, sizeof ct->name, "chat_template.jinja");
        return RMS_OK;
    }
    const rms_json *tpl = rms_json_get(cfg, "chat_template");
    if (tpl && tpl->kind == RMS_JSON_STRING) {
        *src = tpl->s;
        *len = tpl->len;
        snprintf(ct->name, sizeof ct->name, "tokenizer_config.json");
        return RMS_OK;
    }
    if (tpl && tpl->kind == RMS_JSON_ARRAY) { // [{"name", "template"}]: transformers uses "default" without tools
        for (int64_t i = 0; i < tpl->n; i++) {
            const rms_json *name = rms_json_get(tpl->items[i], "name"), *body = rms_json_get(tpl->items[i], "template");
            if (name && name->kind == RMS_JSON_STRING && strcmp(name->s, "default") == 0 && body &&
                body->kind == RMS_JSON_STRING) {
                *src = body->s;
                *len = body->len;
                snprintf(ct->name, sizeof ct->name, "tokenizer_config.json:default");
                return RMS_OK;
            }
        }
        return rms_fail(err, RMS_ERR_UNSUPPORTED, "%s: chat_template is a list without a \"default\" template", cfg_path);
    }
    return rms_fail(err, RMS_ERR_UNSUPPORTED,
                    "%s: no chat_template (and no %s/chat_template.jinja); choose a built-in one with --template tulu "
                    "or --template llama3",
                    cfg_path, dir);
}

rms_status rms_chat_template_load(rms_chat_template *ct, const char *dir, const char *name, rms_err *err) {
    memset(ct, 0, sizeof *ct);
    const int builtin_tulu = strcmp(name, "tulu") == 0, builtin_llama3 = strcmp(name, "llama3") == 0;
    if (!builtin_tulu && !builtin_llama3 && strcmp(name, "auto") != 0)
        return rms_fail(err, RMS_ERR_ARG, "--template: '%s' is not one of auto, tulu, llama3", name);
    char path[PATH_LEN];
    rms_status jst = rms_path_join(path, sizeof path, dir, "tokenizer_config.json", err);
    if (jst != RMS_OK) return jst;
    char *text = NULL, *owned = NULL;
    size_t text_len = 0, len = 0;
    rms_json *cfg = NULL;
    const char *src = NULL;
    rms_status st = rms_read_text_file(path, &text, &text_len, err);
    if (st == RMS_OK && !(ct->specials = rms_json_doc_new())) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK && rms_json_parse(ct->specials, text, text_len, &cfg, err) != RMS_OK)
        st = rms_fail_prefix(err, RMS_ERR_FORMAT, "%s", path);
    if (st == RMS_OK && cfg->kind != RMS_JSON_OBJECT) st = rms_fail(err, RMS_ERR_FORMAT, "%s: not a JSON object", path);
    if (st == RMS_OK) st = add_specials(ct, cfg, path, err);
    if (st == RMS_OK) {
        if (builtin_tulu || builtin_llama3) {
            src = builtin_tulu ? TULU_TEMPLATE : LLAMA3_TEMPLATE;
            len = strlen(src);
            snprintf(ct->name, sizeof ct->name, "%s", name);
        } else if ((st = file_template(dir, cfg, path, &src, &len, &owned, ct, err)) == RMS_OK) {
            if (same_template(src, len, TULU_TEMPLATE)) snprintf(ct->name, sizeof ct->name, "tulu");
            else if (same_template(src, len, LLAMA3_TEMPLATE)) snprintf(ct->name, sizeof ct->name, "llama3");
        }
    }
    if (st == RMS_OK) st = rms_sha256_bytes(src, len, ct->sha256, err);
    if (st == RMS_OK && (st = rms_jinja_compile(&ct->jinja, src, len, err)) != RMS_OK)
        rms_fail_prefix(err, st, "%s", builtin_tulu || builtin_llama3 ? name : ct->name);
    free(owned);
    free(text); // the doc holds copies of everything the variables point to
    if (st != RMS_OK) rms_chat_template_free(ct);
    return st;
}

void rms_chat_template_free(rms_chat_template *ct) {
    rms_jinja_free(ct->jinja);
    rms_json_doc_free(ct->specials);
    memset(ct, 0, sizeof *ct);
}

/* ------------------------------------------------------------------ rendering */

rms_status rms_chat_template_render(const rms_chat_template *ct, const rms_json *messages, int add_generation_prompt,
                                    rms_text *out, rms_err *err) {
    static const rms_json JSON_NULL = {.kind = RMS_JSON_NULL};
    const rms_json agp = {.kind = RMS_JSON_BOOL, .boolean = add_generation_prompt != 0};
    rms_jinja_var vars[20];
    int n = 0;
    vars[n++] = (rms_jinja_var){"messages", messages};
    vars[n++] = (rms_jinja_var){"add_generation_prompt", &agp};
    vars[n++] = (rms_jinja_var){"tools", &JSON_NULL}; // transformers passes tools=None, documents=None
    vars[n++] = (rms_jinja_var){"documents", &JSON_NULL};
    for (int i = 0; i < ct->n_vars; i++) vars[n++] = ct->vars[i];
    return rms_jinja_render(ct->jinja, vars, n, out, err);
}
