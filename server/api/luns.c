/* luns: GET /luns, GET /luns/{n}, POST /luns/{n}/insert, POST
 * /luns/{n}/eject, POST /gadget/reconnect. The kernel work happens on the
 * LUN's worker (gadget/); a request waits for it at most --api-wait-ms. */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../gadget/gadget.h"
#include "../storage/storage.h"

json_t *api_lun_json(struct app *app, const struct gadget_lun *lun)
{
	json_t *o = gadget_lun_json(lun);
	json_t *m = lun->streamed ? gadget_medium_json(app->gadget, lun->id) : NULL;

	json_object_set_new(o, "stream", m ? m : json_null());
	return o;
}

/* Replies 400/404 and returns false unless {n} is a LUN of this box. */
static bool _lun_id(struct http_req *r, unsigned *out)
{
	struct app *app = http_req_app(r);
	const char *s = http_req_param(r, 0);
	unsigned long v;

	if (!names_number(s, 0xffffffffUL, &v)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_lun",
				 "'%s' is not a LUN number (0, 1, ...)", s);
		return false;
	}
	if (v >= gadget_lun_count(app->gadget)) {
		http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				 "there is no LUN %lu (this box has %u)", v,
				 gadget_lun_count(app->gadget));
		return false;
	}
	*out = (unsigned)v;
	return true;
}

void api_luns_list(struct http_req *r)
{
	struct app *app = http_req_app(r);
	json_t *arr = json_array();
	struct gadget_lun lun;

	for (unsigned i = 0; i < gadget_lun_count(app->gadget); i++)
		if (gadget_get(app->gadget, i, &lun, NULL) == 0)
			json_array_append_new(arr, api_lun_json(app, &lun));
	http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "luns", arr));
}

void api_luns_get(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct gadget_lun lun;
	struct err err;
	unsigned id;

	if (!_lun_id(r, &id))
		return;
	if (gadget_get(app->gadget, id, &lun, &err) < 0)
		http_reply_err(r, &err);
	else
		http_reply_json(r, MHD_HTTP_OK, api_lun_json(app, &lun));
}

/* Replies for an operation's outcome: 200 done, 202 still running. */
static void _reply_op(struct http_req *r, int rc, const struct gadget_lun *lun,
		      const struct err *err, const char *doing)
{
	if (rc < 0) {
		http_reply_err(r, err);
		return;
	}
	json_t *o = api_lun_json(http_req_app(r), lun);
	if (rc == 1) {
		json_object_set_new(o, "message", json_sprintf(
			"LUN %u: the kernel has not finished %s yet; the change completes in the "
			"background and is announced on /events", lun->id, doing));
		http_reply_json(r, MHD_HTTP_ACCEPTED, o);
		return;
	}
	http_reply_json(r, MHD_HTTP_OK, o);
}

static void _insert_url(struct http_req *r, unsigned id, const char *url, const char *name,
			json_t *cdrom, json_t *ro, json_t *reconnect);

/* A named link goes in as its URL would, under its own name. */
static void _insert_link(struct http_req *r, unsigned id, const struct storage_link *link,
			 json_t *cdrom, json_t *ro, json_t *reconnect)
{
	_insert_url(r, id, link->url, link->name, cdrom, ro, reconnect);
}

void api_luns_insert(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct gadget_insert_req req = { .pin = storage_pin_fn, .pin_ctx = app->storage };
	struct gadget_lun lun;
	struct err err;
	unsigned id;
	bool failed;
	char why[160];
	json_t *cdrom = NULL, *ro = NULL, *reconnect = NULL;
	const char *url = NULL;
	json_error_t jerr;

	if (!_lun_id(r, &id))
		return;
	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (!body) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
				 "send a JSON object such as {\"image\": \"debian.iso\"}");
		return;
	}
	jerr.text[0] = '\0';
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?s, s?o, s?o, s?o}", "image",
			   &req.image, "url", &url, "cdrom", &cdrom, "ro", &ro, "reconnect",
			   &reconnect) < 0 ||
	    !req.image == !url ||
	    (cdrom && !json_is_boolean(cdrom)) || (ro && !json_is_boolean(ro)) ||
	    (reconnect && !json_is_boolean(reconnect))) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
				 "expected {\"image\": string} or {\"url\": string}, and "
				 "\"cdrom\": bool, \"ro\": bool, \"reconnect\": bool%s%s",
				 jerr.text[0] ? ": " : "", jerr.text);
		json_decref(body);
		return;
	}
	if (url) {
		_insert_url(r, id, url, NULL, cdrom, ro, reconnect);
		json_decref(body);
		return;
	}
	if (!names_valid(req.image, strlen(req.image), why, sizeof(why))) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "%s", why);
		json_decref(body);
		return;
	}
	struct storage_link link;
	if (storage_link_get(app->storage, req.image, &link) == 0) {
		_insert_link(r, id, &link, cdrom, ro, reconnect);
		memset(link.url, 0, sizeof(link.url));
		json_decref(body);
		return;
	}
	/* An ISO is a CD-ROM, read-only, unless the request says otherwise. */
	bool iso = names_is_iso(req.image);
	req.cdrom = cdrom ? json_is_true(cdrom) : iso;
	req.ro = ro ? json_is_true(ro) : (req.cdrom || iso);
	req.reconnect = reconnect && json_is_true(reconnect);
	struct storage_image img;
	if (req.cdrom && storage_get(app->storage, req.image, &img, NULL) == 0 &&
	    gadget_cd_fits(app->gadget, req.image, (long long)img.size, &err) < 0) {
		http_reply_err(r, &err);
		json_decref(body);
		return;
	}
	int rc = gadget_insert(app->gadget, id, &req, &lun, &err);
	json_decref(body);
	_reply_op(r, rc, &lun, &err, "the insert");
}

/* POST /luns/{n}/insert {"url": ...}: the image is read where it lies,
 * through nbdkit (stream/); the LUN's worker opens it. */
static void _insert_url(struct http_req *r, unsigned id, const char *url, const char *name,
			json_t *cdrom, json_t *ro, json_t *reconnect)
{
	struct app *app = http_req_app(r);
	struct gadget_lun lun;
	struct err err;

	if (ro && !json_is_true(ro)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "read_only_stream",
				 "a streamed image is read-only (\"ro\": true): the host cannot "
				 "write to an HTTP server; download the image to write to it");
		return;
	}
	struct gadget_stream_req sr = {
		.url = url, .name = name, .cdrom = cdrom ? json_is_true(cdrom) : -1,
		.reconnect = reconnect && json_is_true(reconnect),
	};
	int rc = gadget_insert_stream(app->gadget, app->streams, id, &sr, &lun, &err);
	_reply_op(r, rc, &lun, &err, "opening the stream");
}

void api_luns_eject(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct gadget_lun lun;
	struct err err;
	unsigned id;
	bool force;

	if (!_lun_id(r, &id) || http_req_query_bool(r, "force", false, &force) < 0)
		return;
	int rc = gadget_eject(app->gadget, id, force, &lun, &err);
	_reply_op(r, rc, &lun, &err, "the eject");
}

void api_gadget_reconnect(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct err err;
	double ms = 0;

	int rc = gadget_reconnect(app->gadget, &ms, &err);
	if (rc < 0)
		http_reply_err(r, &err);
	else if (rc == 1)	/* as a pending insert or eject: 202, and it goes on */
		http_reply_json(r, MHD_HTTP_ACCEPTED, json_pack(
			"{s:b, s:s}", "reconnected", 0, "message",
			"the kernel has not finished the reconnect yet; it completes in the "
			"background (GET /status shows backend.usb_state)"));
	else
		http_reply_json(r, MHD_HTTP_OK, json_pack("{s:b, s:f}", "reconnected", 1,
							  "elapsed_ms", ms));
}

void api_sim_host(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct err err;
	unsigned id;
	bool lock, hang, locked, hung;
	const char *ql = http_req_query(r, "lock"), *qh = http_req_query(r, "hang");

	if (!app->sim) {
		http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				 "the simulated host exists only with --backend sim");
		return;
	}
	if (!_lun_id(r, &id) || http_req_query_bool(r, "lock", false, &lock) < 0 ||
	    http_req_query_bool(r, "hang", false, &hang) < 0)
		return;
	if (gadget_sim_host(app->sim, id, ql ? lock : -1, qh ? hang : -1, &locked, &hung,
			    &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	/* The lock shows in the LUN's state: tell the clients. */
	struct gadget_lun lun;
	if (gadget_get(app->gadget, id, &lun, NULL) == 0 && app->events)
		events_publish(app->events, "lun", api_lun_json(app, &lun));
	http_reply_json(r, MHD_HTTP_OK, json_pack("{s:i, s:b, s:b}", "lun", (int)id,
						  "locked", locked, "hung", hung));
}

void api_sim_replug(struct http_req *r)
{
	struct app *app = http_req_app(r);
	const char *q = http_req_query(r, "ms");
	unsigned long ms = 1500;

	if (!app->sim) {
		http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				 "the simulated host exists only with --backend sim");
		return;
	}
	if (q && (!*q || strlen(q) > 5 || strspn(q, "0123456789") != strlen(q))) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "ms must be a whole number of milliseconds, 0..99999");
		return;
	}
	if (q)
		ms = strtoul(q, NULL, 10);
	gadget_sim_replug(app->sim, (unsigned)ms);
	http_reply_json(r, MHD_HTTP_ACCEPTED, json_pack("{s:I}", "away_ms", (json_int_t)ms));
}
