/* Unit tests of src/base/clock.c (times as users and Slurm write them) and src/base/memstat.c's usable memory. */
#include "tests/check.h"
#include "src/base/clock.h"
#include "src/base/memstat.h"

#include <stdlib.h>
#include <time.h>

static int64_t parsed(const char *text) {
    int64_t t = -42;
    return rms_parse_time(text, &t) == 0 ? t : -1;
}

static void test_times_parse_as_unix_seconds_iso_local_and_iso_with_a_zone(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_EQ_INT(parsed("1764572400"), 1764572400);
    CHECK_EQ_INT(parsed("@1764572400"), 1764572400);
    CHECK_EQ_INT(parsed("2025-12-01T07:00:00"), 1764572400); // local = UTC here
    CHECK_EQ_INT(parsed("2025-12-01 07:00"), 1764572400);
    CHECK_EQ_INT(parsed("2025-12-01T07:00:00Z"), 1764572400);
    CHECK_EQ_INT(parsed("2025-12-01T09:00:00+02:00"), 1764572400);
    CHECK_EQ_INT(parsed("2025-12-01T05:30:00-0130"), 1764572400);
    setenv("TZ", "Europe/Berlin", 1); // squeue prints local time: 08:00 in Berlin (winter) is 07:00 UTC
    tzset();
    CHECK_EQ_INT(parsed("2025-12-01T08:00:00"), 1764572400);
    CHECK_EQ_INT(parsed("2025-12-01T07:00:00Z"), 1764572400);
    const char *bad[] = {"", "tomorrow", "2025-12-01", "2025-12-01T25:00", "2025-12-01T07:00:00+2", "@x", "12:00",
                         "2025-12-01T07:00:00 UTC"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parsed(bad[i]) != -1) fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_EQ_INT(parsed(bad[i]), -1);
    }
    setenv("TZ", "UTC", 1);
    tzset();
}

static void test_a_formatted_time_parses_back(void) {
    char buf[64];
    rms_format_time(buf, sizeof buf, 1764572400);
    CHECK(strcmp(buf, "2025-12-01T07:00:00+0000") == 0);
    CHECK_EQ_INT(parsed(buf), 1764572400);
    const double now = rms_unix_seconds();
    CHECK(now > 1.7e9 && fabs(now - (double)time(NULL)) < 2.0);
}

static void test_usable_memory_honours_rmscore_mem_limit_below_the_system_bounds(void) {
    int64_t b;
    char src[96];
    unsetenv("RMSCORE_MEM_LIMIT");
    rms_mem_usable(&b, src, sizeof src);
    CHECK(b > ((int64_t)64 << 20)); // this machine has more than 64 MiB free (cgroup or MemAvailable)
    setenv("RMSCORE_MEM_LIMIT", "48M", 1);
    rms_mem_usable(&b, src, sizeof src);
    CHECK_EQ_INT(b, (int64_t)48 << 20);
    CHECK_CONTAINS(src, "RMSCORE_MEM_LIMIT");
    setenv("RMSCORE_MEM_LIMIT", "1.5G", 1);
    int64_t b2;
    rms_mem_usable(&b2, src, sizeof src);
    CHECK(b2 <= ((int64_t)3 << 29)); // 1.5 GiB, or less when the system bounds are lower
    setenv("RMSCORE_MEM_LIMIT", "lots", 1); // malformed: ignored
    rms_mem_usable(&b2, src, sizeof src);
    CHECK(b2 > ((int64_t)64 << 20));
    unsetenv("RMSCORE_MEM_LIMIT");
}

int main(void) {
    RUN(test_times_parse_as_unix_seconds_iso_local_and_iso_with_a_zone);
    RUN(test_a_formatted_time_parses_back);
    RUN(test_usable_memory_honours_rmscore_mem_limit_below_the_system_bounds);
    return check_summary();
}
