/* eject: how a LUN's medium is taken out, plain or forced, with the best
 * method the running kernel offers (see the table in README.md):
 * break_io + forced_eject, forced_eject with a SIGUSR1 fallback after a
 * bound (sent by the breaker, gadget.c), or SIGUSR1 + file. Runs only on
 * the LUN's worker thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "internal.h"

#define GADGET_MOD "GADGET"

static int64_t _epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *gadget_strategy_locked(const struct gadget *g)
{
	if (g->features.break_io && !g->opts.hide_break_io)
		return "break_io+forced_eject";
	if (g->features.forced_eject)
		return "forced_eject+sigusr1";
	return "sigusr1+file";
}

const char *gadget_strategy(struct gadget *g)
{
	pthread_mutex_lock(&g->lock);
	const char *s = gadget_strategy_locked(g);
	pthread_mutex_unlock(&g->lock);
	return s;
}

/* The forced eject itself. A call that sticks in the kernel is the
 * breaker's to end (gadget.c): on a stock kernel forced_eject waits behind
 * a stalled command until SIGUSR1 arrives. */
static int _eject_forced(struct gadget *g, struct gadget_slot *l, struct gadget_eject *out,
			 struct err *err)
{
	unsigned id = l->snap.id;
	const char *strategy = gadget_strategy(g);

	snprintf(out->method, sizeof(out->method), "%s", strategy);
	if (strcmp(strategy, "break_io+forced_eject") == 0) {
		struct err berr;
		/* v2's forced_eject ends its LUN's command itself; v1's did not
		 * always. "Nothing to break" is the answer of an idle LUN. */
		if (g->ops->break_io(g->be, id, &berr) < 0 &&
		    strcmp(berr.code, "nothing_to_break") != 0)
			log_warn(GADGET_MOD, "LUN %u: break_io: %s", id, berr.message);
		if (g->ops->forced_eject(g->be, id, err) == 0)
			return 0;
		if (err->kind != ERR_TIMEOUT)
			return -1;
		/* v1 of the patch: another LUN's stalled command held the
		 * shared lock and the kernel gave up after its 1 s bound (v2
		 * waits instead, and the breaker ends that command). An eject
		 * must win, so break everything. */
		log_warn(GADGET_MOD, "LUN %u: %s", id, err->message);
		if (gadget_signal(g, l, err) < 0)
			return -1;
		return g->ops->forced_eject(g->be, id, err);
	}
	if (strcmp(strategy, "forced_eject+sigusr1") == 0) {
		snprintf(out->method, sizeof(out->method), "forced_eject");
		return g->ops->forced_eject(g->be, id, err);
	}
	/* Before 6.0: no forced_eject at all. SIGUSR1 clears every LUN's
	 * medium lock (and breaks any stalled command), then `file` works. */
	if (gadget_signal(g, l, err) < 0)
		return -1;
	return g->ops->set_file(g->be, id, "", err);
}

int gadget_do_eject(struct gadget *g, struct gadget_slot *l, bool force, struct gadget_eject *out,
		     struct err *err)
{
	double t0 = clock_now_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	out->valid = true;
	out->forced = force;
	if (force) {
		rc = _eject_forced(g, l, out, err);
		pthread_mutex_lock(&g->lock);
		size_t n = strlen(out->method);
		if (l->broke_others) {
			out->other_luns_affected = true;
			snprintf(out->method + n, sizeof(out->method) - n, "+break_others");
		}
		n = strlen(out->method);
		if (l->sigusr1s > 0) {
			out->other_luns_affected = true;
			if (!strstr(out->method, "sigusr1"))
				snprintf(out->method + n, sizeof(out->method) - n, "+sigusr1");
		}
		pthread_mutex_unlock(&g->lock);
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
	log_info(GADGET_MOD, "LUN %u: eject (%s) %s in %.2f ms%s%s", l->snap.id, out->method,
		 rc == 0 ? "done" : "failed", out->elapsed_ms, rc == 0 ? "" : ": ",
		 rc == 0 ? "" : err->message);
	return rc;
}


void gadget_eject_preempted(const struct gadget_slot *l, struct gadget_eject *out)
{
	memset(out, 0, sizeof(*out));
	out->valid = true;
	out->forced = true;
	out->ok = true;
	snprintf(out->method, sizeof(out->method), "%s%s%sfile", l->broke_io ? "break_io+" : "",
		 l->broke_others ? "break_others+" : "", l->sigusr1s ? "sigusr1+" : "");
	out->other_luns_affected = l->sigusr1s > 0 || l->broke_others;
	out->elapsed_ms = clock_now_ms() - l->force_at;
	out->at = _epoch_ms();
	log_info(GADGET_MOD, "LUN %u: forced eject (%s) done in %.2f ms: the plain eject it pre-empted "
		 "took the medium out", l->snap.id, out->method, out->elapsed_ms);
}
