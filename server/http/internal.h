/* http internals shared by the daemon, the router and the replies. */
#ifndef VMEDIA_HTTP_INTERNAL_H
#define VMEDIA_HTTP_INTERNAL_H

#include <sys/socket.h>
#include <time.h>

#include "http.h"

#define HTTP_MAX_PARAMS 4

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t nroutes;
	void *app;
	char *web_dir;
	bool no_web;
	size_t max_json_body;
	unsigned port;
	bool loopback;
	int listen_fd;
	http_authorize_fn authorize;
	void *authorize_ctx;
	char *tls_cert, *tls_key;	/* PEM text, kept while the daemon runs */
	bool tls;
	char listen_host[256];		/* the --listen host, lower-case */
	char *server_names;		/* --server-name values, comma-separated */
	char trusted_proxy[64];		/* canonical address, or "" */
	struct http_deadline *deadline;
	unsigned max_pending_per_ip;	/* connections still sending headers */
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
	bool close_after;	/* refused before authentication: no keep-alive */
	bool linger;		/* answered with its body unread */
};

/* guard.c: checks before routing and authentication. */
int http_guard_init(struct http_server *srv, const struct http_options *opts, struct err *err);
/* Sets r->peer: the peer's address, or a trusted proxy's X-Forwarded-For. */
void http_client_addr(struct http_req *r);
/* Whether the Host header names this server; host gets the header. */
bool http_host_allowed(struct http_req *r, char *host, size_t size);
bool http_same_origin(struct http_req *r);
/* Replies (400, 413, 501) and returns false for ambiguous body framing. */
bool http_framing_ok(struct http_req *r);

/* deadline.c: the watchdog that closes connections whose request headers
 * are late. */
struct http_deadline;
struct http_watch;
struct http_deadline *http_deadline_start(unsigned timeout_s, bool tls);
void http_deadline_stop(struct http_deadline *d);
struct http_watch *http_deadline_add(struct http_deadline *d, int fd,
				      const struct sockaddr *peer);
/* Whether a connection from sa may be accepted (see deadline.c). */
bool http_deadline_admit(struct http_deadline *d, const struct sockaddr *sa, unsigned max);
/* False if the watchdog closed the connection already. */
bool http_deadline_headers_in(struct http_deadline *d, struct http_watch *w);
void http_deadline_remove(struct http_deadline *d, struct http_watch *w);
/* The request context of a connection, until its request completes. */
void http_watch_hold(struct http_watch *w, void *req);
void *http_watch_take(struct http_watch *w);
/* Reads and drops what the client still sends, up to ms and max_bytes
 * (see deadline.c). */
void http_deadline_linger(struct http_watch *w, unsigned ms, size_t max_bytes);

/* Finds the route for r's method and path; on failure replies 404 or 405. */
void http_route_request(struct http_req *r);
/* Serves a file of the web UI for GET/HEAD; false if there is none. */
bool http_serve_static(struct http_req *r);

#endif
