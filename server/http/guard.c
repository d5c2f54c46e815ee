/* guard: checks made on every request before routing and authentication:
 * who the client is (the peer, or X-Forwarded-For from a trusted proxy),
 * whether the Host header names this server (DNS rebinding), whether a
 * browser's Origin is this server's own page, and whether the body's
 * framing is unambiguous (request smuggling). */
#include "internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../core/log.h"

#define HTTP_MOD "HTTP"

static bool _sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
				 (socklen_t)size) != NULL;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* ::ffff:192.0.2.1 is the IPv4 client of a dual-stack socket. */
		if (IN6_IS_ADDR_V4MAPPED(a))
			return inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)size) != NULL;
		return inet_ntop(AF_INET6, a, buf, (socklen_t)size) != NULL;
	}
	return false;
}

/* The normal text form of an address literal, or false if s is none. */
static bool _canonical_ip(const char *s, char *buf, size_t size)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, s, &v4.sin_addr) == 1)
		return _sockaddr_text((struct sockaddr *)&v4, buf, size);
	if (inet_pton(AF_INET6, s, &v6.sin6_addr) == 1)
		return _sockaddr_text((struct sockaddr *)&v6, buf, size);
	return false;
}

int http_guard_init(struct http_server *srv, const struct http_options *opts, struct err *err)
{
	srv->trusted_proxy[0] = '\0';
	if (opts->trusted_proxy && opts->trusted_proxy[0] &&
	    !_canonical_ip(opts->trusted_proxy, srv->trusted_proxy, sizeof(srv->trusted_proxy)))
		return err_set(err, ERR_INVALID, "bad_config",
			       "--trusted-proxy '%s' must be an IP address (e.g. 127.0.0.1)",
			       opts->trusted_proxy);
	return 0;
}

/* The last address of the last X-Forwarded-For header: the one the
 * trusted proxy itself appended (nginx: $proxy_add_x_forwarded_for). The
 * ones before it were written by the client and prove nothing. */
static enum MHD_Result _last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	if (value && !strcasecmp(key, "X-Forwarded-For"))
		*(const char **)cls = value;
	return MHD_YES;
}

void http_client_addr(struct http_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *xff = NULL;
	char last[64];

	snprintf(r->peer, sizeof(r->peer), "?");
	if (!ci || !ci->client_addr || !_sockaddr_text(ci->client_addr, r->peer, sizeof(r->peer)))
		return;
	if (!r->srv->trusted_proxy[0] || strcmp(r->peer, r->srv->trusted_proxy) != 0)
		return;
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, _last_xff, &xff);
	if (!xff)
		return;
	const char *p = strrchr(xff, ',');
	p = p ? p + 1 : xff;
	p += strspn(p, " \t");
	size_t n = strcspn(p, " \t");
	if (n == 0 || n >= sizeof(last))
		return;
	memcpy(last, p, n);
	last[n] = '\0';
	if (!_canonical_ip(last, r->peer, sizeof(r->peer))) {
		snprintf(r->peer, sizeof(r->peer), "%s", r->srv->trusted_proxy);
		log_warn(HTTP_MOD, "the trusted proxy %s sent X-Forwarded-For '%.64s', which does not "
			 "end in an address; using the proxy's", r->srv->trusted_proxy, xff);
	}
}

/* The host part of "name", "name:port", "[v6]" or "[v6]:port", lower-case,
 * without a trailing dot; false if it is empty or too long. */
static bool _host_part(const char *s, size_t len, char *out, size_t size)
{
	size_t n;

	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (!end)
			return false;
		s++;
		n = (size_t)(end - s);
	} else {
		const char *colon = memchr(s, ':', len);
		n = colon ? (size_t)(colon - s) : len;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return true;
}

static bool _list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncasecmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* A name this server answers to: localhost names, a loopback address, the
 * address the client connected to, the --listen host, a --server-name. A
 * page of another site that DNS-rebinds its own name to this address
 * still sends its own name, which is none of these. */
static bool _name_allowed(struct http_req *r, const char *host)
{
	char ip[64], local[64];
	size_t n = strlen(host);

	if (!strcmp(host, "localhost") || (n > 10 && !strcmp(host + n - 10, ".localhost")))
		return true;
	if (_list_has(r->srv->server_names, host) || !strcasecmp(host, r->srv->listen_host))
		return true;
	if (!_canonical_ip(host, ip, sizeof(ip)))
		return false;
	if (!strncmp(ip, "127.", 4) || !strcmp(ip, "::1"))
		return true;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	return ci && getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) == 0 &&
	       _sockaddr_text((struct sockaddr *)&ss, local, sizeof(local)) && !strcmp(ip, local);
}

bool http_host_allowed(struct http_req *r, char *host, size_t size)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_HOST);

	snprintf(host, size, "%s", h ? h : "");
	/* HTTP/1.0 without Host: not a browser (they always send it). */
	if (!h)
		return true;
	char name[256];
	return _host_part(h, strlen(h), name, sizeof(name)) && _name_allowed(r, name);
}

/* Cross-site request forgery: a browser tells where a request comes from
 * (Sec-Fetch-Site, Origin); a request that changes state is refused when it
 * comes from another origin. Clients that send neither header (curl,
 * scripts, Redfish tools) are not browsers on a foreign page and pass. The
 * Origin's host must be one of this server's names (not merely equal to
 * the Host header, which a rebinding page controls as well). */
bool http_same_origin(struct http_req *r)
{
	const char *m = r->method;
	const char *site, *origin;
	char name[256];

	if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS"))
		return true;
	site = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
		return false;
	origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	if (!origin)
		return true;
	const char *sep = strstr(origin, "://");
	if (!sep || (strncasecmp(origin, "http://", 7) && strncasecmp(origin, "https://", 8)))
		return false;
	const char *rest = sep + 3;
	size_t len = strcspn(rest, "/");
	return _host_part(rest, len, name, sizeof(name)) && _name_allowed(r, name);
}

struct http_framing {
	unsigned cl, te;
	const char *cl_value, *te_value;
	bool cl_differs;
};

static enum MHD_Result _count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct http_framing *f = cls;

	(void)kind;
	value = value ? value : "";
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		if (f->cl++ && strcmp(f->cl_value, value) != 0)
			f->cl_differs = true;
		f->cl_value = value;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->te++;
		f->te_value = value;
	}
	return MHD_YES;
}

/* Replies and returns false when the body's length is ambiguous or cannot
 * be read: a proxy in front might frame it differently from libmicrohttpd
 * (request smuggling), or libmicrohttpd would wait for it for ever. */
bool http_framing_ok(struct http_req *r)
{
	struct http_framing f = { 0 };

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, _count_framing, &f);
	if (f.cl && f.te) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Content-Length and Transfer-Encoding together are refused");
		return false;
	}
	if (f.cl_differs) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "conflicting Content-Length headers");
		return false;
	}
	if (f.te && (f.te > 1 || strcasecmp(f.te_value, "chunked") != 0)) {
		http_reply_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented",
				 "Transfer-Encoding '%.64s' is not supported; only 'chunked' is",
				 f.te_value);
		return false;
	}
	if (f.cl) {
		size_t n = strlen(f.cl_value);
		bool digits = n > 0 && strspn(f.cl_value, "0123456789") == n;
		if (!digits || n > 18) {
			http_reply_error(r, digits ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST,
					 digits ? "body_too_large" : "bad_request",
					 "Content-Length '%.32s' is not a size this server accepts",
					 f.cl_value);
			return false;
		}
	}
	return true;
}
