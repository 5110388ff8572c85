/* test-sizes.c — overflow-checked size arithmetic (src/base/sizes.h) and bounded path joining (src/base/path.h). */
#include <limits.h>
#include <stdint.h>

#include "src/base/path.h"
#include "src/base/sizes.h"
#include "tests/check.h"

static void test_products_and_sums_that_fit_are_exact(void) {
    int64_t r = -7;
    CHECK_EQ_INT(rms_mul_i64(0, INT64_MAX, &r), 0);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(rms_mul_i64((int64_t)1 << 31, (int64_t)1 << 31, &r), 0);
    CHECK_EQ_INT(r, (int64_t)1 << 62);
    CHECK_EQ_INT(rms_mul_i64(INT64_MAX, 1, &r), 0);
    CHECK_EQ_INT(r, INT64_MAX);
    CHECK_EQ_INT(rms_add_i64(INT64_MAX - 5, 5, &r), 0);
    CHECK_EQ_INT(r, INT64_MAX);
    CHECK_EQ_INT(rms_mul3_i64(128264, 4096, 2, &r), 0);
    CHECK_EQ_INT(r, (int64_t)128264 * 4096 * 2);
}

static void test_overflow_and_negative_operands_fail_and_leave_the_result(void) {
    int64_t r = 42;
    CHECK_EQ_INT(rms_mul_i64((int64_t)1 << 32, (int64_t)1 << 31, &r), -1);
    CHECK_EQ_INT(rms_mul_i64(INT64_MAX, 2, &r), -1);
    CHECK_EQ_INT(rms_mul_i64(-1, 5, &r), -1);
    CHECK_EQ_INT(rms_mul_i64(5, -1, &r), -1);
    CHECK_EQ_INT(rms_add_i64(INT64_MAX, 1, &r), -1);
    CHECK_EQ_INT(rms_add_i64(-3, 1, &r), -1);
    CHECK_EQ_INT(rms_mul3_i64((int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21, &r), -1); // 2^63
    CHECK_EQ_INT(r, 42);
}

static void test_array_bytes_refuse_what_malloc_could_not_be_asked_for(void) {
    size_t b = 7;
    CHECK_EQ_INT(rms_array_bytes(1000, sizeof(float), &b), 0);
    CHECK_EQ_INT(b, 4000);
    CHECK_EQ_INT(rms_array_bytes(0, 8, &b), 0);
    CHECK_EQ_INT(b, 0);
    b = 7;
    CHECK_EQ_INT(rms_array_bytes(-1, 4, &b), -1);
    CHECK_EQ_INT(rms_array_bytes(INT64_MAX / 2, 4, &b), -1);
    CHECK_EQ_INT(rms_array_bytes((int64_t)1 << 62, 2, &b), -1); // 2^63 bytes: beyond int64_t
    CHECK_EQ_INT(b, 7);
}

static void test_saturating_forms_stop_at_int64_max(void) {
    CHECK_EQ_INT(rms_sat_mul_i64(3, 5), 15);
    CHECK_EQ_INT(rms_sat_mul_i64(INT64_MAX / 2, 3), INT64_MAX);
    CHECK_EQ_INT(rms_sat_mul_i64(-2, 3), INT64_MAX);
    CHECK_EQ_INT(rms_sat_add_i64(INT64_MAX, INT64_MAX), INT64_MAX);
    CHECK_EQ_INT(rms_sat_add_i64(rms_sat_mul_i64(INT64_MAX, 2), 1), INT64_MAX);
    CHECK_EQ_INT(rms_sat_add_i64(40, 2), 42);
}

static void test_a_joined_path_that_fits_is_dir_slash_name(void) {
    char out[32];
    rms_err err;
    CHECK_EQ_INT(rms_path_join(out, sizeof out, "model", "config.json", &err), RMS_OK);
    CHECK(strcmp(out, "model/config.json") == 0);
    CHECK_EQ_INT(rms_path_join(out, 18, "model", "config.json", &err), RMS_OK); // 17 bytes + NUL: exactly fits
    CHECK(strcmp(out, "model/config.json") == 0);
}

static void test_a_path_that_does_not_fit_is_an_error_never_truncated(void) {
    char out[17];
    rms_err err;
    memcpy(out, "unchanged", 10);
    CHECK_EQ_INT(rms_path_join(out, sizeof out, "model", "config.json", &err), RMS_ERR_ARG);
    CHECK(out[0] == '\0');
    CHECK_CONTAINS(err.msg, "model/config.json: path too long (17 bytes, the limit is 16)");
    char dir[5000];
    memset(dir, 'd', sizeof dir - 1);
    dir[sizeof dir - 1] = '\0';
    char path[4096];
    CHECK_EQ_INT(rms_path_join(path, sizeof path, dir, "tokenizer.json", &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, ".../tokenizer.json: path too long (5014 bytes, the limit is 4095)");
}

int main(void) {
    RUN(test_products_and_sums_that_fit_are_exact);
    RUN(test_overflow_and_negative_operands_fail_and_leave_the_result);
    RUN(test_array_bytes_refuse_what_malloc_could_not_be_asked_for);
    RUN(test_saturating_forms_stop_at_int64_max);
    RUN(test_a_joined_path_that_fits_is_dir_slash_name);
    RUN(test_a_path_that_does_not_fit_is_an_error_never_truncated);
    return check_summary();
}
