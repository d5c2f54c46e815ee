/* gadget internals shared by the LUN table (gadget.c) and the eject
 * strategies (eject.c). */
#ifndef VMEDIA_GADGET_INTERNAL_H
#define VMEDIA_GADGET_INTERNAL_H

#include <pthread.h>

#include "gadget.h"

enum _op { OP_NONE = 0, OP_INSERT, OP_EJECT, OP_RECONNECT };

struct _lun {
	struct gadget *g;
	pthread_t thread;
	struct gadget_lun snap;
	bool enumerated_cdrom;	/* the type the host saw at the last (re)bind */

	/* The operation slot, guarded by g->lock. */
	enum _op op;
	bool busy;
	char op_image[NAMES_MAX + 1];
	char op_path[4096];
	bool op_cdrom, op_ro, op_force;
	uint64_t op_seq, done_seq;
	int op_rc;
	double op_elapsed_ms;
	struct err op_err;
};

struct gadget {
	struct gadget_options opts;
	const struct gadget_backend *ops;
	void *be;
	struct gadget_features features;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* broadcast on every op queued or finished */
	bool stopping;
	unsigned nluns;
	struct _lun luns[GADGET_MAX_LUNS];
	gadget_listener_fn listener;
	void *listener_ctx;

	/* The USB state watcher (backends with usb_state). */
	pthread_t watcher;
	bool watching;
	char usb_state[32];	/* last seen; "" unknown */
};

/* Runs an eject on the LUN's worker: plain, or forced with the strategy
 * the kernel allows; fills out with how it went. */
int _gadget_do_eject(struct gadget *g, struct _lun *l, bool force, struct gadget_eject *out,
		     struct err *err);

#endif
