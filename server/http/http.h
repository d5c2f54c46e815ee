/* http: the transport. A libmicrohttpd daemon with one thread per
 * connection, a routing table, bounded JSON bodies, streamed uploads, and
 * replies that are always JSON errors of one shape.
 *
 * Why thread-per-connection: handlers may wait (bounded) on a condition
 * variable for a LUN worker, uploads fsync to disk, and an SSE stream
 * blocks waiting for events; in a shared polling thread any of these would
 * stall every other client. The connection limit bounds the threads, and
 * each has a small stack. */
#ifndef VMEDIA_HTTP_H
#define VMEDIA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "../core/err.h"

struct http_server;
struct http_req;

typedef void (*http_handler_fn)(struct http_req *r);

/* For request bodies streamed to a consumer instead of buffered (uploads).
 * begin runs when the headers are in and may reply at once (refusing the
 * body); data runs per chunk and replies only to fail; end runs after the
 * last byte and must reply; abort runs if the connection ends before end
 * (client gone, timeout, server stopping). */
struct http_stream_ops {
	void (*begin)(struct http_req *r);
	void (*data)(struct http_req *r, const char *buf, size_t len);
	void (*end)(struct http_req *r);
	void (*abort)(struct http_req *r);
};

/* A route: method ("GET", ...) and a pattern of segments where "*" captures
 * one segment and a final "**" captures the rest of the path, slashes and
 * all (so a bad image name is answered 400, not 404). */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler_fn handler;
	const struct http_stream_ops *stream;
};

/* Who may do what: called for every request before anything else. */
enum http_auth { HTTP_AUTH_ALLOW = 0, HTTP_AUTH_MISSING, HTTP_AUTH_BAD, HTTP_AUTH_LIMITED };
typedef enum http_auth (*http_authorize_fn)(void *ctx, const char *method, const char *path,
					     const char *authorization, const char *peer,
					     char *who, size_t who_size, unsigned *retry_after);

struct http_options {
	http_authorize_fn authorize;	/* NULL: everyone */
	void *authorize_ctx;
	bool loopback_only;		/* refuse to start on another address */
	const char *tls_cert, *tls_key;	/* PEM file names, or NULL for plain HTTP */
	const char *listen;
	const char *web_dir;		/* the web UI from this directory; NULL: the embedded one */
	bool no_web;			/* serve no web UI at all (only the routes) */
	/* The start's log line says so: "serving WHAT on ADDR (port N)"
	 * instead of "listening on ADDR (port N)". NULL: the API. */
	const char *what;
	unsigned max_connections, max_per_ip, timeout_s;
	unsigned header_timeout_s;	/* for a connection's request headers */
	unsigned max_pending_per_ip;	/* connections of one address still sending headers */
	size_t max_json_body;
	const char *server_names;	/* comma-separated names for Host and Origin */
	const char *trusted_proxy;	/* an address, or NULL */
};

int http_start(const struct http_options *opts, const struct http_route *routes,
	       size_t nroutes, void *app, struct http_server **out, struct err *err);
void http_stop(struct http_server *srv);

/* Request accessors. */
void *http_req_app(const struct http_req *r);
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
const char *http_req_param(const struct http_req *r, unsigned i);	/* captured segments */
const char *http_req_query(const struct http_req *r, const char *name);
const char *http_req_header(const struct http_req *r, const char *name);
/* Parses ?name=1|0|true|false|yes|no (absent: def). Replies 400 and returns
 * -1 on anything else. */
int http_req_query_bool(struct http_req *r, const char *name, bool def, bool *out);
/* The buffered body as JSON; NULL for an empty body. Replies 400 and sets
 * *failed on malformed JSON or a non-object. */
json_t *http_req_json(struct http_req *r, bool *failed);
void http_req_set_state(struct http_req *r, void *state);
void *http_req_state(const struct http_req *r);
/* Seconds since the request's first byte arrived. */
double http_req_elapsed_s(const struct http_req *r);
struct MHD_Connection *http_req_connection(const struct http_req *r);

/* Replies. Each takes ownership of what it is given. */
void http_reply(struct http_req *r, unsigned status, struct MHD_Response *resp);
void http_reply_json(struct http_req *r, unsigned status, json_t *body);
void http_reply_error(struct http_req *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void http_reply_err(struct http_req *r, const struct err *e);
/* An error body as a response, for replies that need extra headers. */
struct MHD_Response *http_error_response(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
unsigned http_status_of(enum err_kind kind);

#endif
