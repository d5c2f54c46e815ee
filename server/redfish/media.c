/* redfish/media: the VirtualMedia collection (one member per LUN, under
 * both the System and the Manager), GET of a member, the routing of its
 * PATCH and actions (insert.c), and EjectMedia. EjectMedia always wins: a
 * medium the host has locked is ejected by force, and the reply says so. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storage/storage.h"

/* The member's id: the LUN number, "0", "1", ... */
static bool _lun(struct redfish *rf, struct http_req *r, const char *s, unsigned *out)
{
	unsigned long v;

	if (!names_number(s, 0xffffffffUL, &v) || v >= gadget_lun_count(rf->gadget)) {
		redfish_not_found(r);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

static json_t *_actions(const char *path)
{
	char act[224];
	json_t *acts = json_object();

	snprintf(act, sizeof(act), "%s/Actions/VirtualMedia.InsertMedia", path);
	json_object_set_new(acts, "#VirtualMedia.InsertMedia", json_pack(
		"{s:s, s:s}", "target", act, "title",
		"Insert an image: an http(s) URL or the name of a stored image"));
	snprintf(act, sizeof(act), "%s/Actions/VirtualMedia.EjectMedia", path);
	json_object_set_new(acts, "#VirtualMedia.EjectMedia", json_pack(
		"{s:s, s:s}", "target", act, "title",
		"Eject, by force if the host has locked the medium"));
	return acts;
}

/* Oem.vmedia: the LUN as the HTTP API shows it. */
static json_t *_oem(const struct gadget_lun *l, unsigned task)
{
	json_t *lj = gadget_lun_json(l);
	json_t *oem = json_pack("{s:s, s:i, s:O, s:O, s:O, s:O}",
				"@odata.type", REDFISH_OEM_TYPE("VirtualMedia"), "Lun", (int)l->id,
				"State", json_object_get(lj, "state"),
				"Cdrom", json_object_get(lj, "cdrom"),
				"Locked", json_object_get(lj, "locked"),
				"LastEject", json_object_get(lj, "last_eject"));

	json_decref(lj);
	if (l->warning[0])
		json_object_set_new(oem, "Warning", json_string(l->warning));
	if (task)
		json_object_set_new(oem, "Task", json_sprintf(REDFISH_TASKS "/%u", task));
	return oem;
}

/* ETag: FNV-1a of the representation. */
static void _etag(json_t *o, char *etag, size_t size)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = text; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	free(text);
	snprintf(etag, size, "W/\"%016llx\"", (unsigned long long)h);
	json_object_set_new(o, "@odata.etag", json_string(etag));
}

json_t *redfish_member(struct redfish *rf, const char *base, unsigned lun, char *etag,
		       size_t size)
{
	struct gadget_lun l;
	struct storage_image img;
	char path[160], pending[2048], name[NAMES_MAX + 1] = "";
	bool sro = true, scd = false;

	gadget_get(rf->gadget, lun, &l, NULL);
	unsigned task = redfish_task_pending(rf, lun, pending, sizeof(pending));
	bool inserted = l.state != GADGET_LUN_EMPTY;
	if (inserted)
		snprintf(name, sizeof(name), "%s", l.image);
	else
		redfish_staged_get(rf, lun, name, sizeof(name), &sro, &scd);
	const char *image = NULL;
	/* A streamed medium: its (redacted) URL, never a stored image's. */
	json_t *sj = inserted && l.streamed ? gadget_medium_json(rf->gadget, lun) : NULL;
	const char *surl = json_string_value(json_object_get(sj, "url"));
	bool have = !sj && name[0] && storage_get(rf->storage, name, &img, NULL) == 0;
	if (task && !inserted)
		image = pending;
	else if (surl)
		image = surl;
	else if (have && redfish_is_url(img.source))
		image = img.source;
	else if (name[0])
		image = name;

	snprintf(path, sizeof(path), "%s/VirtualMedia/%u", base, lun);
	char id[16], title[48];
	snprintf(id, sizeof(id), "%u", lun);
	snprintf(title, sizeof(title), "Virtual media on LUN %u", lun);
	json_t *o = redfish_resource(path, "#VirtualMedia.v1_6_0.VirtualMedia", id, title);
	json_object_set_new(o, "Description", json_sprintf(
		"LUN %u of the USB mass-storage gadget: a CD-ROM or a USB disk", lun));
	json_object_set_new(o, "MediaTypes", json_pack("[s, s]", "CD", "USBStick"));
	/* How the medium came in (a download is an upload, a stream is read
	 * where it lies); when empty, how a URL would go in by default. */
	json_object_set_new(o, "TransferMethod", json_string(redfish_transfer_name(
		sj ? REDFISH_STREAM : inserted || task ? REDFISH_UPLOAD : rf->transfer_default)));
	json_object_set_new(o, "Image", image ? json_string(image) : json_null());
	json_object_set_new(o, "ImageName", name[0] && !(task && !inserted) ? json_string(name) :
			    json_null());
	json_object_set_new(o, "Inserted", json_boolean(inserted));
	json_object_set_new(o, "WriteProtected", json_boolean(inserted ? l.ro : sro));
	json_object_set_new(o, "ConnectedVia", json_string(
		!image ? "NotConnected" : redfish_is_url(image) ? "URI" : "Applet"));
	json_object_set_new(o, "TransferProtocolType", !image || !redfish_is_url(image) ?
			    json_null() : json_string(!strncasecmp(image, "https", 5) ? "HTTPS" :
						      "HTTP"));
	json_object_set_new(o, "Status", json_pack(
		"{s:s, s:s}", "State", task ? "Starting" : "Enabled",
		"Health", l.warning[0] ? "Warning" : "OK"));
	json_object_set_new(o, "Actions", _actions(path));
	json_decref(sj);
	json_object_set_new(o, "Oem", json_pack("{s:o}", "vmedia", _oem(&l, task)));
	_etag(o, etag, size);
	return o;
}

/* The Vmedia.1.0.ForcedEject message of an eject that had to force. */
static json_t *_forced(const struct gadget_lun *l)
{
	const struct gadget_eject *e = &l->last_eject;

	if (!e->valid)
		return redfish_message("Vmedia.1.0.ForcedEject", "Warning", NULL, "None.",
				       "The host had locked the medium; it is being ejected by "
				       "force.");
	return redfish_message("Vmedia.1.0.ForcedEject", "Warning", NULL, "None.",
			       "The host had locked the medium; it was ejected by force (%s, "
			       "%.1f ms%s).", e->method, e->elapsed_ms, e->other_luns_affected ?
			       "; I/O on the other LUNs was interrupted" :
			       "; the other LUNs were not affected");
}

void redfish_eject(struct redfish *rf, struct http_req *r, unsigned lun)
{
	struct gadget_lun l;
	struct err err;
	json_t *msgs = json_array();

	redfish_staged_set(rf, lun, NULL, true, false);
	if (redfish_task_cancel_lun(rf, lun))
		json_array_append_new(msgs, redfish_message(
			"Success", "OK", NULL, NULL, "The download for LUN %u was cancelled; "
			"nothing will be inserted.", lun));
	gadget_get(rf->gadget, lun, &l, NULL);
	if (l.state == GADGET_LUN_EMPTY) {
		if (!json_array_size(msgs))
			json_array_append_new(msgs, redfish_message(
				"Success", "OK", NULL, NULL, "LUN %u was empty already.", lun));
		redfish_reply_ok(r, msgs);
		return;
	}
	int rc = gadget_eject(rf->gadget, lun, false, &l, &err);
	bool forced = false;
	if (rc < 0 && !strcmp(err.code, "medium_locked")) {
		forced = true;
		rc = gadget_eject(rf->gadget, lun, true, &l, &err);
	}
	if (rc < 0) {
		json_decref(msgs);
		redfish_reply_err(r, &err);
		return;
	}
	json_array_append_new(msgs, redfish_message(
		"Success", "OK", NULL, NULL, "LUN %u %s.", lun,
		rc == 1 ? "is being ejected; the kernel has not finished yet" : "was ejected"));
	if (forced)
		json_array_append_new(msgs, _forced(&l));
	redfish_reply_ok(r, msgs);
}

static void _collection(struct redfish *rf, struct http_req *r, const char *base)
{
	char path[160];
	json_t *members = json_array();

	for (unsigned i = 0; i < gadget_lun_count(rf->gadget); i++) {
		snprintf(path, sizeof(path), "%s/VirtualMedia/%u", base, i);
		json_array_append_new(members, redfish_link(path));
	}
	snprintf(path, sizeof(path), "%s/VirtualMedia", base);
	json_t *o = redfish_resource(path, "#VirtualMediaCollection.VirtualMediaCollection", NULL,
				     "Virtual Media");
	json_object_set_new(o, "Members@odata.count",
			    json_integer((json_int_t)json_array_size(members)));
	json_object_set_new(o, "Members", members);
	redfish_reply(r, MHD_HTTP_OK, o, "GET, HEAD", NULL, NULL);
}

/* GET or PATCH of a member. */
static void _member(struct redfish *rf, struct http_req *r, const char *base, unsigned lun)
{
	char etag[40];
	bool failed;

	if (!redfish_allowed(r, "GET, HEAD, PATCH"))
		return;
	if (strcmp(http_req_method(r), "PATCH") != 0) {
		json_t *o = redfish_member(rf, base, lun, etag, sizeof(etag));
		redfish_reply(r, MHD_HTTP_OK, o, "GET, HEAD, PATCH", etag, NULL);
		return;
	}
	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (!body)
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "EmptyJSON", NULL, NULL,
			      "The request body is empty; send a JSON object.");
	else
		redfish_patch(rf, r, base, lun, body);
	json_decref(body);
}

void redfish_media(struct redfish *rf, struct http_req *r, const char *base,
		   const char *const *rest, unsigned n)
{
	unsigned lun;
	bool failed;

	if (n == 0) {
		if (redfish_allowed(r, "GET, HEAD"))
			_collection(rf, r, base);
		return;
	}
	if (!_lun(rf, r, rest[0], &lun))
		return;
	if (n == 1) {
		_member(rf, r, base, lun);
		return;
	}
	bool insert = n == 3 && !strcmp(rest[1], "Actions") &&
		      !strcmp(rest[2], "VirtualMedia.InsertMedia");
	bool eject = n == 3 && !strcmp(rest[1], "Actions") &&
		     !strcmp(rest[2], "VirtualMedia.EjectMedia");
	if (!insert && !eject) {
		redfish_not_found(r);
		return;
	}
	if (!redfish_allowed(r, "POST"))
		return;
	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (insert)
		redfish_insert_action(rf, r, base, lun, body);
	else if (body && json_object_size(body))
		/* EjectMedia takes no parameters; {} is what some clients send. */
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterUnknown", NULL, NULL,
			      "The action EjectMedia takes no parameters.");
	else
		redfish_eject(rf, r, lun);
	json_decref(body);
}
