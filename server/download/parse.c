/* parse: the pure helpers of downloads: URL redaction, a name from a
 * Content-Disposition header or a URL's last segment, Content-Range, and
 * which addresses are the box's own. */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "download.h"

#include "../core/text.h"

/* Without libcurl's view: everything between the scheme (and any slashes)
 * and the last '@' of the authority. For URLs libcurl refuses anyway. */
static void _redact_by_hand(const char *url, char *out, size_t size)
{
	const char *p = url, *auth = url, *at = NULL;
	size_t hostpart;

	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p == ':' && p > url)
		auth = p + 1;
	while (*auth == '/' || *auth == '\\')
		auth++;
	hostpart = strcspn(auth, "/?#\\");
	for (size_t i = 0; i < hostpart; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (!at)
		snprintf(out, size, "%s", url);
	else
		snprintf(out, size, "%.*s***%s", (int)(auth - url), url, at);
}

/* libcurl, which does the transfer, decides what the credentials are: the
 * URL is parsed with its parser and rebuilt with user "***" and no
 * password, so no spelling of a URL that curl accepts (one slash,
 * backslashes, odd escapes) can keep them visible. */
void download_redact_url(const char *url, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *user = NULL, *pass = NULL, *clean = NULL;

	if (!u)
		abort();
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		_redact_by_hand(url, out, size);
		goto out_free;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	if (!user && !pass) {
		snprintf(out, size, "%s", url);
		goto out_free;
	}
	if (curl_url_set(u, CURLUPART_USER, "***", 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK) {
		snprintf(out, size, "(a URL with credentials)");
		goto out_free;
	}
	/* curl writes the placeholder percent-encoded: show it plainly. */
	char *star = strstr(clean, "%2a%2a%2a");
	if (!star)
		star = strstr(clean, "%2A%2A%2A");
	if (star)
		snprintf(out, size, "%.*s***%s", (int)(star - clean), clean, star + 9);
	else
		snprintf(out, size, "%s", clean);
out_free:
	curl_free(user);
	curl_free(pass);
	curl_free(clean);
	curl_url_cleanup(u);
}


/* Keeps only the last path component, whatever separators a server uses. */
static const char *_basename(const char *s)
{
	const char *b = s;

	for (const char *p = s; *p; p++)
		if (*p == '/' || *p == '\\')
			b = p + 1;
	return b;
}

bool download_disposition_name(const char *value, char out[NAMES_MAX + 1])
{
	char buf[1024];
	const char *p;

	if (!value)
		return false;
	/* RFC 6266: filename*=UTF-8''name wins over filename="name". */
	p = strcasestr(value, "filename*=");
	if (p) {
		p += 10;
		const char *q = strstr(p, "''");
		if (q)
			p = q + 2;
		snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p, "; \t"), p);
		text_percent_decode(buf, '_');
	} else if ((p = strcasestr(value, "filename="))) {
		p += 9;
		if (*p == '"') {
			p++;
			size_t n = 0;
			for (; *p && *p != '"' && n < sizeof(buf) - 1; p++) {
				if (*p == '\\' && p[1])
					p++;
				buf[n++] = *p;
			}
			buf[n] = '\0';
		} else {
			snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p, "; \t"), p);
		}
	} else {
		return false;
	}
	return names_sanitize(_basename(buf), out);
}

bool download_url_name(const char *url, char out[NAMES_MAX + 1])
{
	char buf[2048];
	const char *scheme = strstr(url, "://");
	const char *path = scheme ? scheme + 3 : url;

	path += strcspn(path, "/?#");
	if (*path != '/')
		return false;
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(path, "?#"), path);
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	text_percent_decode(buf, '_');
	return names_sanitize(_basename(buf), out);
}

/* One decimal number of 1-19 digits, at most INT64_MAX; *p moves past it. */
static bool _int64(const char **p, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		int d = *s - '0';
		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

/* RFC 9110 14.4: "bytes" SP first-pos "-" last-pos "/" ( complete-length
 * / "*" ). A server's numbers size the image and place the data kept, so
 * only a range that is consistent with itself and with the body is used. */
bool download_content_range(const char *value, int64_t length,
			    struct download_content_range *out)
{
	struct download_content_range r;
	const char *p = value;

	if (!p)
		return false;
	p += strspn(p, " \t");
	if (strncasecmp(p, "bytes ", 6) != 0)
		return false;
	p += 6;
	if (!_int64(&p, &r.start) || *p++ != '-' || !_int64(&p, &r.end) || *p++ != '/')
		return false;
	if (*p == '*') {
		r.total = -1;
		p++;
	} else if (!_int64(&p, &r.total)) {
		return false;
	}
	if (*p || r.start > r.end || (r.total >= 0 && r.end >= r.total))
		return false;
	/* end - start cannot overflow: 0 <= start <= end. */
	if (length != -1 && (length < 0 || r.end - r.start != length - 1))
		return false;
	*out = r;
	return true;
}

static const char *_local_ipv4(uint32_t a)	/* host byte order */
{
	if ((a >> 24) == 127 || (a >> 24) == 0)
		return "loopback";
	if ((a >> 16) == 0xa9fe)
		return "link-local";
	return NULL;
}

/* Checked on the address libcurl is about to connect to, so neither a
 * redirect nor a DNS answer (rebinding included) can lead around it. */
const char *download_local_address(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return _local_ipv4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return NULL;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
		return "loopback";
	if (IN6_IS_ADDR_LINKLOCAL(a))
		return "link-local";
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		uint32_t v4;
		memcpy(&v4, &a->s6_addr[12], 4);
		return _local_ipv4(ntohl(v4));
	}
	return NULL;
}

int download_open_socket(bool allow_local, const struct curl_sockaddr *a, char *refused,
			 size_t n)
{
	const char *why = allow_local ? NULL : download_local_address(&a->addr);

	if (why) {
		char ip[INET6_ADDRSTRLEN] = "?";
		const void *p = a->family == AF_INET6 ?
			(const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr :
			(const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
		inet_ntop(a->family, p, ip, sizeof(ip));
		snprintf(refused, n, "%s is a %s address", ip, why);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}
