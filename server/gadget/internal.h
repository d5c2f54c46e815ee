/* gadget internals shared by the LUN table (gadget.c) and the eject
 * strategies (eject.c). */
#ifndef VMEDIA_GADGET_INTERNAL_H
#define VMEDIA_GADGET_INTERNAL_H

#include <pthread.h>

#include "gadget.h"

enum gadget_op { GADGET_OP_NONE = 0, GADGET_OP_INSERT, GADGET_OP_EJECT };

/* What a LUN's worker is inside of, for the breaker. */
enum gadget_run { GADGET_RUN_IDLE = 0, GADGET_RUN_OP, GADGET_RUN_FORCE };

struct gadget_slot {
	struct gadget *g;
	pthread_t thread;
	struct gadget_lun snap;
	bool enumerated_cdrom;	/* the type the host saw at the last (re)bind */

	/* Everything below is guarded by g->lock. */

	/* The operation slot: an insert or a plain eject, queued or running. */
	enum gadget_op op;
	char op_image[NAMES_MAX + 1];
	char op_path[4096];
	bool op_cdrom, op_ro, op_reconnect;
	const struct gadget_medium_ops *op_mops;	/* an insert of a medium of its own */
	void *op_medium;

	/* The medium of its own the LUN holds (a stream), or NULL. */
	const struct gadget_medium_ops *mops;
	void *medium;
	bool medium_interrupted;	/* by the breaker, for the pending forced eject */
	bool opening;		/* the worker is in op_mops->open */
	uint64_t op_seq, done_seq;
	int op_rc;
	struct err op_err;

	/* A forced eject. It has a slot of its own so that it is never refused
	 * because of the operation above: it runs after it, and the breaker
	 * ends that operation's stalled kernel call first. Callers that ask
	 * while one is pending share it. */
	uint64_t force_seq, force_done;
	double force_at;	/* clock_now_ms() when the pending one was asked for */
	int force_rc;
	struct err force_err;

	/* The kernel call the worker is in, and what the breaker did to it. */
	enum gadget_run running;
	double run_since;
	bool broke_io;		/* break_io written for this call */
	bool broke_others_tried;	/* break_io of the other LUNs written */
	bool broke_others;	/* ... and one of them had a command to end */
	unsigned sigusr1s;	/* SIGUSR1 sent for this call */
	double next_signal_at;	/* when the breaker sends the next one */
};

struct gadget {
	struct gadget_options opts;
	const struct gadget_backend *ops;
	void *be;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* broadcast on every change of the state below */
	struct gadget_features features;
	bool stopping;
	bool closed;		/* gadget_destroy has begun: no listener call starts */
	unsigned in_listener;	/* listener calls running now */
	/* The workers and gadget_destroy each hold one; after a destroy that
	 * found a worker stuck in the kernel, the last one out frees it all. */
	unsigned refs;
	bool orphaned;
	unsigned nluns;
	struct gadget_slot luns[GADGET_MAX_LUNS];
	gadget_listener_fn listener;
	void *listener_ctx;

	/* Gadget-wide operations (a reconnect) have a worker of their own, so
	 * that no LUN's stalled call holds them up. Requests made while one
	 * runs are served by the next run. */
	pthread_t gworker;
	uint64_t gw_seq, gw_done;
	bool gw_running;
	int gw_rc;
	struct err gw_err;
	double gw_elapsed_ms;

	/* The breaker: ends the stalled kernel call a forced eject waits for. */
	pthread_t breaker;

	/* The USB state watcher (backends with usb_state). */
	pthread_t watcher;
	bool watching;
	char usb_state[32];	/* last seen; "" unknown */
};

/* The forced-eject strategy for the features detected; g->lock held. */
const char *gadget_strategy_locked(const struct gadget *g);
/* SIGUSR1 to the function's kernel threads on behalf of LUN l, counted in
 * l->sigusr1s. Any thread; takes g->lock briefly. */
int gadget_signal(struct gadget *g, struct gadget_slot *l, struct err *err);

/* Runs an eject on the LUN's worker: plain, or forced with the strategy
 * the kernel allows; fills out with how it went. */
int gadget_do_eject(struct gadget *g, struct gadget_slot *l, bool force, struct gadget_eject *out,
		     struct err *err);
/* The record of a forced eject that found the medium already out: the
 * plain eject it pre-empted took it out once the breaker had ended the
 * stalled call. g->lock held. */
void gadget_eject_preempted(const struct gadget_slot *l, struct gadget_eject *out);

#endif
