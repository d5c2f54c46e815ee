/* redfish_media: the VirtualMedia collection (one member per LUN, under
 * both the System and the Manager), GET and PATCH of a member, and the
 * InsertMedia and EjectMedia actions.
 *
 * Image is an http(s) URL (downloaded, then inserted: redfish_task.c) or
 * the name of a stored image (inserted at once). A URL is always fetched
 * again: a client that re-inserts the same URL expects what is there now,
 * as a BMC streaming it would read; the previous copy is replaced if it
 * came from that URL, and an image of that name from elsewhere is never
 * overwritten (409). EjectMedia always wins: a medium the host has locked
 * is ejected by force, and the reply says so. */
#include "redfish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../download/download.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"

static bool _is_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

/* The member's id: the LUN number, "0", "1", ... */
static bool _lun(struct http_req *r, const char *s, unsigned *out)
{
	struct app *app = http_req_app(r);
	unsigned long v;

	if (!names_number(s, 0xffffffffUL, &v) || v >= gadget_lun_count(app->gadget)) {
		rf_not_found(r);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

static json_t *_member(struct app *app, const char *base, unsigned lun, char *etag, size_t size)
{
	struct gadget_lun l;
	struct storage_image img;
	char path[160], act[224], pending[2048], name[NAMES_MAX + 1] = "";
	bool sro = true, scd = false;

	gadget_get(app->gadget, lun, &l, NULL);
	unsigned task = rf_task_pending(lun, pending, sizeof(pending));
	bool inserted = l.state != LUN_EMPTY;
	if (inserted)
		snprintf(name, sizeof(name), "%s", l.image);
	else
		rf_staged_get(lun, name, sizeof(name), &sro, &scd);
	const char *image = NULL;
	bool have = name[0] && storage_get(app->storage, name, &img, NULL) == 0;
	if (task && !inserted)
		image = pending;
	else if (have && _is_url(img.source))
		image = img.source;
	else if (name[0])
		image = name;

	snprintf(path, sizeof(path), "%s/VirtualMedia/%u", base, lun);
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:[s,s], s:s}",
			      "@odata.id", path, "@odata.type", "#VirtualMedia.v1_6_0.VirtualMedia",
			      "@odata.context", "/redfish/v1/$metadata#VirtualMedia.VirtualMedia",
			      "Id", json_sprintf("%u", lun),
			      "Name", json_sprintf("Virtual media on LUN %u", lun),
			      "Description", json_sprintf("LUN %u of the USB mass-storage gadget: a "
							  "CD-ROM or a USB disk", lun),
			      "MediaTypes", "CD", "USBStick", "TransferMethod", "Upload");
	json_object_set_new(o, "Image", image ? json_string(image) : json_null());
	json_object_set_new(o, "ImageName", name[0] && !(task && !inserted) ? json_string(name) :
			    json_null());
	json_object_set_new(o, "Inserted", json_boolean(inserted));
	json_object_set_new(o, "WriteProtected", json_boolean(inserted ? l.ro : sro));
	json_object_set_new(o, "ConnectedVia", json_string(
		!image ? "NotConnected" : _is_url(image) ? "URI" : "Applet"));
	if (image && _is_url(image))
		json_object_set_new(o, "TransferProtocolType", json_string(
			!strncasecmp(image, "https", 5) ? "HTTPS" : "HTTP"));
	json_object_set_new(o, "Status", json_pack("{s:s, s:s}", "State",
		task ? "Starting" : "Enabled", "Health", l.warning[0] ? "Warning" : "OK"));
	json_t *acts = json_object();
	snprintf(act, sizeof(act), "%s/Actions/VirtualMedia.InsertMedia", path);
	json_object_set_new(acts, "#VirtualMedia.InsertMedia", json_pack("{s:s, s:s}", "target",
		act, "title", "Insert an image: an http(s) URL or the name of a stored image"));
	snprintf(act, sizeof(act), "%s/Actions/VirtualMedia.EjectMedia", path);
	json_object_set_new(acts, "#VirtualMedia.EjectMedia", json_pack("{s:s, s:s}", "target",
		act, "title", "Eject, by force if the host has locked the medium"));
	json_object_set_new(o, "Actions", acts);
	json_t *lj = gadget_lun_json(&l);
	json_t *oem = json_pack("{s:i, s:O, s:O, s:O, s:O}", "Lun", (int)lun, "State",
				json_object_get(lj, "state"), "Cdrom", json_object_get(lj, "cdrom"),
				"Locked", json_object_get(lj, "locked"), "LastEject",
				json_object_get(lj, "last_eject"));
	if (l.warning[0])
		json_object_set_new(oem, "Warning", json_string(l.warning));
	if (task)
		json_object_set_new(oem, "Task", json_sprintf("/redfish/v1/TaskService/Tasks/%u",
							      task));
	json_decref(lj);
	json_object_set_new(o, "Oem", json_pack("{s:o}", "vmedia", oem));

	/* ETag: FNV-1a of the representation. */
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = text; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	free(text);
	snprintf(etag, size, "W/\"%016llx\"", (unsigned long long)h);
	json_object_set_new(o, "@odata.etag", json_string(etag));
	return o;
}

static void _reply_err(struct http_req *r, const struct err *e)
{
	switch (e->kind) {
	case ERR_CONFLICT:
		rf_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", NULL,
			 "Eject the medium first, or wait for the operation under way.", "%s",
			 e->message);
		return;
	case ERR_NOT_FOUND:
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ResourceMissingAtURI", "#/Image",
			 "Upload the image or give its http(s) URL.", "%s", e->message);
		return;
	case ERR_INVALID:
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueFormatError", "#/Image",
			 NULL, "%s", e->message);
		return;
	default:
		rf_error(r, http_status_of(e->kind), "GeneralError", NULL, NULL, "%s", e->message);
	}
}

static void _ok(struct http_req *r, json_t *msgs)
{
	rf_reply(r, MHD_HTTP_OK, json_pack("{s:o}", "@Message.ExtendedInfo", msgs), NULL, NULL,
		 NULL);
}

/* What InsertMedia and PATCH ask for. */
struct _want {
	const char *image;
	bool inserted, ro;
	int cdrom;		/* -1: by the name */
	const char *user, *password;	/* for the URL's server, or NULL */
};

/* Appends s percent-encoded (all but RFC 3986's unreserved characters). */
static void _pct(char *out, size_t size, const char *s)
{
	size_t n = strlen(out);

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
	}
	out[n] = '\0';
}

/* The URL with UserName/Password as its user:password@ part; false if it
 * has one already or does not fit. */
static bool _with_credentials(const struct _want *w, char *out, size_t size)
{
	const char *rest = strstr(w->image, "://") + 3;
	size_t auth = strcspn(rest, "/?#");

	if (memchr(rest, '@', auth))
		return false;
	snprintf(out, size, "%.*s", (int)(rest - w->image), w->image);
	_pct(out, size, w->user ? w->user : "");
	if (w->password) {
		strncat(out, ":", size - strlen(out) - 1);
		_pct(out, size, w->password);
	}
	strncat(out, "@", size - strlen(out) - 1);
	if (strlen(out) + strlen(rest) + 1 > size)
		return false;
	strcat(out, rest);
	return true;
}

static void _insert(struct http_req *r, const char *base, unsigned lun, const struct _want *w,
		    bool patch)
{
	struct app *app = http_req_app(r);
	struct gadget_lun l;
	struct storage_image img;
	struct err err;
	char why[160];
	const char *what = patch ? "PropertyValueFormatError" : "ActionParameterValueFormatError";

	gadget_get(app->gadget, lun, &l, NULL);
	if (l.state != LUN_EMPTY || rf_task_pending(lun, NULL, 0)) {
		rf_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", NULL,
			 "Eject the medium (EjectMedia) before inserting another.",
			 "LUN %u is not empty (%s%s).", lun, l.state != LUN_EMPTY ? "it holds " :
			 "a download for it is under way", l.state != LUN_EMPTY ? l.image : "");
		return;
	}
	if (_is_url(w->image)) {
		struct rf_insert ins = { .lun = lun, .inserted = w->inserted, .ro = w->ro };
		char shown[2048];
		if (strlen(w->image) >= sizeof(ins.url) || !download_url_name(w->image, ins.name)) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, what, "#/Image",
				 "Give a URL whose path ends in the image's file name.",
				 "The value for Image is not a URL with a file name.");
			return;
		}
		snprintf(ins.url, sizeof(ins.url), "%s", w->image);
		if ((w->user || w->password) && !_with_credentials(w, ins.url, sizeof(ins.url))) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueConflict", "#/UserName",
				 "Give the credentials either in the URL or as UserName/Password.",
				 "The URL in Image has credentials already, or is too long with them.");
			return;
		}
		ins.cdrom = w->cdrom >= 0 ? w->cdrom : names_is_iso(ins.name);
		snprintf(ins.target, sizeof(ins.target), "%s/VirtualMedia/%u%s", base, lun,
			 patch ? "" : "/Actions/VirtualMedia.InsertMedia");
		download_redact_url(ins.url, shown, sizeof(shown));
		if (storage_get(app->storage, ins.name, &img, NULL) == 0) {
			if (strcmp(img.source, shown) != 0) {
				rf_error(r, MHD_HTTP_CONFLICT, "ResourceAlreadyExists", "#/Image",
					 "Delete the stored image or use a URL with another file name.",
					 "An image named %s that did not come from this URL is stored; "
					 "it is not overwritten.", ins.name);
				return;
			}
			/* Fetched from this URL before: fetch what is there now. */
			if (storage_delete(app->storage, ins.name, &err) < 0) {
				_reply_err(r, &err);
				return;
			}
		}
		rf_task_start(r, &ins);
		return;
	}
	if (w->user || w->password) {
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported", "#/UserName",
			 "Leave out UserName and Password for a stored image.",
			 "UserName and Password apply only to an http(s) URL in Image.");
		return;
	}
	if (!names_valid(w->image, strlen(w->image), why, sizeof(why))) {
		rf_error(r, MHD_HTTP_BAD_REQUEST, what, "#/Image",
			 "Give an http:// or https:// URL, or the name of a stored image.",
			 "The value '%s' for Image is neither an http(s) URL nor an image name: %s",
			 w->image, why);
		return;
	}
	if (storage_get(app->storage, w->image, &img, &err) < 0) {
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ResourceMissingAtURI", "#/Image",
			 "Upload the image first (PUT /images/NAME) or give its URL.",
			 "No image named %s is stored.", w->image);
		return;
	}
	bool cdrom = w->cdrom >= 0 ? w->cdrom : names_is_iso(w->image);
	if (!w->inserted) {
		rf_staged_set(lun, w->image, w->ro, cdrom);
		_ok(r, json_pack("[o]", rf_message("Success", "OK", NULL, NULL,
			"%s is attached to LUN %u but not inserted; PATCH Inserted true to insert it.",
			w->image, lun)));
		return;
	}
	int rc = rf_do_insert(app, lun, w->image, cdrom, w->ro, &err);
	if (rc < 0) {
		_reply_err(r, &err);
		return;
	}
	rf_staged_set(lun, NULL, true, false);
	_ok(r, json_pack("[o]", rf_message("Success", "OK", NULL, NULL, "%s %s LUN %u as %s%s.",
		w->image, rc == 1 ? "is being inserted into" : "was inserted into", lun,
		cdrom ? "a CD-ROM" : "a USB disk", w->ro || cdrom ? ", write-protected" : "")));
}

static void _eject(struct http_req *r, unsigned lun)
{
	struct app *app = http_req_app(r);
	struct gadget_lun l;
	struct err err;
	json_t *msgs = json_array();

	rf_staged_set(lun, NULL, true, false);
	if (rf_task_cancel_lun(app, lun))
		json_array_append_new(msgs, rf_message("Success", "OK", NULL, NULL,
			"The download for LUN %u was cancelled; nothing will be inserted.", lun));
	gadget_get(app->gadget, lun, &l, NULL);
	if (l.state == LUN_EMPTY) {
		if (!json_array_size(msgs))
			json_array_append_new(msgs, rf_message("Success", "OK", NULL, NULL,
				"LUN %u was empty already.", lun));
		_ok(r, msgs);
		return;
	}
	int rc = gadget_eject(app->gadget, lun, false, &l, &err);
	bool forced = false;
	if (rc < 0 && !strcmp(err.code, "medium_locked")) {
		forced = true;
		rc = gadget_eject(app->gadget, lun, true, &l, &err);
	}
	if (rc < 0) {
		json_decref(msgs);
		_reply_err(r, &err);
		return;
	}
	json_array_append_new(msgs, rf_message("Success", "OK", NULL, NULL,
		"LUN %u %s.", lun, rc == 1 ? "is being ejected; the kernel has not finished yet" :
		"was ejected"));
	if (forced && l.last_eject.valid)
		json_array_append_new(msgs, rf_message("Vmedia.1.0.ForcedEject", "Warning", NULL,
			"None.", "The host had locked the medium; it was ejected by force (%s, "
			"%.1f ms%s).", l.last_eject.method, l.last_eject.elapsed_ms,
			l.last_eject.other_luns_affected ? "; I/O on the other LUNs was interrupted" :
			"; the other LUNs were not affected"));
	else if (forced)
		json_array_append_new(msgs, rf_message("Vmedia.1.0.ForcedEject", "Warning", NULL,
			"None.", "The host had locked the medium; it is being ejected by force."));
	_ok(r, msgs);
}

/* Reads InsertMedia's parameters; replies 400 and returns false if bad. */
static bool _action_params(struct http_req *r, json_t *body, struct _want *w)
{
	const char *k;
	json_t *v;

	w->image = NULL;
	w->user = w->password = NULL;
	w->inserted = true;
	w->ro = true;
	w->cdrom = -1;
	json_object_foreach(body, k, v) {
		bool is_bool = !strcmp(k, "Inserted") || !strcmp(k, "WriteProtected");
		bool is_str = !strcmp(k, "Image") || !strcmp(k, "MediaType") ||
			      !strcmp(k, "TransferMethod") || !strcmp(k, "TransferProtocolType") ||
			      !strcmp(k, "UserName") || !strcmp(k, "Password");
		if (!is_bool && !is_str) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterUnknown", NULL,
				 "Use Image, Inserted, WriteProtected, MediaType, TransferMethod, "
				 "TransferProtocolType, UserName, Password.",
				 "The action InsertMedia does not support the parameter %s.", k);
			return false;
		}
		if ((is_bool && !json_is_boolean(v)) || (is_str && !json_is_string(v))) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueTypeError", NULL, NULL,
				 "The value for the parameter %s has the wrong type (%s expected).",
				 k, is_bool ? "a boolean" : "a string");
			return false;
		}
		const char *s = json_string_value(v);
		if (!strcmp(k, "Image"))
			w->image = s;
		else if (!strcmp(k, "UserName"))
			w->user = s;
		else if (!strcmp(k, "Password"))
			w->password = s;
		else if (!strcmp(k, "Inserted"))
			w->inserted = json_is_true(v);
		else if (!strcmp(k, "WriteProtected"))
			w->ro = json_is_true(v);
		else if (!strcmp(k, "MediaType") && (!strcmp(s, "CD") || !strcmp(s, "DVD")))
			w->cdrom = 1;
		else if (!strcmp(k, "MediaType") && !strcmp(s, "USBStick"))
			w->cdrom = 0;
		else if ((!strcmp(k, "TransferMethod") && strcmp(s, "Upload") != 0) ||
			 (!strcmp(k, "TransferProtocolType") && strcmp(s, "HTTP") != 0 &&
			  strcmp(s, "HTTPS") != 0) || !strcmp(k, "MediaType")) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported", NULL,
				 "MediaType: CD, DVD or USBStick; TransferMethod: Upload; "
				 "TransferProtocolType: HTTP or HTTPS.",
				 "The value %s for the parameter %s is not supported.", s, k);
			return false;
		}
	}
	if (!w->image) {
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterMissing", "#/Image",
			 "Add Image (an http(s) URL or the name of a stored image).",
			 "The action InsertMedia requires the parameter Image to be present.");
		return false;
	}
	return true;
}

static void _patch(struct http_req *r, const char *base, unsigned lun, json_t *body)
{
	struct app *app = http_req_app(r);
	char etag[40];
	const char *k;
	json_t *v, *image = NULL, *ins = NULL, *wp = NULL;

	json_decref(_member(app, base, lun, etag, sizeof(etag)));
	const char *im = http_req_header(r, "If-Match");
	if (im && strcmp(im, "*") != 0 && !strstr(im, etag + 2)) {
		rf_error(r, MHD_HTTP_PRECONDITION_FAILED, "PreconditionFailed", NULL,
			 "GET the resource again and retry with its current ETag.",
			 "The ETag in If-Match does not match the resource's current one.");
		return;
	}
	json_object_foreach(body, k, v) {
		if (!strcmp(k, "Image") && (json_is_string(v) || json_is_null(v)))
			image = v;
		else if (!strcmp(k, "Inserted") && json_is_boolean(v))
			ins = v;
		else if (!strcmp(k, "WriteProtected") && json_is_boolean(v))
			wp = v;
		else if (!strcmp(k, "Image") || !strcmp(k, "Inserted") || !strcmp(k, "WriteProtected")) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "PropertyValueTypeError", NULL, NULL,
				 "The value for the property %s has the wrong type.", k);
			return;
		} else if (!strcmp(k, "TransferMethod") && json_is_string(v) &&
			   !strcmp(json_string_value(v), "Upload")) {
			continue;
		} else if (k[0] == '@' || !strcmp(k, "Id") || !strcmp(k, "Name") ||
			   !strcmp(k, "MediaTypes") || !strcmp(k, "ImageName") ||
			   !strcmp(k, "ConnectedVia") || !strcmp(k, "Status") ||
			   !strcmp(k, "Actions") || !strcmp(k, "TransferMethod") ||
			   !strcmp(k, "TransferProtocolType") || !strcmp(k, "Description")) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "PropertyNotWritable", NULL, NULL,
				 "The property %s is a read-only property and cannot be assigned "
				 "a value.", k);
			return;
		} else {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "PropertyUnknown", NULL, NULL,
				 "The property %s is not in the list of valid properties for the "
				 "resource.", k);
			return;
		}
	}
	if (image && json_is_string(image) && json_string_value(image)[0]) {
		struct _want w = { .image = json_string_value(image), .inserted = !ins ||
				   json_is_true(ins), .ro = !wp || json_is_true(wp), .cdrom = -1 };
		_insert(r, base, lun, &w, true);
		return;
	}
	if (image || (ins && json_is_false(ins))) {	/* null or "" */
		_eject(r, lun);
		return;
	}
	struct gadget_lun l;
	gadget_get(app->gadget, lun, &l, NULL);
	if (ins && json_is_true(ins) && l.state == LUN_EMPTY) {
		char name[NAMES_MAX + 1];
		bool ro, cdrom;
		rf_staged_get(lun, name, sizeof(name), &ro, &cdrom);
		if (!name[0]) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "PropertyMissing", "#/Image", NULL,
				 "The property Image is required: no image is attached to LUN %u.",
				 lun);
			return;
		}
		struct _want w = { .image = name, .inserted = true,
				   .ro = wp ? json_is_true(wp) : ro, .cdrom = cdrom };
		_insert(r, base, lun, &w, true);
		return;
	}
	if (wp && l.state != LUN_EMPTY && json_is_true(wp) != l.ro) {
		rf_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", "#/WriteProtected",
			 "Eject, then insert again with the WriteProtected wanted.",
			 "WriteProtected cannot change while the medium is inserted.");
		return;
	}
	if (!image && !ins && !wp) {
		rf_error(r, MHD_HTTP_BAD_REQUEST, "EmptyJSON", NULL, NULL,
			 "The request body submitted contained an empty JSON object and the "
			 "service is unable to process it.");
		return;
	}
	json_t *o = _member(app, base, lun, etag, sizeof(etag));
	rf_reply(r, MHD_HTTP_OK, o, "GET, HEAD, PATCH", etag, NULL);
}

void rf_media(struct http_req *r, const char *base, const char *const *rest, unsigned n)
{
	struct app *app = http_req_app(r);
	char path[160], etag[40];
	unsigned lun;
	bool failed;

	if (n == 0) {
		if (!rf_allowed(r, "GET, HEAD"))
			return;
		json_t *members = json_array();
		for (unsigned i = 0; i < gadget_lun_count(app->gadget); i++) {
			snprintf(path, sizeof(path), "%s/VirtualMedia/%u", base, i);
			json_array_append_new(members, rf_link(path));
		}
		snprintf(path, sizeof(path), "%s/VirtualMedia", base);
		rf_reply(r, MHD_HTTP_OK, json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:o}", "@odata.id", path, "@odata.type",
			"#VirtualMediaCollection.VirtualMediaCollection", "@odata.context",
			"/redfish/v1/$metadata#VirtualMediaCollection.VirtualMediaCollection",
			"Name", "Virtual Media", "Members@odata.count",
			(json_int_t)json_array_size(members), "Members", members),
			"GET, HEAD", NULL, NULL);
		return;
	}
	if (!_lun(r, rest[0], &lun))
		return;
	if (n == 1) {
		if (!rf_allowed(r, "GET, HEAD, PATCH"))
			return;
		if (!strcmp(http_req_method(r), "PATCH")) {
			json_t *body = http_req_json(r, &failed);
			if (failed)
				return;
			if (!body) {
				rf_error(r, MHD_HTTP_BAD_REQUEST, "EmptyJSON", NULL, NULL,
					 "The request body is empty; send a JSON object.");
				return;
			}
			_patch(r, base, lun, body);
			json_decref(body);
			return;
		}
		json_t *o = _member(app, base, lun, etag, sizeof(etag));
		rf_reply(r, MHD_HTTP_OK, o, "GET, HEAD, PATCH", etag, NULL);
		return;
	}
	bool insert = n == 3 && !strcmp(rest[1], "Actions") &&
		      !strcmp(rest[2], "VirtualMedia.InsertMedia");
	bool eject = n == 3 && !strcmp(rest[1], "Actions") &&
		     !strcmp(rest[2], "VirtualMedia.EjectMedia");
	if (!insert && !eject) {
		rf_not_found(r);
		return;
	}
	if (!rf_allowed(r, "POST"))
		return;
	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (eject) {
		/* EjectMedia takes no parameters; {} is what some clients send. */
		if (body && json_object_size(body)) {
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterUnknown", NULL, NULL,
				 "The action EjectMedia takes no parameters.");
		} else {
			_eject(r, lun);
		}
		json_decref(body);
		return;
	}
	struct _want w;
	if (!body)
		rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterMissing", "#/Image", NULL,
			 "The action InsertMedia requires the parameter Image to be present.");
	else if (_action_params(r, body, &w))
		_insert(r, base, lun, &w, false);
	json_decref(body);
}
