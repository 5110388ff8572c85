#include <stdint.h>

#include "io/sha256.h"
#include "tests/check.h"

static const char *dir;

/* Writes n bytes of data (repeated from pattern, of length k) to dir/name; returns the path (static). */
static const char *write_file(const char *name, const char *pattern, size_t k, size_t n) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    for (size_t i = 0; i < n; i++) fputc(pattern[i % k], f);
    fclose(f);
    return path;
}

static void test_the_sha256_of_abc_is_the_fips_180_vector(void) {
    char hex[65];
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_sha256_file(write_file("abc", "abc", 3, 3), hex, &err), RMS_OK);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

static void test_the_sha256_of_an_empty_file_is_that_of_no_bytes(void) {
    char hex[65];
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_sha256_file(write_file("empty", "", 1, 0), hex, &err), RMS_OK);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
}

static void test_a_file_of_several_1_mib_blocks_hashes_as_one_stream(void) {
    char hex[65];
    rms_err err = {{0}};
    // 2.5 MB of 'a': two whole 1 MiB reads and a partial one; digest from Python's hashlib
    CHECK_EQ_INT(rms_sha256_file(write_file("aaa", "a", 1, 2500000), hex, &err), RMS_OK);
    CHECK(strcmp(hex, "38a637965059125eeb67f54c30e7f48a61859a467a800ba09740ba48a924f2b9") == 0);
}

static void test_a_missing_file_is_an_io_error_naming_it(void) {
    char hex[65], path[4200];
    rms_err err = {{0}};
    snprintf(path, sizeof path, "%s/no-such-file", dir);
    CHECK_EQ_INT(rms_sha256_file(path, hex, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "no-such-file");
    CHECK_CONTAINS(err.msg, "No such file");
}

static void test_a_directory_is_an_io_error(void) {
    char hex[65];
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_sha256_file(dir, hex, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot read");
}

int main(void) {
    dir = check_tmpdir("sha256");
    RUN(test_the_sha256_of_abc_is_the_fips_180_vector);
    RUN(test_the_sha256_of_an_empty_file_is_that_of_no_bytes);
    RUN(test_a_file_of_several_1_mib_blocks_hashes_as_one_stream);
    RUN(test_a_missing_file_is_an_io_error_naming_it);
    RUN(test_a_directory_is_an_io_error);
    return check_summary();
}
