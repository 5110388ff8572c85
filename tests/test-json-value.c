/* Unit tests of io/json_value.c (and the shared string decoder of io/json_string.c): parsing as Python's
 * json.loads, writing as json.dumps(ensure_ascii=False, separators=(",", ":")), floats as repr(); plus a
 * differential run against /usr/bin/python3 on a corpus of fixed and generated texts, valid and invalid. */
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <unistd.h>

#include "io/json_string.h"
#include "io/json_value.h"
#include "tests/check.h"

#define PYTHON "/usr/bin/python3"

/* ------------------------------------------------------------------ helpers */

/* Parses text (len bytes) into a fresh doc and writes it back; returns the status; *out gets the text
 * written (or the error message). */
static rms_status roundtrip(const char *text, size_t len, rms_text *out) {
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *root = NULL;
    rms_err err;
    rms_text_clear(out);
    rms_status st = rms_json_parse(doc, text, len, &root, &err);
    if (st == RMS_OK) {
        CHECK(root != NULL);
        CHECK_EQ_INT(rms_json_write(out, root), 0);
    } else {
        CHECK(root == NULL);
        rms_text_append_str(out, err.msg);
    }
    rms_json_doc_free(doc);
    return st;
}

static void expect_same(const char *text, const char *want) {
    rms_text t;
    rms_text_init(&t);
    const rms_status st = roundtrip(text, strlen(text), &t);
    CHECK_EQ_INT(st, RMS_OK);
    if (st != RMS_OK || strcmp(t.data, want) != 0) {
        fprintf(stderr, "  input %s\n  wrote %s\n  want  %s\n", text, t.data, want);
        check_failures_in_test++;
    }
    rms_text_free(&t);
}

static void expect_error(const char *text, size_t len, const char *fragment) {
    rms_text t;
    rms_text_init(&t);
    const rms_status st = roundtrip(text, len, &t);
    CHECK_EQ_INT(st, RMS_ERR_INPUT);
    if (st != RMS_ERR_INPUT || !strstr(t.data, fragment)) {
        fprintf(stderr, "  input %.*s\n  got   %s\n  want  ...%s...\n", (int)len, text, t.data, fragment);
        check_failures_in_test++;
    }
    rms_text_free(&t);
}

static const char *float_text(double f, int json_style) {
    static char buf[64];
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(rms_json_write_float(&t, f, json_style), 0);
    snprintf(buf, sizeof buf, "%s", t.data);
    rms_text_free(&t);
    return buf;
}

/* ------------------------------------------------------------------ unit tests */

static void test_values_round_trip_in_compact_python_form(void) {
    expect_same(" { \"b\" : [ 1 , 2.5 , \"x\" , true , false , null ] ,\n\t\"a\" : { } , \"c\":[ ] }\r\n",
                "{\"b\":[1,2.5,\"x\",true,false,null],\"a\":{},\"c\":[]}");
    expect_same("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\xc3\xa9\\u00e9\\ud83d\\ude00\\u2028\"",
                "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80\xe2\x80\xa8\"");
    expect_same("[1E2, 1e-2, -0, -0.0, 0.0, 1.0, 100, 1e16, 1.5e-7]", "[100.0,0.01,0,-0.0,0.0,1.0,100,1e+16,1.5e-07]");
}

static void test_nul_survives_in_strings_and_keys(void) {
    const char *text = "{\"a\\u0000b\": \"x\\u0000y\\u0000\"}";
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *root;
    rms_err err;
    CHECK_EQ_INT(rms_json_parse(doc, text, strlen(text), &root, &err), RMS_OK);
    CHECK_EQ_INT(root->kind, RMS_JSON_OBJECT);
    CHECK_EQ_INT(root->n, 1);
    CHECK_EQ_INT(root->members[0].key_len, 3);
    CHECK(memcmp(root->members[0].key, "a\0b", 4) == 0); // NUL-terminated after the bytes too
    const rms_json *v = root->members[0].value;
    CHECK_EQ_INT(v->kind, RMS_JSON_STRING);
    CHECK_EQ_INT(v->len, 4);
    CHECK(memcmp(v->s, "x\0y\0", 5) == 0);
    CHECK(rms_json_get(root, "a") == NULL); // "a" is not "a\0b"
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(rms_json_write(&t, root), 0);
    CHECK(strcmp(t.data, "{\"a\\u0000b\":\"x\\u0000y\\u0000\"}") == 0);
    rms_text_free(&t);
    rms_json_doc_free(doc);
    // a raw NUL byte is not JSON: a control character inside a string, nothing outside
    expect_error("\"a\0b\"", 5, "at byte 2: raw control character");
    expect_error("[1,\0]", 5, "at byte 3: expected a value");
}

static void test_objects_keep_key_order_and_a_repeated_key_takes_the_last_value_in_the_first_place(void) {
    expect_same("{\"b\":1,\"a\":2,\"b\":3,\"c\":{\"x\":1,\"x\":[2]},\"a\":4}", "{\"b\":3,\"a\":4,\"c\":{\"x\":[2]}}");
    // beyond 16 members the merge goes through a sort: the same result
    rms_text in, want;
    rms_text_init(&in);
    rms_text_init(&want);
    rms_text_append_str(&in, "{");
    for (int i = 0; i < 40; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s\"k%d\":%d", i ? "," : "", i % 25, i);
        rms_text_append_str(&in, b);
    }
    rms_text_append_str(&in, ",\"k3\":\"last\"}");
    rms_text_append_str(&want, "{");
    for (int k = 0; k < 25; k++) {
        char b[64];
        if (k == 3) snprintf(b, sizeof b, ",\"k3\":\"last\"");
        else snprintf(b, sizeof b, "%s\"k%d\":%d", k ? "," : "", k, k < 15 ? k + 25 : k);
        rms_text_append_str(&want, b);
    }
    rms_text_append_str(&want, "}");
    expect_same(in.data, want.data);
    rms_text_free(&in);
    rms_text_free(&want);
    // rms_json_get finds the merged value
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *root;
    rms_err err;
    CHECK_EQ_INT(rms_json_parse(doc, "{\"a\":1,\"a\":2}", 13, &root, &err), RMS_OK);
    CHECK_EQ_INT(root->n, 1);
    CHECK_EQ_INT(rms_json_get(root, "a")->i, 2);
    CHECK(rms_json_get(root, "b") == NULL);
    CHECK(rms_json_get(rms_json_get(root, "a"), "a") == NULL); // not an object
    rms_json_doc_free(doc);
}

static void test_numbers_are_int64_or_double_as_python_reads_them(void) {
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *root;
    rms_err err;
    const char *text = "[9223372036854775807, -9223372036854775808, -0, 0.5e1, 1e400, -1e400, 1e-400, NaN, -Infinity,"
                       " 2.2250738585072011e-308, 0.1000000000000000055511151231257827]";
    CHECK_EQ_INT(rms_json_parse(doc, text, strlen(text), &root, &err), RMS_OK);
    CHECK_EQ_INT(root->n, 11);
    CHECK(root->items[0]->kind == RMS_JSON_INT && root->items[0]->i == INT64_MAX);
    CHECK(root->items[1]->kind == RMS_JSON_INT && root->items[1]->i == INT64_MIN);
    CHECK(root->items[2]->kind == RMS_JSON_INT && root->items[2]->i == 0);
    CHECK(root->items[3]->kind == RMS_JSON_FLOAT && root->items[3]->f == 5.0);
    CHECK(root->items[4]->kind == RMS_JSON_FLOAT && isinf(root->items[4]->f) && root->items[4]->f > 0);
    CHECK(isinf(root->items[5]->f) && root->items[5]->f < 0);
    CHECK(root->items[6]->f == 0.0 && !signbit(root->items[6]->f));
    CHECK(root->items[7]->kind == RMS_JSON_FLOAT && isnan(root->items[7]->f));
    CHECK(root->items[8]->kind == RMS_JSON_FLOAT && isinf(root->items[8]->f) && root->items[8]->f < 0);
    CHECK(root->items[9]->f == 2.2250738585072011e-308);
    CHECK(root->items[10]->f == 0.1);
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(rms_json_write(&t, root), 0);
    CHECK(strcmp(t.data, "[9223372036854775807,-9223372036854775808,0,5.0,Infinity,-Infinity,0.0,NaN,-Infinity,"
                         "2.225073858507201e-308,0.1]") == 0);
    rms_text_free(&t);
    rms_json_doc_free(doc);
    // beyond int64: kept as their digits and written back as they are
    expect_same("9223372036854775808", "9223372036854775808");
    expect_same("[1, -9223372036854775809]", "[1,-9223372036854775809]");
    expect_same("{\"model_max_length\": 1000000000000000019884624838656}", "{\"model_max_length\":1000000000000000019884624838656}");
    {
        rms_text big;
        rms_text_init(&big);
        for (int k = 0; k < 4301; k++) rms_text_append(&big, "7", 1);
        expect_error(big.data, big.len, "at byte 0: integer out of range");
        rms_text_free(&big);
    }
    expect_same("[9223372036854775808.0, 1e19]", "[9.223372036854776e+18,1e+19]"); // not integer literals
}

static void test_floats_are_written_as_python_repr(void) {
    CHECK(strcmp(float_text(1.0, 0), "1.0") == 0);
    CHECK(strcmp(float_text(0.1, 0), "0.1") == 0);
    CHECK(strcmp(float_text(-0.0, 0), "-0.0") == 0);
    CHECK(strcmp(float_text(0.0, 1), "0.0") == 0);
    CHECK(strcmp(float_text(1e16, 0), "1e+16") == 0);
    CHECK(strcmp(float_text(1e15, 0), "1000000000000000.0") == 0);
    CHECK(strcmp(float_text(9999999999999998.0, 0), "9999999999999998.0") == 0);
    CHECK(strcmp(float_text(1.5e-7, 0), "1.5e-07") == 0);
    CHECK(strcmp(float_text(1e-5, 0), "1e-05") == 0);
    CHECK(strcmp(float_text(0.0001, 0), "0.0001") == 0);
    CHECK(strcmp(float_text(123456789012345678.0, 0), "1.2345678901234568e+17") == 0);
    CHECK(strcmp(float_text(5e-324, 0), "5e-324") == 0);
    CHECK(strcmp(float_text(DBL_MAX, 0), "1.7976931348623157e+308") == 0);
    CHECK(strcmp(float_text(-1e100, 0), "-1e+100") == 0);
    CHECK(strcmp(float_text(0.3, 0), "0.3") == 0);
    CHECK(strcmp(float_text(2.0 / 3.0, 0), "0.6666666666666666") == 0);
    CHECK(strcmp(float_text(INFINITY, 0), "inf") == 0);
    CHECK(strcmp(float_text(-INFINITY, 0), "-inf") == 0);
    CHECK(strcmp(float_text(NAN, 0), "nan") == 0);
    CHECK(strcmp(float_text(INFINITY, 1), "Infinity") == 0);
    CHECK(strcmp(float_text(-INFINITY, 1), "-Infinity") == 0);
    CHECK(strcmp(float_text(NAN, 1), "NaN") == 0);
    CHECK(strcmp(float_text(2.5, 1), "2.5") == 0);
}

static void test_nesting_deeper_than_the_limit_is_an_error_not_a_crash(void) {
    rms_text t, out;
    rms_text_init(&t);
    rms_text_init(&out);
    for (int i = 0; i < RMS_JSON_MAX_DEPTH; i++) rms_text_append_str(&t, i % 2 ? "{\"k\":" : "[");
    rms_text_append_str(&t, "0");
    for (int i = RMS_JSON_MAX_DEPTH - 1; i >= 0; i--) rms_text_append_str(&t, i % 2 ? "}" : "]");
    CHECK_EQ_INT(roundtrip(t.data, t.len, &out), RMS_OK);
    CHECK_EQ_INT(out.len, t.len);
    rms_text_clear(&t);
    for (int i = 0; i < RMS_JSON_MAX_DEPTH + 1; i++) rms_text_append_str(&t, "[");
    for (int i = 0; i < RMS_JSON_MAX_DEPTH + 1; i++) rms_text_append_str(&t, "]");
    char want[64];
    snprintf(want, sizeof want, "at byte %d: nesting deeper than %d", RMS_JSON_MAX_DEPTH, RMS_JSON_MAX_DEPTH);
    expect_error(t.data, t.len, want);
    rms_text_clear(&t);
    for (int i = 0; i < 100000; i++) rms_text_append_str(&t, "[");
    expect_error(t.data, t.len, "nesting deeper");
    rms_text_free(&t);
    rms_text_free(&out);
}

static void test_errors_give_the_byte_offset_python_gives_and_say_what_is_wrong(void) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "at byte 0: expected a value"},
        {"  ", "at byte 2: expected a value"},
        {"[1,]", "at byte 3: expected a value"},
        {"{\"a\":1,}", "at byte 7: expected a key"},
        {"{\"a\" 1}", "at byte 5: expected ':'"},
        {"{1:2}", "at byte 1: expected a key"},
        {"[1 2]", "at byte 3: expected ',' or ']'"},
        {"{\"a\":1 \"b\":2}", "at byte 7: expected ',' or '}'"},
        {"[1,2", "at byte 4: expected ',' or ']'"},
        {"[1] x", "at byte 4: text after the JSON value"},
        {"01", "at byte 1: text after"},
        {"1.", "at byte 1: text after"},
        {"1e+", "at byte 1: text after"},
        {".5", "at byte 0: expected a value"},
        {"+1", "at byte 0: expected a value"},
        {"-", "at byte 0: expected a value"},
        {"-NaN", "at byte 0: expected a value"},
        {"-Infinit", "at byte 0: expected a value"},
        {"nan", "at byte 0: expected a value"},
        {"nul", "at byte 0: expected a value"},
        {"truex", "at byte 4: text after"},
        {"\f1", "at byte 0: expected a value"},
        {("\xc2\xa0" "1"), "at byte 0: expected a value"},
        {"\xef\xbb\xbf{}", "at byte 0: expected a value"},
        {"// c\n1", "at byte 0: expected a value"},
        {"'a'", "at byte 0: expected a value"},
        {"[\"abc", "at byte 1: unterminated string"},
        {"\"ab\\", "at byte 0: unterminated string"},
        {"\"a\tb\"", "at byte 2: raw control character"},
        {"[\"\xc3\xa9\n\"]", "at byte 4: raw control character"},
        {"\"\\x\"", "at byte 1: invalid escape"},
        {"\"\\u12G4\"", "at byte 2: invalid \\uXXXX escape"},
        {"\"\\ud800\\uZ\"", "at byte 8: invalid \\uXXXX escape"},
        {"\"\\ud800\"", "at byte 1: lone surrogate"},
        {"\"x\\udc00\\ud800\"", "at byte 2: lone surrogate"},
        {"\"\\ud800\\u0041\"", "at byte 1: lone surrogate"},
        {"{\"\\udfff\":1}", "at byte 2: lone surrogate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "invalid JSON %s", cases[i].want);
        expect_error(cases[i].text, strlen(cases[i].text), want);
    }
}

static void test_the_text_ends_at_len_not_at_a_nul(void) {
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(roundtrip("[1, 2]garbage", 6, &t), RMS_OK);
    CHECK(strcmp(t.data, "[1,2]") == 0);
    CHECK_EQ_INT(roundtrip("12345", 3, &t), RMS_OK); // the number stops at len
    CHECK(strcmp(t.data, "123") == 0);
    CHECK_EQ_INT(roundtrip("1.25e3", 4, &t), RMS_OK);
    CHECK(strcmp(t.data, "1.25") == 0);
    CHECK_EQ_INT(roundtrip("\"ab\"", 3, &t), RMS_ERR_INPUT);
    CHECK_EQ_INT(roundtrip("true", 3, &t), RMS_ERR_INPUT);
    rms_text_free(&t);
}

static void test_nodes_record_their_source_byte_ranges(void) {
    const char *text = "  {\"a\": [1, \"x\\n\"], \"b\": -2.5e3 , \"c\":null}\n";
    rms_json_doc *doc = rms_json_doc_new();
    rms_json *root;
    rms_err err;
    CHECK_EQ_INT(rms_json_parse(doc, text, strlen(text), &root, &err), RMS_OK);
    CHECK_EQ_INT(root->src_start, 2);
    CHECK_EQ_INT(root->src_end, strlen(text) - 1);
    const rms_json *a = rms_json_get(root, "a"), *b = rms_json_get(root, "b"), *c = rms_json_get(root, "c");
    CHECK(a && b && c);
    CHECK_EQ_INT(a->src_start, 8);
    CHECK_EQ_INT(a->src_end, 18);
    CHECK(memcmp(text + a->items[1]->src_start, "\"x\\n\"", 5) == 0);
    CHECK_EQ_INT(a->items[1]->src_end - a->items[1]->src_start, 5);
    CHECK_EQ_INT(a->items[0]->src_end - a->items[0]->src_start, 1);
    CHECK(memcmp(text + b->src_start, "-2.5e3", 6) == 0 && b->src_end - b->src_start == 6);
    CHECK(memcmp(text + c->src_start, "null", 4) == 0 && c->src_end - c->src_start == 4);
    rms_json_doc_free(doc);
}

static void test_builders_make_trees_that_write_and_can_share_parsed_nodes(void) {
    rms_json_doc *doc = rms_json_doc_new();
    CHECK(doc != NULL);
    rms_json *parsed;
    rms_err err;
    CHECK_EQ_INT(rms_json_parse(doc, "\"hi\\u0000\"", 10, &parsed, &err), RMS_OK);
    rms_json *conv = rms_json_new_array(doc, 2);
    CHECK(conv && conv->n == 2 && conv->items[0] == NULL && conv->src_start == 0 && conv->src_end == 0);
    for (int i = 0; i < 2; i++) {
        rms_json *msg = rms_json_new_object(doc, 2);
        CHECK(msg && msg->n == 2 && msg->members[1].key == NULL);
        CHECK_EQ_INT(rms_json_set_member(doc, msg, 0, "role", rms_json_new_string(doc, i ? "assistant" : "user", i ? 9 : 4)), 0);
        CHECK_EQ_INT(rms_json_set_member(doc, msg, 1, "content", parsed), 0);
        conv->items[i] = msg;
    }
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(rms_json_write(&t, conv), 0);
    CHECK(strcmp(t.data, "[{\"role\":\"user\",\"content\":\"hi\\u0000\"},{\"role\":\"assistant\",\"content\":\"hi\\u0000\"}]") == 0);
    CHECK(rms_json_get(conv->items[1], "content") == parsed);
    rms_json *s = rms_json_new_string(doc, "a\0b", 3);
    CHECK(s && s->len == 3 && s->s[3] == '\0' && memcmp(s->s, "a\0b", 3) == 0);
    rms_json *empty = rms_json_new_array(doc, 0), *eo = rms_json_new_object(doc, 0);
    rms_text_clear(&t);
    CHECK(rms_json_write(&t, empty) == 0 && rms_json_write(&t, eo) == 0 && strcmp(t.data, "[]{}") == 0);
    // many allocations, some larger than a chunk: the arena grows and frees them all
    for (int i = 0; i < 2000; i++) CHECK(rms_json_new_array(doc, i % 7 == 0 ? 5000 : 3) != NULL);
    rms_text_free(&t);
    rms_json_doc_free(doc);
    rms_json_doc_free(NULL);
}

static void test_strings_are_escaped_as_json_dumps_escapes_them(void) {
    rms_text t;
    rms_text_init(&t);
    const char s[] = "a\"\\/\x01\x7f\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\0z";
    CHECK_EQ_INT(rms_json_write_string(&t, s, sizeof s - 1, 1), 0);
    CHECK(strcmp(t.data, "\"a\\\"\\\\/\\u0001\\u007f\\u00e9\\u2028\\ud83d\\ude00\\u0000z\"") == 0);
    rms_text_clear(&t);
    CHECK_EQ_INT(rms_json_write_string(&t, s, sizeof s - 1, 0), 0);
    const char want_raw[] = "\"a\\\"\\\\/\\u0001\x7f\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\\u0000z\"";
    CHECK(t.len == sizeof want_raw - 1 && memcmp(t.data, want_raw, t.len) == 0);
    rms_text_clear(&t); // not UTF-8: raw without ensure_ascii, U+FFFD with it
    CHECK_EQ_INT(rms_json_write_string(&t, "\xff\xc3(\xed\xa0\x80", 6, 0), 0);
    CHECK(t.len == 8 && memcmp(t.data, "\"\xff\xc3(\xed\xa0\x80\"", 8) == 0);
    rms_text_clear(&t);
    CHECK_EQ_INT(rms_json_write_string(&t, "\xff\xc3(\xe0\x80\x80", 6, 1), 0);
    CHECK(strcmp(t.data, "\"\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\"") == 0);
    rms_text_free(&t);
}

static void test_the_string_line_decoder_keeps_its_behaviour(void) {
    rms_text t;
    rms_text_init(&t);
    rms_err err;
    const char *line = "  \"a\\u0000b\\n\\\"\\\\\\/\\ud83d\\ude00\xc3\xa9\"\n";
    CHECK_EQ_INT(rms_json_decode_string_line(line, strlen(line), &t, &err), RMS_OK);
    CHECK_EQ_INT(t.len, 13);
    CHECK(memcmp(t.data, "a\0b\n\"\\/\xf0\x9f\x98\x80\xc3\xa9", 13) == 0);
    static const struct {
        const char *line, *msg;
    } bad[] = {
        {"\"\\ud800\"", "bad escape or lone surrogate"}, {"\"\\udc00x\"", "bad escape or lone surrogate"},
        {"\"\\x\"", "bad escape or lone surrogate"},    {"\"\\u12\"", "bad escape or lone surrogate"},
        {"\"a\" b", "text after the JSON string"},     {"\"a", "unterminated JSON string"},
        {"[1]", "not a JSON string"},                   {"", "empty line"},
        {"\"a\tb\"", "raw control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(rms_json_decode_string_line(bad[i].line, strlen(bad[i].line), &t, &err), RMS_ERR_INPUT);
        CHECK_CONTAINS(err.msg, bad[i].msg);
    }
    // the body decoder appends and reports where it stopped
    size_t pos = 0;
    rms_text_clear(&t);
    rms_text_append_str(&t, ">");
    CHECK_EQ_INT(rms_json_decode_string_body("x\\ty\" tail", 10, &t, &pos), RMS_JSON_STRING_OK);
    CHECK_EQ_INT(pos, 5);
    CHECK(strcmp(t.data, ">x\ty") == 0);
    CHECK_EQ_INT(rms_json_decode_string_body("ab\\q\"", 5, &t, &pos), RMS_JSON_STRING_BAD_ESCAPE);
    CHECK_EQ_INT(pos, 2);
    CHECK_EQ_INT(rms_json_decode_string_body("ab", 2, &t, &pos), RMS_JSON_STRING_UNTERMINATED);
    CHECK_EQ_INT(pos, 2);
    rms_text_free(&t);
}

/* ------------------------------------------------------------------ differential run against Python */

typedef struct rng64 {
    uint64_t s;
} rng64;

static uint64_t rnd(rng64 *r) { // splitmix64
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rnd_below(rng64 *r, int n) { return (int)(rnd(r) % (uint64_t)n); }

static void put(rms_text *t, const char *s) { rms_text_append_str(t, s); }

static void put_utf8(rms_text *t, unsigned cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) { b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
    else { b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
    rms_text_append(t, b, n);
}

/* A random code point that is not a surrogate, of 1 to 4 UTF-8 bytes. */
static unsigned rnd_cp(rng64 *r) {
    for (;;) {
        unsigned cp;
        switch (rnd_below(r, 4)) {
        case 0: cp = 0x20 + (unsigned)rnd_below(r, 0x60); break;
        case 1: cp = 0x80 + (unsigned)rnd_below(r, 0x780); break;
        case 2: cp = 0x800 + (unsigned)rnd_below(r, 0xF800); break;
        default: cp = 0x10000 + (unsigned)rnd_below(r, 0x100000); break;
        }
        if (cp < 0xD800 || cp > 0xDFFF) return cp;
    }
}

static void gen_ws(rng64 *r, rms_text *t) {
    static const char *ws[] = {"", "", "", " ", "\t", "\n", "\r\n", "  "};
    put(t, ws[rnd_below(r, 8)]);
}

static void gen_string(rng64 *r, rms_text *t) {
    put(t, "\"");
    const int n = rnd_below(r, 8);
    for (int i = 0; i < n; i++) {
        char b[32];
        switch (rnd_below(r, 12)) {
        case 0: put(t, (const char *[]){"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"}[rnd_below(r, 8)]); break;
        case 1: { // \uXXXX of a BMP non-surrogate, either case
            unsigned cp = rnd_cp(r);
            if (cp > 0xFFFF) cp = 0x20 + cp % 0x60;
            snprintf(b, sizeof b, rnd_below(r, 2) ? "\\u%04x" : "\\u%04X", cp);
            put(t, b);
            break;
        }
        case 2: { // a surrogate pair
            const unsigned cp = (unsigned)rnd_below(r, 0x100000); // minus 0x10000
            snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            put(t, b);
            break;
        }
        case 3:
            if (rnd_below(r, 8) == 0) { // a lone surrogate, now and then
                snprintf(b, sizeof b, "\\u%04x", 0xD800 + (unsigned)rnd_below(r, 0x800));
                put(t, b);
            } else {
                put(t, "\\u0000");
            }
            break;
        case 4: put(t, "\x7f"); break;
        case 5: case 6: case 7: put_utf8(t, rnd_cp(r)); break;
        default: { // a run of plain ASCII
            const int k = 1 + rnd_below(r, 6);
            for (int j = 0; j < k; j++) {
                char c = (char)(0x20 + rnd_below(r, 0x5F));
                if (c == '"' || c == '\\') c = 'q';
                rms_text_append(t, &c, 1);
            }
        }
        }
    }
    put(t, "\"");
}

static void gen_digits(rng64 *r, rms_text *t, int n, int first_nonzero) {
    for (int i = 0; i < n; i++) {
        const char c = (char)((i == 0 && first_nonzero ? '1' + rnd_below(r, 9) : '0' + rnd_below(r, 10)));
        rms_text_append(t, &c, 1);
    }
}

static void gen_number(rng64 *r, rms_text *t) {
    static const char *special[] = {"9223372036854775807", "-9223372036854775808", "9223372036854775808",
                                    "-9223372036854775809", "NaN", "Infinity", "-Infinity", "-0", "0", "-0.0",
                                    "1e400", "-1e-400", "4.9406564584124654e-324", "2.4703282292062327e-324",
                                    "1.7976931348623157e308", "1.7976931348623158e308", "0.1", "1e16", "1e-5"};
    if (rnd_below(r, 8) == 0) {
        put(t, special[rnd_below(r, (int)(sizeof special / sizeof special[0]))]);
        return;
    }
    if (rnd_below(r, 2)) put(t, "-");
    const int kind = rnd_below(r, 3); // 0 integer, 1 fraction, 2 exponent (maybe with fraction)
    if (rnd_below(r, 4) == 0) put(t, "0");
    else gen_digits(r, t, 1 + rnd_below(r, kind == 0 ? 19 : 22), 1);
    if (kind == 1 || (kind == 2 && rnd_below(r, 2))) {
        put(t, ".");
        gen_digits(r, t, 1 + rnd_below(r, 20), 0);
    }
    if (kind == 2) {
        put(t, rnd_below(r, 2) ? "e" : "E");
        put(t, (const char *[]){"", "+", "-"}[rnd_below(r, 3)]);
        gen_digits(r, t, 1 + rnd_below(r, 3), 0);
    }
}

static void gen_value(rng64 *r, rms_text *t, int depth) {
    static const char *keys[] = {"\"a\"", "\"b\"", "\"role\"", "\"content\"", "\"a\\u0000\"", "\"\xc3\xa9\"", "\"\"", "\"\\u0061\""};
    const int k = rnd_below(r, depth > 5 ? 6 : 9);
    switch (k) {
    case 0: put(t, (const char *[]){"null", "true", "false"}[rnd_below(r, 3)]); break;
    case 1: case 2: gen_number(r, t); break;
    case 3: case 4: case 5: gen_string(r, t); break;
    case 6: { // an array
        put(t, "[");
        gen_ws(r, t);
        const int n = rnd_below(r, 5);
        for (int i = 0; i < n; i++) {
            if (i) put(t, ",");
            gen_ws(r, t);
            gen_value(r, t, depth + 1);
            gen_ws(r, t);
        }
        put(t, "]");
        break;
    }
    default: { // an object, keys often repeated
        put(t, "{");
        gen_ws(r, t);
        const int n = rnd_below(r, 6);
        for (int i = 0; i < n; i++) {
            if (i) put(t, ",");
            gen_ws(r, t);
            if (rnd_below(r, 4)) put(t, keys[rnd_below(r, 8)]);
            else gen_string(r, t);
            gen_ws(r, t);
            put(t, ":");
            gen_ws(r, t);
            gen_value(r, t, depth + 1);
            gen_ws(r, t);
        }
        put(t, "}");
    }
    }
}

/* A random edit of t at a character boundary (so t stays UTF-8): delete, insert, replace, truncate. */
static void mutate(rng64 *r, rms_text *t) {
    static const char ins[] = ",:[]{}\"\\ 0123eE.+-tfnNIu\x01\x1f\x7f\t\n";
    size_t at;
    int tries = 0;
    do at = t->len ? (size_t)rnd_below(r, (int)t->len + 1) : 0;
    while (at < t->len && ((unsigned char)t->data[at] & 0xC0) == 0x80 && ++tries < 100);
    if (at < t->len && ((unsigned char)t->data[at] & 0xC0) == 0x80) return;
    const int op = rnd_below(r, 5);
    const char c = rnd_below(r, 20) == 0 ? '\0' : ins[rnd_below(r, (int)sizeof ins - 1)];
    if (op == 0 && at < t->len && (unsigned char)t->data[at] < 0x80) { // delete an ASCII byte
        memmove(t->data + at, t->data + at + 1, t->len - at);
        t->len--;
    } else if (op == 1 && at < t->len && (unsigned char)t->data[at] < 0x80) { // replace it
        t->data[at] = c;
    } else if (op == 2) { // truncate
        t->len = at;
        t->data[at] = '\0';
    } else { // insert
        rms_text_append(t, " ", 1);
        memmove(t->data + at + 1, t->data + at, t->len - 1 - at);
        t->data[at] = c;
    }
}

static void write_hex_line(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)s[i]);
    fputc('\n', f);
}

static int python_ok(void) {
    if (access(PYTHON, X_OK) != 0) {
        fprintf(stderr, "  %s is missing: the differential tests need it (install python3)\n", PYTHON);
        return 0;
    }
    return 1;
}

/* The Python side: mode json (hex texts -> OK <hex of dumps> | ERR <byte offset> | REFUSE surr big; big: more
 * digits than int() reads),
 * float (literals -> repr(float)), string (hex UTF-8 -> json.dumps ensure_ascii True, then False as hex). */
static const char PY_SCRIPT[] =
    "import json, sys\n"
    "def walk(v, acc):\n"
    "    if isinstance(v, str):\n"
    "        if any(0xD800 <= ord(c) <= 0xDFFF for c in v): acc['surr'] = 1\n"
    "    elif isinstance(v, bool): pass\n"
    "    elif isinstance(v, int):\n"
    "        pass  # any size: rmscore keeps an integer beyond int64 as its digits\n"
    "    elif isinstance(v, list):\n"
    "        for x in v: walk(x, acc)\n"
    "    elif isinstance(v, dict):\n"
    "        for k, x in v.items(): walk(k, acc); walk(x, acc)\n"
    "mode, path = sys.argv[1], sys.argv[2]\n"
    "out = []\n"
    "for line in open(path):\n"
    "    line = line.strip()\n"
    "    if mode == 'float':\n"
    "        out.append(repr(float(line))); continue\n"
    "    s = bytes.fromhex(line).decode('utf-8')\n"
    "    if mode == 'string':\n"
    "        out.append(json.dumps(s, ensure_ascii=True))\n"
    "        out.append(json.dumps(s, ensure_ascii=False).encode('utf-8').hex()); continue\n"
    "    try:\n"
    "        v = json.loads(s)\n"
    "    except json.JSONDecodeError as e:\n"
    "        pos = e.pos\n"
    "        if e.msg.startswith('Illegal trailing comma'):  # Python >= 3.13 points at the comma, 3.11 after it\n"
    "            pos += 1\n"
    "            while pos < len(s) and s[pos] in ' \\t\\r\\n': pos += 1\n"
    "        out.append('ERR %d' % len(s[:pos].encode('utf-8'))); continue\n"
    "    except ValueError:  # an integer beyond int(str)'s digit limit\n"
    "        out.append('REFUSE 0 1'); continue\n"
    "    acc = {'surr': 0, 'big': 0}\n"
    "    def hook(pairs):  # values a repeated key dropped count too: rmscore refuses them while parsing\n"
    "        for k, x in pairs: walk(k, acc); walk(x, acc)\n"
    "        return dict(pairs)\n"
    "    walk(json.loads(s, object_pairs_hook=hook), acc)\n"
    "    if acc['surr'] or acc['big']:\n"
    "        out.append('REFUSE %d %d' % (acc['surr'], acc['big'])); continue\n"
    "    out.append('OK ' + json.dumps(v, ensure_ascii=False, separators=(',', ':')).encode('utf-8').hex())\n"
    "sys.stdout.write('\\n'.join(out) + '\\n')\n";

/* Runs the script in mode on the file path; returns its output lines (n_lines) or NULL. */
static char **run_python(const char *dir, const char *mode, const char *path, int64_t *n_lines) {
    char script[4200], cmd[9000];
    snprintf(script, sizeof script, "%s/diff.py", dir);
    FILE *f = fopen(script, "w");
    if (!f) return NULL;
    fputs(PY_SCRIPT, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s '%s' %s '%s'", PYTHON, script, mode, path);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char **lines = NULL, *line = NULL;
    size_t cap = 0;
    int64_t n = 0, lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, p)) > 0) {
        if (line[len - 1] == '\n') line[len - 1] = '\0';
        if (n == lcap) {
            lcap = lcap ? 2 * lcap : 1024;
            lines = realloc(lines, (size_t)lcap * sizeof *lines);
        }
        lines[n++] = strdup(line);
    }
    free(line);
    const int rc = pclose(p);
    if (rc != 0) fprintf(stderr, "  %s exited with status %d\n", cmd, rc);
    *n_lines = n;
    return lines;
}

static void free_lines(char **lines, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static void to_hex(rms_text *hex, const char *s, size_t n) {
    rms_text_clear(hex);
    for (size_t i = 0; i < n; i++) {
        char b[3];
        snprintf(b, sizeof b, "%02x", (unsigned char)s[i]);
        rms_text_append(hex, b, 2);
    }
}

/* Every node of v written alone equals its source text [src_start, src_end) parsed and written. */
static int ranges_reparse(const char *text, const rms_json *v) {
    rms_text a, b;
    rms_text_init(&a);
    rms_text_init(&b);
    int ok = rms_json_write(&a, v) == 0 && roundtrip(text + v->src_start, v->src_end - v->src_start, &b) == RMS_OK &&
             a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
    rms_text_free(&a);
    rms_text_free(&b);
    if (v->kind == RMS_JSON_ARRAY)
        for (int64_t i = 0; ok && i < v->n; i++) ok = ranges_reparse(text, v->items[i]);
    if (v->kind == RMS_JSON_OBJECT)
        for (int64_t i = 0; ok && i < v->n; i++) ok = ranges_reparse(text, v->members[i].value);
    return ok;
}

/* Whether rmscore's error msg on text matches Python's error at byte py_at: the same offset, except
 * - a lone surrogate, which Python reads (and so fails later, or at the start of an unterminated string);
 * - an integer out of range, which Python reads (and so fails later);
 * - an unterminated string ending in a complete \uXXXX escape: Python 3.11 reports "Invalid \uXXXX escape"
 *   at that 'u' (it wants a character after the escape), rmscore "unterminated string" at its start. */
static int same_error(const rms_text *text, unsigned long py_at, const char *msg) {
    unsigned long at = 0;
    if (sscanf(msg, "invalid JSON at byte %lu:", &at) != 1) return 0;
    if (at == py_at) return 1;
    if (strstr(msg, "lone surrogate")) return 1;
    if (strstr(msg, "integer out of range")) return at < py_at;
    if (strstr(msg, "unterminated string") && at < py_at && py_at + 5 == text->len && text->data[py_at] == 'u') {
        for (int k = 1; k <= 4; k++)
            if (!text->data[py_at + (size_t)k] || !strchr("0123456789abcdefABCDEF", text->data[py_at + (size_t)k])) return 0;
        return 1;
    }
    return 0;
}

static const char *FIXED_TEXTS[] = {
    "{\"a\":1,\"b\":2,\"a\":3}", "[NaN, Infinity, -Infinity, -0, -0.0, 1e400, 1E5, -0e0, 1e-400]", "-NaN", "01", "1.",
    ".5", "+1", "1e", "-", "[1,]", "{\"a\":1,}", "\"\\ud800\"", "[1] x", " \f1", ("\xc2\xa0" "1"), "nul", "true1", "[1 2]",
    "\"\x7f\"", "{\"a\" 1}", "{1:2}", "\"abc", "\"\\x\"", "\"\\u12G4\"", "[", "", "  ", "123456789012345678901234567890",
    "\"\\ud800\\u12G4\"", "\"\\ud800\\uZ\"", "\"\\u12\"", "\"ab\\", "\"ab\\u", "\"a\x01\"", "[\"a\", \"b\x1f\"]",
    "\"\\ud800\\n\"", "{\"a\":1 \"b\":2}", "{\"a\":1,\"b\"}", "[1,2", "{\"a\":", "1.5e+", "-I", "-Infinit", "NaNa",
    "\"\\uD834\\uDD1E\"", "\"\\/\"", "{}", "[]", "{ }", "[ ]", "[[],{}]", "\"\\u0000\"", "{\"\\u0000\":\"\\u0000\"}",
    "0", "-0", "0.0", "0e0", "0E+0", "1e-0", "00", "-01", "1.0e", "1.e5", "[1.]", "[-]", "[--1]", "tru", "fals",
    "null null", "1 2", "\"a\" \"b\"", "[1,,2]", "[,1]", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\"::1}", "{\"a\":1,,\"b\":2}",
    "[\"\\ud83d\\ude00\", \"\\ud83d\"]", "\"\\udbff\\udfff\"", "\"\\udc00\"", "\"\\ud800\\ud800\\udc00\"",
    "\"\\ud800\\\"\"", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "1e999999999999", "-1e999999999999", "1e-999999999999", "2.2250738585072011e-308", "2.2250738585072014e-308",
    "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
    "0.1000000000000000055511151231257827021181583404541015625", "9007199254740993", "9007199254740993.0",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "123456789012345678.0",
    "[1e16, 1e15, 1.5e-7, 1e-5, 0.0001, 5e-324, 100.0, 1e22, 1e23, 0.3]", "\"\xef\xbb\xbf\"", "\xef\xbb\xbf[]",
    "\"\xe2\x80\xa8\xe2\x80\xa9\"", "\" \\t \"", "{\"a\":{\"a\":{\"a\":[1,{\"a\":2,\"a\":3}]}}}", "[true,false,null]",
    "[\"\\\\u0000\"]", "{\"x\":1}\n", "\r\n\t [1]\r\n\t ", "\"\\u00e9\\u00E9\"",
};

/* Texts with a raw NUL byte (C string literals would stop at it). */
static const struct {
    const char *s;
    size_t n;
} NUL_TEXTS[] = {{"1\0", 2}, {"\0", 1}, {"[\"a\0\"]", 6}, {"[1,\0]", 5}, {"{\"\0\":1}", 8}};

static void test_parse_and_write_agree_with_python_json_on_a_corpus(void) {
    if (!python_ok()) {
        CHECK(!"/usr/bin/python3 present");
        return;
    }
    const char *dir = check_tmpdir("json-value");
    char path[4200];
    snprintf(path, sizeof path, "%s/corpus.hex", dir);
    rng64 r = {20240611};
    // the corpus: fixed texts, generated values, mutated values, a deep one
    const int n_str = (int)(sizeof FIXED_TEXTS / sizeof FIXED_TEXTS[0]);
    const int n_fixed = n_str + (int)(sizeof NUL_TEXTS / sizeof NUL_TEXTS[0]), n_gen = 3000, n_mut = 3000;
    const int n = n_fixed + n_gen + n_mut + 1;
    rms_text *texts = calloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n; i++) {
        rms_text_init(&texts[i]);
        rms_text_clear(&texts[i]);
    }
    for (int i = 0; i < n_fixed; i++) {
        if (i < n_str) rms_text_append_str(&texts[i], FIXED_TEXTS[i]);
        else rms_text_append(&texts[i], NUL_TEXTS[i - n_str].s, NUL_TEXTS[i - n_str].n);
    }
    for (int i = 0; i < n_gen + n_mut; i++) {
        rms_text *t = &texts[n_fixed + i];
        gen_ws(&r, t);
        gen_value(&r, t, 0);
        gen_ws(&r, t);
        if (i >= n_gen)
            for (int m = 1 + rnd_below(&r, 2); m > 0; m--) mutate(&r, t);
    }
    for (int i = 0; i < 200; i++) put(&texts[n - 1], i % 3 ? "[" : "{\"k\":");
    put(&texts[n - 1], "0");
    for (int i = 199; i >= 0; i--) put(&texts[n - 1], i % 3 ? "]" : "}");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < n; i++) write_hex_line(f, texts[i].data, texts[i].len);
    fclose(f);

    int64_t n_lines = 0;
    char **lines = run_python(dir, "json", path, &n_lines);
    CHECK_EQ_INT(n_lines, n);
    rms_text out, hex;
    rms_text_init(&out);
    rms_text_init(&hex);
    int n_ok = 0, n_err = 0, n_refused = 0, mismatches = 0;
    for (int i = 0; lines && i < n && i < n_lines; i++) {
        rms_json_doc *doc = rms_json_doc_new();
        rms_json *root = NULL;
        rms_err err;
        const rms_status st = rms_json_parse(doc, texts[i].data, texts[i].len, &root, &err);
        int good;
        const char *py = lines[i];
        if (strncmp(py, "OK ", 3) == 0) {
            n_ok++;
            rms_text_clear(&out);
            good = st == RMS_OK && rms_json_write(&out, root) == 0;
            if (good) {
                to_hex(&hex, out.data, out.len);
                good = strcmp(hex.data, py + 3) == 0 && ranges_reparse(texts[i].data, root);
            }
        } else if (strncmp(py, "ERR ", 4) == 0) {
            n_err++;
            good = st == RMS_ERR_INPUT && same_error(&texts[i], strtoul(py + 4, NULL, 10), err.msg);
        } else { // REFUSE surr big: Python reads it, rmscore refuses it
            n_refused++;
            int surr = 0, big = 0;
            sscanf(py, "REFUSE %d %d", &surr, &big);
            good = st == RMS_ERR_INPUT && ((surr && strstr(err.msg, "lone surrogate")) ||
                                           (big && strstr(err.msg, "integer out of range")));
        }
        if (!good && mismatches++ < 10) {
            fprintf(stderr, "  text %d: %.*s\n  python: %.200s\n  rmscore: %s %s\n", i, (int)texts[i].len, texts[i].data, py,
                    st == RMS_OK ? "OK" : err.msg, st == RMS_OK ? out.data : "");
        }
        rms_json_doc_free(doc);
    }
    CHECK_EQ_INT(mismatches, 0);
    // the corpus exercises every outcome
    CHECK(n_ok > 2000);
    CHECK(n_err > 1000);
    CHECK(n_refused > 20);
    fprintf(stderr, "  corpus: %d texts, %d valid, %d invalid, %d refused (lone surrogate, big integer)\n", n, n_ok, n_err, n_refused);
    free_lines(lines, n_lines);
    for (int i = 0; i < n; i++) rms_text_free(&texts[i]);
    free(texts);
    rms_text_free(&out);
    rms_text_free(&hex);
}

static void test_floats_agree_with_python_repr(void) {
    if (!python_ok()) {
        CHECK(!"/usr/bin/python3 present");
        return;
    }
    const char *dir = check_tmpdir("json-value-float");
    char path[4200];
    snprintf(path, sizeof path, "%s/floats.txt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    rng64 r = {77};
    int n = 0;
    double *vals = malloc(40000 * sizeof *vals);
    for (int e = -1074; e <= 1023; e++) { // every power of two: the uneven rounding intervals
        vals[n++] = ldexp(1.0, e);
        vals[n++] = nextafter(ldexp(1.0, e), 0.0);
    }
    for (int e = -325; e <= 308; e++) { // powers of ten and their neighbours
        char lit[16];
        snprintf(lit, sizeof lit, "1e%d", e);
        const double p = strtod(lit, NULL);
        vals[n++] = p;
        vals[n++] = nextafter(p, INFINITY);
    }
    for (int i = 0; i < 20000; i++) { // random bit patterns: all exponents, subnormals, NaNs
        const uint64_t u = rnd(&r);
        double d;
        memcpy(&d, &u, sizeof d);
        vals[n++] = d;
    }
    for (int i = 0; i < 8000; i++) // short decimals
        vals[n++] = (double)(rnd(&r) % 100000) / pow(10.0, rnd_below(&r, 12)) * (rnd_below(&r, 2) ? -1 : 1);
    vals[n++] = 0.0;
    vals[n++] = -0.0;
    vals[n++] = INFINITY;
    vals[n++] = -INFINITY;
    vals[n++] = DBL_MAX;
    vals[n++] = DBL_MIN;
    vals[n++] = DBL_TRUE_MIN;
    for (int i = 0; i < n; i++) fprintf(f, "%.17g\n", vals[i]);
    fclose(f);
    int64_t n_lines = 0;
    char **lines = run_python(dir, "float", path, &n_lines);
    CHECK_EQ_INT(n_lines, n);
    int mismatches = 0;
    for (int i = 0; lines && i < n && i < n_lines; i++) {
        const char *mine = float_text(vals[i], 0);
        if (strcmp(mine, lines[i]) != 0 && mismatches++ < 10)
            fprintf(stderr, "  %.17g: python %s, rmscore %s\n", vals[i], lines[i], mine);
    }
    CHECK_EQ_INT(mismatches, 0);
    free_lines(lines, n_lines);
    free(vals);
}

static void test_string_escapes_agree_with_python_json_dumps(void) {
    if (!python_ok()) {
        CHECK(!"/usr/bin/python3 present");
        return;
    }
    const char *dir = check_tmpdir("json-value-string");
    char path[4200];
    snprintf(path, sizeof path, "%s/strings.hex", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    rng64 r = {5};
    const int n = 2000;
    rms_text *s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) {
        rms_text_init(&s[i]);
        rms_text_clear(&s[i]);
        const int k = rnd_below(&r, 12);
        for (int j = 0; j < k; j++) put_utf8(&s[i], rnd_below(&r, 3) ? rnd_cp(&r) : (unsigned)rnd_below(&r, 0x80));
        if (i < 128) { // every ASCII character alone
            rms_text_clear(&s[i]);
            const char c = (char)i;
            rms_text_append(&s[i], &c, 1);
        }
        write_hex_line(f, s[i].data, s[i].len);
    }
    fclose(f);
    int64_t n_lines = 0;
    char **lines = run_python(dir, "string", path, &n_lines);
    CHECK_EQ_INT(n_lines, 2 * n);
    int mismatches = 0;
    rms_text out, hex;
    rms_text_init(&out);
    rms_text_init(&hex);
    for (int i = 0; lines && i < n && 2 * i + 1 < n_lines; i++) {
        rms_text_clear(&out);
        CHECK_EQ_INT(rms_json_write_string(&out, s[i].data, s[i].len, 1), 0);
        int good = strcmp(out.data, lines[2 * i]) == 0;
        rms_text_clear(&out);
        CHECK_EQ_INT(rms_json_write_string(&out, s[i].data, s[i].len, 0), 0);
        to_hex(&hex, out.data, out.len);
        good = good && strcmp(hex.data, lines[2 * i + 1]) == 0;
        if (!good && mismatches++ < 10) fprintf(stderr, "  string %d: python %s\n", i, lines[2 * i]);
    }
    CHECK_EQ_INT(mismatches, 0);
    free_lines(lines, n_lines);
    for (int i = 0; i < n; i++) rms_text_free(&s[i]);
    free(s);
    rms_text_free(&out);
    rms_text_free(&hex);
}

int main(void) {
    RUN(test_values_round_trip_in_compact_python_form);
    RUN(test_nul_survives_in_strings_and_keys);
    RUN(test_objects_keep_key_order_and_a_repeated_key_takes_the_last_value_in_the_first_place);
    RUN(test_numbers_are_int64_or_double_as_python_reads_them);
    RUN(test_floats_are_written_as_python_repr);
    RUN(test_nesting_deeper_than_the_limit_is_an_error_not_a_crash);
    RUN(test_errors_give_the_byte_offset_python_gives_and_say_what_is_wrong);
    RUN(test_the_text_ends_at_len_not_at_a_nul);
    RUN(test_nodes_record_their_source_byte_ranges);
    RUN(test_builders_make_trees_that_write_and_can_share_parsed_nodes);
    RUN(test_strings_are_escaped_as_json_dumps_escapes_them);
    RUN(test_the_string_line_decoder_keeps_its_behaviour);
    RUN(test_parse_and_write_agree_with_python_json_on_a_corpus);
    RUN(test_floats_agree_with_python_repr);
    RUN(test_string_escapes_agree_with_python_json_dumps);
    return check_summary();
}
