/* eject: how a LUN's medium is taken out, plain or forced, with the best
 * method the running kernel offers (see the table in README.md):
 * break_io + forced_eject, forced_eject with a SIGUSR1 fallback after a
 * bound, or SIGUSR1 + file. Runs only on the LUN's worker thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "internal.h"

#define _MOD "GADGET"

static int64_t _epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *gadget_strategy(struct gadget *g)
{
	if (g->features.break_io && !g->opts.hide_break_io)
		return "break_io+forced_eject";
	if (g->features.forced_eject)
		return "forced_eject+sigusr1";
	return "sigusr1+file";
}

/* A backend call that may block for ever, run on its own thread so the
 * worker can give up waiting after a bound and act (send SIGUSR1). Whoever
 * of the two finishes last frees it. */
struct _bounded {
	const struct gadget_backend *ops;
	void *be;
	unsigned lun;
	int rc;
	struct err err;
	bool done;
	int refs;
	pthread_mutex_t m;
	pthread_cond_t c;
};

static void _bounded_put(struct _bounded *b)
{
	pthread_mutex_lock(&b->m);
	bool last = --b->refs == 0;
	pthread_mutex_unlock(&b->m);
	if (last) {
		pthread_mutex_destroy(&b->m);
		pthread_cond_destroy(&b->c);
		free(b);
	}
}

static void *_bounded_main(void *arg)
{
	struct _bounded *b = arg;
	struct err err = { 0 };
	int rc = b->ops->forced_eject(b->be, b->lun, &err);

	pthread_mutex_lock(&b->m);
	b->rc = rc;
	b->err = err;
	b->done = true;
	pthread_cond_broadcast(&b->c);
	pthread_mutex_unlock(&b->m);
	_bounded_put(b);
	return NULL;
}

/* Waits for b, at most ms (or for ever with ms < 0). True when done. */
static bool _bounded_wait(struct _bounded *b, int ms)
{
	struct timespec dl;

	clock_deadline(&dl, ms < 0 ? 0 : (unsigned)ms);
	pthread_mutex_lock(&b->m);
	while (!b->done) {
		if (ms < 0)
			pthread_cond_wait(&b->c, &b->m);
		else if (pthread_cond_timedwait(&b->c, &b->m, &dl) == ETIMEDOUT)
			break;
	}
	bool done = b->done;
	pthread_mutex_unlock(&b->m);
	return done;
}

static int _signal(struct gadget *g, struct _lun *l, struct gadget_eject *out, struct err *err)
{
	int count = 0;

	if (g->ops->signal_io(g->be, &count, err) < 0)
		return -1;
	out->other_luns_affected = true;
	log_warn(_MOD, "LUN %u: sent SIGUSR1 to %d file-storage thread(s): this breaks the I/O "
		 "of every LUN of the function, not only this one", l->snap.id, count);
	return 0;
}

/* Stock forced_eject (>= 6.0): it waits behind a stalled command, so give
 * it eject_wait_ms, then break the I/O with SIGUSR1 and let it finish. */
static int _eject_stock(struct gadget *g, struct _lun *l, struct gadget_eject *out,
			struct err *err)
{
	struct _bounded *b = calloc(1, sizeof(*b));
	pthread_t t;
	int rc;

	if (!b)
		abort();
	b->ops = g->ops;
	b->be = g->be;
	b->lun = l->snap.id;
	b->refs = 2;
	pthread_mutex_init(&b->m, NULL);
	pthread_cond_init(&b->c, NULL);
	if (pthread_create(&t, NULL, _bounded_main, b) != 0)
		abort();
	pthread_setname_np(t, "vmedia-eject");
	pthread_detach(t);
	snprintf(out->method, sizeof(out->method), "forced_eject");
	if (!_bounded_wait(b, (int)g->opts.eject_wait_ms)) {
		log_warn(_MOD, "LUN %u: forced_eject has not returned after %u ms (a stalled "
			 "command holds the LUNs' lock)", l->snap.id, g->opts.eject_wait_ms);
		snprintf(out->method, sizeof(out->method), "forced_eject+sigusr1");
		if (_signal(g, l, out, err) < 0) {
			_bounded_put(b);
			return -1;
		}
		_bounded_wait(b, -1);
	}
	rc = b->rc;
	if (rc < 0 && err)
		*err = b->err;
	_bounded_put(b);
	return rc;
}

static int _eject_forced(struct gadget *g, struct _lun *l, struct gadget_eject *out,
			 struct err *err)
{
	unsigned id = l->snap.id;
	const char *strategy = gadget_strategy(g);

	if (strcmp(strategy, "break_io+forced_eject") == 0) {
		struct err berr;
		snprintf(out->method, sizeof(out->method), "%s", strategy);
		if (g->ops->break_io(g->be, id, &berr) < 0)
			log_warn(_MOD, "LUN %u: break_io: %s", id, berr.message);
		if (g->ops->forced_eject(g->be, id, err) == 0)
			return 0;
		if (err->kind != ERR_TIMEOUT)
			return -1;
		/* Another LUN's stalled command holds the shared lock: the
		 * patched kernel gave up after its bound. An eject must win,
		 * so break everything. */
		log_warn(_MOD, "LUN %u: %s", id, err->message);
		snprintf(out->method, sizeof(out->method), "break_io+forced_eject+sigusr1");
		if (_signal(g, l, out, err) < 0)
			return -1;
		return g->ops->forced_eject(g->be, id, err);
	}
	if (strcmp(strategy, "forced_eject+sigusr1") == 0)
		return _eject_stock(g, l, out, err);

	/* Before 6.0: no forced_eject at all. SIGUSR1 clears every LUN's
	 * medium lock (and breaks any stalled command), then `file` works. */
	snprintf(out->method, sizeof(out->method), "sigusr1+file");
	if (_signal(g, l, out, err) < 0)
		return -1;
	return g->ops->set_file(g->be, id, "", err);
}

int _gadget_do_eject(struct gadget *g, struct _lun *l, bool force, struct gadget_eject *out,
		     struct err *err)
{
	double t0 = clock_now_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	out->valid = true;
	out->forced = force;
	if (force) {
		rc = _eject_forced(g, l, out, err);
	} else {
		snprintf(out->method, sizeof(out->method), "file");
		rc = g->ops->set_file(g->be, l->snap.id, "", err);
		if (rc < 0 && strcmp(err->code, "medium_locked") == 0)
			snprintf(err->message, sizeof(err->message),
				 "LUN %u: the host has locked the medium; retry with force=1 "
				 "(the host may see an I/O error)", l->snap.id);
	}
	out->elapsed_ms = clock_now_ms() - t0;
	out->ok = rc == 0;
	out->at = _epoch_ms();
	if (rc < 0)
		snprintf(out->error, sizeof(out->error), "%s", err->message);
	log_info(_MOD, "LUN %u: eject (%s) %s in %.2f ms%s%s", l->snap.id, out->method,
		 rc == 0 ? "done" : "failed", out->elapsed_ms, rc == 0 ? "" : ": ",
		 rc == 0 ? "" : err->message);
	return rc;
}

