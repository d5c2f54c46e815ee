/* download internals shared by the job table and the transfer. */
#ifndef VMEDIA_DOWNLOAD_INTERNAL_H
#define VMEDIA_DOWNLOAD_INTERNAL_H

#include <pthread.h>

#include "download.h"

struct download_entry {
	struct download_job pub;	/* guarded by the table's lock */
	struct download_entry *next;
	char full_url[4096];		/* with credentials: never logged */
	char etag[256];			/* to resume only the same file, */
	char last_modified[64];		/* from the response the data kept began with */
	bool cancel;			/* asked to stop and forget */
	/* pub.name and pub.compression are final (decided at the first
	 * response: a name may come from the server). */
	bool format_known;
	double started_ms;		/* clock_now_ms() when its worker took it up */
	/* Threads that use the job outside the table's lock: its worker, or
	 * a request still publishing it. A finished job forgotten while it
	 * has users leaves the table at once and is freed by the last of
	 * them, who also publishes "removed": so that is its last event. */
	unsigned users;
	bool forgotten;
};

struct downloads {
	struct download_options opts;
	struct storage *storage;
	download_listener_fn listener;
	void *ctx;
	int partial_fd;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct download_entry *jobs;		/* oldest first */
	unsigned next_id;
	bool stopping;
	pthread_t *threads;
};

/* DOWNLOAD_OUT_WAIT: every upload slot of storage is taken; the attempt did not
 * count (nothing was written) and is tried again once one may be free. */
enum download_outcome { DOWNLOAD_OUT_DONE, DOWNLOAD_OUT_FAILED, DOWNLOAD_OUT_CANCELLED, DOWNLOAD_OUT_RETRY, DOWNLOAD_OUT_STOPPED, DOWNLOAD_OUT_WAIT };

/* Runs one attempt of a job on the calling worker thread. */
enum download_outcome download_attempt(struct downloads *d, struct download_entry *j);
/* Publishes the job's state to the listener (takes the lock briefly). */
void download_notify(struct downloads *d, struct download_entry *j);
/* Saves what a restart needs to resume the job, with the state it is
 * listed in, or with `state` (a state not listed yet). */
bool download_save(struct downloads *d, struct download_entry *j);
bool download_save_as(struct downloads *d, struct download_entry *j, enum download_state state);
/* Removes a job's partial data (dl-N.part), keeping its job file. */
void download_forget_data(struct downloads *d, unsigned id);
void download_forget_files(struct downloads *d, unsigned id);

#endif
