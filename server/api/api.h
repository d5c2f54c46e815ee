/* api: one file per resource. Each parses and validates a request, calls a
 * service (storage, gadget, ...), and shapes the reply; none does I/O of
 * its own. */
#ifndef VMEDIA_API_H
#define VMEDIA_API_H

#include <time.h>

#include "../core/config.h"
#include "../events/events.h"
#include "../http/http.h"

struct storage;
struct gadget;
struct events;

/* What the handlers share; built by main.c. */
struct app {
	const struct config *cfg;
	struct storage *storage;
	struct gadget *gadget;
	struct events *events;
	void *sim;			/* the sim backend, for its controls; else NULL */
	struct downloads *downloads;
	struct redfish *redfish;	/* the Redfish service (server/redfish/) */
	struct auth *auth;		/* NULL: no authentication */
	struct streams *streams;	/* NULL: streaming unavailable */
	struct timespec started;	/* CLOCK_MONOTONIC */
};

/* The whole routing table, in one place so the API is easy to read. */
extern const struct http_route api_routes[];
extern const size_t api_nroutes;
extern const struct http_route api_metrics_routes[];	/* only GET /metrics */
extern const size_t api_metrics_nroutes;

void api_status_get(struct http_req *r);
void api_metrics_get(struct http_req *r);
void api_images_list(struct http_req *r);
void api_images_create(struct http_req *r);	/* POST /images: a new empty drive (drives.c) */
void api_images_get(struct http_req *r);
void api_images_delete(struct http_req *r);
extern const struct http_stream_ops api_images_put;
/* files.c: the files inside an image */
void api_files_list(struct http_req *r);
void api_files_get(struct http_req *r);
void api_files_delete(struct http_req *r);
extern const struct http_stream_ops api_files_put;
void api_luns_list(struct http_req *r);
struct gadget_lun;
/* A LUN as the API shows it: the gadget's view and its stream, if any. */
json_t *api_lun_json(struct app *app, const struct gadget_lun *lun);
/* links.c: named links. create gets POST /images's body ({"url": ...});
 * merge adds the links to GET /images's list (sorted by name; takes
 * images, returns the list); delete replies and returns 1 if name is a
 * link, else 0 (replies nothing). */
void api_links_create(struct http_req *r, json_t *body);
json_t *api_links_merge(struct app *app, json_t *images);
int api_links_delete(struct http_req *r, const char *name);
/* The LUNs (bit N: LUN N) streaming the link of that name. */
uint32_t api_link_luns(struct app *app, const char *name);
/* After a restart on configfs: takes over the media the kernel still holds
 * (be is the configfs backend), before any request is served. */
void api_restore_luns(struct app *app, void *be);
void api_luns_get(struct http_req *r);
void api_luns_insert(struct http_req *r);
void api_luns_eject(struct http_req *r);
void api_gadget_reconnect(struct http_req *r);
void api_sim_host(struct http_req *r);
void api_sim_replug(struct http_req *r);
void api_events_get(struct http_req *r);
void api_downloads_add(struct http_req *r);
void api_downloads_list(struct http_req *r);
void api_downloads_get(struct http_req *r);
void api_downloads_cancel(struct http_req *r);
/* /redfish and below: handed to the Redfish service. */
void api_redfish(struct http_req *r);

/* Creates the event bus and connects storage and gadget changes to it
 * (downloads are connected by api_downloads_listener). */
struct events *api_events_create(struct app *app);
json_t *api_status_json(struct app *app);
enum http_auth api_authorize(void *ctx, const char *method, const char *path,
			    const char *authorization, const char *peer, char *who,
			    size_t who_size, unsigned *retry_after);
struct download_job;
void api_downloads_listener(void *ctx, const struct download_job *job);

#endif
