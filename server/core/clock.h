/* clock: the few time helpers every module needs. */
#ifndef VMEDIA_CORE_CLOCK_H
#define VMEDIA_CORE_CLOCK_H

#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC, for measuring durations. */
double clock_now_ms(void);
/* An absolute CLOCK_REALTIME deadline ms from now, for
 * pthread_cond_timedwait (whose default clock is CLOCK_REALTIME). */
void clock_deadline(struct timespec *ts, unsigned ms);

#endif
