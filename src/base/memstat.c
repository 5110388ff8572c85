#include "src/base/memstat.h"

#include <stdio.h>
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
