/* privs: vmediad as root gives up root before it opens anything for
 * clients: it becomes --user NAME and keeps only the capabilities the LUN
 * backend needs. */
#ifndef VMEDIA_CORE_PRIVS_H
#define VMEDIA_CORE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Becomes user (its uid, gid and supplementary groups) for good, keeping
 * only the capabilities in caps (CAP_* numbers) in the permitted and
 * effective sets; every other one leaves the bounding set too, and
 * no_new_privs is set. Must be called while the process has one thread:
 * capabilities are per thread, and threads made later inherit these.
 * Already running as user (not root), it does nothing. */
int privs_drop(const char *user, const int *caps, size_t ncaps, struct err *err);

/* Lets the programs the calling thread runs from now on have cap (one of
 * those privs_drop kept), or (on false) no longer. Ambient capabilities
 * are per thread: other threads' children are not affected. */
int privs_ambient(int cap, bool on);

/* The number of threads of this process (from /proc/self/status), or -1. */
int privs_threads(void);

#endif
