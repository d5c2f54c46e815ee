/* links: named links in the image library. POST /images {"name", "url",
 * "link": true} keeps a remote image by its URL (probed first: the server
 * must serve byte ranges, and says the size); GET /images lists it with
 * kind "link"; POST /luns/{n}/insert {"image": NAME} streams it (luns.c);
 * DELETE /images/{name} removes it. Credentials in the URL are kept in a
 * 0600 file (storage/links.c) and never shown. */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../download/download.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"
#include "../stream/stream.h"

uint32_t api_link_luns(struct app *app, const char *name)
{
	struct gadget_lun l;
	uint32_t luns = 0;

	for (unsigned i = 0; i < gadget_lun_count(app->gadget); i++)
		if (gadget_get(app->gadget, i, &l, NULL) == 0 && l.streamed &&
		    l.state != GADGET_LUN_EMPTY && !strcmp(l.image, name))
			luns |= 1u << i;
	return luns;
}

void api_links_create(struct http_req *r, json_t *body)
{
	struct app *app = http_req_app(r);
	struct storage_link l = { .mtime = (int64_t)time(NULL) };
	const char *name, *url;
	int link = 0;
	long long size = 0;
	json_error_t jerr;
	struct err err;
	char why[160];

	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s:b}", "name", &name, "url",
			   &url, "link", &link) < 0 || !link) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
				 "a named link is {\"name\": string, \"url\": string, \"link\": "
				 "true} (to copy the image, POST /downloads)%s%s",
				 link ? ": " : "", link ? jerr.text : "");
		return;
	}
	if (!names_valid(name, strlen(name), why, sizeof(why))) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "%s", why);
		return;
	}
	if (!app->streams) {
		http_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				 "streaming is not available on this box (see the log), so a link "
				 "could not be inserted; download the image instead");
		return;
	}
	if (strlen(url) >= sizeof(l.url)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_url", "the URL is longer than %zu "
				 "bytes", sizeof(l.url) - 1);
		return;
	}
	/* The same checks as an insert makes, before anything is kept. */
	if (stream_probe(app->streams, url, &size, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	snprintf(l.name, sizeof(l.name), "%s", name);
	snprintf(l.url, sizeof(l.url), "%s", url);
	download_redact_url(url, l.shown, sizeof(l.shown));
	l.size = size;
	int rc = storage_link_add(app->storage, &l, &err);
	memset(l.url, 0, sizeof(l.url));
	if (rc < 0) {
		http_reply_err(r, &err);
		return;
	}
	if (app->events)
		events_publish(app->events, "image_added", storage_link_json(&l, 0));
	http_reply_json(r, MHD_HTTP_CREATED, storage_link_json(&l, 0));
}

static int _by_name(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));

	return strcmp(x, y);
}

json_t *api_links_merge(struct app *app, json_t *images)
{
	struct storage_link *v;
	size_t n, total;

	storage_link_list(app->storage, &v, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(images, storage_link_json(&v[i], api_link_luns(app, v[i].name)));
	free(v);
	total = json_array_size(images);
	if (!n || total < 2)
		return images;
	json_t **items = malloc(total * sizeof(*items));
	if (!items)
		abort();
	for (size_t i = 0; i < total; i++)
		items[i] = json_incref(json_array_get(images, i));
	qsort(items, total, sizeof(*items), _by_name);
	json_t *sorted = json_array();
	for (size_t i = 0; i < total; i++)
		json_array_append_new(sorted, items[i]);
	free(items);
	json_decref(images);
	return sorted;
}

int api_links_delete(struct http_req *r, const char *name)
{
	struct app *app = http_req_app(r);
	struct storage_link l;
	struct err err;

	if (storage_link_get(app->storage, name, &l) < 0)
		return 0;
	memset(l.url, 0, sizeof(l.url));
	if (api_link_luns(app, name)) {
		http_reply_error(r, MHD_HTTP_CONFLICT, "image_attached", "the link %s is inserted "
				 "in a LUN; eject it first", name);
		return 1;
	}
	if (storage_link_delete(app->storage, name, &err) < 0) {
		http_reply_err(r, &err);
		return 1;
	}
	if (app->events)
		events_publish(app->events, "image_removed", storage_link_json(&l, 0));
	http_reply(r, MHD_HTTP_NO_CONTENT,
		   MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
	return 1;
}
