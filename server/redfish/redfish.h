/* redfish: the DMTF Redfish VirtualMedia service under /redfish, so fleet
 * tools (Ironic through sushy, bmclib, Ansible, redfishtool) drive vmedia
 * like a BMC. It calls the same services as the HTTP API (gadget, storage,
 * downloads; streams through gadget_insert_stream) and keeps its own state,
 * tasks and staged media, in the one struct redfish that main.c creates and
 * destroys. */
#ifndef VMEDIA_REDFISH_H
#define VMEDIA_REDFISH_H

#include <stdbool.h>

#include "../core/err.h"

struct http_req;
struct gadget;
struct storage;
struct downloads;
struct download_job;
struct streams;
struct redfish;

struct redfish_options {
	struct gadget *gadget;
	struct storage *storage;
	struct streams *streams;	/* NULL: TransferMethod Stream is refused */
	unsigned api_wait_ms;		/* how long an InsertMedia waits for its download */
	/* InsertMedia without TransferMethod: "upload" (download, then insert)
	 * or "stream" (insert the URL through the streaming service). */
	const char *transfer_default;
};

/* Starts the worker that inserts downloaded media. */
int redfish_create(const struct redfish_options *opts, struct redfish **out, struct err *err);
/* The download jobs, created after the service (their listener reaches it);
 * before any request is served. */
void redfish_use_downloads(struct redfish *rf, struct downloads *d);
/* After the HTTP server and the downloads have stopped. */
void redfish_destroy(struct redfish *rf);

/* Every method on /redfish and below. */
void redfish_serve(struct redfish *rf, struct http_req *r);
/* The paths served without credentials (the service root, as DSP0266
 * requires). */
bool redfish_public(const char *method, const char *path);
/* A download job changed (the download listener, on the job's worker
 * thread): a task follows it; nothing here waits for a LUN. rf may be NULL. */
void redfish_download_changed(struct redfish *rf, const struct download_job *job);

#endif
