/* health: how the LUN workers are doing, for the service watchdog and
 * /status. A worker inside one kernel call for long is stuck there (a host
 * that stopped reading); that is the kernel's state, which a restart of
 * vmediad would not change, so it is reported, not acted on. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "../core/clock.h"

static const char *_what(const struct gadget_slot *l)
{
	if (l->running == GADGET_RUN_FORCE)
		return "forced eject";
	return l->op == GADGET_OP_INSERT ? "insert" : "eject";
}

int gadget_health(struct gadget *g, unsigned lock_timeout_ms, struct gadget_worker *out,
		  unsigned n)
{
	struct timespec deadline;
	unsigned i;

	/* Every module holds its lock briefly and never across a kernel call,
	 * so a lock that stays taken for this long means a deadlock. */
	clock_deadline(&deadline, lock_timeout_ms);
	if (pthread_mutex_timedlock(&g->lock, &deadline) != 0)
		return -1;
	double now = clock_now_ms();
	for (i = 0; i < g->nluns && i < n; i++) {
		const struct gadget_slot *l = &g->luns[i];
		out[i].lun = i;
		out[i].busy_ms = l->running != GADGET_RUN_IDLE ? now - l->run_since : 0;
		snprintf(out[i].what, sizeof(out[i].what), "%s",
			 l->running != GADGET_RUN_IDLE ? _what(l) : "");
	}
	pthread_mutex_unlock(&g->lock);
	return (int)i;
}

static void _append(char *buf, size_t size, const char *fmt, const char *a, const char *b)
{
	size_t l = strlen(buf);
	if (l < size)
		snprintf(buf + l, size - l, fmt, a, b);
}

void gadget_summary(struct gadget *g, char *buf, size_t size)
{
	struct gadget_worker w[GADGET_MAX_LUNS];
	int nw = gadget_health(g, 1000, w, GADGET_MAX_LUNS);

	buf[0] = '\0';
	if (nw < 0) {
		snprintf(buf, size, "the LUN table is locked up");
		return;
	}
	for (unsigned i = 0; i < gadget_lun_count(g); i++) {
		struct gadget_lun l;
		char head[32], what[96];
		static const char *const states[] = { "empty", "inserted", "ejecting", "inserting" };

		if (gadget_get(g, i, &l, NULL) < 0)
			continue;
		snprintf(head, sizeof(head), "%sLUN %u: ", i ? "; " : "", i);
		if (l.image[0])
			snprintf(what, sizeof(what), " (%s%s%s)", l.cdrom ? "cdrom" : "disk",
				 l.ro ? ", ro" : "", l.state != GADGET_LUN_INSERTED ? ", changing" : "");
		else
			snprintf(what, sizeof(what), "%s", l.state == GADGET_LUN_EMPTY ? "" : " (changing)");
		_append(buf, size, "%s%s", head, l.image[0] ? l.image : states[l.state]);
		_append(buf, size, "%s%s", what, "");
		if ((int)i < nw && w[i].busy_ms >= GADGET_STUCK_MS) {
			char secs[64];
			snprintf(secs, sizeof(secs), "%.0f s", w[i].busy_ms / 1000);
			_append(buf, size, ", STUCK in the kernel (%s) for %s", w[i].what, secs);
		}
	}
}

json_t *gadget_health_json(struct gadget *g)
{
	struct gadget_worker w[GADGET_MAX_LUNS];
	int n = gadget_health(g, 1000, w, GADGET_MAX_LUNS);
	char summary[1024];
	json_t *workers = json_array();

	gadget_summary(g, summary, sizeof(summary));
	for (int i = 0; i < n; i++) {
		const char *state = w[i].busy_ms >= GADGET_STUCK_MS ? "stuck" :
				    w[i].what[0] ? "busy" : "idle";
		json_array_append_new(workers, json_pack(
			"{s:I, s:s, s:s?, s:f}", "lun", (json_int_t)w[i].lun, "state", state,
			"operation", w[i].what[0] ? w[i].what : NULL,
			"in_kernel_ms", (double)(long long)(w[i].busy_ms * 10) / 10));
	}
	return json_pack("{s:s, s:o}", "summary", summary, "workers", workers);
}
