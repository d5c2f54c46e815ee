/* redfish/insert: InsertMedia and PATCH of a VirtualMedia member.
 *
 * Image is an http(s) URL or the name of a stored image (inserted at once).
 * A URL goes in by its TransferMethod (--redfish-transfer-default when the
 * client names none): Upload downloads it, then inserts it (task.c); Stream
 * inserts the URL itself, read through the streaming service. An uploaded
 * URL is always fetched again: a client that re-inserts the same URL
 * expects what is there now, as a BMC streaming it would read; the previous
 * copy is replaced if it came from that URL, and an image of that name from
 * elsewhere is never overwritten (409). */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../download/download.h"
#include "../storage/storage.h"

/* What InsertMedia and PATCH ask for. */
struct want {
	const char *image;
	bool inserted, ro;
	int cdrom;			/* -1: by the name */
	const char *user, *password;	/* for the URL's server, or NULL */
	int transfer;			/* enum redfish_transfer; -1: the default */
	bool patch;			/* PATCH: errors name properties, not parameters */
};

/* "Upload" or "Stream": its enum redfish_transfer, else -1. */
static int _transfer(const char *s)
{
	return !strcmp(s, "Upload") ? REDFISH_UPLOAD : !strcmp(s, "Stream") ? REDFISH_STREAM : -1;
}

const char *redfish_transfer_name(enum redfish_transfer t)
{
	return t == REDFISH_STREAM ? "Stream" : "Upload";
}

bool redfish_is_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

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
static bool _with_credentials(const struct want *w, char *out, size_t size)
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

/* The URL to fetch: Image, with UserName/Password as its user:password@
 * part; replies 400 and returns false if they do not fit. */
static bool _url(struct http_req *r, const struct want *w, char *out, size_t size)
{
	if (strlen(w->image) >= size) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, w->patch ? "PropertyValueFormatError" :
			      "ActionParameterValueFormatError", "#/Image",
			      NULL, "The value for Image is too long (at most %zu bytes).",
			      size - 1);
		return false;
	}
	snprintf(out, size, "%s", w->image);
	if ((w->user || w->password) && !_with_credentials(w, out, size)) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueConflict", "#/UserName",
			      "Give the credentials either in the URL or as UserName/Password.",
			      "The URL in Image has credentials already, or is too long with "
			      "them.");
		return false;
	}
	return true;
}

/* TransferMethod Stream: the URL itself goes in, read where it lies
 * through the streaming service (nbdkit); nothing is stored. */
static void _stream(struct redfish *rf, struct http_req *r, unsigned lun, const struct want *w,
		    struct storage_link *link)
{
	const char *how = w->transfer < 0 ? " (the service's default)" : "";
	struct gadget_lun l;
	struct err err;
	char url[4096];

	if (!rf->streams && link) {
		redfish_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceTemporarilyUnavailable",
			      NULL, NULL, "%s is a named link, streamed when inserted, and the "
			      "streaming service is off or unavailable on this vmediad.", w->image);
		return;
	}
	if (!rf->streams) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported",
			      "#/TransferMethod",
			      "Use TransferMethod Upload (the image is downloaded, then inserted).",
			      "TransferMethod Stream%s needs the streaming service, which is off "
			      "or unavailable on this vmediad (see its log).", how);
		return;
	}
	if (!w->inserted) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported", "#/Inserted",
			      "Insert it (Inserted true), or use TransferMethod Upload to attach "
			      "it without inserting.", "TransferMethod Stream%s inserts the URL at "
			      "once; it cannot be attached with Inserted false.", how);
		return;
	}
	if (!w->ro) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, w->patch ? "PropertyValueConflict" :
			      "ActionParameterValueConflict", "#/WriteProtected",
			      "Use TransferMethod Upload to write to the image.",
			      "A streamed image is write-protected: the host cannot write to an "
			      "HTTP server.");
		return;
	}
	if (link) {
		if (storage_link_get(rf->storage, w->image, link) < 0) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "ResourceMissingAtURI", "#/Image",
				      NULL, "The link %s was deleted.", w->image);
			return;
		}
		snprintf(url, sizeof(url), "%s", link->url);
		memset(link->url, 0, sizeof(link->url));
	} else if (!_url(r, w, url, sizeof(url))) {
		return;
	}
	struct gadget_stream_req sr = { .url = url, .name = link ? link->name : NULL,
					.cdrom = w->cdrom };
	int rc = gadget_insert_stream(rf->gadget, rf->streams, lun, &sr, &l, &err);
	memset(url, 0, sizeof(url));
	if (rc < 0) {
		redfish_reply_err(r, &err);
		return;
	}
	redfish_staged_set(rf, lun, NULL, true, false);
	redfish_reply_ok(r, json_pack("[o]", redfish_message(
		"Success", "OK", NULL, NULL, "%s %s LUN %u as %s, write-protected, streamed from "
		"its server (not copied).", l.image, rc == 1 ? "is being inserted into" :
		"was inserted into", lun, l.cdrom ? "a CD-ROM" : "a USB disk")));
}

static void _insert_stream(struct redfish *rf, struct http_req *r, unsigned lun,
			   const struct want *w)
{
	_stream(rf, r, lun, w, NULL);
}

/* A named link of the library: streamed, whatever TransferMethod says. */
static void _insert_link(struct redfish *rf, struct http_req *r, unsigned lun,
			 const struct want *w)
{
	struct storage_link link;
	struct want lw = *w;

	lw.transfer = REDFISH_STREAM;
	_stream(rf, r, lun, &lw, &link);
	memset(link.url, 0, sizeof(link.url));
}

/* TransferMethod Upload: download the URL (a task), then insert. */
static void _insert_url(struct redfish *rf, struct http_req *r, const char *base, unsigned lun,
			const struct want *w)
{
	struct redfish_insert ins = { .lun = lun, .inserted = w->inserted, .ro = w->ro };
	struct storage_image img;
	struct err err;
	char shown[2048];

	if (!download_url_name(w->image, ins.name)) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, w->patch ? "PropertyValueFormatError" :
			      "ActionParameterValueFormatError", "#/Image",
			      "Give a URL whose path ends in the image's file name.",
			      "The value for Image is not a URL with a file name.");
		return;
	}
	if (!_url(r, w, ins.url, sizeof(ins.url)))
		return;
	ins.cdrom = w->cdrom >= 0 ? w->cdrom : names_is_iso(ins.name);
	snprintf(ins.target, sizeof(ins.target), "%s/VirtualMedia/%u%s", base, lun,
		 w->patch ? "" : "/Actions/VirtualMedia.InsertMedia");
	download_redact_url(ins.url, shown, sizeof(shown));
	if (storage_get(rf->storage, ins.name, &img, NULL) == 0) {
		if (strcmp(img.source, shown) != 0) {
			redfish_error(r, MHD_HTTP_CONFLICT, "ResourceAlreadyExists", "#/Image",
				      "Delete the stored image or use a URL with another file "
				      "name.", "An image named %s that did not come from this URL "
				      "is stored; it is not overwritten.", ins.name);
			return;
		}
		/* Fetched from this URL before: fetch what is there now. */
		if (storage_delete(rf->storage, ins.name, &err) < 0) {
			redfish_reply_err(r, &err);
			return;
		}
	}
	redfish_task_start(rf, r, &ins);
}

/* The name of a stored image: insert it at once (or attach it). */
static void _insert_stored(struct redfish *rf, struct http_req *r, unsigned lun,
			   const struct want *w)
{
	struct storage_image img;
	struct err err;
	char why[160];

	if (w->user || w->password) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported", "#/UserName",
			      "Leave out UserName and Password for a stored image.",
			      "UserName and Password apply only to an http(s) URL in Image.");
		return;
	}
	if (!names_valid(w->image, strlen(w->image), why, sizeof(why))) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, w->patch ? "PropertyValueFormatError" :
			      "ActionParameterValueFormatError", "#/Image",
			      "Give an http:// or https:// URL, or the name of a stored image.",
			      "The value '%s' for Image is neither an http(s) URL nor an image "
			      "name: %s", w->image, why);
		return;
	}
	struct storage_link link;
	if (storage_link_get(rf->storage, w->image, &link) == 0) {
		memset(link.url, 0, sizeof(link.url));
		if (w->inserted) {
			_insert_link(rf, r, lun, w);
			return;
		}
	} else if (storage_get(rf->storage, w->image, &img, &err) < 0) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ResourceMissingAtURI", "#/Image",
			      "Upload the image first (PUT /images/NAME) or give its URL.",
			      "No image named %s is stored.", w->image);
		return;
	}
	bool cdrom = w->cdrom >= 0 ? w->cdrom : names_is_iso(w->image);
	if (!w->inserted) {
		redfish_staged_set(rf, lun, w->image, w->ro, cdrom);
		redfish_reply_ok(r, json_pack("[o]", redfish_message(
			"Success", "OK", NULL, NULL, "%s is attached to LUN %u but not inserted; "
			"PATCH Inserted true to insert it.", w->image, lun)));
		return;
	}
	int rc = redfish_do_insert(rf, lun, w->image, cdrom, w->ro, &err);
	if (rc < 0) {
		redfish_reply_err(r, &err);
		return;
	}
	redfish_staged_set(rf, lun, NULL, true, false);
	redfish_reply_ok(r, json_pack("[o]", redfish_message(
		"Success", "OK", NULL, NULL, "%s %s LUN %u as %s%s.", w->image,
		rc == 1 ? "is being inserted into" : "was inserted into", lun,
		cdrom ? "a CD-ROM" : "a USB disk", w->ro || cdrom ? ", write-protected" : "")));
}

static void _insert(struct redfish *rf, struct http_req *r, const char *base, unsigned lun,
		    const struct want *w)
{
	struct gadget_lun l;

	gadget_get(rf->gadget, lun, &l, NULL);
	if (l.state != GADGET_LUN_EMPTY || redfish_task_pending(rf, lun, NULL, 0)) {
		redfish_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", NULL,
			      "Eject the medium (EjectMedia) before inserting another.",
			      "LUN %u is not empty (%s%s).", lun,
			      l.state != GADGET_LUN_EMPTY ? "it holds " : "a download for it is under way",
			      l.state != GADGET_LUN_EMPTY ? l.image : "");
		return;
	}
	enum redfish_transfer how = w->transfer >= 0 ? (enum redfish_transfer)w->transfer :
				    rf->transfer_default;
	if (!redfish_is_url(w->image))
		_insert_stored(rf, r, lun, w);	/* on the box already: either way */
	else if (how == REDFISH_STREAM)
		_insert_stream(rf, r, lun, w);
	else
		_insert_url(rf, r, base, lun, w);
}

/* Reads InsertMedia's parameters; replies 400 and returns false if bad. */
static bool _action_params(struct http_req *r, json_t *body, struct want *w)
{
	const char *k;
	json_t *v;

	*w = (struct want){ .inserted = true, .ro = true, .cdrom = -1, .transfer = -1 };
	json_object_foreach(body, k, v) {
		bool is_bool = !strcmp(k, "Inserted") || !strcmp(k, "WriteProtected");
		bool is_str = !strcmp(k, "Image") || !strcmp(k, "MediaType") ||
			      !strcmp(k, "TransferMethod") || !strcmp(k, "TransferProtocolType") ||
			      !strcmp(k, "UserName") || !strcmp(k, "Password");
		if (!is_bool && !is_str) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterUnknown", NULL,
				      "Use Image, Inserted, WriteProtected, MediaType, "
				      "TransferMethod, TransferProtocolType, UserName, Password.",
				      "The action InsertMedia does not support the parameter %s.",
				      k);
			return false;
		}
		if ((is_bool && !json_is_boolean(v)) || (is_str && !json_is_string(v))) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueTypeError",
				      NULL, NULL, "The value for the parameter %s has the wrong "
				      "type (%s expected).", k, is_bool ? "a boolean" : "a string");
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
		else if (!strcmp(k, "TransferMethod") && _transfer(s) >= 0)
			w->transfer = _transfer(s);
		else if (!strcmp(k, "TransferMethod") ||
			 (!strcmp(k, "TransferProtocolType") && strcmp(s, "HTTP") != 0 &&
			  strcmp(s, "HTTPS") != 0) || !strcmp(k, "MediaType")) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterNotSupported", NULL,
				      "MediaType: CD, DVD or USBStick; TransferMethod: Upload or "
				      "Stream; "
				      "TransferProtocolType: HTTP or HTTPS.",
				      "The value %s for the parameter %s is not supported.", s, k);
			return false;
		}
	}
	if (!w->image) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterMissing", "#/Image",
			      "Add Image (an http(s) URL or the name of a stored image).",
			      "The action InsertMedia requires the parameter Image to be present.");
		return false;
	}
	return true;
}

void redfish_insert_action(struct redfish *rf, struct http_req *r, const char *base,
			   unsigned lun, json_t *body)
{
	struct want w;

	if (!body)
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterMissing", "#/Image", NULL,
			      "The action InsertMedia requires the parameter Image to be present.");
	else if (_action_params(r, body, &w))
		_insert(rf, r, base, lun, &w);
}

static bool _read_only(const char *k)
{
	static const char *const ro[] = { "Id", "Name", "MediaTypes", "ImageName", "ConnectedVia",
					  "Status", "Actions", "TransferProtocolType",
					  "Description" };

	if (k[0] == '@')
		return true;
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (!strcmp(k, ro[i]))
			return true;
	return false;
}

/* PATCH's properties; replies 400 and returns false if bad. */
static bool _patch_props(struct http_req *r, json_t *body, json_t **image, json_t **ins,
			 json_t **wp, int *transfer)
{
	const char *k;
	json_t *v;

	*image = *ins = *wp = NULL;
	*transfer = -1;
	json_object_foreach(body, k, v) {
		if (!strcmp(k, "Image") && (json_is_string(v) || json_is_null(v))) {
			*image = v;
		} else if (!strcmp(k, "Inserted") && json_is_boolean(v)) {
			*ins = v;
		} else if (!strcmp(k, "WriteProtected") && json_is_boolean(v)) {
			*wp = v;
		} else if (!strcmp(k, "Image") || !strcmp(k, "Inserted") ||
			   !strcmp(k, "WriteProtected")) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyValueTypeError", NULL, NULL,
				      "The value for the property %s has the wrong type.", k);
			return false;
		} else if (!strcmp(k, "TransferMethod") && json_is_string(v) &&
			   _transfer(json_string_value(v)) >= 0) {
			*transfer = _transfer(json_string_value(v));
		} else if (!strcmp(k, "TransferMethod") && json_is_string(v)) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyValueNotInList",
				      "#/TransferMethod", "Use Upload or Stream.",
				      "The value %s for the property TransferMethod is not in the "
				      "list of acceptable values.", json_string_value(v));
			return false;
		} else if (!strcmp(k, "TransferMethod")) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyValueTypeError", NULL, NULL,
				      "The value for the property %s has the wrong type.", k);
			return false;
		} else if (_read_only(k)) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyNotWritable", NULL, NULL,
				      "The property %s is a read-only property and cannot be "
				      "assigned a value.", k);
			return false;
		} else {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyUnknown", NULL, NULL,
				      "The property %s is not in the list of valid properties for "
				      "the resource.", k);
			return false;
		}
	}
	return true;
}

void redfish_patch(struct redfish *rf, struct http_req *r, const char *base, unsigned lun,
		   json_t *body)
{
	char etag[40];
	json_t *image, *ins, *wp;
	int transfer;

	json_decref(redfish_member(rf, base, lun, etag, sizeof(etag)));
	const char *im = http_req_header(r, "If-Match");
	if (im && strcmp(im, "*") != 0 && !strstr(im, etag + 2)) {
		redfish_error(r, MHD_HTTP_PRECONDITION_FAILED, "PreconditionFailed", NULL,
			      "GET the resource again and retry with its current ETag.",
			      "The ETag in If-Match does not match the resource's current one.");
		return;
	}
	if (!_patch_props(r, body, &image, &ins, &wp, &transfer))
		return;
	if (image && json_is_string(image) && json_string_value(image)[0]) {
		struct want w = { .image = json_string_value(image), .inserted = !ins ||
				  json_is_true(ins), .ro = !wp || json_is_true(wp), .cdrom = -1,
				  .transfer = transfer, .patch = true };
		_insert(rf, r, base, lun, &w);
		return;
	}
	if (image || (ins && json_is_false(ins))) {	/* null or "" */
		redfish_eject(rf, r, lun);
		return;
	}
	struct gadget_lun l;
	gadget_get(rf->gadget, lun, &l, NULL);
	if (ins && json_is_true(ins) && l.state == GADGET_LUN_EMPTY) {
		char name[NAMES_MAX + 1];
		bool ro, cdrom;
		redfish_staged_get(rf, lun, name, sizeof(name), &ro, &cdrom);
		if (!name[0]) {
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "PropertyMissing", "#/Image", NULL,
				      "The property Image is required: no image is attached to "
				      "LUN %u.", lun);
			return;
		}
		struct want w = { .image = name, .inserted = true,
				  .ro = wp ? json_is_true(wp) : ro, .cdrom = cdrom,
				  .transfer = transfer, .patch = true };
		_insert(rf, r, base, lun, &w);
		return;
	}
	if (wp && l.state != GADGET_LUN_EMPTY && json_is_true(wp) != l.ro) {
		redfish_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", "#/WriteProtected",
			      "Eject, then insert again with the WriteProtected wanted.",
			      "WriteProtected cannot change while the medium is inserted.");
		return;
	}
	if (!image && !ins && !wp && transfer < 0) {
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "EmptyJSON", NULL, NULL,
			      "The request body submitted contained an empty JSON object and the "
			      "service is unable to process it.");
		return;
	}
	json_t *o = redfish_member(rf, base, lun, etag, sizeof(etag));
	redfish_reply(r, MHD_HTTP_OK, o, "GET, HEAD, PATCH", etag, NULL);
}
