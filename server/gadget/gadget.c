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

#define _MOD "GADGET"

static int _do_reconnect(struct gadget *g, struct err *err)
{
	if (!g->ops->reconnect)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "this backend cannot reconnect the gadget");
	if (g->ops->reconnect(g->be, err) < 0)
		return -1;
	g->ops->features(g->be, &g->features);	/* a new kernel module may be there */
	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->nluns; i++) {
		g->luns[i].enumerated_cdrom = g->luns[i].snap.cdrom;
		g->luns[i].snap.warning[0] = '\0';
		g->luns[i].snap.warning_code[0] = '\0';
	}
	pthread_mutex_unlock(&g->lock);
	log_info(_MOD, "gadget reconnected: the host enumerates it again");
	return 0;
}

/* Runs the queued operation with the lock released; returns the image the
 * LUN let go of (static per LUN), or NULL. */
static void _run_op(struct gadget *g, struct _lun *l)
{
	struct err err = { 0 };
	struct gadget_eject ej = { 0 };
	char released[NAMES_MAX + 1] = "";
	int rc = 0;
	double t0 = clock_now_ms();

	switch (l->op) {
	case OP_INSERT:
		rc = g->ops->set_flags(g->be, l->snap.id, l->op_cdrom, l->op_ro, &err);
		if (rc == 0)
			rc = g->ops->set_file(g->be, l->snap.id, l->op_path, &err);
		if (rc == 0 && l->op_force)
			rc = _do_reconnect(g, &err);
		if (rc < 0)
			snprintf(released, sizeof(released), "%s", l->op_image);
		log_info(_MOD, "LUN %u: insert %s (%s, %s) %s%s", l->snap.id, l->op_image,
			 l->op_cdrom ? "cdrom" : "disk", l->op_ro ? "ro" : "rw",
			 rc == 0 ? "done" : "failed: ", rc == 0 ? "" : err.message);
		break;
	case OP_EJECT:
		rc = _gadget_do_eject(g, l, l->op_force, &ej, &err);
		break;
	case OP_RECONNECT:
		rc = _do_reconnect(g, &err);
		break;
	case OP_NONE:
		break;
	}

	pthread_mutex_lock(&g->lock);
	struct gadget_lun *s = &l->snap;
	if (l->op == OP_INSERT) {
		if (rc == 0) {
			snprintf(s->image, sizeof(s->image), "%s", l->op_image);
			s->cdrom = l->op_cdrom;
			s->ro = l->op_ro;
			s->state = LUN_INSERTED;
			if (l->op_force)	/* reconnected: the host saw the new type */
				l->enumerated_cdrom = s->cdrom;
			if (s->cdrom != l->enumerated_cdrom)
				snprintf(s->warning_code, sizeof(s->warning_code),
					 "type_change_pending");
			if (s->cdrom != l->enumerated_cdrom)
				snprintf(s->warning, sizeof(s->warning),
					 "the host still sees a %s: it learns the new device type "
					 "only after a reconnect (insert with \"reconnect\": true, "
					 "or POST /gadget/reconnect)",
					 l->enumerated_cdrom ? "CD-ROM" : "disk");
		} else {
			s->state = LUN_EMPTY;
		}
	} else if (l->op == OP_EJECT) {
		s->last_eject = ej;
		if (rc == 0) {
			snprintf(released, sizeof(released), "%s", s->image);
			s->image[0] = '\0';
			s->warning[0] = '\0';
			s->warning_code[0] = '\0';
			s->state = LUN_EMPTY;
		} else {
			s->state = LUN_INSERTED;
		}
	}
	l->op_rc = rc;
	l->op_err = err;
	l->op_elapsed_ms = clock_now_ms() - t0;
	struct gadget_lun snap = *s;
	pthread_mutex_unlock(&g->lock);

	/* The listener runs before the caller is told the operation is done,
	 * so by then the image pins and the events are up to date. */
	if (g->ops->locked)
		snap.locked = g->ops->locked(g->be, snap.id);
	if (g->listener)
		g->listener(g->listener_ctx, &snap, released[0] ? released : NULL);

	/* A reconnect changed what the host sees on every LUN. */
	if ((l->op == OP_RECONNECT || (l->op == OP_INSERT && l->op_force)) && rc == 0 && g->listener)
		for (unsigned i = 0; i < g->nluns; i++) {
			struct gadget_lun other;
			if (i != snap.id && gadget_get(g, i, &other, NULL) == 0)
				g->listener(g->listener_ctx, &other, NULL);
		}

	pthread_mutex_lock(&g->lock);
	l->done_seq = l->op_seq;
	l->busy = false;
	l->op = OP_NONE;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* The host learns a LUN's device type from INQUIRY, which it sends when it
 * configures the device. Any (re)configuration will do, not only the
 * reconnects vmediad makes: a target that powers off and on, a host that
 * resets the port or re-authorizes the device. The backend tells when the
 * UDC announced a state change that ended in "configured"; every LUN's
 * type is then what the host sees, and a type_change_pending warning is
 * over. The state itself shows in /status (is the target there at all?). */
#define _WATCH_MS 500

static void _host_enumerated(struct gadget *g)
{
	struct gadget_lun changed[GADGET_MAX_LUNS];
	unsigned n = 0;

	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->nluns; i++) {
		struct _lun *l = &g->luns[i];
		if (l->busy)
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
		log_info(_MOD, "LUN %u: the host enumerated the device again and now sees a %s",
			 changed[i].id, changed[i].cdrom ? "CD-ROM" : "disk");
		if (g->ops->locked)
			changed[i].locked = g->ops->locked(g->be, changed[i].id);
		if (g->listener)
			g->listener(g->listener_ctx, &changed[i], NULL);
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
		int rc = g->ops->usb_state(g->be, _WATCH_MS, now, sizeof(now), &changed);
		if (rc < 0) {
			now[0] = '\0';
			changed = false;
		}
		pthread_mutex_lock(&g->lock);
		snprintf(before, sizeof(before), "%s", g->usb_state);
		snprintf(g->usb_state, sizeof(g->usb_state), "%s", now);
		pthread_mutex_unlock(&g->lock);
		if (strcmp(before, now) != 0)
			log_info(_MOD, "USB device state: %s -> %s", before[0] ? before : "unknown",
				 now[0] ? now : "unknown");
		if (changed && strcmp(now, "configured") == 0)
			_host_enumerated(g);
		pthread_mutex_lock(&g->lock);
		if (rc < 0) {	/* nothing to wait on: pace the retries */
			clock_deadline(&dl, _WATCH_MS);
			while (!g->stopping && pthread_cond_timedwait(&g->cond, &g->lock, &dl) == 0)
				;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static void *_worker(void *arg)
{
	struct _lun *l = arg;
	struct gadget *g = l->g;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (!g->stopping && !(l->busy && l->op_seq > l->done_seq))
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->stopping)
			break;
		pthread_mutex_unlock(&g->lock);
		_run_op(g, l);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
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
	ops->features(be, &g->features);
	for (unsigned i = 0; i < g->nluns; i++) {
		struct _lun *l = &g->luns[i];
		l->g = g;
		l->snap.id = i;
		l->snap.removable = true;
		l->snap.locked = -1;
		if (pthread_create(&l->thread, NULL, _worker, l) != 0)
			abort();
		char tname[16];
		snprintf(tname, sizeof(tname), "vmedia-lun%u", i % 100);
		pthread_setname_np(l->thread, tname);
	}
	if (ops->usb_state) {
		bool changed;	/* the state at start, so /status has it at once */
		if (ops->usb_state(be, 0, g->usb_state, sizeof(g->usb_state), &changed) < 0)
			g->usb_state[0] = '\0';
		if (pthread_create(&g->watcher, NULL, _watch, g) != 0)
			abort();
		pthread_setname_np(g->watcher, "vmedia-usb");
		g->watching = true;
	}
	log_info(_MOD, "%s backend%s, %u LUN(s); kernel: break_io %s, forced_eject %s; "
		 "forced eject strategy: %s", ops->name, ops->simulated ? " (SIMULATED)" : "",
		 g->nluns, g->features.break_io ? "yes" : "no",
		 g->features.forced_eject ? "yes" : "no", gadget_strategy(g));
	*out = g;
	return 0;
}

/* Workers blocked in a kernel call cannot be joined; they are detached and
 * the process exit ends them. */
void gadget_destroy(struct gadget *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	bool stuck = false;
	for (unsigned i = 0; i < g->nluns; i++)
		stuck |= g->luns[i].busy;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (g->watching && g->ops->usb_state_wake)
		g->ops->usb_state_wake(g->be);
	if (stuck) {
		log_warn(_MOD, "a LUN operation is still inside the kernel; not waiting for it");
		return;
	}
	for (unsigned i = 0; i < g->nluns; i++)
		pthread_join(g->luns[i].thread, NULL);
	if (g->watching)
		pthread_join(g->watcher, NULL);
	g->ops->destroy(g->be);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

void gadget_restore(struct gadget *g, unsigned lun, const char *image, bool cdrom, bool ro)
{
	if (lun >= g->nluns)
		return;
	pthread_mutex_lock(&g->lock);
	struct _lun *l = &g->luns[lun];
	snprintf(l->snap.image, sizeof(l->snap.image), "%s", image);
	l->snap.cdrom = cdrom;
	l->snap.ro = ro;
	l->snap.state = image[0] ? LUN_INSERTED : LUN_EMPTY;
	l->enumerated_cdrom = cdrom;	/* the host saw it as it is now */
	pthread_mutex_unlock(&g->lock);
}

void gadget_set_listener(struct gadget *g, gadget_listener_fn fn, void *ctx)
{
	g->listener = fn;
	g->listener_ctx = ctx;
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

/* Queues the op already filled into l (lock held), waits at most the API
 * bound, and unlocks. */
static int _submit_and_wait(struct gadget *g, struct _lun *l, struct gadget_lun *out,
			    struct err *err)
{
	struct timespec dl;
	uint64_t seq = ++l->op_seq;
	int rc = 1;

	l->busy = true;
	clock_deadline(&dl, g->opts.api_wait_ms);
	/* Clients see the operation begin (state inserting or ejecting) before
	 * the worker may even have picked it up. */
	if (l->op != OP_RECONNECT && g->listener) {
		struct gadget_lun starting = l->snap;
		pthread_mutex_unlock(&g->lock);
		g->listener(g->listener_ctx, &starting, NULL);
		pthread_mutex_lock(&g->lock);
	}
	pthread_cond_broadcast(&g->cond);
	while (l->done_seq < seq)
		if (pthread_cond_timedwait(&g->cond, &g->lock, &dl) == ETIMEDOUT)
			break;
	if (l->done_seq >= seq) {
		rc = l->op_rc;
		if (rc < 0 && err)
			*err = l->op_err;
	}
	if (out)
		*out = l->snap;
	pthread_mutex_unlock(&g->lock);
	if (out && g->ops->locked)
		out->locked = g->ops->locked(g->be, l->snap.id);
	return rc < 0 ? -1 : rc;
}

static const char *_state_name(enum gadget_lun_state s)
{
	switch (s) {
	case LUN_EMPTY: return "empty";
	case LUN_INSERTED: return "inserted";
	case LUN_EJECTING: return "ejecting";
	case LUN_INSERTING: return "inserting";
	}
	return "?";
}

static int _busy(struct gadget *g, struct _lun *l, struct err *err)
{
	int rc = err_set(err, ERR_CONFLICT, "busy",
			 "LUN %u is busy (%s): an earlier operation is still inside the kernel; "
			 "wait for it to finish", l->snap.id, _state_name(l->snap.state));
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int gadget_insert(struct gadget *g, unsigned lun, const struct gadget_insert_req *req,
		  struct gadget_lun *out, struct err *err)
{
	if (_lun_ok(g, lun, err) < 0)
		return -1;
	pthread_mutex_lock(&g->lock);
	struct _lun *l = &g->luns[lun];
	if (l->busy)
		return _busy(g, l, err);
	if (l->snap.state != LUN_EMPTY) {
		int rc = err_set(err, ERR_CONFLICT, "lun_not_empty",
				 "LUN %u holds %s; eject it first", lun, l->snap.image);
		pthread_mutex_unlock(&g->lock);
		return rc;
	}
	/* Pinned before the kernel opens the file, and only once the LUN is
	 * known to take it: if the insert fails later, the listener is told
	 * the image was released. */
	if (req->pin(req->pin_ctx, req->image, lun, l->op_path, sizeof(l->op_path), err) < 0) {
		pthread_mutex_unlock(&g->lock);
		return -1;
	}
	l->op = OP_INSERT;
	snprintf(l->op_image, sizeof(l->op_image), "%s", req->image);
	l->op_cdrom = req->cdrom;
	l->op_ro = req->ro;
	l->op_force = req->reconnect;
	l->snap.state = LUN_INSERTING;
	snprintf(l->snap.image, sizeof(l->snap.image), "%s", req->image);
	l->snap.warning[0] = '\0';
	l->snap.warning_code[0] = '\0';
	return _submit_and_wait(g, l, out, err);
}

int gadget_eject(struct gadget *g, unsigned lun, bool force, struct gadget_lun *out,
		 struct err *err)
{
	if (_lun_ok(g, lun, err) < 0)
		return -1;
	pthread_mutex_lock(&g->lock);
	struct _lun *l = &g->luns[lun];
	if (l->busy)
		return _busy(g, l, err);
	if (l->snap.state == LUN_EMPTY) {
		if (out)
			*out = l->snap;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	l->op = OP_EJECT;
	l->op_force = force;
	l->snap.state = LUN_EJECTING;
	return _submit_and_wait(g, l, out, err);
}

int gadget_reconnect(struct gadget *g, double *elapsed_ms, struct err *err)
{
	pthread_mutex_lock(&g->lock);
	struct _lun *l = &g->luns[0];
	if (l->busy)
		return _busy(g, l, err);
	l->op = OP_RECONNECT;
	int rc = _submit_and_wait(g, l, NULL, err);
	*elapsed_ms = l->op_elapsed_ms;
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
		char when[40];
		time_t t = (time_t)(e->at / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(when + n, sizeof(when) - n, ".%03dZ", (int)(e->at % 1000));
		json_object_set_new(o, "last_eject", json_pack(
			"{s:s, s:b, s:b, s:f, s:b, s:o, s:s}", "method", e->method,
			"forced", e->forced, "ok", e->ok, "elapsed_ms", e->elapsed_ms,
			"other_luns_affected", e->other_luns_affected,
			"error", e->ok ? json_null() : json_string(e->error), "at", when));
	} else {
		json_object_set_new(o, "last_eject", json_null());
	}
	if (lun->warning[0]) {
		json_object_set_new(o, "warning", json_string(lun->warning));
		json_object_set_new(o, "warning_code", json_string(lun->warning_code));
	}
	return o;
}

json_t *gadget_backend_json(struct gadget *g)
{
	const char *gname = g->ops->gadget_name ? g->ops->gadget_name(g->be) : NULL;
	const char *udc = g->ops->udc_name ? g->ops->udc_name(g->be) : NULL;
	char usb[32];

	pthread_mutex_lock(&g->lock);
	snprintf(usb, sizeof(usb), "%s", g->usb_state);
	pthread_mutex_unlock(&g->lock);
	return json_pack("{s:s, s:b, s:i, s:o, s:o, s:o, s:{s:b, s:b, s:s}}",
			 "name", g->ops->name, "simulated", g->ops->simulated,
			 "luns", (int)g->nluns,
			 "gadget", gname ? json_string(gname) : json_null(),
			 "udc", udc ? json_string(udc) : json_null(),
			 "usb_state", usb[0] ? json_string(usb) : json_null(),
			 "features", "break_io", g->features.break_io && !g->opts.hide_break_io,
			 "forced_eject", g->features.forced_eject,
			 "eject_strategy", gadget_strategy(g));
}
