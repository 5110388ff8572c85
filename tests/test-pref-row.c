/* Unit tests of io/pref_row.c: preference JSONL rows (tulu, rewardbench, trl) to normalised pairs. */
#include <stdint.h>

#include "io/pref_row.h"
#include "tests/check.h"

/* The row parsed from line in a fresh doc (freed by the caller); the status of the parse. */
static rms_status parse(rms_json_doc **doc, const char *line, int64_t index, rms_row_format want, rms_pref_row *row,
                        rms_err *err) {
    *doc = rms_json_doc_new();
    return rms_pref_row_parse(*doc, line, strlen(line), index, want, row, err);
}

/* s equals want (s may be NULL after a failed parse). */
static int str_is(const char *s, const char *want) { return s && strcmp(s, want) == 0; }

/* JSON text of v (a static buffer); "(null)" for NULL. */
static const char *json(const rms_json *v) {
    static char buf[4096];
    if (!v) return "(null)";
    rms_text t;
    rms_text_init(&t);
    CHECK_EQ_INT(rms_json_write(&t, v), 0);
    snprintf(buf, sizeof buf, "%s", t.data ? t.data : "");
    rms_text_free(&t);
    return buf;
}

static void expect_error(const char *line, rms_row_format want, const char *fragment) {
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    const rms_status st = parse(&doc, line, 3, want, &row, &err);
    CHECK_EQ_INT(st, RMS_ERR_INPUT);
    if (st == RMS_ERR_INPUT && !strstr(err.msg, fragment)) {
        fprintf(stderr, "  row %s\n  got  %s\n  want ...%s...\n", line, err.msg, fragment);
        check_failures_in_test++;
    }
    rms_json_doc_free(doc);
}

static void test_a_tulu_row_keeps_its_conversations_id_and_source(void) {
    const char *line = "{\"id\": \"tulu-1\", \"source\": \"wildchat\", \"prompt\": \"Hi\", "
                       "\"chosen\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}], "
                       "\"rejected\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Go away\"}]}\n";
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(parse(&doc, line, 5, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_TULU);
    CHECK(str_is(row.id, "tulu-1") && row.id_len == 6);
    CHECK(str_is(row.source, "wildchat") && row.source_len == 8);
    CHECK(row.chosen == rms_json_get(row.root, "chosen")); // the parsed list itself
    CHECK(row.rejected == rms_json_get(row.root, "rejected"));
    CHECK(str_is(json(row.chosen), "[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"}]"));
    CHECK(str_is(json(row.rejected), "[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Go away\"}]"));
    rms_json_doc_free(doc);
    // the same row with the format imposed
    CHECK_EQ_INT(parse(&doc, line, 5, RMS_ROW_TULU, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_TULU);
    rms_json_doc_free(doc);
    // no id, no source, no prompt: the row index and ""
    CHECK_EQ_INT(parse(&doc, "{\"chosen\":[{\"role\":\"user\",\"content\":\"a\"}],\"rejected\":[{\"role\":\"user\",\"content\":\"b\"}]}",
                       17, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_TULU);
    CHECK(str_is(row.id, "17") && row.id_len == 2);
    CHECK(str_is(row.source, "") && row.source_len == 0);
    rms_json_doc_free(doc);
    // null id and source count as missing; an integer id is written as Python's str(int)
    CHECK_EQ_INT(parse(&doc, "{\"id\":null,\"source\":null,\"chosen\":[{}],\"rejected\":[{}]}", 0, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK(str_is(row.id, "0") && str_is(row.source, ""));
    rms_json_doc_free(doc);
    CHECK_EQ_INT(parse(&doc, "{\"id\":-9223372036854775808,\"chosen\":[{}],\"rejected\":[{}]}", 0, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK(str_is(row.id, "-9223372036854775808") && row.id_len == 20);
    rms_json_doc_free(doc);
}

static void test_a_rewardbench_row_becomes_a_user_and_an_assistant_message(void) {
    const char *line = "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"chosen_model\": \"x\", \"rejected\": \"5\", "
                       "\"rejected_model\": \"y\", \"subset\": \"math-prm\", \"id\": 1234}";
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(parse(&doc, line, 9, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_REWARDBENCH);
    CHECK(str_is(row.id, "1234") && row.id_len == 4);
    CHECK(str_is(row.source, "math-prm") && row.source_len == 8);
    CHECK(str_is(json(row.chosen), "[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]"));
    CHECK(str_is(json(row.rejected), "[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"5\"}]"));
    CHECK(strcmp(rms_json_get(row.chosen->items[0], "role")->s, "user") == 0);
    CHECK(rms_json_get(row.chosen->items[1], "content") == rms_json_get(row.root, "chosen"));
    rms_json_doc_free(doc);
    // a string id is kept; a "source" key is not the rewardbench source (its "subset" is)
    CHECK_EQ_INT(parse(&doc, "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\",\"id\":\"rb-7\",\"source\":\"s\"}", 2,
                       RMS_ROW_REWARDBENCH, &row, &err), RMS_OK);
    CHECK(str_is(row.id, "rb-7") && str_is(row.source, ""));
    rms_json_doc_free(doc);
}

static void test_a_trl_row_prefixes_both_answers_with_its_prompt(void) {
    const char *line = "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}], "
                       "\"chosen\": [{\"role\": \"assistant\", \"content\": \"Hello.\"}], "
                       "\"rejected\": [{\"role\": \"assistant\", \"content\": \"Hello there, how are you?\"}, {\"role\": \"user\", \"content\": \"?\"}]}";
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(parse(&doc, line, 7, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_TRL);
    CHECK(str_is(row.id, "7") && str_is(row.source, ""));
    CHECK_EQ_INT(row.chosen->n, 3);
    CHECK_EQ_INT(row.rejected->n, 4);
    CHECK(str_is(json(row.chosen), "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
                                   "{\"role\":\"assistant\",\"content\":\"Hello.\"}]"));
    CHECK(str_is(json(row.rejected), "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
                                     "{\"role\":\"assistant\",\"content\":\"Hello there, how are you?\"},{\"role\":\"user\",\"content\":\"?\"}]"));
    CHECK(row.chosen->items[0] == rms_json_get(row.root, "prompt")->items[0]); // shared, not copied
    rms_json_doc_free(doc);
    // id and source when present
    CHECK_EQ_INT(parse(&doc, "{\"id\":\"t1\",\"source\":\"ultrafeedback\",\"prompt\":[{\"role\":\"user\",\"content\":\"q\"}],"
                             "\"chosen\":[{\"role\":\"assistant\",\"content\":\"a\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}",
                       0, RMS_ROW_TRL, &row, &err), RMS_OK);
    CHECK(str_is(row.id, "t1") && str_is(row.source, "ultrafeedback"));
    rms_json_doc_free(doc);
}

static void test_a_trl_row_with_an_empty_prompt_is_its_answers_alone(void) {
    const char *line = "{\"prompt\":[],\"chosen\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}],"
                       "\"rejected\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"b\"}]}";
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(parse(&doc, line, 0, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK_EQ_INT(row.format, RMS_ROW_TRL); // a list prompt, even empty, is trl
    CHECK(str_is(json(row.chosen), "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]"));
    CHECK(str_is(json(row.rejected), "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"b\"}]"));
    rms_json_doc_free(doc);
    // an empty prompt and an empty answer make an empty conversation: an error
    expect_error("{\"prompt\":[],\"chosen\":[],\"rejected\":[{}]}", RMS_ROW_AUTO, "the chosen conversation is empty");
    expect_error("{\"prompt\":[],\"chosen\":[{}],\"rejected\":[]}", RMS_ROW_AUTO, "the rejected conversation is empty");
}

static void test_the_format_is_detected_from_the_shapes(void) {
    static const struct {
        const char *row;
        rms_row_format f;
    } cases[] = {
        {"{\"chosen\":\"c\",\"rejected\":\"r\",\"prompt\":\"p\"}", RMS_ROW_REWARDBENCH},
        {"{\"chosen\":\"c\",\"rejected\":[],\"prompt\":[]}", RMS_ROW_REWARDBENCH}, // shape only: chosen decides first
        {"{\"chosen\":[],\"rejected\":[],\"prompt\":[]}", RMS_ROW_TRL},
        {"{\"chosen\":[],\"rejected\":\"r\",\"prompt\":[1]}", RMS_ROW_TRL},
        {"{\"chosen\":[],\"rejected\":[],\"prompt\":\"p\"}", RMS_ROW_TULU},
        {"{\"chosen\":[],\"rejected\":[]}", RMS_ROW_TULU},
        {"{\"chosen\":[],\"rejected\":[],\"prompt\":null}", RMS_ROW_TULU},
        {"{\"chosen\":[],\"rejected\":[],\"prompt\":{}}", RMS_ROW_TULU},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rms_json_doc *doc = rms_json_doc_new();
        rms_json *root;
        rms_err err;
        rms_row_format f = RMS_ROW_AUTO;
        CHECK_EQ_INT(rms_json_parse(doc, cases[i].row, strlen(cases[i].row), &root, &err), RMS_OK);
        CHECK_EQ_INT(rms_row_format_detect(root, &f, &err), RMS_OK);
        if (f != cases[i].f) {
            fprintf(stderr, "  %s: detected %s, want %s\n", cases[i].row, rms_row_format_name(f), rms_row_format_name(cases[i].f));
            check_failures_in_test++;
        }
        rms_json_doc_free(doc);
    }
}

static void test_rows_that_fit_no_format_are_input_errors_with_the_reason(void) {
    expect_error("{\"rejected\":[]}", RMS_ROW_AUTO, "no \"chosen\"");
    expect_error("{\"chosen\":[{}]}", RMS_ROW_AUTO, "no \"rejected\"");
    expect_error("{\"chosen\":3,\"rejected\":[]}", RMS_ROW_AUTO, "\"chosen\" is a number, expected a list of messages or a string");
    expect_error("{\"chosen\":null,\"rejected\":[]}", RMS_ROW_AUTO, "\"chosen\" is null, expected");
    expect_error("{\"chosen\":{},\"rejected\":{}}", RMS_ROW_AUTO, "\"chosen\" is an object, expected");
    expect_error("{\"chosen\":[{\"role\":\"user\"},\"hi\"],\"rejected\":[{}]}", RMS_ROW_AUTO, "message 2 of \"chosen\" is not an object");
    expect_error("{\"chosen\":[{}],\"rejected\":[{},{},[]]}", RMS_ROW_AUTO, "message 3 of \"rejected\" is not an object");
    expect_error("{\"prompt\":[{},null],\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "message 2 of \"prompt\" is not an object");
    expect_error("{\"chosen\":[{}],\"rejected\":\"r\"}", RMS_ROW_AUTO, "\"rejected\" is a string, expected a list of messages");
    expect_error("{\"chosen\":\"c\",\"rejected\":[],\"prompt\":\"p\"}", RMS_ROW_AUTO, "\"rejected\" is a list, expected a string");
    expect_error("{\"chosen\":\"c\",\"rejected\":\"r\"}", RMS_ROW_AUTO, "no \"prompt\"");
    expect_error("{\"chosen\":\"c\",\"rejected\":\"r\",\"prompt\":[]}", RMS_ROW_AUTO, "\"prompt\" is a list, expected a string");
    expect_error("[{\"chosen\":[]}]", RMS_ROW_AUTO, "the row is a list, expected a JSON object");
    expect_error("\"row\"", RMS_ROW_AUTO, "the row is a string, expected a JSON object");
    expect_error(" \t\r\n", RMS_ROW_AUTO, "empty line");
    expect_error("", RMS_ROW_AUTO, "empty line");
    expect_error("{\"chosen\":[{}],\"rejected\":[{}],}", RMS_ROW_AUTO, "invalid JSON at byte 31: expected a key");
    expect_error("{\"chosen\":[{}],\"rejected\":[{}]} {}", RMS_ROW_AUTO, "invalid JSON at byte 32: text after the JSON value");
    expect_error("{\"id\":1.5,\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "\"id\" is a number that is not an integer");
    expect_error("{\"id\":[1],\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "\"id\" is a list, expected a string or an integer");
    expect_error("{\"source\":7,\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "\"source\" is a number, expected a string");
    expect_error("{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\",\"subset\":true}", RMS_ROW_AUTO,
                 "\"subset\" is a boolean, expected a string");
}

static void test_an_imposed_format_refuses_rows_of_another_shape_naming_both(void) {
    const char *rb = "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}";
    const char *trl = "{\"prompt\":[{}],\"chosen\":[{}],\"rejected\":[{}]}";
    const char *tulu = "{\"prompt\":\"p\",\"chosen\":[{}],\"rejected\":[{}]}";
    expect_error(rb, RMS_ROW_TULU, "the row is in the rewardbench format (\"chosen\" is a string), not tulu as asked");
    expect_error(rb, RMS_ROW_TRL, "the row is in the rewardbench format (\"chosen\" is a string), not trl as asked");
    expect_error(trl, RMS_ROW_TULU, "the row is in the trl format (\"prompt\" and \"chosen\" are lists), not tulu as asked");
    expect_error(trl, RMS_ROW_REWARDBENCH, "the row is in the trl format");
    expect_error(tulu, RMS_ROW_TRL, "the row is in the tulu format (\"chosen\" is a list and \"prompt\" is not), not trl as asked");
    expect_error(tulu, RMS_ROW_REWARDBENCH, "not rewardbench as asked");
    // errors of the shape itself come first, whatever is imposed
    expect_error("{\"chosen\":[{}]}", RMS_ROW_TRL, "no \"rejected\"");
}

static void test_messages_are_kept_whole_nul_included(void) {
    const char *line = "{\"chosen\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"name\":\"u\\u0000\"},"
                       "{\"role\":\"assistant\",\"content\":\"a\\u0000b\",\"weight\":1.5}],"
                       "\"rejected\":[{\"role\":\"user\",\"content\":null},{\"role\":\"assistant\",\"content\":\"\\u0000\"}]}";
    rms_json_doc *doc;
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(parse(&doc, line, 0, RMS_ROW_AUTO, &row, &err), RMS_OK);
    const rms_json *content = rms_json_get(row.chosen->items[1], "content");
    CHECK(content && content->kind == RMS_JSON_STRING && content->len == 3 && memcmp(content->s, "a\0b", 3) == 0);
    CHECK(str_is(json(row.chosen), "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"name\":\"u\\u0000\"},"
                                   "{\"role\":\"assistant\",\"content\":\"a\\u0000b\",\"weight\":1.5}]"));
    CHECK(str_is(json(row.rejected), "[{\"role\":\"user\",\"content\":null},{\"role\":\"assistant\",\"content\":\"\\u0000\"}]"));
    rms_json_doc_free(doc);
    // rewardbench: U+0000 in the prompt and the answers is kept
    CHECK_EQ_INT(parse(&doc, "{\"prompt\":\"p\\u0000\",\"chosen\":\"\\u0000c\",\"rejected\":\"r\"}", 0, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK(str_is(json(row.chosen), "[{\"role\":\"user\",\"content\":\"p\\u0000\"},{\"role\":\"assistant\",\"content\":\"\\u0000c\"}]"));
    rms_json_doc_free(doc);
}

static void test_an_id_or_source_holding_nul_is_an_error(void) {
    expect_error("{\"id\":\"a\\u0000b\",\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "\"id\" holds U+0000");
    expect_error("{\"source\":\"\\u0000\",\"chosen\":[{}],\"rejected\":[{}]}", RMS_ROW_AUTO, "\"source\" holds U+0000");
    expect_error("{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\",\"subset\":\"x\\u0000\"}", RMS_ROW_AUTO, "\"subset\" holds U+0000");
}

static void test_the_line_is_read_to_len_only(void) {
    const char line[] = "{\"chosen\":[{}],\"rejected\":[{}]}\nGARBAGE";
    rms_json_doc *doc = rms_json_doc_new();
    rms_pref_row row;
    rms_err err;
    CHECK_EQ_INT(rms_pref_row_parse(doc, line, (size_t)(strchr(line, '\n') - line + 1), 4, RMS_ROW_AUTO, &row, &err), RMS_OK);
    CHECK(row.id && str_is(row.id, "4"));
    CHECK_EQ_INT(rms_pref_row_parse(doc, line, sizeof line - 1, 4, RMS_ROW_AUTO, &row, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "text after the JSON value");
    CHECK_EQ_INT(rms_pref_row_parse(doc, "   x", 3, 4, RMS_ROW_AUTO, &row, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "empty line");
    rms_json_doc_free(doc);
}

static void test_format_names_parse_and_follow_the_choices_order(void) {
    CHECK(strcmp(rms_row_format_name(RMS_ROW_AUTO), "auto") == 0);
    CHECK(strcmp(rms_row_format_name(RMS_ROW_TULU), "tulu") == 0);
    CHECK(strcmp(rms_row_format_name(RMS_ROW_REWARDBENCH), "rewardbench") == 0);
    CHECK(strcmp(rms_row_format_name(RMS_ROW_TRL), "trl") == 0);
    CHECK(strcmp(rms_row_format_name((rms_row_format)9), "?") == 0);
    char choices[] = RMS_ROW_FORMAT_CHOICES;
    int index = 0;
    for (char *name = strtok(choices, "|"); name; name = strtok(NULL, "|"), index++) {
        rms_row_format f = (rms_row_format)-1;
        CHECK_EQ_INT(rms_row_format_parse(name, &f), 0);
        CHECK_EQ_INT(f, index); // an RMS_OPT_CHOICE index is the format
        CHECK(strcmp(rms_row_format_name(f), name) == 0);
    }
    CHECK_EQ_INT(index, 4);
    rms_row_format f = RMS_ROW_TULU;
    CHECK_EQ_INT(rms_row_format_parse("Tulu", &f), -1);
    CHECK_EQ_INT(rms_row_format_parse("", &f), -1);
    CHECK_EQ_INT(f, RMS_ROW_TULU);
}

static void test_rows_of_mixed_formats_report_their_own_format(void) {
    const char *lines[] = {
        "{\"chosen\":[{}],\"rejected\":[{}]}",
        "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}",
        "{\"prompt\":[{}],\"chosen\":[{}],\"rejected\":[{}]}",
    };
    const rms_row_format want[] = {RMS_ROW_TULU, RMS_ROW_REWARDBENCH, RMS_ROW_TRL};
    rms_json_doc *doc = rms_json_doc_new(); // one doc for several rows: everything stays valid until it is freed
    rms_pref_row rows[3];
    rms_err err;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(rms_pref_row_parse(doc, lines[i], strlen(lines[i]), i, RMS_ROW_AUTO, &rows[i], &err), RMS_OK);
        CHECK_EQ_INT(rows[i].format, want[i]);
    }
    CHECK(str_is(rows[0].id, "0") && str_is(rows[1].id, "1") && str_is(rows[2].id, "2"));
    CHECK_EQ_INT(rows[1].chosen->n, 2);
    rms_json_doc_free(doc);
}

int main(void) {
    RUN(test_a_tulu_row_keeps_its_conversations_id_and_source);
    RUN(test_a_rewardbench_row_becomes_a_user_and_an_assistant_message);
    RUN(test_a_trl_row_prefixes_both_answers_with_its_prompt);
    RUN(test_a_trl_row_with_an_empty_prompt_is_its_answers_alone);
    RUN(test_the_format_is_detected_from_the_shapes);
    RUN(test_rows_that_fit_no_format_are_input_errors_with_the_reason);
    RUN(test_an_imposed_format_refuses_rows_of_another_shape_naming_both);
    RUN(test_messages_are_kept_whole_nul_included);
    RUN(test_an_id_or_source_holding_nul_is_an_error);
    RUN(test_the_line_is_read_to_len_only);
    RUN(test_format_names_parse_and_follow_the_choices_order);
    RUN(test_rows_of_mixed_formats_report_their_own_format);
    return check_summary();
}
