/* fsync_gate.h: a slow or failing disk for unit tests. The test program's
 * own fsync() stands in for libc's (the modules under test are linked into
 * it): for the one file or directory the gate is set on, it blocks until
 * the gate opens, fails with EIO, or calls a hook first; every other fsync
 * is the real one. Included by one test file per program. */
#ifndef VMEDIA_TESTS_FSYNC_GATE_H
#define VMEDIA_TESTS_FSYNC_GATE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"

enum gate_mode { GATE_BLOCK, GATE_EIO, GATE_HOOK };

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static ino_t gate_ino;		/* the file whose fsync is affected, or 0 */
static enum gate_mode gate_mode;
static bool gate_entered, gate_open;
static void (*gate_hook)(int fd);	/* GATE_HOOK: called before the real fsync */

int fsync(int fd)
{
	struct stat st;
	void (*hook)(int) = NULL;

	pthread_mutex_lock(&gate_lock);
	if (gate_ino && fstat(fd, &st) == 0 && st.st_ino == gate_ino) {
		if (gate_mode == GATE_EIO) {
			pthread_mutex_unlock(&gate_lock);
			errno = EIO;
			return -1;
		}
		gate_entered = true;
		pthread_cond_broadcast(&gate_cond);
		if (gate_mode == GATE_HOOK)
			hook = gate_hook;
		while (gate_mode == GATE_BLOCK && !gate_open)
			pthread_cond_wait(&gate_cond, &gate_lock);
	}
	pthread_mutex_unlock(&gate_lock);
	if (hook)
		hook(fd);
	return (int)syscall(SYS_fsync, fd);
}

/* Sets the gate on path (which must exist). */
static inline void gate_on(const char *path, enum gate_mode mode)
{
	struct stat st;

	if (stat(path, &st) != 0)
		abort();
	pthread_mutex_lock(&gate_lock);
	gate_ino = st.st_ino;
	gate_mode = mode;
	gate_entered = gate_open = false;
	pthread_mutex_unlock(&gate_lock);
}

static inline void gate_off(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_ino = 0;
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* Waits at most ms for *flag (under the gate's lock). */
static inline bool gate_wait_flag(bool *flag, unsigned ms)
{
	struct timespec dl;

	clock_deadline(&dl, ms);
	pthread_mutex_lock(&gate_lock);
	while (!*flag)
		if (pthread_cond_timedwait(&gate_cond, &gate_lock, &dl) != 0)
			break;
	bool ok = *flag;
	pthread_mutex_unlock(&gate_lock);
	return ok;
}

#endif
