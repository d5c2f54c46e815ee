/* server: the libmicrohttpd daemon and the life of one request. */
#include "internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/text.h"
#include "../metrics/metrics.h"

#define HTTP_MOD "HTTP"

/* How long and how much of the rest of a refused body is read and
 * dropped (deadline.c). */
#define HTTP_LINGER_MS 1000
#define HTTP_LINGER_BYTES ((size_t)4 << 20)

/* GnuTLS priorities (Debian's libmicrohttpd uses GnuTLS): TLS 1.2 and 1.3
 * only, ephemeral (EC)DH key exchange only (forward secrecy; no static
 * RSA), AEAD ciphers only (no CBC, no SHA-1 MACs). */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:" \
	"+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD"

static void _mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_warn(HTTP_MOD, "%s", buf);
}

/* Percent-decoding for paths and query values. "%00" is left as it is:
 * decoding it would cut the string short and let "a%00b" name image "a";
 * kept literally, the '%' makes the name invalid and the request fails 400. */
static size_t _unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return text_percent_decode(s, '\0');
}

/* Replies 401 or 429 and returns false unless the request may go on. */
static bool _authorized(struct http_req *r)
{
	struct http_server *srv = r->srv;
	unsigned retry = 0;
	char buf[16];

	if (!srv->authorize)
		return true;
	const char *hdr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_AUTHORIZATION);
	enum http_auth a = srv->authorize(srv->authorize_ctx, r->method, r->path, hdr, r->peer,
					  r->who, sizeof(r->who), &retry);
	if (a == HTTP_AUTH_ALLOW)
		return true;
	r->close_after = true;
	struct MHD_Response *resp;
	if (a == HTTP_AUTH_LIMITED) {
		resp = http_error_response("too_many_attempts",
					   "too many failed logins from %s; try again in %u s",
					   r->peer, retry);
		snprintf(buf, sizeof(buf), "%u", retry);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
		http_reply(r, MHD_HTTP_TOO_MANY_REQUESTS, resp);
		return false;
	}
	resp = http_error_response("unauthorized", a == HTTP_AUTH_MISSING ?
				   "credentials are required: HTTP Basic (curl -u USER) or "
				   "Authorization: Bearer TOKEN" :
				   "the credentials were not accepted");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				"Basic realm=\"vmedia\", charset=\"UTF-8\"");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"vmedia\"");
	http_reply(r, MHD_HTTP_UNAUTHORIZED, resp);
	return false;
}

/* Called by libmicrohttpd with the raw request target, before it splits off
 * the query or decodes anything; what it returns becomes the request's
 * context. A raw NUL byte in the target would cut every later view of it
 * short ("DELETE /images/keep.img<NUL>.bak" would name keep.img). The target
 * is NUL-terminated where its separating space was, right before the
 * version string, so a target with a NUL of its own ends earlier than that:
 * remember where it ends and compare in _start_request. */
static void *_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_req *r = calloc(1, sizeof(*r));

	err_must(r != NULL);
	r->srv = cls;
	r->conn = conn;
	r->raw_end = uri + strlen(uri);
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	http_watch_hold(ci ? ci->socket_context : NULL, r);
	return r;
}

static void _start_request(struct http_req *r, const char *url, const char *method,
			   const char *version)
{
	struct MHD_Connection *conn = r->conn;

	r->started_request = true;
	r->method = method;
	r->path = strdup(url);
	err_must(r->path != NULL);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_EXPECT);
	r->has_body = (cl && strcmp(cl, "0") != 0) ||
		      MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						  MHD_HTTP_HEADER_TRANSFER_ENCODING);
	r->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
	http_client_addr(r);

	if (!version[0]) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "the request line has no HTTP version");
		return;
	}
	if (r->raw_end + 1 != version) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "the request target contains a NUL byte");
		return;
	}
	if (!http_framing_ok(r))
		return;
	char host[128];
	if (!http_host_allowed(r, host, sizeof(host))) {
		r->close_after = true;
		http_reply_error(r, MHD_HTTP_MISDIRECTED_REQUEST, "unknown_host",
				 "this server does not answer to the name '%s' (Host header); start "
				 "it with --server-name NAME to allow that name", host);
		return;
	}
	if (!_authorized(r))
		return;

	if (!http_same_origin(r)) {
		http_reply_error(r, MHD_HTTP_FORBIDDEN, "cross_site",
				 "%s from another site is refused: state-changing requests must come "
				 "from this server's own page or a non-browser client", method);
		return;
	}
	http_route_request(r);
	if (r->replied || !r->route)
		return;
	/* Refused now rather than after reading what would be dropped. */
	if (!r->route->stream && cl && strtoull(cl, NULL, 10) > r->srv->max_json_body) {
		http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
				 "the request body is larger than %zu bytes", r->srv->max_json_body);
		return;
	}
	if (r->route->stream) {
		r->streaming = true;
		r->route->stream->begin(r);
		if (r->replied)
			r->streaming = false;
	}
}

static void _take_body(struct http_req *r, const char *data, size_t len)
{
	if (r->route && r->route->stream) {
		if (!r->replied)
			r->route->stream->data(r, data, len);
		if (r->replied)
			r->streaming = false;
		return;
	}
	if (r->body_too_large || r->body_len + len > r->srv->max_json_body) {
		r->body_too_large = true;
		return;
	}
	r->body = realloc(r->body, r->body_len + len + 1);
	err_must(r->body != NULL);
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

static void _finish_request(struct http_req *r)
{
	r->final = true;
	if (r->pending) {
		if (MHD_queue_response(r->conn, r->status, r->pending) != MHD_YES)
			log_warn(HTTP_MOD, "%s %s: could not queue the %u reply", r->method, r->path,
				 r->status);
		MHD_destroy_response(r->pending);
		r->pending = NULL;
		return;
	}
	if (r->replied || !r->route)
		return;
	if (r->route->stream) {
		r->streaming = false;
		r->route->stream->end(r);
	} else if (r->body_too_large) {
		http_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
				 "the request body is larger than %zu bytes", r->srv->max_json_body);
	} else {
		r->route->handler(r);
	}
	/* A handler that returns without replying is a bug: the client still
	 * gets an answer, and the spec declares no such 500 on purpose, so the
	 * black-box suite, which checks every reply against it, fails on it. */
	if (!r->replied) {
		log_error(HTTP_MOD, "%s %s: handler gave no reply", r->method, r->path);
		http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
				 "the server did not produce a reply");
	}
}

static enum MHD_Result _access(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct http_req *r = *con_cls;

	(void)cls;
	if (!r->started_request) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		/* Too late: the watchdog has answered 408 and closed it. */
		if (!http_deadline_headers_in(r->srv->deadline, ci ? ci->socket_context : NULL))
			return MHD_NO;
		_start_request(r, url, method, version);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		r->body_started = true;
		if (!r->replied)
			_take_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	_finish_request(r);
	return MHD_YES;
}

static void _free_req(struct http_req *r)
{
	if (r->pending)
		MHD_destroy_response(r->pending);
	for (unsigned i = 0; i < HTTP_MAX_PARAMS; i++)
		free(r->params[i]);
	free(r->body);
	free(r->path);
	free(r);
}

static void _completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *con_cls;
	struct timespec now;

	(void)cls;
	if (!r)
		return;
	if (r->streaming && r->route && r->route->stream)
		r->route->stream->abort(r);
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - r->started.tv_sec) * 1000 +
		  (now.tv_nsec - r->started.tv_nsec) / 1000000;
	if (r->linger && !r->srv->tls && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		http_deadline_linger(ci ? ci->socket_context : NULL, HTTP_LINGER_MS,
				     HTTP_LINGER_BYTES);
	}
	const union MHD_ConnectionInfo *sc =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	http_watch_take(sc ? sc->socket_context : NULL);
	if (r->replied)
		metrics_http(r->route ? r->route->pattern : NULL, r->method, r->status);
	if (!r->started_request) {	/* the request line or headers were refused */
		_free_req(r);
		*con_cls = NULL;
		return;
	}
	bool quiet = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_info(HTTP_MOD, "%s%s%s %s %s: connection ended early (code %d) after %ld ms",
			 r->peer, r->who[0] ? " " : "", r->who, r->method, r->path, (int)toe, ms);
	else if (!quiet || log_current_level >= LOG_DEBUG)
		log_info(HTTP_MOD, "%s%s%s %s %s %u %ld ms", r->peer, r->who[0] ? " " : "", r->who,
			 r->method, r->path, r->status, ms);
	_free_req(r);
	*con_cls = NULL;
}

/* Behind a trusted proxy every client has the proxy's address: no limit. */
static enum MHD_Result _accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *srv = cls;
	char text[64] = "";

	(void)len;
	if (srv->trusted_proxy[0] && addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, text, sizeof(text));
	else if (srv->trusted_proxy[0] && addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, text,
			  sizeof(text));
	if (text[0] && !strcmp(text, srv->trusted_proxy))
		return MHD_YES;
	return http_deadline_admit(srv->deadline, addr, srv->max_pending_per_ip) ? MHD_YES : MHD_NO;
}

/* Every connection is watched until its first request's headers are in. */
static void _notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			       enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		*socket_context = ci ? http_deadline_add(srv->deadline, ci->connect_fd,
							  ai ? ai->client_addr : NULL) : NULL;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct http_req *r = http_watch_take(*socket_context);
		if (r)
			_free_req(r);	/* a request libmicrohttpd refused itself */
		http_deadline_remove(srv->deadline, *socket_context);
		*socket_context = NULL;
	}
}

/* Binds the listening socket ourselves: any "HOST:PORT" or "[V6]:PORT"
 * works, and with port 0 the kernel's choice is known to report. */
static int _listen(struct http_server *srv, const char *spec, struct err *err)
{
	char host[256], port[16];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int fd = -1, one = 1, rc;

	if (!colon || colon == spec || !colon[1] || strlen(colon + 1) >= sizeof(port))
		return err_set(err, ERR_INVALID, "bad_config",
			       "--listen '%s' must be HOST:PORT (e.g. 127.0.0.1:8080)", spec);
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return err_set(err, ERR_INVALID, "bad_config", "--listen: host name too long");
	memcpy(host, spec, hl);
	host[hl] = '\0';
	for (size_t i = 0; i <= hl; i++)
		srv->listen_host[i] = (char)tolower((unsigned char)host[i]);
	snprintf(port, sizeof(port), "%s", colon + 1);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return err_set(err, ERR_INVALID, "bad_config", "--listen %s: %s", host,
			       gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		err_set(err, ERR_IO, "listen_failed", "cannot listen on %s:%s: %s", host, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			  ((struct sockaddr_in *)&ss)->sin_port);
	srv->loopback = ss.ss_family == AF_INET6 ?
		IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr) :
		(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	srv->listen_fd = fd;
	return 0;
}

static void _free_server(struct http_server *srv)
{
	if (srv->tls_key) {
		memset(srv->tls_key, 0, strlen(srv->tls_key));
		free(srv->tls_key);
	}
	free(srv->tls_cert);
	free(srv->web_dir);
	free(srv->server_names);
	free(srv);
}

/* A whole PEM file into memory (libmicrohttpd takes them as strings). */
static char *_slurp(const char *path, struct err *err)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	char *buf = NULL;
	size_t len = 0;

	if (!f) {
		err_set(err, ERR_INVALID, "bad_config", "cannot read %s: %s",
			path ? path : "(no --tls-key)", path ? strerror(errno) : "give both files");
		return NULL;
	}
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && len < (1 << 20))
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	if (!strstr(buf, "-----BEGIN ")) {
		free(buf);
		err_set(err, ERR_INVALID, "bad_config", "%s is not a PEM file", path);
		return NULL;
	}
	return buf;
}

int http_start(const struct http_options *opts, const struct http_route *routes,
	       size_t nroutes, void *app, struct http_server **out, struct err *err)
{
	struct http_server *srv = calloc(1, sizeof(*srv));

	err_must(srv != NULL);
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->app = app;
	srv->max_json_body = opts->max_json_body;
	srv->web_dir = opts->web_dir ? strdup(opts->web_dir) : NULL;
	srv->no_web = opts->no_web;
	srv->listen_fd = -1;
	srv->authorize = opts->authorize;
	srv->authorize_ctx = opts->authorize_ctx;
	srv->server_names = strdup(opts->server_names ? opts->server_names : "");
	err_must(srv->server_names != NULL);
	srv->tls = opts->tls_cert != NULL;
	srv->max_pending_per_ip = opts->max_pending_per_ip ? opts->max_pending_per_ip : 4;
	if (http_guard_init(srv, opts, err) < 0 || _listen(srv, opts->listen, err) < 0)
		goto out_free;
	if (opts->loopback_only && !srv->loopback) {
		err_set(err, ERR_INVALID, "bad_config",
			"refusing to serve %s without authentication: whoever reaches this port "
			"can boot the attached computer from any image. Give --auth-file (create "
			"it with --add-user NAME), listen on 127.0.0.1, or pass --insecure-no-auth",
			opts->listen);
		goto out_free;
	}

	if (opts->tls_cert && (!(srv->tls_cert = _slurp(opts->tls_cert, err)) ||
			       !(srv->tls_key = _slurp(opts->tls_key, err))))
		goto out_free;
	char *cert = srv->tls_cert, *key = srv->tls_key;
	/* Behind a proxy every client has the proxy's address: a per-address
	 * connection limit would be a limit for all of them together. */
	unsigned per_ip = srv->trusted_proxy[0] ? 0 : opts->max_per_ip;
	srv->deadline = http_deadline_start(opts->header_timeout_s, srv->tls);
	srv->daemon = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | (cert ? MHD_USE_TLS : 0),
		0, _accept_policy, srv, _access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, _mhd_log, srv,
		/* Ignored when the array is empty: keeps one call for both cases. */
		MHD_OPTION_ARRAY, cert ? (struct MHD_OptionItem[]){
			{ MHD_OPTION_HTTPS_MEM_CERT, 0, cert },
			{ MHD_OPTION_HTTPS_MEM_KEY, 0, key },
			{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES },
			{ MHD_OPTION_END, 0, NULL } } : (struct MHD_OptionItem[]){
			{ MHD_OPTION_END, 0, NULL } },
		MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		MHD_OPTION_NOTIFY_CONNECTION, _notify_connection, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 << 10),
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 << 10),
		MHD_OPTION_NOTIFY_COMPLETED, _completed, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, _unescape, srv,
		MHD_OPTION_URI_LOG_CALLBACK, _uri_log, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		err_set(err, ERR_IO, "listen_failed", "cannot start the HTTP%s server on %s%s",
			opts->tls_cert ? "S" : "", opts->listen,
			opts->tls_cert ? " (is the key the certificate's?)" : "");
		goto out_free;
	}
	srv->listen_fd = -1;	/* the daemon owns and closes it now */
	if (opts->what)
		log_info(HTTP_MOD, "serving %s on %s (port %u)%s", opts->what, opts->listen, srv->port,
			 opts->tls_cert ? " with TLS" : "");
	else
		log_info(HTTP_MOD, "listening on %s (port %u)%s", opts->listen, srv->port,
			 opts->tls_cert ? " with TLS" : "");
	*out = srv;
	return 0;

out_free:
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	http_deadline_stop(srv->deadline);
	_free_server(srv);
	return -1;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	http_deadline_stop(srv->deadline);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	_free_server(srv);
}
