/* clock: the few time helpers every module needs. */
#ifndef VMEDIA_CORE_CLOCK_H
#define VMEDIA_CORE_CLOCK_H

#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC, for measuring durations. */
double clock_now_ms(void);
/* An absolute CLOCK_REALTIME deadline ms from now, for
 * pthread_cond_timedwait (whose default clock is CLOCK_REALTIME). */
void clock_deadline(struct timespec *ts, unsigned ms);
/* t as ISO 8601 in UTC, "2026-11-25T16:02:11Z", or with ms >= 0
 * "2026-11-25T16:02:11.412Z"; buf of at least CLOCK_ISO8601_SIZE bytes. */
#define CLOCK_ISO8601_SIZE 32
void clock_iso8601(char *buf, size_t size, time_t t, int ms);

#endif
