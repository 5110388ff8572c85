#include "src/base/memstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rms_memstat_read(rms_memstat *m) {
    m->peak_rss_kb = m->rss_anon_kb = m->rss_file_kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %lld kB", &v) == 1) m->peak_rss_kb = v;
        else if (sscanf(line, "RssAnon: %lld kB", &v) == 1) m->rss_anon_kb = v;
        else if (sscanf(line, "RssFile: %lld kB", &v) == 1) m->rss_file_kb = v;
    }
    fclose(f);
    return 0;
}

/* The number in a one-line file ("max" and absurd values: no limit, -1). */
static int64_t read_limit(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = "";
    const int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok || strncmp(buf, "max", 3) == 0) return -1;
    const long long v = strtoll(buf, NULL, 10);
    return v > 0 && v < ((long long)1 << 60) ? (int64_t)v : -1;
}

/* The smallest limit of file `name` in dir and its ancestors up to root (a job's limit sits on an ancestor
 * of the step's cgroup). */
static int64_t smallest_limit(const char *root, const char *dir, const char *name) {
    char path[4096];
    int64_t best = -1;
    char d[2048];
    if (snprintf(d, sizeof d, "%s", dir) >= (int)sizeof d) return -1; // a cgroup path this long: no limit read
    for (;;) {
        if (snprintf(path, sizeof path, "%s%s/%s", root, d, name) >= (int)sizeof path) break; // never a cut path
        const int64_t v = read_limit(path);
        if (v > 0 && (best < 0 || v < best)) best = v;
        char *slash = strrchr(d, '/');
        if (!slash || d[0] == '\0') break;
        *slash = '\0';
    }
    return best;
}

static int64_t cgroup_limit(const char **which) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[2048], v1[2048] = "", v2[2048] = "";
    int has_v1 = 0, has_v2 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!a || !b) continue;
        *b = '\0';
        const char *controllers = a + 1, *path = b + 1;
        if (strcmp(controllers, "") == 0 && line[0] == '0') {
            snprintf(v2, sizeof v2, "%s", strcmp(path, "/") == 0 ? "" : path);
            has_v2 = 1;
        } else if (strstr(controllers, "memory")) {
            snprintf(v1, sizeof v1, "%s", strcmp(path, "/") == 0 ? "" : path);
            has_v1 = 1;
        }
    }
    fclose(f);
    if (has_v1) {
        *which = "cgroup memory.limit_in_bytes";
        return smallest_limit("/sys/fs/cgroup/memory", v1, "memory.limit_in_bytes");
    }
    if (has_v2) {
        *which = "cgroup memory.max";
        return smallest_limit("/sys/fs/cgroup", v2, "memory.max");
    }
    return -1;
}

static int64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &v) == 1) kb = v;
    fclose(f);
    return kb > 0 ? (int64_t)kb * 1024 : -1;
}

/* RMSCORE_MEM_LIMIT: bytes, or with a K/M/G/T suffix (powers of 1024); -1 if unset or malformed. */
static int64_t env_limit(void) {
    const char *s = getenv("RMSCORE_MEM_LIMIT");
    if (!s || !*s) return -1;
    char *end;
    const double v = strtod(s, &end);
    const char *units = "KMGT";
    double scale = 1;
    if (*end && strchr(units, *end) && end[1] == '\0') scale = (double)((int64_t)1 << (10 * (1 + (strchr(units, *end) - units))));
    else if (*end) return -1;
    return v > 0 ? (int64_t)(v * scale) : -1;
}

void rms_mem_usable(int64_t *bytes, char *source, size_t cap) {
    const char *which = "cgroup";
    const int64_t lims[3] = {env_limit(), cgroup_limit(&which), mem_available()};
    const char *names[3] = {"RMSCORE_MEM_LIMIT", which, "MemAvailable"};
    int best = -1;
    for (int k = 0; k < 3; k++)
        if (lims[k] > 0 && (best < 0 || lims[k] < lims[best])) best = k;
    *bytes = best < 0 ? -1 : lims[best];
    if (best < 0) snprintf(source, cap, "unknown");
    else snprintf(source, cap, "%.2f GiB (%s)", (double)*bytes / (1 << 30), names[best]);
}
