#include "src/text/chat_template.h"

#include "io/textfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LEN 4096

/* The Jinja sources these renderers reproduce, each newline inside their string literals written as the
 * 2-character escape \n. A tokenizer_config.json may hold either that escape or a real newline there: the
 * released Llama-3.1-Tulu-3 files (open-instruct writes the template in ordinary Python strings) and Meta's
 * Llama 3 file have real newlines, other copies the escape. Jinja reads a string literal's escape \n as a
 * newline, so both spellings render the same: `auto` accepts both (same_template), from this one copy. */
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

/* Whether the chat_template `cand` is the stored source `src`, where each escape \n of src (all of them
 * are inside Jinja string literals) may also be a real newline in cand; every other character must be the
 * same. Decided escape by escape, so a mix of both spellings (which Jinja also reads alike) is accepted. */
static int same_template(const char *cand, const char *src) {
    while (*src) {
        if (src[0] == '\\' && src[1] == 'n' && cand[0] == '\n') {
            cand++;
            src += 2;
        } else if (src[0] == '\\' && src[1] != '\0') { // any other escape, e.g. \\ before an n, as it is
            if (cand[0] != src[0] || cand[1] != src[1]) return 0;
            cand += 2;
            src += 2;
        } else {
            if (*cand != *src) return 0;
            cand++;
            src++;
        }
    }
    return *cand == '\0';
}

const char *rms_template_name(rms_template_kind k) { return k == RMS_TEMPLATE_LLAMA3 ? "llama3" : "tulu"; }

/* ------------------------------------------------------------------ str.strip() */

static int python_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decodes the UTF-8 character at s[i] (valid input assumed; invalid bytes decode as themselves). */
static uint32_t decode_at(const unsigned char *s, size_t len, size_t i, size_t *next) {
    const unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + n > len) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t k = 1; k < n; k++) cp = cp << 6 | (s[i + k] & 0x3Fu);
    *next = i + n;
    return cp;
}

void rms_python_strip(const char *str, size_t len, size_t *start, size_t *end) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, next;
    while (i < len && python_isspace(decode_at(s, len, i, &next))) i = next;
    size_t e = len;
    while (e > i) {
        size_t b = e - 1;
        while (b > i && (s[b] & 0xC0) == 0x80) b--; // back to the character's first byte
        if (!python_isspace(decode_at(s, len, b, &next))) break;
        e = b;
    }
    *start = i;
    *end = e;
}

/* ------------------------------------------------------------------ loading */

static rms_status special_token(const cJSON *cfg, const char *key, char *out, const char *path, rms_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return rms_fail(err, RMS_ERR_FORMAT, "%s: no %s string", path, key);
    if (strlen(v->valuestring) >= RMS_SPECIAL_TOKEN_MAX) return rms_fail(err, RMS_ERR_FORMAT, "%s: %s is too long", path, key);
    snprintf(out, RMS_SPECIAL_TOKEN_MAX, "%s", v->valuestring);
    return RMS_OK;
}

rms_status rms_chat_template_load(rms_chat_template *ct, const char *dir, const char *name, rms_err *err) {
    memset(ct, 0, sizeof *ct);
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    cJSON *cfg;
    rms_status st = rms_read_json_file(path, &cfg, err);
    if (st != RMS_OK) return st;
    if ((st = special_token(cfg, "bos_token", ct->bos, path, err)) == RMS_OK &&
        (st = special_token(cfg, "eos_token", ct->eos, path, err)) == RMS_OK) {
        if (strcmp(name, "tulu") == 0) {
            ct->kind = RMS_TEMPLATE_TULU;
        } else if (strcmp(name, "llama3") == 0) {
            ct->kind = RMS_TEMPLATE_LLAMA3;
        } else if (strcmp(name, "auto") == 0) {
            const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
            if (cJSON_IsString(tpl) && same_template(tpl->valuestring, TULU_TEMPLATE))
                ct->kind = RMS_TEMPLATE_TULU;
            else if (cJSON_IsString(tpl) && same_template(tpl->valuestring, LLAMA3_TEMPLATE))
                ct->kind = RMS_TEMPLATE_LLAMA3;
            else
                st = rms_fail(err, RMS_ERR_UNSUPPORTED,
                              "%s: %s chat_template is not one rmscore knows; choose one with --template tulu or "
                              "--template llama3 if it renders the same text",
                              path, cJSON_IsString(tpl) ? "its" : "no");
        } else {
            st = rms_fail(err, RMS_ERR_ARG, "--template: '%s' is not one of auto, tulu, llama3", name);
        }
    }
    cJSON_Delete(cfg);
    return st;
}

/* ------------------------------------------------------------------ rendering */

static rms_status render_tulu(const rms_chat_template *ct, const rms_message *m, int64_t n, rms_text *out) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (strcmp(role, "system") == 0 || strcmp(role, "user") == 0) {
            bad |= rms_text_append_str(out, strcmp(role, "system") == 0 ? "<|system|>\n" : "<|user|>\n");
            bad |= rms_text_append(out, m[i].content, m[i].content_len);
            bad |= rms_text_append_str(out, "\n");
        } else if (strcmp(role, "assistant") == 0) {
            bad |= rms_text_append_str(out, "<|assistant|>\n");
            bad |= rms_text_append(out, m[i].content, m[i].content_len);
            bad |= rms_text_append_str(out, ct->eos);
            if (i + 1 < n) bad |= rms_text_append_str(out, "\n");
        } // any other role renders nothing, as the Jinja template
    }
    return bad ? RMS_ERR_NOMEM : RMS_OK;
}

static rms_status render_llama3(const rms_chat_template *ct, const rms_message *m, int64_t n, rms_text *out) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t s, e;
        rms_python_strip(m[i].content, m[i].content_len, &s, &e);
        if (i == 0) bad |= rms_text_append_str(out, ct->bos);
        bad |= rms_text_append_str(out, "<|start_header_id|>");
        bad |= rms_text_append_str(out, m[i].role);
        bad |= rms_text_append_str(out, "<|end_header_id|>\n\n");
        bad |= rms_text_append(out, m[i].content + s, e - s);
        bad |= rms_text_append_str(out, "<|eot_id|>");
    }
    return bad ? RMS_ERR_NOMEM : RMS_OK;
}

rms_status rms_chat_template_render(const rms_chat_template *ct, const rms_message *msgs, int64_t n, rms_text *out,
                                    rms_err *err) {
    rms_text_clear(out);
    const rms_status st = ct->kind == RMS_TEMPLATE_LLAMA3 ? render_llama3(ct, msgs, n, out) : render_tulu(ct, msgs, n, out);
    return st == RMS_OK ? RMS_OK : rms_fail(err, st, "out of memory rendering a conversation");
}
