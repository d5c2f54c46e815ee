/* http internals shared by the daemon, the router and the replies. */
#ifndef VMEDIA_HTTP_INTERNAL_H
#define VMEDIA_HTTP_INTERNAL_H

#include <time.h>

#include "http.h"

#define HTTP_MAX_PARAMS 4

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t nroutes;
	void *app;
	char *web_dir;
	size_t max_json_body;
	unsigned port;
	bool loopback;
	int listen_fd;
	http_authorize_fn authorize;
	void *authorize_ctx;
	char *tls_cert, *tls_key;	/* PEM text, kept while the daemon runs */
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	char *path;
	const char *raw_end;	/* where the raw request target's C string ends */
	bool started_request;	/* _start_request has run */
	const struct http_route *route;
	char *params[HTTP_MAX_PARAMS];
	char *body;
	size_t body_len;
	bool body_too_large;
	bool streaming;		/* stream begun, end/abort not yet called */
	bool replied;
	bool has_body;		/* Content-Length > 0 or chunked */
	bool expect_continue;	/* the client waits for 100 before sending it */
	bool body_started;	/* a first chunk has arrived */
	bool final;		/* the whole body is in */
	struct MHD_Response *pending;	/* a reply held until the body is drained */
	unsigned status;
	void *state;
	struct timespec started;
	char peer[64];
	char who[64];		/* the authenticated user or token, or "" */
};

/* Finds the route for r's method and path; on failure replies 404 or 405. */
void _http_route(struct http_req *r);
/* Serves a file of the web UI for GET/HEAD; false if there is none. */
bool _http_static(struct http_req *r);

#endif
