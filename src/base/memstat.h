/* memstat.h — this process's memory use, from /proc/self/status (Linux). Plain values; nothing to free. */
#ifndef RMS_MEMSTAT_H
#define RMS_MEMSTAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rms_memstat {
    int64_t peak_rss_kb; /* VmHWM: peak resident set, including mapped checkpoint pages */
    int64_t rss_anon_kb; /* RssAnon: private (non file-backed) memory now */
    int64_t rss_file_kb; /* RssFile: file-backed pages resident now (the mmap'd weights) */
} rms_memstat;

/* Fills *m (fields -1 when unknown). Returns 0 on success, -1 if /proc/self/status is unreadable. */
int rms_memstat_read(rms_memstat *m);

/* How much memory this process's node lets it use now: the smallest of $RMSCORE_MEM_LIMIT (bytes, or with a
 * K/M/G/T suffix: a site's or a test's own bound), the memory limit of its cgroup and the cgroup's ancestors
 * (cgroup v2 memory.max, or v1 memory.limit_in_bytes: what Slurm's --mem sets) and MemAvailable of
 * /proc/meminfo. *bytes is -1 when none is known; source names it ("32.0 GiB (cgroup memory.max)"). */
void rms_mem_usable(int64_t *bytes, char *source, size_t cap);

#endif
