/* clock.h — wall and CPU time of this process, in seconds, and calendar times as users and Slurm write
 * them (plain values, nothing to free). */
#ifndef RMS_CLOCK_H
#define RMS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic wall time (CLOCK_MONOTONIC). */
double rms_now_seconds(void);
/* CPU time used by this process so far, user + system (getrusage). */
double rms_cpu_seconds(void);

/* Calendar time now, as Unix seconds (CLOCK_REALTIME). */
double rms_unix_seconds(void);

/* Parses a point in time: Unix seconds ("1764572400" or "@1764572400"), or ISO 8601 as squeue and date
 * print it, "YYYY-MM-DDTHH:MM[:SS]" (also with a space for T) in local time, or with "Z" / "+HH:MM" / "-HHMM"
 * for another zone. 0 and *unix_s set, or -1 when text is none of these. */
int rms_parse_time(const char *text, int64_t *unix_s);

/* Writes unix_s as local ISO 8601 with its offset ("2026-12-01T07:40:12+0000") into out (cap >= 32). */
void rms_format_time(char *out, size_t cap, int64_t unix_s);

#endif
