/* clock.c — wall and CPU time (see clock.h). */
#define _GNU_SOURCE
#include "src/base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double rms_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double rms_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

double rms_unix_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The zone suffix of an ISO time at s: "" (local), "Z", "+HH:MM", "+HHMM", "+HH" (and -); -1 if malformed. */
static int parse_zone(const char *s, int *local, long *offset_s) {
    *local = *s == '\0';
    *offset_s = 0;
    if (*local) return 0;
    if (s[0] == 'Z' && s[1] == '\0') return 0;
    if (s[0] != '+' && s[0] != '-') return -1;
    int hh = 0, mm = 0, n = 0;
    if (sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 && s[1 + n] == '\0') {
    } else if (strlen(s + 1) == 4 && sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) == 2 && s[1 + n] == '\0') {
    } else if (strlen(s + 1) == 2 && sscanf(s + 1, "%2d%n", &hh, &n) == 1 && s[1 + n] == '\0') {
    } else {
        return -1;
    }
    if (hh > 23 || mm > 59) return -1;
    *offset_s = (s[0] == '-' ? -1 : 1) * (long)(hh * 3600 + mm * 60);
    return 0;
}

int rms_parse_time(const char *text, int64_t *unix_s) {
    const char *p = text[0] == '@' ? text + 1 : text;
    if (*p && strspn(p, "0123456789") == strlen(p) && strlen(p) <= 12) {
        *unix_s = strtoll(p, NULL, 10);
        return 0;
    }
    if (text[0] == '@') return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(text, "%Y-%m-%d", &tm);
    if (!rest || (*rest != 'T' && *rest != ' ')) return -1;
    const char *t = strptime(rest + 1, "%H:%M:%S", &tm);
    if (!t) t = strptime(rest + 1, "%H:%M", &tm);
    if (!t) return -1;
    int local;
    long offset;
    if (parse_zone(t, &local, &offset) != 0) return -1;
    tm.tm_isdst = -1;
    const time_t v = local ? mktime(&tm) : timegm(&tm) - offset;
    if (v == (time_t)-1) return -1;
    *unix_s = (int64_t)v;
    return 0;
}

void rms_format_time(char *out, size_t cap, int64_t unix_s) {
    const time_t t = (time_t)unix_s;
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(out, cap, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0 && cap > 0) out[0] = '\0';
}
