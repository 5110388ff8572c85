/* clock.h — wall and CPU time of this process, in seconds (plain values, nothing to free). */
#ifndef RMS_CLOCK_H
#define RMS_CLOCK_H

/* Monotonic wall time (CLOCK_MONOTONIC). */
double rms_now_seconds(void);
/* CPU time used by this process so far, user + system (getrusage). */
double rms_cpu_seconds(void);

#endif
