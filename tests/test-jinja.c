/* Unit tests of the Jinja interpreter (src/text/jinja*.c): the limits that bound a hostile template (loop
 * iterations, macro recursion, output size, range(), nesting), errors that name the construct and its line
 * and column, and a few Python semantics checked by hand against python3-jinja2 (ImmutableSandboxedEnvironment,
 * trim_blocks, lstrip_blocks) — the broad byte-for-byte comparison with jinja2 and @huggingface/jinja is
 * tests/tokenizer/test_template_parity.py. */
#include "tests/check.h"
#include "io/json_value.h"
#include "src/base/clock.h"
#include "src/text/jinja.h"

/* Renders src with messages = the JSON text json (or no variables when NULL). Returns the status; the text or
 * the error message goes into out / err. */
static rms_status render_full(const char *src, const char *json, rms_text *out, rms_err *err) {
    rms_jinja *t = NULL;
    rms_status st = rms_jinja_compile(&t, src, strlen(src), err);
    if (st != RMS_OK) return st;
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *messages = NULL;
    rms_jinja_var vars[1];
    int n = 0;
    if (json) {
        CHECK_EQ_INT(rms_json_parse(doc, json, strlen(json), &messages, err), RMS_OK);
        vars[n++] = (rms_jinja_var){"messages", messages};
    }
    st = rms_jinja_render(t, vars, n, out, err);
    rms_json_doc_free(doc);
    rms_jinja_free(t);
    return st;
}

static void expect(const char *src, const char *json, const char *want) {
    rms_text out;
    rms_text_init(&out);
    rms_err err;
    const rms_status st = render_full(src, json, &out, &err);
    if (st != RMS_OK) fprintf(stderr, "  %s\n  error: %s\n", src, err.msg);
    else if (strcmp(out.data ? out.data : "", want) != 0) fprintf(stderr, "  %s\n  got  %s\n  want %s\n", src, out.data, want);
    CHECK(st == RMS_OK && strcmp(out.data ? out.data : "", want) == 0);
    rms_text_free(&out);
}

static void expect_error(const char *src, const char *json, rms_status want_st, const char *fragment) {
    rms_text out;
    rms_text_init(&out);
    rms_err err;
    const rms_status st = render_full(src, json, &out, &err);
    CHECK_EQ_INT(st, want_st);
    if (st != RMS_OK) CHECK_CONTAINS(err.msg, fragment);
    CHECK_EQ_INT(out.len, 0); // nothing half-rendered is left
    rms_text_free(&out);
}

static void test_a_loop_past_the_iteration_limit_stops_with_an_error_quickly(void) {
    const double t0 = rms_now_seconds();
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL, RMS_ERR_INPUT,
                 "more than 1000000 loop iterations");
    CHECK(rms_now_seconds() - t0 < 10.0);
    expect_error("{{ range(100001)|length }}", NULL, RMS_ERR_INPUT, "range too big");
    expect("{{ range(100000)|length }}", NULL, "100000");
}

static void test_recursion_without_end_is_an_error_not_a_crash(void) {
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, RMS_ERR_INPUT,
                 "macro calls nested more than 64 deep");
    // recursion that ends is fine
    expect("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", NULL, "54321");
}

static void test_output_and_strings_are_bounded(void) {
    expect_error("{{ 'x' * 100000000 }}", NULL, RMS_ERR_INPUT, "limit");
    expect_error("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", NULL, RMS_ERR_INPUT, "64 MiB");
    expect_error("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", NULL,
                 RMS_ERR_INPUT, "limit");
}

static void test_nesting_past_the_parser_limit_is_refused(void) {
    rms_text src;
    rms_text_init(&src);
    for (int k = 0; k < 500; k++) rms_text_append_str(&src, "{% if true %}");
    expect_error(src.data, NULL, RMS_ERR_FORMAT, "nested more than");
    rms_text_clear(&src);
    rms_text_append_str(&src, "{{ ");
    for (int k = 0; k < 5000; k++) rms_text_append_str(&src, "(");
    rms_text_append_str(&src, "1");
    for (int k = 0; k < 5000; k++) rms_text_append_str(&src, ")");
    rms_text_append_str(&src, " }}");
    expect_error(src.data, NULL, RMS_ERR_FORMAT, "nested more than");
    rms_text_free(&src);
}

static void test_errors_name_the_construct_line_and_column(void) {
    expect_error("ok\n  {% include 'x.jinja' %}", NULL, RMS_ERR_FORMAT, "line 2 column 6: unknown tag 'include'");
    expect_error("{{ x | wordwrap }}", NULL, RMS_ERR_FORMAT, "line 1 column 8: unknown filter 'wordwrap'");
    expect_error("{{ x is prime }}", NULL, RMS_ERR_FORMAT, "unknown test 'prime'");
    expect_error("{% if x %}\nno end", NULL, RMS_ERR_FORMAT, "expected 'endif' (the block opened at line 1");
    expect_error("{% for x in y %}{% endif %}", NULL, RMS_ERR_FORMAT, "unexpected 'endif', expected endfor");
    expect_error("{{ 'unterminated }}", NULL, RMS_ERR_FORMAT, "unterminated string literal");
    expect_error("{# no end", NULL, RMS_ERR_FORMAT, "missing end of comment tag");
    expect_error("{% break %}", NULL, RMS_ERR_FORMAT, "'break' outside of a loop");
    expect_error("{{ messages[0].content.x.y }}", "[{\"content\": \"s\"}]", RMS_ERR_INPUT,
                 "line 1 column 26: 'str object' has no attribute 'x'");
    expect_error("{{ nope + 'a' }}", NULL, RMS_ERR_INPUT, "'nope' is undefined");
    expect_error("{{ 'a' + 1 }}", NULL, RMS_ERR_INPUT, "can only concatenate str (not \"int\") to str");
    expect_error("{{ raise_exception('Conversation roles must alternate') }}", NULL, RMS_ERR_INPUT,
                 "raise_exception: Conversation roles must alternate");
    expect_error("{{ messages.append(1) }}", "[]", RMS_ERR_INPUT, "unsafe");
    expect_error("{{ 'x'.format(1) }}", NULL, RMS_ERR_INPUT, "outside rmscore's Jinja subset");
    expect_error("{{ 'straße'|upper }}", NULL, RMS_ERR_INPUT, "U+00DF");
}

static void test_values_print_and_compare_as_python(void) {
    // each expectation below is what python3-jinja2 3.1 prints for the same template
    expect("{{ none }}|{{ true }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 7 // -2 }}|{{ 7 % -2 }}|{{ -7 / 2 }}|{{ 2 ** -1 }}",
           NULL, "None|True|1.0|1e+20|0.30000000000000004|-4|-1|-3.5|0.5");
    expect("{{ [1, 'a', none, (2,)] }}|{{ {'k': [true]} }}|{{ 'it\\'s' ~ 1 }}", NULL,
           "[1, 'a', None, (2,)]|{'k': [True]}|it's1");
    expect("{{ 1 == 1.0 }}{{ 1 == true }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 'ab' in 'cabd' }}{{ 2 not in [1] }}", NULL,
           "TrueTrueTrueTrueTrueTrue");
    expect("{{ messages[0]['content'][::-1] }}|{{ messages[0].content[1:3] }}|{{ messages|length }}",
           "[{\"content\": \"h\\u00e9llo\"}]", "oll\xc3\xa9h|\xc3\xa9l|1");
    expect("{{ messages[0].n }}|{{ messages[0].n is integer }}", "[{\"n\": 123456789012345678901234567890}]",
           "123456789012345678901234567890|True");
    expect("{{ x is defined }}{{ x|default('d') }}{{ ''|default('e', true) }}{{ x|length }}", NULL, "Falsede0");
}

static void test_whitespace_control_follows_trim_and_lstrip_blocks(void) {
    expect("a\n  {% if true %}\n  b\n  {% endif %}\nc", NULL, "a\n  b\nc");
    expect("a  {%- if true -%}  b  {%- endif %}  c", NULL, "ab  c");
    expect("a\n  {%+ if true %}b{% endif %}", NULL, "a\n  b");
    expect("x{# c #}\ny\n{{ 'v' }}\nz\n", NULL, "xy\nv\nz");
    expect("{% raw %}{{ not rendered }}{% endraw %}", NULL, "{{ not rendered }}");
}

static void test_loops_scopes_and_namespaces_follow_jinja2(void) {
    expect("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }};{% endfor %}{{ x }}", NULL, "12;12;1");
    expect("{% set ns = namespace(a=1) %}{% for i in [1, 2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}", NULL, "4");
    expect("{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }}{{ loop.last }} {% endfor %}", NULL,
           "1/2False 2/2True ");
    expect("{% for x in [] %}a{% else %}empty{% endfor %}", NULL, "empty");
    expect("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}"
           "{{ x }}{% endfor %}",
           NULL, "13");
    expect("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}{{ loop.previtem is defined }} {% endfor %}", NULL,
           "a=1False b=2True ");
    expect("{% macro m(a, b='B') %}<{{ a }}{{ b }}{{ caller() if caller is defined }}>{% endmacro %}"
           "{{ m(1) }}{% call m(2, b='c') %}body{% endcall %}",
           NULL, "<1B><2cbody>");
}

int main(void) {
    RUN(test_a_loop_past_the_iteration_limit_stops_with_an_error_quickly);
    RUN(test_recursion_without_end_is_an_error_not_a_crash);
    RUN(test_output_and_strings_are_bounded);
    RUN(test_nesting_past_the_parser_limit_is_refused);
    RUN(test_errors_name_the_construct_line_and_column);
    RUN(test_values_print_and_compare_as_python);
    RUN(test_whitespace_control_follows_trim_and_lstrip_blocks);
    RUN(test_loops_scopes_and_namespaces_follow_jinja2);
    return check_summary();
}
