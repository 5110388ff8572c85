/* Unit tests of src/chat_template.c and io/json_string.c, io/conversation.c: rendering, Python-style
 * strip, template recognition, JSON string decoding. (Parity with transformers' Jinja rendering is
 * tests/tokenizer/test_render_parity.py.) */
#include "tests/check.h"
#include "io/conversation.h"
#include "io/json_string.h"
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

static void render(const rms_chat_template *ct, const char *json, const char *want) {
    rms_conversation c;
    rms_err err;
    CHECK_EQ_INT(rms_conversation_parse(&c, json, &err), RMS_OK);
    rms_text out;
    rms_text_init(&out);
    CHECK_EQ_INT(rms_chat_template_render(ct, c.msgs, c.n, &out, &err), RMS_OK);
    if (strcmp(out.data, want) != 0) fprintf(stderr, "  got \"%s\"\n  want \"%s\"\n", out.data, want);
    CHECK(strcmp(out.data, want) == 0);
    rms_text_free(&out);
    rms_conversation_free(&c);
}

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
}

static void test_llama3_renders_bos_headers_and_trimmed_contents(void) {
    rms_chat_template ct;
    rms_err err;
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-llama3", NULL), "llama3", &err), RMS_OK);
    render(&ct, "[{\"role\":\"user\",\"content\":\"\\n\\t Hi \\u3000\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]",
           "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>");
}

static void test_python_strip_removes_unicode_whitespace_but_not_zero_width_space(void) {
    size_t s, e;
    const char *a = "\xe3\x80\x80 x\xc2\x85\x1f";    // U+3000, space, x, U+0085, U+001F
    rms_python_strip(a, strlen(a), &s, &e);
    CHECK_EQ_INT(s, 4);
    CHECK_EQ_INT(e, 5);
    const char *b = "\xe2\x80\x8bx";                  // U+200B is not str.isspace()
    rms_python_strip(b, strlen(b), &s, &e);
    CHECK_EQ_INT(s, 0);
    CHECK_EQ_INT(e, 4);
    rms_python_strip("   ", 3, &s, &e);
    CHECK_EQ_INT(e - s, 0);
}

static void test_auto_recognises_templates_and_names_the_options_otherwise(void) {
    rms_chat_template ct;
    rms_err err;
    const char *tulu_json =
        "\"{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\\\n' + message['content'] + "
        "'\\\\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\\\\n' + message['content'] + '\\\\n' }}{% elif "
        "message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\\\\n'  + message['content'] + "
        "eos_token + '\\\\n' }}{% else %}{{ '<|assistant|>\\\\n'  + message['content'] + eos_token }}{% endif %}{% endif "
        "%}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\\\n' }}{% endif %}{% endfor %}\"";
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-auto", tulu_json), "auto", &err), RMS_OK);
    CHECK_EQ_INT(ct.kind, RMS_TEMPLATE_TULU);
    CHECK(strcmp(ct.eos, "<|end_of_text|>") == 0);
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-unknown", "\"{{ messages }}\""), "auto", &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "--template tulu");
    CHECK_CONTAINS(err.msg, "--template llama3");
    CHECK_EQ_INT(rms_chat_template_load(&ct, write_config("ct-bad", NULL), "chatml", &err), RMS_ERR_ARG);
}

static void test_conversations_need_string_roles_and_contents(void) {
    rms_conversation c;
    rms_err err;
    CHECK_EQ_INT(rms_conversation_parse(&c, "{\"role\":\"user\"}", &err), RMS_ERR_INPUT);
    CHECK_EQ_INT(rms_conversation_parse(&c, "[{\"role\":\"user\",\"content\":null}]", &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "message 1: content");
    CHECK_EQ_INT(rms_conversation_parse(&c, "[{\"role\":\"user\",\"content\":\"a\"}, 3]", &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "message 2");
    CHECK_EQ_INT(rms_conversation_parse(&c, "[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]", &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "U+0000");
    CHECK_EQ_INT(rms_conversation_parse(&c, "[{\"role\":\"user\",\"content\":\"a\\\\u0000b\"}]", &err), RMS_OK);
    rms_conversation_free(&c);
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
    RUN(test_auto_recognises_templates_and_names_the_options_otherwise);
    RUN(test_conversations_need_string_roles_and_contents);
    RUN(test_json_strings_decode_escapes_nul_and_surrogate_pairs);
    return check_summary();
}
