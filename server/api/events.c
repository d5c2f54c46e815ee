/* events: GET /events (Server-Sent Events), the full state it starts with,
 * and the glue that turns storage and gadget changes into events. */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../download/download.h"
#include "../gadget/gadget.h"
#include "../redfish/redfish.h"
#include "../storage/storage.h"

#define API_SSE_BLOCK (16 << 10)
#define API_SSE_KEEPALIVE_MS 15000
#define API_SSE_SNDBUF (32 << 10)

json_t *api_status_json(struct app *app);

static json_t *_state(void *ctx)
{
	struct app *app = ctx;
	json_t *luns = json_array(), *images = json_array();
	struct gadget_lun lun;
	struct storage_image *v;
	size_t n;

	for (unsigned i = 0; i < gadget_lun_count(app->gadget); i++)
		if (gadget_get(app->gadget, i, &lun, NULL) == 0)
			json_array_append_new(luns, api_lun_json(app, &lun));
	storage_list(app->storage, &v, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(images, storage_image_json(&v[i]));
	free(v);
	images = api_links_merge(app, images);
	json_t *downloads = json_array();
	struct download_job *jobs;
	if (app->downloads) {
		downloads_list(app->downloads, &jobs, &n);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(downloads, download_job_json(&jobs[i]));
		free(jobs);
	}
	return json_pack("{s:o, s:o, s:o, s:o}", "status", api_status_json(app), "luns", luns,
			 "images", images, "downloads", downloads);
}

static void _on_image(void *ctx, const char *event, const struct storage_image *img)
{
	struct app *app = ctx;

	events_publish(app->events, event, storage_image_json(img));
}

/* A LUN changed: the links' attached_to may have (a link is not pinned in
 * storage: its LUNs are those streaming it). Links are few: all are sent. */
static void _links_changed(struct app *app)
{
	struct storage_link *v;
	size_t n;

	storage_link_list(app->storage, &v, &n);
	for (size_t i = 0; i < n; i++)
		events_publish(app->events, "image_changed",
			       storage_link_json(&v[i], api_link_luns(app, v[i].name)));
	free(v);
}

static void _on_lun(void *ctx, const struct gadget_lun *lun, const char *released)
{
	struct app *app = ctx;

	if (released)
		storage_unpin(app->storage, released, lun->id);
	events_publish(app->events, "lun", api_lun_json(app, lun));
	_links_changed(app);
}

void api_downloads_listener(void *ctx, const struct download_job *job)
{
	struct app *app = ctx;

	events_publish(app->events, "download", download_job_json(job));
	redfish_download_changed(app->redfish, job);
}

struct events *api_events_create(struct app *app)
{
	app->events = events_create(256, _state, app);
	storage_set_listener(app->storage, _on_image, app);
	gadget_set_listener(app->gadget, _on_lun, app);
	return app->events;
}

static ssize_t _read(void *cls, uint64_t pos, char *buf, size_t max)
{
	/* An event, not a comment: browsers hide comments from the page, and
	 * a page that sees no ping for a while knows its stream is dead. */
	static const char keepalive[] = "event: ping\ndata: {}\n\n";
	ssize_t n;

	(void)pos;
	n = events_read(cls, buf, max, API_SSE_KEEPALIVE_MS);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == 0) {
		memcpy(buf, keepalive, sizeof(keepalive) - 1);
		return (ssize_t)sizeof(keepalive) - 1;
	}
	return n;
}

static void _free(void *cls)
{
	events_unsubscribe(cls);
}

void api_events_get(struct http_req *r)
{
	struct app *app = http_req_app(r);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(http_req_connection(r), MHD_CONNECTION_INFO_CONNECTION_FD);
	int sndbuf = API_SSE_SNDBUF;

	/* A small socket buffer: a client that stops reading then holds a few
	 * KiB of kernel memory instead of megabytes, and the bus soon treats
	 * it as behind (fresh state later) instead of queueing for it. */
	if (ci)
		setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct events_sub *sub = events_subscribe(app->events);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, API_SSE_BLOCK,
								      _read, sub, _free);

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	http_reply(r, MHD_HTTP_OK, resp);
}
