/* gadget: the LUN table and one worker thread per LUN that runs every
 * operation (see gadget.h); the eject strategies are in eject.c. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../metrics/metrics.h"

#define GADGET_MOD "GADGET"

/* Calls the listener unless gadget_destroy has begun; never with the lock
 * held. gadget_destroy waits for the calls that did start. */
static void _notify(struct gadget *g, struct gadget_lun *snap, const char *released)
{
	pthread_mutex_lock(&g->lock);
	gadget_listener_fn fn = g->closed ? NULL : g->listener;
	void *ctx = g->listener_ctx;
	if (fn)
		g->in_listener++;
	pthread_mutex_unlock(&g->lock);
	if (!fn)
		return;
	if (g->ops->locked)
		snap->locked = g->ops->locked(g->be, snap->id);
	fn(ctx, snap, released);
	pthread_mutex_lock(&g->lock);
	if (--g->in_listener == 0)
		pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Every LUN's state, after a reconnect changed what the host sees. */
static void _notify_all(struct gadget *g)
{
	for (unsigned i = 0; i < g->nluns; i++) {
		struct gadget_lun snap;
		pthread_mutex_lock(&g->lock);
		snap = g->luns[i].snap;
		pthread_mutex_unlock(&g->lock);
		_notify(g, &snap, NULL);
	}
}

static bool _force_pending(const struct gadget_slot *l)
{
	return l->force_seq > l->force_done;
}

/* Another insert or plain eject would have to wait: g->lock held. */
static bool _lun_busy(const struct gadget_slot *l)
{
	return l->op != GADGET_OP_NONE || _force_pending(l) || l->running != GADGET_RUN_IDLE;
}

/* Marks the start of a kernel call on l's worker; g->lock held. */
static void _run_begin(struct gadget *g, struct gadget_slot *l, enum gadget_run what)
{
	l->running = what;
	l->run_since = clock_now_ms();
	l->broke_io = false;
	l->broke_others_tried = false;
	l->broke_others = false;
	l->sigusr1s = 0;
	l->next_signal_at = l->run_since + g->opts.eject_wait_ms;
	pthread_cond_broadcast(&g->cond);	/* the breaker may have work */
}

static void _free(struct gadget *g)
{
	g->ops->destroy(g->be);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

/* A worker's or gadget_destroy's last act; g->lock held, and released. */
static void _put(struct gadget *g)
{
	bool last = --g->refs == 0 && g->orphaned;

	pthread_mutex_unlock(&g->lock);
	if (last)
		_free(g);
}

static int _do_reconnect(struct gadget *g, struct err *err)
{
	struct gadget_features f = { 0 };	/* what the backend does not detect is absent */

	if (!g->ops->reconnect)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "this backend cannot reconnect the gadget");
	if (g->ops->reconnect(g->be, err) < 0)
		return -1;
	g->ops->features(g->be, &f);	/* a new kernel module may be there */
	pthread_mutex_lock(&g->lock);
	g->features = f;
	for (unsigned i = 0; i < g->nluns; i++) {
		g->luns[i].enumerated_cdrom = g->luns[i].snap.cdrom;
		g->luns[i].snap.warning[0] = '\0';
		g->luns[i].snap.warning_code[0] = '\0';
	}
	pthread_mutex_unlock(&g->lock);
	log_info(GADGET_MOD, "gadget reconnected: the host enumerates it again");
	return 0;
}

/* The gadget-wide worker: runs reconnects, one at a time. */
static void *_gworker(void *arg)
{
	struct gadget *g = arg;
	struct err err;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (!g->stopping && g->gw_seq == g->gw_done)
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->stopping)
			break;
		uint64_t seq = g->gw_seq;	/* every request made so far */
		g->gw_running = true;
		pthread_mutex_unlock(&g->lock);
		double t0 = clock_now_ms();
		memset(&err, 0, sizeof(err));
		int rc = _do_reconnect(g, &err);
		double ms = clock_now_ms() - t0;
		if (rc == 0)
			_notify_all(g);
		pthread_mutex_lock(&g->lock);
		g->gw_running = false;
		g->gw_rc = rc;
		g->gw_err = err;
		g->gw_elapsed_ms = ms;
		g->gw_done = seq;
		pthread_cond_broadcast(&g->cond);
	}
	_put(g);
	return NULL;
}

/* Asks the gadget worker for a reconnect that starts after this call and
 * waits for it: at most wait_ms if bounded, else until it is done or
 * vmediad stops. g->lock held. 0 done, -1 failed, 1 still running. */
static int _reconnect_locked(struct gadget *g, bool bounded, unsigned wait_ms, double *ms,
			     struct err *err)
{
	struct timespec dl;
	uint64_t seq = ++g->gw_seq;

	clock_deadline(&dl, wait_ms);
	pthread_cond_broadcast(&g->cond);
	while (g->gw_done < seq && !g->stopping) {
		if (!bounded)
			pthread_cond_wait(&g->cond, &g->lock);
		else if (pthread_cond_timedwait(&g->cond, &g->lock, &dl) == ETIMEDOUT)
			break;
	}
	if (g->gw_done < seq) {
		if (g->stopping)
			return err_set(err, ERR_UNAVAILABLE, "unavailable", "vmediad is stopping");
		return 1;
	}
	if (ms)
		*ms = g->gw_elapsed_ms;
	if (g->gw_rc < 0 && err)
		*err = g->gw_err;
	return g->gw_rc < 0 ? -1 : 0;
}

/* The LUN let go of its medium: a stored image is released by name (the
 * listener unpins it), a medium of its own is handed back to be closed
 * once the lock is dropped. g->lock held. */
static void _let_go(struct gadget_slot *l, char *released, size_t size, void **closing,
		    const struct gadget_medium_ops **closing_ops)
{
	if (l->mops) {
		*closing = l->medium;
		*closing_ops = l->mops;
		l->mops = NULL;
		l->medium = NULL;
	} else {
		snprintf(released, size, "%s", l->snap.image);
	}
	l->snap.streamed = false;
}

/* The eject went through: the LUN lets go of its medium and is empty, with
 * no warning left. g->lock held. */
static void _emptied(struct gadget_slot *l, char *released, size_t size, void **closing,
		     const struct gadget_medium_ops **closing_ops)
{
	_let_go(l, released, size, closing, closing_ops);
	l->snap.image[0] = '\0';
	l->snap.warning[0] = '\0';
	l->snap.warning_code[0] = '\0';
	l->snap.state = GADGET_LUN_EMPTY;
}

/* Closes a medium of its own the LUN let go of, after the caller was told
 * (stopping a stream's server can take a while); on the worker, g->lock
 * held, released around the call. */
static void _close_medium(struct gadget *g, const struct gadget_medium_ops *ops, void *m)
{
	if (!m)
		return;
	pthread_mutex_unlock(&g->lock);
	ops->close(m);
	pthread_mutex_lock(&g->lock);
}

/* Runs the queued insert or plain eject: g->lock held on entry and exit,
 * released around the kernel calls. */
static void _run_op(struct gadget *g, struct gadget_slot *l)
{
	struct err err = { 0 };
	struct gadget_eject ej = { 0 };
	char released[NAMES_MAX + 1] = "";
	char image[NAMES_MAX + 1];
	int rc = 0;
	enum gadget_op op = l->op;
	bool cdrom = l->op_cdrom, ro = l->op_ro, reconnect = l->op_reconnect;
	const struct gadget_medium_ops *mops = l->op_mops;
	void *medium = l->op_medium;
	void *closing = NULL;		/* a medium of its own the LUN let go of */
	const struct gadget_medium_ops *closing_ops = NULL;
	unsigned id = l->snap.id;

	snprintf(image, sizeof(image), "%s", l->op_image);
	_run_begin(g, l, GADGET_RUN_OP);
	pthread_mutex_unlock(&g->lock);

	if (op == GADGET_OP_INSERT) {
		/* A medium of its own is opened here, not on the caller's
		 * thread: it may take seconds (a remote server). */
		if (mops) {
			pthread_mutex_lock(&g->lock);
			l->opening = true;
			pthread_mutex_unlock(&g->lock);
			rc = mops->open(medium, l->op_path, sizeof(l->op_path), &err);
			pthread_mutex_lock(&g->lock);
			l->opening = false;
			pthread_mutex_unlock(&g->lock);
		}
		if (rc == 0)
			rc = g->ops->set_flags(g->be, id, cdrom, ro, &err);
		if (rc == 0)
			rc = g->ops->set_file(g->be, id, l->op_path, &err);
		if (rc == 0 && reconnect) {
			pthread_mutex_lock(&g->lock);
			rc = _reconnect_locked(g, false, 0, NULL, &err);
			pthread_mutex_unlock(&g->lock);
		}
		if (rc < 0 && !mops)
			snprintf(released, sizeof(released), "%s", image);
		if (rc < 0 && mops) {
			closing = medium;
			closing_ops = mops;
		}
		log_info(GADGET_MOD, "LUN %u: insert %s (%s, %s) %s%s", id, image,
			 cdrom ? "cdrom" : "disk", ro ? "ro" : "rw",
			 rc == 0 ? "done" : "failed: ", rc == 0 ? "" : err.message);
	} else {
		rc = gadget_do_eject(g, l, false, &ej, &err);
	}

	pthread_mutex_lock(&g->lock);
	l->running = GADGET_RUN_IDLE;
	struct gadget_lun *s = &l->snap;
	bool forcing = _force_pending(l);
	if (op == GADGET_OP_INSERT) {
		l->op_mops = NULL;
		l->op_medium = NULL;
		s->insert_error = rc == 0 ? (struct err){ 0 } : err;
		if (rc == 0) {
			l->mops = mops;
			l->medium = medium;
			s->streamed = mops != NULL;
			snprintf(s->image, sizeof(s->image), "%s", image);
			s->cdrom = cdrom;
			s->ro = ro;
			s->state = forcing ? GADGET_LUN_EJECTING : GADGET_LUN_INSERTED;
			if (reconnect)	/* the host saw the new type */
				l->enumerated_cdrom = s->cdrom;
			if (s->cdrom != l->enumerated_cdrom) {
				snprintf(s->warning_code, sizeof(s->warning_code),
					 "type_change_pending");
				snprintf(s->warning, sizeof(s->warning),
					 "the host still sees a %s: it learns the new device type "
					 "only after a reconnect (insert with \"reconnect\": true, "
					 "or POST /gadget/reconnect)",
					 l->enumerated_cdrom ? "CD-ROM" : "disk");
			}
		} else {
			s->image[0] = '\0';
			s->state = GADGET_LUN_EMPTY;
		}
	} else {
		if (rc == 0) {
			/* A forced eject waiting for this one is done as well. */
			if (forcing)
				gadget_eject_preempted(l, &ej);
			_emptied(l, released, sizeof(released), &closing, &closing_ops);
		} else {
			s->state = forcing ? GADGET_LUN_EJECTING : GADGET_LUN_INSERTED;
		}
		s->last_eject = ej;
		metrics_eject(ej.method[0] ? ej.method : "none", ej.forced, ej.ok, ej.elapsed_ms);
	}
	l->op_rc = rc;
	l->op_err = err;
	struct gadget_lun snap = *s;
	pthread_mutex_unlock(&g->lock);

	/* The listener runs before the caller is told the operation is done,
	 * so by then the image pins and the events are up to date. */
	_notify(g, &snap, released[0] ? released : NULL);

	pthread_mutex_lock(&g->lock);
	l->done_seq = l->op_seq;
	l->op = GADGET_OP_NONE;
	if (forcing && s->state == GADGET_LUN_EMPTY) {
		l->force_rc = 0;
		l->force_done = l->force_seq;
	}
	pthread_cond_broadcast(&g->cond);
	_close_medium(g, closing_ops, closing);
}

/* Runs the pending forced eject: g->lock held on entry and exit. */
static void _run_force(struct gadget *g, struct gadget_slot *l)
{
	struct err err = { 0 };
	struct gadget_eject ej = { 0 };
	char released[NAMES_MAX + 1] = "";
	void *closing = NULL;
	const struct gadget_medium_ops *closing_ops = NULL;
	uint64_t seq = l->force_seq;
	int rc = 0;

	if (l->snap.state == GADGET_LUN_EMPTY || !l->snap.image[0]) {
		l->snap.state = GADGET_LUN_EMPTY;
		l->force_rc = 0;
		l->force_done = seq;
		pthread_cond_broadcast(&g->cond);
		return;
	}
	l->snap.state = GADGET_LUN_EJECTING;
	_run_begin(g, l, GADGET_RUN_FORCE);
	pthread_mutex_unlock(&g->lock);

	rc = gadget_do_eject(g, l, true, &ej, &err);

	pthread_mutex_lock(&g->lock);
	l->running = GADGET_RUN_IDLE;
	struct gadget_lun *s = &l->snap;
	s->last_eject = ej;
	metrics_eject(ej.method[0] ? ej.method : "none", ej.forced, ej.ok, ej.elapsed_ms);
	if (rc == 0) {
		_emptied(l, released, sizeof(released), &closing, &closing_ops);
	} else {
		s->state = GADGET_LUN_INSERTED;
	}
	struct gadget_lun snap = *s;
	pthread_mutex_unlock(&g->lock);

	_notify(g, &snap, released[0] ? released : NULL);

	pthread_mutex_lock(&g->lock);
	l->medium_interrupted = false;
	l->force_rc = rc;
	l->force_err = err;
	l->force_done = seq;
	pthread_cond_broadcast(&g->cond);
	_close_medium(g, closing_ops, closing);
}

static void *_worker(void *arg)
{
	struct gadget_slot *l = arg;
	struct gadget *g = l->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (!g->stopping && !(l->op != GADGET_OP_NONE && l->op_seq > l->done_seq) &&
		       !_force_pending(l))
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->stopping)
			break;
		if (l->op != GADGET_OP_NONE && l->op_seq > l->done_seq)
			_run_op(g, l);
		else
			_run_force(g, l);
	}
	_put(g);
	return NULL;
}

/* The breaker. A forced eject must not wait for the kernel call in front
 * of it (a plain eject or an insert behind a stalled host), nor for its
 * own forced_eject stuck behind one: this thread ends the stalled command
 * from outside the worker, touching as little as it can:
 * 1. break_io of that LUN at once (patched kernel; the forced eject itself
 *    does the same for its own call);
 * 2. eject_wait_ms later, if the call is still inside the kernel, break_io
 *    of every other LUN: the command holding the function's lock is
 *    another LUN's, and only that command is ended (the others answer
 *    ENODATA); no medium, lock or sense is lost;
 * 3. eject_wait_ms after that (at once on a stock kernel, which has no
 *    break_io), SIGUSR1, which breaks every LUN's I/O and clears their
 *    locks, and again at doubling intervals (at most every 5 s) while the
 *    call stays stuck: a command blocked in its backing file, which
 *    break_io cannot end. */
#define GADGET_BREAK_MAX_INTERVAL_MS 5000.0

int gadget_signal(struct gadget *g, struct gadget_slot *l, struct err *err)
{
	int count = 0;

	/* Counted before it is sent: the call it ends may return at once, and
	 * its record must say that every LUN was affected. */
	pthread_mutex_lock(&g->lock);
	l->sigusr1s++;
	double interval = (double)g->opts.eject_wait_ms * (double)(1u << (l->sigusr1s < 5 ?
									 l->sigusr1s : 5));
	l->next_signal_at = clock_now_ms() +
		(interval < GADGET_BREAK_MAX_INTERVAL_MS ? interval : GADGET_BREAK_MAX_INTERVAL_MS);
	pthread_mutex_unlock(&g->lock);
	if (g->ops->signal_io(g->be, &count, err) < 0) {
		pthread_mutex_lock(&g->lock);
		l->sigusr1s--;
		pthread_mutex_unlock(&g->lock);
		log_warn(GADGET_MOD, "LUN %u: SIGUSR1 could not be sent: %s", l->snap.id, err->message);
		return -1;
	}
	log_warn(GADGET_MOD, "LUN %u: sent SIGUSR1 to %d file-storage thread(s): this breaks the I/O "
		 "of every LUN of the function, not only this one", l->snap.id, count);
	return 0;
}

/* When the breaker acts on l next; g->lock held. */
static double _next_break_at(const struct gadget *g, const struct gadget_slot *l)
{
	double at = l->next_signal_at;

	if (l->running == GADGET_RUN_OP && at < l->force_at + g->opts.eject_wait_ms)
		at = l->force_at + g->opts.eject_wait_ms;
	return at;
}

/* break_io of every LUN but l's; true if one had a command to end. */
static bool _break_others(struct gadget *g, struct gadget_slot *l)
{
	bool ended = false;
	struct err err;

	for (unsigned i = 0; i < g->nluns; i++) {
		if (i == l->snap.id)
			continue;
		memset(&err, 0, sizeof(err));
		if (g->ops->break_io(g->be, i, &err) == 0) {
			ended = true;
			log_warn(GADGET_MOD, "LUN %u: the command holding the function was LUN %u's; "
				 "ended it with break_io (its medium and lock stay)", l->snap.id, i);
		} else if (strcmp(err.code, "nothing_to_break") != 0) {
			log_warn(GADGET_MOD, "LUN %u: break_io of LUN %u: %s", l->snap.id, i, err.message);
		}
	}
	return ended;
}

static void *_breaker(void *arg)
{
	struct gadget *g = arg;
	struct timespec dl;
	struct err err;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		double now = clock_now_ms(), next = now + 60000;
		bool patched = strcmp(gadget_strategy_locked(g), "break_io+forced_eject") == 0;
		struct gadget_slot *act = NULL;
		enum { BREAK_OWN, BREAK_OTHERS, SIGNAL } what = SIGNAL;

		for (unsigned i = 0; i < g->nluns && !act; i++) {
			struct gadget_slot *l = &g->luns[i];
			if (!_force_pending(l) || l->running == GADGET_RUN_IDLE)
				continue;
			const struct gadget_medium_ops *mo = l->mops ? l->mops :
				l->opening ? l->op_mops : NULL;
			if (mo && mo->interrupt && !l->medium_interrupted) {
				/* The medium's own reads (a hung image server) are
				 * not ended by break_io or SIGUSR1: the medium ends
				 * them. It is on its way out, so nothing is lost.
				 * Called under the lock (it must not block), so the
				 * worker cannot close the medium meanwhile. */
				l->medium_interrupted = true;
				log_info(GADGET_MOD, "LUN %u: a forced eject ends the reads waiting on "
					 "its medium", l->snap.id);
				mo->interrupt(l->mops ? l->medium : l->op_medium);
			}
			/* Opening a medium is no kernel call: interrupted, it
			 * ends by itself, and nothing is to be broken. */
			if (l->opening)
				continue;
			if (l->running == GADGET_RUN_OP && patched && !l->broke_io) {
				act = l;
				what = BREAK_OWN;
				l->broke_io = true;
				break;
			}
			double at = _next_break_at(g, l);
			if (now < at) {
				if (at < next)
					next = at;
				continue;
			}
			act = l;
			if (patched && !l->broke_others_tried) {
				what = BREAK_OTHERS;
				l->broke_others_tried = true;
				/* Set before the break: the call it ends may return at
				 * once, and its record must say another LUN was hit. */
				l->broke_others = true;
				l->next_signal_at = now + g->opts.eject_wait_ms;
			}
		}
		if (!act) {
			clock_deadline(&dl, (unsigned)(next - now) + 1);
			pthread_cond_timedwait(&g->cond, &g->lock, &dl);
			continue;
		}
		unsigned id = act->snap.id;
		pthread_mutex_unlock(&g->lock);
		memset(&err, 0, sizeof(err));
		if (what == BREAK_OWN) {
			if (g->ops->break_io(g->be, id, &err) == 0)
				log_info(GADGET_MOD, "LUN %u: a forced eject broke the stalled I/O of the "
					 "operation before it (break_io)", id);
			else if (strcmp(err.code, "nothing_to_break") != 0)
				log_warn(GADGET_MOD, "LUN %u: break_io: %s", id, err.message);
		} else if (what == BREAK_OTHERS) {
			if (!_break_others(g, act)) {
				pthread_mutex_lock(&g->lock);
				act->broke_others = false;
				pthread_mutex_unlock(&g->lock);
			}
		} else {
			log_warn(GADGET_MOD, "LUN %u: the kernel call a forced eject waits for has not "
				 "returned; breaking it with SIGUSR1", id);
			if (gadget_signal(g, act, &err) < 0) {
				pthread_mutex_lock(&g->lock);	/* try again later */
				act->next_signal_at = clock_now_ms() + g->opts.eject_wait_ms;
				continue;
			}
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* The host learns a LUN's device type from INQUIRY, which it sends when it
 * configures the device. Any (re)configuration will do, not only the
 * reconnects vmediad makes: a target that powers off and on, a host that
 * resets the port or re-authorizes the device. The backend tells when the
 * UDC announced a state change that ended in "configured"; every LUN's
 * type is then what the host sees, and a type_change_pending warning is
 * over. The state itself shows in /status (is the target there at all?). */
#define GADGET_WATCH_MS 500

static void _host_enumerated(struct gadget *g)
{
	struct gadget_lun changed[GADGET_MAX_LUNS];
	unsigned n = 0;

	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->nluns; i++) {
		struct gadget_slot *l = &g->luns[i];
		if (_lun_busy(l))
			continue;	/* its operation sets the type itself */
		l->enumerated_cdrom = l->snap.cdrom;
		if (strcmp(l->snap.warning_code, "type_change_pending") == 0) {
			l->snap.warning[0] = '\0';
			l->snap.warning_code[0] = '\0';
			changed[n++] = l->snap;
		}
	}
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < n; i++) {
		log_info(GADGET_MOD, "LUN %u: the host enumerated the device again and now sees a %s",
			 changed[i].id, changed[i].cdrom ? "CD-ROM" : "disk");
		_notify(g, &changed[i], NULL);
	}
}

static void *_watch(void *arg)
{
	struct gadget *g = arg;
	char now[32], before[32];
	struct timespec dl;
	bool changed;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		pthread_mutex_unlock(&g->lock);
		int rc = g->ops->usb_state(g->be, GADGET_WATCH_MS, now, sizeof(now), &changed);
		if (rc < 0) {
			now[0] = '\0';
			changed = false;
		}
		pthread_mutex_lock(&g->lock);
		snprintf(before, sizeof(before), "%s", g->usb_state);
		snprintf(g->usb_state, sizeof(g->usb_state), "%s", now);
		pthread_mutex_unlock(&g->lock);
		if (strcmp(before, now) != 0)
			log_info(GADGET_MOD, "USB device state: %s -> %s", before[0] ? before : "unknown",
				 now[0] ? now : "unknown");
		if (changed && strcmp(now, "configured") == 0)
			_host_enumerated(g);
		pthread_mutex_lock(&g->lock);
		if (rc < 0) {	/* nothing to wait on: pace the retries */
			clock_deadline(&dl, GADGET_WATCH_MS);
			while (!g->stopping && pthread_cond_timedwait(&g->cond, &g->lock, &dl) == 0)
				;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static void _start_thread(pthread_t *t, void *(*fn)(void *), void *arg, const char *name)
{
	if (pthread_create(t, NULL, fn, arg) != 0)
		abort();
	pthread_setname_np(*t, name);
}

int gadget_create(const struct gadget_options *opts, const struct gadget_backend *ops, void *be,
		  struct gadget **out, struct err *err)
{
	struct gadget *g = calloc(1, sizeof(*g));

	if (!g)
		abort();
	if (opts->luns < 1 || opts->luns > GADGET_MAX_LUNS) {
		free(g);
		return err_set(err, ERR_INVALID, "bad_config", "between 1 and %d LUNs, not %u",
			       GADGET_MAX_LUNS, opts->luns);
	}
	g->opts = *opts;
	g->ops = ops;
	g->be = be;
	g->nluns = opts->luns;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->refs = g->nluns + 2;	/* the LUN workers, the gadget worker, destroy */
	ops->features(be, &g->features);
	if (ops->usb_state) {
		bool changed;	/* the state at start, so /status has it at once */
		if (ops->usb_state(be, 0, g->usb_state, sizeof(g->usb_state), &changed) < 0)
			g->usb_state[0] = '\0';
	}
	for (unsigned i = 0; i < g->nluns; i++) {
		struct gadget_slot *l = &g->luns[i];
		l->g = g;
		l->snap.id = i;
		l->snap.removable = true;
		l->snap.locked = -1;
	}
	for (unsigned i = 0; i < g->nluns; i++) {
		char tname[16];
		snprintf(tname, sizeof(tname), "vmedia-lun%u", i % 100);
		_start_thread(&g->luns[i].thread, _worker, &g->luns[i], tname);
	}
	_start_thread(&g->gworker, _gworker, g, "vmedia-gadget");
	_start_thread(&g->breaker, _breaker, g, "vmedia-break");
	if (ops->usb_state) {
		_start_thread(&g->watcher, _watch, g, "vmedia-usb");
		g->watching = true;
	}
	log_info(GADGET_MOD, "%s backend%s, %u LUN(s); kernel: break_io %s, forced_eject %s, "
		 "large CD images %s; forced eject strategy: %s", ops->name,
		 ops->simulated ? " (SIMULATED)" : "", g->nluns, g->features.break_io ? "yes" : "no",
		 g->features.forced_eject ? "yes" : "no",
		 g->features.large_cdrom ? "yes (DVD-ROM)" : "no (cut at 2.36 GB)",
		 gadget_strategy(g));
	*out = g;
	return 0;
}

/* From here on no listener call starts, and the ones running have ended
 * when this returns: what the listener uses (events, storage) may be freed
 * next. A worker stuck inside the kernel cannot be joined: the workers are
 * detached then, and the last of them to leave frees the gadget and the
 * backend. */
void gadget_destroy(struct gadget *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	g->closed = true;
	pthread_cond_broadcast(&g->cond);
	while (g->in_listener > 0)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	if (g->watching && g->ops->usb_state_wake)
		g->ops->usb_state_wake(g->be);
	pthread_join(g->breaker, NULL);
	if (g->watching)
		pthread_join(g->watcher, NULL);

	pthread_mutex_lock(&g->lock);
	bool stuck = g->gw_running;
	for (unsigned i = 0; i < g->nluns; i++)
		stuck |= g->luns[i].running != GADGET_RUN_IDLE;
	if (stuck) {
		log_warn(GADGET_MOD, "a LUN operation is still inside the kernel; not waiting for it");
		g->orphaned = true;
		for (unsigned i = 0; i < g->nluns; i++)
			pthread_detach(g->luns[i].thread);
		pthread_detach(g->gworker);
		_put(g);
		return;
	}
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->nluns; i++)
		pthread_join(g->luns[i].thread, NULL);
	pthread_join(g->gworker, NULL);
	_free(g);
}

void gadget_restore(struct gadget *g, unsigned lun, const char *image, bool cdrom, bool ro)
{
	if (lun >= g->nluns)
		return;
	pthread_mutex_lock(&g->lock);
	struct gadget_slot *l = &g->luns[lun];
	snprintf(l->snap.image, sizeof(l->snap.image), "%s", image);
	l->snap.cdrom = cdrom;
	l->snap.ro = ro;
	l->snap.state = image[0] ? GADGET_LUN_INSERTED : GADGET_LUN_EMPTY;
	l->enumerated_cdrom = cdrom;	/* the host saw it as it is now */
	pthread_mutex_unlock(&g->lock);
}

void gadget_restore_medium(struct gadget *g, unsigned lun, const char *image, bool cdrom, bool ro,
			   const struct gadget_medium_ops *ops, void *medium)
{
	gadget_restore(g, lun, image, cdrom, ro);
	if (lun >= g->nluns)
		return;
	pthread_mutex_lock(&g->lock);
	g->luns[lun].mops = ops;
	g->luns[lun].medium = medium;
	g->luns[lun].snap.streamed = true;
	pthread_mutex_unlock(&g->lock);
}

json_t *gadget_medium_json(struct gadget *g, unsigned lun)
{
	json_t *o = NULL;

	if (lun >= g->nluns)
		return NULL;
	pthread_mutex_lock(&g->lock);
	struct gadget_slot *l = &g->luns[lun];
	if (l->mops && l->mops->json)
		o = l->mops->json(l->medium);
	else if (l->op == GADGET_OP_INSERT && l->op_mops && l->op_mops->json && l->running == GADGET_RUN_OP)
		o = l->op_mops->json(l->op_medium);
	pthread_mutex_unlock(&g->lock);
	return o;
}

void gadget_set_listener(struct gadget *g, gadget_listener_fn fn, void *ctx)
{
	pthread_mutex_lock(&g->lock);
	g->listener = fn;
	g->listener_ctx = ctx;
	pthread_mutex_unlock(&g->lock);
}

unsigned gadget_lun_count(const struct gadget *g)
{
	return g->nluns;
}

static int _lun_ok(struct gadget *g, unsigned lun, struct err *err)
{
	if (lun >= g->nluns)
		return err_set(err, ERR_NOT_FOUND, "not_found", "there is no LUN %u (this box has %u)",
			       lun, g->nluns);
	return 0;
}

int gadget_get(struct gadget *g, unsigned lun, struct gadget_lun *out, struct err *err)
{
	if (_lun_ok(g, lun, err) < 0)
		return -1;
	pthread_mutex_lock(&g->lock);
	*out = g->luns[lun].snap;
	pthread_mutex_unlock(&g->lock);
	if (g->ops->locked)
		out->locked = g->ops->locked(g->be, lun);
	return 0;
}

static const char *_state_name(enum gadget_lun_state s)
{
	switch (s) {
	case GADGET_LUN_EMPTY: return "empty";
	case GADGET_LUN_INSERTED: return "inserted";
	case GADGET_LUN_EJECTING: return "ejecting";
	case GADGET_LUN_INSERTING: return "inserting";
	}
	return "?";
}

/* Tells the clients the operation has begun (state inserting or ejecting)
 * before the worker may even have picked it up; g->lock held, released and
 * taken again. */
static void _announce(struct gadget *g, struct gadget_slot *l)
{
	struct gadget_lun starting = l->snap;

	pthread_mutex_unlock(&g->lock);
	_notify(g, &starting, NULL);
	pthread_mutex_lock(&g->lock);
}

/* Waits until *done reaches seq or the API bound passes; g->lock held, and
 * released on return. Fills out with the LUN's state. */
static int _wait_done(struct gadget *g, struct gadget_slot *l, const uint64_t *done, uint64_t seq,
		      const int *rc_slot, const struct err *err_slot, struct gadget_lun *out,
		      struct err *err)
{
	struct timespec dl;
	int rc = 1;

	clock_deadline(&dl, g->opts.api_wait_ms);
	pthread_cond_broadcast(&g->cond);
	while (*done < seq)
		if (pthread_cond_timedwait(&g->cond, &g->lock, &dl) == ETIMEDOUT)
			break;
	if (*done >= seq) {
		rc = *rc_slot;
		if (rc < 0 && err)
			*err = *err_slot;
	}
	if (out)
		*out = l->snap;
	pthread_mutex_unlock(&g->lock);
	if (out && g->ops->locked)
		out->locked = g->ops->locked(g->be, l->snap.id);
	return rc < 0 ? -1 : rc;
}

/* Queues the op already filled into l (lock held), waits at most the API
 * bound, and unlocks. */
static int _submit_and_wait(struct gadget *g, struct gadget_slot *l, struct gadget_lun *out,
			    struct err *err)
{
	uint64_t seq = ++l->op_seq;

	_announce(g, l);
	return _wait_done(g, l, &l->done_seq, seq, &l->op_rc, &l->op_err, out, err);
}

static int _busy(struct gadget *g, struct gadget_slot *l, struct err *err)
{
	int rc = err_set(err, ERR_CONFLICT, "busy",
			 "LUN %u is busy (%s): an earlier operation is still inside the kernel; "
			 "wait for it, or eject with force=1, which pre-empts it",
			 l->snap.id, _state_name(l->snap.state));
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* An insert refused before it was queued: a medium of its own is the
 * gadget's from the call on, so it is closed here. */
static int _refuse_insert(const struct gadget_insert_req *req)
{
	if (req->medium_ops)
		req->medium_ops->close(req->medium);
	return -1;
}

int gadget_insert(struct gadget *g, unsigned lun, const struct gadget_insert_req *req,
		  struct gadget_lun *out, struct err *err)
{
	if (_lun_ok(g, lun, err) < 0)
		return _refuse_insert(req);
	pthread_mutex_lock(&g->lock);
	struct gadget_slot *l = &g->luns[lun];
	if (_lun_busy(l)) {
		_busy(g, l, err);
		return _refuse_insert(req);
	}
	if (l->snap.state != GADGET_LUN_EMPTY) {
		err_set(err, ERR_CONFLICT, "lun_not_empty", "LUN %u holds %s; eject it first",
			lun, l->snap.image);
		pthread_mutex_unlock(&g->lock);
		return _refuse_insert(req);
	}
	/* Pinned before the kernel opens the file, and only once the LUN is
	 * known to take it: if the insert fails later, the listener is told
	 * the image was released. */
	if (!req->medium_ops &&
	    req->pin(req->pin_ctx, req->image, lun, l->op_path, sizeof(l->op_path), err) < 0) {
		pthread_mutex_unlock(&g->lock);
		return -1;
	}
	l->op_mops = req->medium_ops;
	l->op_medium = req->medium;
	l->medium_interrupted = false;
	l->op = GADGET_OP_INSERT;
	snprintf(l->op_image, sizeof(l->op_image), "%s", req->image);
	l->op_cdrom = req->cdrom;
	l->op_ro = req->ro;
	l->op_reconnect = req->reconnect;
	l->snap.state = GADGET_LUN_INSERTING;
	snprintf(l->snap.image, sizeof(l->snap.image), "%s", req->image);
	l->snap.warning[0] = '\0';
	l->snap.warning_code[0] = '\0';
	return _submit_and_wait(g, l, out, err);
}

/* A forced eject joins the pending one, or asks for a new one; it runs on
 * the LUN's worker after whatever runs there now, which the breaker ends. */
static int _force_eject(struct gadget *g, struct gadget_slot *l, struct gadget_lun *out,
			struct err *err)
{
	if (!_force_pending(l)) {
		l->force_seq++;
		l->force_at = clock_now_ms();
		if (l->running == GADGET_RUN_OP)
			log_info(GADGET_MOD, "LUN %u: forced eject pre-empts the %s in progress",
				 l->snap.id, l->op == GADGET_OP_INSERT ? "insert" : "plain eject");
	}
	uint64_t seq = l->force_seq;
	l->snap.state = GADGET_LUN_EJECTING;
	_announce(g, l);
	return _wait_done(g, l, &l->force_done, seq, &l->force_rc, &l->force_err, out, err);
}

int gadget_eject(struct gadget *g, unsigned lun, bool force, struct gadget_lun *out,
		 struct err *err)
{
	if (_lun_ok(g, lun, err) < 0)
		return -1;
	pthread_mutex_lock(&g->lock);
	struct gadget_slot *l = &g->luns[lun];
	if (l->snap.state == GADGET_LUN_EMPTY && !_lun_busy(l)) {
		if (out)
			*out = l->snap;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	if (force)
		return _force_eject(g, l, out, err);
	if (_lun_busy(l))
		return _busy(g, l, err);
	l->op = GADGET_OP_EJECT;
	l->snap.state = GADGET_LUN_EJECTING;
	return _submit_and_wait(g, l, out, err);
}

int gadget_reconnect(struct gadget *g, double *elapsed_ms, struct err *err)
{
	pthread_mutex_lock(&g->lock);
	int rc = _reconnect_locked(g, true, g->opts.api_wait_ms, elapsed_ms, err);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

json_t *gadget_lun_json(const struct gadget_lun *lun)
{
	json_t *o = json_pack("{s:i, s:o, s:b, s:b, s:b, s:s, s:o}",
			      "id", (int)lun->id,
			      "image", lun->image[0] ? json_string(lun->image) : json_null(),
			      "cdrom", lun->cdrom, "ro", lun->ro, "removable", lun->removable,
			      "state", _state_name(lun->state),
			      "locked", lun->locked < 0 ? json_null() : json_boolean(lun->locked));
	const struct gadget_eject *e = &lun->last_eject;
	if (e->valid) {
		char when[CLOCK_ISO8601_SIZE];
		clock_iso8601(when, sizeof(when), (time_t)(e->at / 1000), (int)(e->at % 1000));
		json_object_set_new(o, "last_eject", json_pack(
			"{s:s, s:b, s:b, s:f, s:b, s:o, s:s}", "method", e->method,
			"forced", e->forced, "ok", e->ok, "elapsed_ms", e->elapsed_ms,
			"other_luns_affected", e->other_luns_affected,
			"error", e->ok ? json_null() : json_string(e->error), "at", when));
	} else {
		json_object_set_new(o, "last_eject", json_null());
	}
	if (lun->insert_error.kind != ERR_NONE)
		json_object_set_new(o, "insert_error", json_pack("{s:s, s:s}", "code",
								 lun->insert_error.code, "message",
								 lun->insert_error.message));
	if (lun->warning[0]) {
		json_object_set_new(o, "warning", json_string(lun->warning));
		json_object_set_new(o, "warning_code", json_string(lun->warning_code));
	}
	return o;
}

struct gadget_features gadget_features(struct gadget *g)
{
	pthread_mutex_lock(&g->lock);
	struct gadget_features f = g->features;
	pthread_mutex_unlock(&g->lock);
	return f;
}

long long gadget_cd_max_bytes(const struct gadget_features *f)
{
	return f->large_cdrom && f->cdrom_max_bytes > 0 ? f->cdrom_max_bytes : GADGET_CD_MAX_BYTES;
}

int gadget_cd_fits(struct gadget *g, const char *what, long long size, struct err *err)
{
	struct gadget_features f = gadget_features(g);
	long long max = gadget_cd_max_bytes(&f);

	if (size <= max)
		return 0;
	if (f.large_cdrom)
		return err_set(err, ERR_UNPROCESSABLE, "too_large_for_cd",
			       "%s (%lld bytes) is larger than the largest DVD-ROM the kernel "
			       "serves (%lld bytes); insert it as a flash drive (\"cdrom\": false)",
			       what, size, max);
	return err_set(err, ERR_UNPROCESSABLE, "too_large_for_cd",
		       "%s (%lld bytes) is larger than a CD-ROM LUN of this kernel can serve: it "
		       "would cut the image at %lld bytes (about 2.36 GB) and the host would miss "
		       "the rest. Insert it as a flash drive (\"cdrom\": false), or run a kernel "
		       "with vmedia's DVD-ROM patch (see README, Large ISOs)", what, size, max);
}

json_t *gadget_backend_json(struct gadget *g)
{
	const char *gname = g->ops->gadget_name ? g->ops->gadget_name(g->be) : NULL;
	const char *udc = g->ops->udc_name ? g->ops->udc_name(g->be) : NULL;
	char usb[32];

	pthread_mutex_lock(&g->lock);
	snprintf(usb, sizeof(usb), "%s", g->usb_state);
	struct gadget_features f = g->features;
	const char *strategy = gadget_strategy_locked(g);
	pthread_mutex_unlock(&g->lock);
	return json_pack("{s:s, s:b, s:i, s:o, s:o, s:o, s:{s:b, s:b, s:b, s:I, s:s}}",
			 "name", g->ops->name, "simulated", g->ops->simulated,
			 "luns", (int)g->nluns,
			 "gadget", gname ? json_string(gname) : json_null(),
			 "udc", udc ? json_string(udc) : json_null(),
			 "usb_state", usb[0] ? json_string(usb) : json_null(),
			 "features", "break_io", f.break_io && !g->opts.hide_break_io,
			 "forced_eject", f.forced_eject, "large_cdrom", f.large_cdrom,
			 "cdrom_max_bytes", (json_int_t)gadget_cd_max_bytes(&f),
			 "eject_strategy", strategy);
}
