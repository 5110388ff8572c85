/* Unit tests of src/text/chat_template.c and io/json_string.c: the template sources (built-in, tokenizer_config.json
 * string or list form, chat_template.jinja), their names (either newline spelling of a built-in one), the special
 * tokens as variables, Python-style strip, JSON string decoding. (Parity with transformers' Jinja rendering:
 * tests/tokenizer/test_template_parity.py and test_render_parity.py.) */
#include "tests/check.h"
#include "io/json_string.h"
#include "io/json_value.h"
#include "src/base/utf8.h"
#include "src/text/chat_template.h"

static const char *write_config(const char *name, const char *chat_template_json) {
    const char *dir = check_tmpdir(name);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"bos_token\": \"<|begin_of_text|>\", \"eos_token\": {\"content\": \"<|end_of_text|>\"}%s%s}",
            chat_template_json ? ", \"chat_template\": " : "", chat_template_json ? chat_template_json : "");
    fclose(f);
    return dir;
}

/* Renders the conversation json with ct (add_generation_prompt agp); checks the text is want (want_len bytes). */
static void render_bytes(const rms_chat_template *ct, const char *json, int agp, const char *want, size_t want_len) {
    rms_err err;
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *conv = NULL;
    CHECK_EQ_INT(rms_json_parse(doc, json, strlen(json), &conv, &err), RMS_OK);
    rms_text out;
    rms_text_init(&out);
    const rms_status st = rms_chat_template_render(ct, conv, agp, &out, &err);
    if (st != RMS_OK) fprintf(stderr, "  render failed: %s\n", err.msg);
    CHECK_EQ_INT(st, RMS_OK);
    const int same = st == RMS_OK && out.len == want_len && memcmp(out.data, want, want_len) == 0;
    if (st == RMS_OK && !same) fprintf(stderr, "  got \"%s\" (%zu bytes)\n  want \"%s\"\n", out.data, out.len, want);
    CHECK(same);
    rms_text_free(&out);
    rms_json_doc_free(doc);
}

static void render_agp(const rms_chat_template *ct, const char *json, int agp, const char *want) {
    render_bytes(ct, json, agp, want, strlen(want));
}

static void render(const rms_chat_template *ct, const char *json, const char *want) { render_agp(ct, json, 0, want); }

static void test_tulu_renders_turns_with_eos_after_each_assistant_and_newlines_between(void) {
    rms_chat_template ct;
    rms_err err;
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-tulu", NULL), "tulu", &err), RMS_OK);
    render(&ct,
           "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\" Hi \"},"
           "{\"role\":\"assistant\",\"content\":\"Hello\"},{\"role\":\"tool\",\"content\":\"x\"},"
           "{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]",
           "<|system|>\nBe brief.\n<|user|>\n Hi \n<|assistant|>\nHello<|end_of_text|>\n<|user|>\n2+2?\n"
           "<|assistant|>\n4<|end_of_text|>");
    render(&ct, "[{\"role\":\"user\",\"content\":\"\"}]", "<|user|>\n\n");
    render(&ct, "[]", "");
    static const char with_nul[] = "<|user|>\na\0b\n<|assistant|>\n"; // U+0000 inside a message survives
    render_bytes(&ct, "[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]", 1, with_nul, sizeof with_nul - 1);
    rms_chat_template_free(&ct);
}

static void test_llama3_renders_bos_headers_and_trimmed_contents(void) {
    rms_chat_template ct;
    rms_err err;
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-llama3", NULL), "llama3", &err), RMS_OK);
    render(&ct, "[{\"role\":\"user\",\"content\":\"\\n\\t Hi \\u3000\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]",
           "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>");
    render_agp(&ct, "[{\"role\":\"user\",\"content\":\"q\"}]", 1,
               "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n");
    rms_chat_template_free(&ct);
}

static void test_python_strip_removes_unicode_whitespace_but_not_zero_width_space(void) {
    size_t s, e;
    const char *a = "\xe3\x80\x80 x\xc2\x85\x1f";    // U+3000, space, x, U+0085, U+001F
    rms_py_strip(a, strlen(a), &s, &e);
    CHECK_EQ_INT(s, 4);
    CHECK_EQ_INT(e, 5);
    const char *b = "\xe2\x80\x8bx";                  // U+200B is not str.isspace()
    rms_py_strip(b, strlen(b), &s, &e);
    CHECK_EQ_INT(s, 0);
    CHECK_EQ_INT(e, 4);
    rms_py_strip("   ", 3, &s, &e);
    CHECK_EQ_INT(e - s, 0);
}

/* The chat templates as Jinja sources, each newline inside a string literal written as the escape \n
 * (backslash, n). tokenizer_config.json files spell those newlines either way: the released
 * allenai/Llama-3.1-Tulu-3-8B-RM file and Meta's Llama 3 file hold real newlines (JSON "\n"). */
static const char *const TULU_SRC =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + "
    "'\\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}{% elif "
    "message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\\n'  + message['content'] + "
    "eos_token + '\\n' }}{% else %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}{% endif %}{% endif "
    "%}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}";
static const char *const LLAMA3_SRC =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% "
    "endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

enum newline_spelling { NL_ESCAPE, NL_REAL, NL_MIXED };

/* src as a JSON string literal whose decoded value spells each escape \n of src as the escape itself
 * (JSON "\\n"), as a real newline (JSON "\n"), or alternately (mixed, starting with a real newline).
 * Other characters are copied, with " and a lone backslash escaped. Returns a static buffer. */
static const char *template_json(const char *src, enum newline_spelling nl) {
    static char buf[8192];
    size_t o = 0;
    int k = 0;
    buf[o++] = '"';
    for (const char *p = src; *p && o + 8 < sizeof buf; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            const int real = nl == NL_REAL || (nl == NL_MIXED && k++ % 2 == 0);
            o += (size_t)sprintf(buf + o, "%s", real ? "\\n" : "\\\\n");
            p++;
        } else if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = *p;
        } else if (*p == '\n') {
            o += (size_t)sprintf(buf + o, "\\n");
        } else if (*p == '\r') {
            o += (size_t)sprintf(buf + o, "\\r");
        } else {
            buf[o++] = *p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* src with the first occurrence of `from` replaced by `to` (a one-character edit). Static buffer. */
static const char *edited(const char *src, const char *from, const char *to) {
    static char buf[8192];
    const char *at = strstr(src, from);
    CHECK(at != NULL);
    if (!at) return src;
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
    return buf;
}

/* --template auto on a tokenizer_config.json whose chat_template is src spelled as nl. */
static rms_status load_auto(const char *src, enum newline_spelling nl, rms_chat_template *ct, rms_err *err) {
    return rms_chat_template_load(ct, write_config("ct-auto", template_json(src, nl)), "auto", err);
}

static void test_auto_names_builtin_sources_and_interprets_any_other_template(void) {
    rms_chat_template ct;
    rms_err err;
    CHECK_EQ_INT(load_auto(TULU_SRC, NL_ESCAPE, &ct, &err), RMS_OK);
    CHECK(strcmp(ct.name, "tulu") == 0);
    rms_chat_template_free(&ct);
    CHECK_EQ_INT(load_auto(LLAMA3_SRC, NL_REAL, &ct, &err), RMS_OK);
    CHECK(strcmp(ct.name, "llama3") == 0);
    CHECK(strcmp(ct.bos, "<|begin_of_text|>") == 0);
    rms_chat_template_free(&ct);
    // any other template is rendered as it is: here str() of the messages, Python's repr of a list of dicts
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-other", "\"{{ messages }}|{{ eos_token }}\""), "auto", &err),
                 RMS_OK);
    CHECK(strcmp(ct.name, "tokenizer_config.json") == 0);
    CHECK(strlen(ct.sha256) == 64);
    render(&ct, "[{\"role\":\"user\",\"content\":\"it's\"}]", "[{'role': 'user', 'content': \"it's\"}]|<|end_of_text|>");
    rms_chat_template_free(&ct);
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-none", NULL), "auto", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "--template tulu");
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-bad", NULL), "chatml", &err), RMS_ERR_ARG);
    // a template that does not parse names the construct and its place
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-broken", "\"{% for m in messages %}{{ m | wordwrap }}\""),
                                        "auto", &err),
                 RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "line 1 column 31: unknown filter 'wordwrap'");
}

static void test_the_list_form_uses_default_and_chat_template_jinja_comes_first(void) {
    rms_chat_template ct;
    rms_err err;
    const char *dir = write_config("ct-list", "[{\"name\": \"tool_use\", \"template\": \"T\"}, "
                                              "{\"name\": \"default\", \"template\": \"D{{ messages|length }}\"}]");
    CHECK_EQ_INT(rms_chat_template_load(&ct, dir, "auto", &err), RMS_OK);
    CHECK(strcmp(ct.name, "tokenizer_config.json:default") == 0);
    render(&ct, "[{\"role\":\"user\",\"content\":\"x\"}]", "D1");
    rms_chat_template_free(&ct);
    char path[4200];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    FILE *f = fopen(path, "w");
    fputs("J{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}\n", f); // its final newline is dropped
    fclose(f);
    CHECK_EQ_INT(rms_chat_template_load(&ct, dir, "auto", &err), RMS_OK);
    CHECK(strcmp(ct.name, "chat_template.jinja") == 0);
    render(&ct, "[{\"role\":\"user\",\"content\":\"x\"}]", "J<|begin_of_text|>x");
    rms_chat_template_free(&ct);
    // a list without "default"
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-list-nodefault", "[{\"name\": \"rag\", \"template\": \"R\"}]"),
                                        "auto", &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "default");
}

static void test_special_tokens_are_variables_and_unset_ones_are_undefined(void) {
    rms_chat_template ct;
    rms_err err;
    const char *dir = check_tmpdir("ct-specials");
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"bos_token\": null, \"eos_token\": \"<|im_end|>\", \"pad_token\": {\"content\": \"<pad>\", \"lstrip\": false},"
          " \"additional_special_tokens\": [\"<a>\", {\"content\": \"<b>\"}], \"model_max_length\": 1000000000000000019884624838656,"
          " \"chat_template\": \"{{ bos_token is defined }}|{{ eos_token }}|{{ pad_token }}|{{ additional_special_tokens|join(',') }}|"
          "{{ tools is none }}{{ documents is none }}|{{ add_generation_prompt }}\"}", f);
    fclose(f);
    CHECK_EQ_INT(rms_chat_template_load(&ct, dir, "auto", &err), RMS_OK);
    CHECK(strcmp(ct.bos, "") == 0);
    render_agp(&ct, "[]", 0, "False|<|im_end|>|<pad>|<a>,<b>|TrueTrue|False");
    render_agp(&ct, "[]", 1, "False|<|im_end|>|<pad>|<a>,<b>|TrueTrue|True");
    rms_chat_template_free(&ct);
}

static void test_a_template_error_is_an_input_error_naming_the_message(void) {
    rms_chat_template ct;
    rms_err err;
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-raise", "\"{% if messages[0].role != 'user' %}"
                                                                      "{{ raise_exception('roles must alternate') }}{% endif %}ok\""),
                                        "auto", &err),
                 RMS_OK);
    render(&ct, "[{\"role\":\"user\",\"content\":\"x\"}]", "ok");
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *conv;
    const char *bad = "[{\"role\":\"assistant\",\"content\":\"x\"}]";
    CHECK_EQ_INT(rms_json_parse(doc, bad, strlen(bad), &conv, &err), RMS_OK);
    rms_text out;
    rms_text_init(&out);
    CHECK_EQ_INT(rms_chat_template_render(&ct, conv, 0, &out, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "roles must alternate");
    CHECK_CONTAINS(err.msg, "line 1 column");
    rms_text_free(&out);
    rms_json_doc_free(doc);
    rms_chat_template_free(&ct);
}

static void test_auto_picks_tulu_with_real_newlines_in_its_literals_as_the_released_file_has_them(void) {
    rms_chat_template ct;
    rms_err err;
    // The released allenai/Llama-3.1-Tulu-3-8B-RM tokenizer_config.json: JSON "\n" inside the Jinja literals.
    const char *json = template_json(TULU_SRC, NL_REAL);
    CHECK(strstr(json, "'<|system|>\\n' + message['content'] + '\\n' }}") != NULL);
    CHECK(strstr(json, "\\\\") == NULL);
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-auto-tulu-released", json), "auto", &err), RMS_OK);
    CHECK(strcmp(ct.name, "tulu") == 0);
    render(&ct, "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\" yo \"}]",
           "<|user|>\nhi\n<|assistant|>\n yo <|end_of_text|>");
    rms_chat_template_free(&ct);
    // The escaped spelling and a mix of both are named tulu too and render the same.
    for (int nl = NL_ESCAPE; nl <= NL_MIXED; nl++) {
        CHECK_EQ_INT(load_auto(TULU_SRC, (enum newline_spelling)nl, &ct, &err), RMS_OK);
        CHECK(strcmp(ct.name, "tulu") == 0);
        render(&ct, "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\" yo \"}]",
               "<|user|>\nhi\n<|assistant|>\n yo <|end_of_text|>");
        rms_chat_template_free(&ct);
    }
}

static void test_auto_picks_llama3_in_either_newline_spelling(void) {
    rms_chat_template ct;
    rms_err err;
    for (int nl = NL_ESCAPE; nl <= NL_MIXED; nl++) {
        CHECK_EQ_INT(load_auto(LLAMA3_SRC, (enum newline_spelling)nl, &ct, &err), RMS_OK);
        CHECK(strcmp(ct.name, "llama3") == 0);
        rms_chat_template_free(&ct);
    }
}

static void test_a_template_one_character_away_is_named_after_its_file_not_the_builtin(void) {
    // Each edit changes one character of the source (or of the escape \n); none renders the same.
    const char *const tulu_edits[][2] = {
        {"'<|assistant|>\\n'  +", "'<|assistant|>\\n' +"},   // one of the two spaces gone
        {"loop.last", "loop.lasT"},
        {"{% endfor %}", "{% endfor %} "},                    // trailing space
        {"{% endfor %}", "{% endfor %"},                      // cut short
        {"'<|user|>\\n'", "'<|user|>\\t'"},                    // another escape
        {"'<|user|>\\n'", "'<|user|>n'"},                      // the backslash alone gone
        {"'<|user|>\\n'", "'<|user|>\\'"},                     // the n alone gone
        {"messages %}{% if", "messages %}\n{% if"},          // a newline outside the literals
        {"{{ '<|system|>", "{{\n'<|system|>"},                // a newline where the source has a space
    };
    const char *const llama3_edits[][2] = {
        {"| trim", "|trim"},
        {"'<|end_header_id|>\\n\\n'", "'<|end_header_id|>\\n'"}, // one newline fewer
        {"'<|end_header_id|>\\n\\n'", "'<|end_header_id|>\\n\\r'"},
    };
    for (int nl = NL_ESCAPE; nl <= NL_MIXED; nl++) {
        rms_chat_template ct;
        rms_err err;
        for (size_t i = 0; i < sizeof tulu_edits / sizeof tulu_edits[0]; i++) {
            const rms_status st = load_auto(edited(TULU_SRC, tulu_edits[i][0], tulu_edits[i][1]),
                                            (enum newline_spelling)nl, &ct, &err);
            const int named = st == RMS_OK && strcmp(ct.name, "tulu") == 0;
            if (named) fprintf(stderr, "  tulu edit %zu, spelling %d named tulu\n", i, nl);
            CHECK(!named);
            if (st == RMS_OK) rms_chat_template_free(&ct);
        }
        for (size_t i = 0; i < sizeof llama3_edits / sizeof llama3_edits[0]; i++) {
            const rms_status st = load_auto(edited(LLAMA3_SRC, llama3_edits[i][0], llama3_edits[i][1]),
                                            (enum newline_spelling)nl, &ct, &err);
            const int named = st == RMS_OK && strcmp(ct.name, "llama3") == 0;
            if (named) fprintf(stderr, "  llama3 edit %zu, spelling %d named llama3\n", i, nl);
            CHECK(!named);
            if (st == RMS_OK) rms_chat_template_free(&ct);
        }
    }
}

static void test_json_strings_decode_escapes_nul_and_surrogate_pairs(void) {
    rms_text t;
    rms_text_init(&t);
    rms_err err;
    const char *line = "  \"a\\u0000b\\n\\\"\\\\\\/\\ud83d\\ude00\xc3\xa9\"\n";
    CHECK_EQ_INT(rms_json_decode_string_line(line, strlen(line), &t, &err), RMS_OK);
    CHECK_EQ_INT(t.len, 13);
    CHECK(memcmp(t.data, "a\0b\n\"\\/\xf0\x9f\x98\x80\xc3\xa9", 13) == 0);
    const char *bad[] = {"\"\\ud800\"", "\"\\udc00x\"", "\"a\" b", "\"a", "[1]", "", "\"\\x\"", "\"a\tb\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(rms_json_decode_string_line(bad[i], strlen(bad[i]), &t, &err), RMS_ERR_INPUT);
    rms_text_free(&t);
}

int main(void) {
    RUN(test_tulu_renders_turns_with_eos_after_each_assistant_and_newlines_between);
    RUN(test_llama3_renders_bos_headers_and_trimmed_contents);
    RUN(test_python_strip_removes_unicode_whitespace_but_not_zero_width_space);
    RUN(test_auto_names_builtin_sources_and_interprets_any_other_template);
    RUN(test_the_list_form_uses_default_and_chat_template_jinja_comes_first);
    RUN(test_special_tokens_are_variables_and_unset_ones_are_undefined);
    RUN(test_a_template_error_is_an_input_error_naming_the_message);
    RUN(test_auto_picks_tulu_with_real_newlines_in_its_literals_as_the_released_file_has_them);
    RUN(test_auto_picks_llama3_in_either_newline_spelling);
    RUN(test_a_template_one_character_away_is_named_after_its_file_not_the_builtin);
    RUN(test_json_strings_decode_escapes_nul_and_surrogate_pairs);
    return check_summary();
}
