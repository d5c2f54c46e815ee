/* redfish/reply: replies, messages and errors in Redfish's shape (DSP0266:
 * OData-Version on every answer, errors as {"error": {"code", "message",
 * "@Message.ExtendedInfo"}} with Base registry MessageIds). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"

void redfish_reply(struct http_req *r, unsigned status, json_t *body, const char *allow,
		   const char *etag, const char *location)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
	struct MHD_Response *resp;

	json_decref(body);
	if (!text)
		abort();
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (status != MHD_HTTP_NO_CONTENT)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "OData-Version", "4.0");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	if (location) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	}
	http_reply(r, status, resp);
}

static json_t *_vmessage(const char *id, const char *severity, const char *related,
			 const char *resolution, const char *fmt, va_list ap)
{
	char msg[768], full[96];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Ids without a registry prefix are Base's. */
	snprintf(full, sizeof(full), "%s%s", strchr(id, '.') ? "" : REDFISH_BASE, id);
	json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[]}",
			      "@odata.type", "#Message.v1_1_1.Message", "MessageId", full,
			      "Message", msg, "Severity", severity, "MessageSeverity", severity,
			      "Resolution", resolution ? resolution : "None.", "MessageArgs");
	if (related)
		json_object_set_new(m, "RelatedProperties", json_pack("[s]", related));
	return m;
}

json_t *redfish_message(const char *id, const char *severity, const char *related,
			const char *resolution, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_t *m = _vmessage(id, severity, related, resolution, fmt, ap);
	va_end(ap);
	return m;
}

/* The error body; message is the summary (the first message's text if NULL). */
static json_t *_error_body(const char *key, const char *message, json_t *msgs)
{
	char code[96];
	json_t *first = json_array_get(msgs, 0);
	const char *text = first ? json_string_value(json_object_get(first, "Message")) : NULL;

	snprintf(code, sizeof(code), "%s%s", REDFISH_BASE, key);
	return json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message",
			 message ? message : text ? text : "The request failed.",
			 "@Message.ExtendedInfo", msgs);
}

void redfish_error_msgs(struct http_req *r, unsigned status, const char *key, json_t *msgs)
{
	redfish_reply(r, status, _error_body(key, NULL, msgs), NULL, NULL, NULL);
}

void redfish_error(struct http_req *r, unsigned status, const char *key, const char *related,
		   const char *resolution, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_t *m = _vmessage(key, "Critical", related, resolution, fmt, ap);
	va_end(ap);
	redfish_error_msgs(r, status, key, json_pack("[o]", m));
}

void redfish_reply_ok(struct http_req *r, json_t *msgs)
{
	redfish_reply(r, MHD_HTTP_OK, json_pack("{s:o}", "@Message.ExtendedInfo", msgs), NULL,
		      NULL, NULL);
}

void redfish_reply_err(struct http_req *r, const struct err *e)
{
	switch (e->kind) {
	case ERR_CONFLICT:
		redfish_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", NULL,
			      "Eject the medium first, or wait for the operation under way.", "%s",
			      e->message);
		return;
	case ERR_NOT_FOUND:
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ResourceMissingAtURI", "#/Image",
			      "Upload the image or give its http(s) URL.", "%s", e->message);
		return;
	case ERR_INVALID:
		redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueFormatError", "#/Image",
			      NULL, "%s", e->message);
		return;
	default:
		redfish_error(r, http_status_of(e->kind), "GeneralError", NULL, NULL, "%s",
			      e->message);
	}
}

bool redfish_allowed(struct http_req *r, const char *allow)
{
	const char *m = http_req_method(r);
	char want[16];

	if (!strcmp(m, "HEAD"))
		m = "GET";
	snprintf(want, sizeof(want), "%s", m);
	for (const char *p = allow; (p = strstr(p, want)); p += strlen(want)) {
		size_t l = strlen(want);
		if ((p == allow || p[-1] == ' ') && (p[l] == ',' || p[l] == '\0'))
			return true;
	}
	json_t *msgs = json_pack("[o]", redfish_message(
		"OperationNotAllowed", "Critical", NULL,
		"Use one of the methods in the Allow header.",
		"%s is not allowed on %s; this resource supports %s.", http_req_method(r),
		http_req_path(r), allow));
	redfish_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED,
		      _error_body("OperationNotAllowed",
				  "The HTTP method is not allowed on this resource.", msgs),
		      allow, NULL, NULL);
	return false;
}

void redfish_not_found(struct http_req *r)
{
	redfish_error(r, MHD_HTTP_NOT_FOUND, "ResourceNotFound", NULL,
		      "Check the URI; the service root /redfish/v1/ links every resource.",
		      "The resource at %s was not found.", http_req_path(r));
}

json_t *redfish_link(const char *path)
{
	return json_pack("{s:s}", "@odata.id", path);
}

json_t *redfish_resource(const char *path, const char *type, const char *id, const char *name)
{
	/* "#VirtualMedia.v1_6_0.VirtualMedia": the context names the entity
	 * set, "VirtualMedia.VirtualMedia". */
	const char *dot = strchr(type, '.'), *last = strrchr(type, '.');
	char ctx[192];

	snprintf(ctx, sizeof(ctx), "/redfish/v1/$metadata#%.*s%s", (int)(dot - type - 1), type + 1,
		 last);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "@odata.id", path, "@odata.type", type,
			      "@odata.context", ctx, "Name", name);
	if (id)
		json_object_set_new(o, "Id", json_string(id));
	return o;
}

void redfish_time(char *buf, size_t size, time_t t)
{
	clock_iso8601(buf, size, t, -1);
}
