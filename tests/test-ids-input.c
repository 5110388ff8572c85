/* Unit tests of io/ids_input.c: one JSON array of token ids per line. */
#include "tests/check.h"
#include "io/ids_input.h"

static void test_a_json_array_of_ids_is_appended(void) {
    rms_ids v;
    rms_ids_init(&v);
    rms_err err;
    int64_t n;
    CHECK_EQ_INT(rms_ids_parse_line(&v, "[128000, 9906, 0]\n", 128264, &n, &err), RMS_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(rms_ids_parse_line(&v, " [5] ", 128264, &n, &err), RMS_OK);
    CHECK_EQ_INT(v.n, 4);
    CHECK(v.ids[0] == 128000 && v.ids[1] == 9906 && v.ids[2] == 0 && v.ids[3] == 5);
    rms_ids_free(&v);
}

static void expect_error(const char *line, const char *fragment) {
    rms_ids v;
    rms_ids_init(&v);
    rms_err err;
    int64_t n = -1;
    CHECK_EQ_INT(rms_ids_parse_line(&v, "[1,2]", 100, &n, &err), RMS_OK);
    CHECK_EQ_INT(rms_ids_parse_line(&v, line, 100, &n, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, fragment);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(v.n, 2); // a bad line leaves what was there
    rms_ids_free(&v);
}

static void test_bad_lines_are_input_errors_that_say_what_is_wrong(void) {
    expect_error("\n", "empty line");
    expect_error("[1, 2", "not valid JSON");
    expect_error("{\"ids\": [1]}", "not a JSON array");
    expect_error("[]", "empty array");
    expect_error("[1, 2.5]", "not an integer");
    expect_error("[1, \"2\"]", "not an integer");
    expect_error("[1, 100]", "outside the vocabulary");
    expect_error("[-1]", "outside the vocabulary");
}

int main(void) {
    RUN(test_a_json_array_of_ids_is_appended);
    RUN(test_bad_lines_are_input_errors_that_say_what_is_wrong);
    return check_summary();
}
