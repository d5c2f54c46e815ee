/* sim: an in-process model of f_mass_storage, for `make run` and fast
 * tests. It is labelled SIMULATED everywhere it shows.
 *
 * What it models, after the kernel (see shared/reference/kernel-facts.md):
 * - a host can lock a LUN's medium (PREVENT MEDIUM REMOVAL): writing ""
 *   to `file` then fails with EBUSY, `forced_eject` still works;
 * - a host can hang a LUN (stop reading in the middle of a READ): the
 *   command holds the lock all LUNs share, so `file` and the stock
 *   `forced_eject` of *any* LUN block until the hang ends;
 * - SIGUSR1 to the file-storage thread ends any hang and clears every
 *   LUN's lock;
 * - kernels: "patched" (the v2 series: break_io, ENODATA when there is
 *   nothing to end; a forced_eject that breaks its own LUN's I/O and waits
 *   without a time limit for another LUN's; and cdrom LUNs that
 *   serve images past the CD limit whole), "stock" (>= 6.0, forced_eject
 *   only, large CD images cut), "old" (< 6.0, neither). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gadget.h"

#include "../core/clock.h"

enum gadget_sim_kernel { K_PATCHED, K_STOCK, K_OLD };

struct gadget_sim_lun {
	char file[4096];
	bool cdrom, ro, locked, hung;
};

struct gadget_sim {
	double unplugged_until;	/* clock_now_ms(): a replugged host is away till then */
	unsigned replugs, replugs_seen;	/* by the watcher */
	bool away_seen;
	bool woken;		/* shutting down: usb_state returns at once */
	pthread_mutex_t m;
	pthread_cond_t c;
	enum gadget_sim_kernel kernel;
	unsigned n;
	struct gadget_sim_lun luns[GADGET_MAX_LUNS];
};

void *gadget_sim_new(unsigned luns, const char *kernel)
{
	struct gadget_sim *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->n = luns;
	s->kernel = !kernel || !strcmp(kernel, "patched") ? K_PATCHED :
		    !strcmp(kernel, "stock") ? K_STOCK : K_OLD;
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->c, NULL);
	return s;
}

static void _features(void *be, struct gadget_features *out)
{
	struct gadget_sim *s = be;

	out->break_io = s->kernel == K_PATCHED;
	out->forced_eject = s->kernel != K_OLD;
	out->large_cdrom = s->kernel == K_PATCHED;
	/* as the DVD-ROM patch reports it: 16580608 blocks of 2048 bytes */
	out->cdrom_max_bytes = out->large_cdrom ? 16580608LL * 2048 : GADGET_CD_MAX_BYTES;
}

static bool _any_hung(struct gadget_sim *s, int except)
{
	for (unsigned i = 0; i < s->n; i++)
		if ((int)i != except && s->luns[i].hung)
			return true;
	return false;
}

/* down_write(filesem): sleeps while a hung command holds it for reading. */
static void _take_filesem(struct gadget_sim *s)
{
	while (_any_hung(s, -1))
		pthread_cond_wait(&s->c, &s->m);
}

static int _set_flags(void *be, unsigned lun, bool cdrom, bool ro, struct err *err)
{
	struct gadget_sim *s = be;
	int rc = 0;

	pthread_mutex_lock(&s->m);
	if (s->luns[lun].file[0])
		rc = err_set(err, ERR_CONFLICT, "busy",
			     "LUN %u: cdrom/ro cannot change while a medium is in (EBUSY)", lun);
	else {
		s->luns[lun].cdrom = cdrom;
		s->luns[lun].ro = ro;
	}
	pthread_mutex_unlock(&s->m);
	return rc;
}

static int _set_file(void *be, unsigned lun, const char *path, struct err *err)
{
	struct gadget_sim *s = be;
	struct gadget_sim_lun *l = &s->luns[lun];
	int rc = 0;

	pthread_mutex_lock(&s->m);
	if (!path[0] && l->locked && l->file[0]) {
		rc = err_set(err, ERR_CONFLICT, "medium_locked",
			     "LUN %u: the host has locked the medium (EBUSY)", lun);
	} else if (path[0] && access(path, R_OK) < 0) {
		rc = err_set(err, ERR_IO, "io_error", "LUN %u: cannot open %s: %s", lun, path,
			     strerror(errno));
	} else {
		_take_filesem(s);
		strncpy(l->file, path, sizeof(l->file) - 1);
		if (!path[0])
			l->locked = false;
	}
	pthread_mutex_unlock(&s->m);
	return rc;
}

static int _forced_eject(void *be, unsigned lun, struct err *err)
{
	struct gadget_sim *s = be;
	struct gadget_sim_lun *l = &s->luns[lun];
	int rc = 0;

	pthread_mutex_lock(&s->m);
	if (s->kernel == K_OLD) {
		rc = err_set(err, ERR_UNAVAILABLE, "unavailable",
			     "this kernel has no forced_eject");
	} else if (s->kernel == K_STOCK) {
		l->locked = false;
		_take_filesem(s);
		l->file[0] = '\0';
	} else {
		/* v2: ends its own LUN's stalled command, then waits for another
		 * LUN's without a time limit (the kernel's wait is killable). */
		l->hung = false;
		pthread_cond_broadcast(&s->c);
		while (_any_hung(s, -1))
			pthread_cond_wait(&s->c, &s->m);
		l->locked = false;
		l->file[0] = '\0';
	}
	pthread_mutex_unlock(&s->m);
	return rc;
}

static int _break_io(void *be, unsigned lun, struct err *err)
{
	struct gadget_sim *s = be;

	int rc = 0;

	if (s->kernel != K_PATCHED)
		return err_set(err, ERR_UNAVAILABLE, "unavailable", "this kernel has no break_io");
	pthread_mutex_lock(&s->m);
	if (!s->luns[lun].hung)
		rc = err_set(err, ERR_NOT_FOUND, "nothing_to_break",
			     "LUN %u has no command in progress (ENODATA)", lun);
	s->luns[lun].hung = false;
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
	return rc;
}

static int _signal_io(void *be, int *count, struct err *err)
{
	struct gadget_sim *s = be;

	(void)err;
	pthread_mutex_lock(&s->m);
	for (unsigned i = 0; i < s->n; i++) {
		s->luns[i].hung = false;
		s->luns[i].locked = false;
	}
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
	*count = 1;
	return 0;
}

static int _locked(void *be, unsigned lun)
{
	struct gadget_sim *s = be;

	pthread_mutex_lock(&s->m);
	int v = s->luns[lun].locked && s->luns[lun].file[0];
	pthread_mutex_unlock(&s->m);
	return v;
}

static int _reconnect(void *be, struct err *err)
{
	struct gadget_sim *s = be;

	(void)err;
	usleep(20000);
	pthread_mutex_lock(&s->m);
	for (unsigned i = 0; i < s->n; i++) {
		s->luns[i].hung = false;	/* the host resets and forgets its locks */
		s->luns[i].locked = false;
	}
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
	return 0;
}

static const char *_gadget_name(void *be)
{
	(void)be;
	return "sim";
}

static int _usb_state(void *be, unsigned timeout_ms, char *buf, size_t size, bool *changed)
{
	struct gadget_sim *s = be;
	struct timespec dl;

	clock_deadline(&dl, timeout_ms);
	pthread_mutex_lock(&s->m);
	/* Woken early by a replug; otherwise the host comes back by time. */
	while (!s->woken && s->replugs == s->replugs_seen && !s->away_seen &&
	       pthread_cond_timedwait(&s->c, &s->m, &dl) == 0)
		;
	while (!s->woken && s->away_seen && clock_now_ms() < s->unplugged_until &&
	       pthread_cond_timedwait(&s->c, &s->m, &dl) != ETIMEDOUT)
		;
	bool away = clock_now_ms() < s->unplugged_until;
	*changed = away != s->away_seen || (!away && s->replugs != s->replugs_seen);
	s->away_seen = away;
	if (!away)
		s->replugs_seen = s->replugs;
	pthread_mutex_unlock(&s->m);
	snprintf(buf, size, "%s", away ? "not attached" : "configured");
	return 0;
}

static void _usb_state_wake(void *be)
{
	struct gadget_sim *s = be;

	pthread_mutex_lock(&s->m);
	s->woken = true;
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
}

void gadget_sim_replug(void *be, unsigned ms)
{
	struct gadget_sim *s = be;

	pthread_mutex_lock(&s->m);
	s->unplugged_until = clock_now_ms() + ms;
	s->replugs++;
	for (unsigned i = 0; i < s->n; i++) {
		s->luns[i].hung = false;	/* a host that goes away drops it all */
		s->luns[i].locked = false;
	}
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
}

static void _destroy(void *be)
{
	struct gadget_sim *s = be;

	pthread_mutex_destroy(&s->m);
	pthread_cond_destroy(&s->c);
	free(s);
}

int gadget_sim_host(void *be, unsigned lun, int lock, int hang, bool *locked, bool *hung,
		    struct err *err)
{
	struct gadget_sim *s = be;
	struct gadget_sim_lun *l = &s->luns[lun];
	int rc = 0;

	pthread_mutex_lock(&s->m);
	if ((lock == 1 || hang == 1) && !l->file[0]) {
		rc = err_set(err, ERR_CONFLICT, "no_medium",
			     "LUN %u has no medium: the host can neither lock it nor read it", lun);
	} else {
		if (lock >= 0)
			l->locked = lock;
		if (hang >= 0)
			l->hung = hang;
		pthread_cond_broadcast(&s->c);
	}
	*locked = l->locked;
	*hung = l->hung;
	pthread_mutex_unlock(&s->m);
	return rc;
}

const struct gadget_backend gadget_sim_ops = {
	.name = "sim",
	.simulated = true,
	.features = _features,
	.set_flags = _set_flags,
	.set_file = _set_file,
	.forced_eject = _forced_eject,
	.break_io = _break_io,
	.signal_io = _signal_io,
	.locked = _locked,
	.reconnect = _reconnect,
	.gadget_name = _gadget_name,
	.udc_name = NULL,
	.usb_state = _usb_state,
	.usb_state_wake = _usb_state_wake,
	.destroy = _destroy,
};
