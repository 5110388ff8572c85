/* memstat.h — this process's memory use, from /proc/self/status (Linux). Plain values; nothing to free. */
#ifndef RMS_MEMSTAT_H
#define RMS_MEMSTAT_H

#include <stdint.h>

typedef struct rms_memstat {
    int64_t peak_rss_kb; /* VmHWM: peak resident set, including mapped checkpoint pages */
    int64_t rss_anon_kb; /* RssAnon: private (non file-backed) memory now */
    int64_t rss_file_kb; /* RssFile: file-backed pages resident now (the mmap'd weights) */
} rms_memstat;

/* Fills *m (fields -1 when unknown). Returns 0 on success, -1 if /proc/self/status is unreadable. */
int rms_memstat_read(rms_memstat *m);

#endif
