/* reply: request accessors and the replies every handler uses. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"

void *http_req_app(const struct http_req *r) { return r->srv->app; }
const char *http_req_method(const struct http_req *r) { return r->method; }
const char *http_req_path(const struct http_req *r) { return r->path; }
void http_req_set_state(struct http_req *r, void *state) { r->state = state; }
void *http_req_state(const struct http_req *r) { return r->state; }

double http_req_elapsed_s(const struct http_req *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - r->started.tv_sec) +
	       (double)(now.tv_nsec - r->started.tv_nsec) / 1e9;
}
struct MHD_Connection *http_req_connection(const struct http_req *r) { return r->conn; }

const char *http_req_param(const struct http_req *r, unsigned i)
{
	return i < HTTP_MAX_PARAMS ? r->params[i] : NULL;
}

const char *http_req_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int http_req_query_bool(struct http_req *r, const char *name, bool def, bool *out)
{
	const char *v = http_req_query(r, name);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !*v) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")) {
		*out = false;
		return 0;
	}
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
			 "query parameter '%s' must be 1 or 0, not '%s'", name, v);
	return -1;
}

json_t *http_req_json(struct http_req *r, bool *failed)
{
	json_error_t jerr;
	json_t *j;

	*failed = false;
	if (!r->body || r->body_len == 0)
		return NULL;
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		if (j)
			http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
					 "the request body must be a JSON object");
		else
			http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
					 "the request body is not valid JSON: %s (at byte %d)",
					 jerr.text, jerr.position);
		json_decref(j);
		*failed = true;
		return NULL;
	}
	return j;
}

void http_reply(struct http_req *r, unsigned status, struct MHD_Response *resp)
{
	if (r->replied) {
		log_error("HTTP", "%s %s: a second reply (%u) was dropped", r->method, r->path,
			  status);
		MHD_destroy_response(resp);
		return;
	}
	r->replied = true;
	r->status = status;
	/* Every answer, the web UI's pages included: no other site may frame
	 * the eject buttons (clickjacking). */
	MHD_add_response_header(resp, "Content-Security-Policy", "frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->srv->tls)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_STRICT_TRANSPORT_SECURITY,
					"max-age=31536000");
	/* A refusal known when the headers are in (auth, name, size, space, the
	 * JSON limit) is queued at once, before any of the body is read:
	 * libmicrohttpd then sends it, reads no body and closes the connection
	 * (see http_deadline_linger for how the client still gets to read it).
	 * Only a reply decided in the middle of the body has to wait for the
	 * rest of it, since libmicrohttpd takes no reply in that state. */
	if (r->has_body && !r->final && r->body_started) {
		r->pending = resp;
		return;
	}
	r->linger = r->has_body && !r->final;
	if (r->close_after || r->linger)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
		log_warn("HTTP", "%s %s: could not queue the %u reply", r->method, r->path, status);
	MHD_destroy_response(resp);
}

static struct MHD_Response *_json_response(json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;

	json_decref(body);
	if (!text)
		abort();
	size_t len = strlen(text);
	text = realloc(text, len + 2);
	if (!text)
		abort();
	text[len++] = '\n';
	text[len] = '\0';
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return resp;
}

void http_reply_json(struct http_req *r, unsigned status, json_t *body)
{
	http_reply(r, status, _json_response(body));
}

static struct MHD_Response *_verror_response(const char *code, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return _json_response(json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

struct MHD_Response *http_error_response(const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	struct MHD_Response *resp = _verror_response(code, fmt, ap);
	va_end(ap);
	return resp;
}

void http_reply_error(struct http_req *r, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	struct MHD_Response *resp = _verror_response(code, fmt, ap);
	va_end(ap);
	http_reply(r, status, resp);
}

unsigned http_status_of(enum err_kind kind)
{
	switch (kind) {
	case ERR_INVALID: return MHD_HTTP_BAD_REQUEST;
	case ERR_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
	case ERR_CONFLICT: return MHD_HTTP_CONFLICT;
	case ERR_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERR_NO_SPACE: return MHD_HTTP_INSUFFICIENT_STORAGE;
	case ERR_DIGEST: return MHD_HTTP_UNPROCESSABLE_CONTENT;
	case ERR_UNAVAILABLE: return MHD_HTTP_SERVICE_UNAVAILABLE;
	case ERR_TIMEOUT: return MHD_HTTP_GATEWAY_TIMEOUT;
	case ERR_UNPROCESSABLE: return MHD_HTTP_UNPROCESSABLE_CONTENT;
	case ERR_NONE:
	case ERR_IO:
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

void http_reply_err(struct http_req *r, const struct err *e)
{
	http_reply_error(r, http_status_of(e->kind), e->code, "%s", e->message);
}
