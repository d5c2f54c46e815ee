/* parse: the pure helpers of downloads: URL redaction, and a name from a
 * Content-Disposition header or a URL's last segment. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "download.h"

void download_redact_url(const char *url, char *out, size_t size)
{
	const char *p = url, *auth = url;
	size_t hostpart;
	const char *at = NULL;

	/* "scheme:" then any number of slashes: libcurl also takes "http:/x"
	 * and "http:\\x" as a host, credentials and all. */
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p == ':' && p > url)
		auth = p + 1;
	while (*auth == '/' || *auth == '\\')
		auth++;
	hostpart = strcspn(auth, "/?#\\");

	/* The last '@' before the path ends the credentials. */
	for (size_t i = 0; i < hostpart; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (!at) {
		snprintf(out, size, "%s", url);
		return;
	}
	snprintf(out, size, "%.*s***%s", (int)(auth - url), url, at);
}

static int _hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decodes in place; %00 and bad escapes are dropped as '_'. */
static void _pct_decode(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		int hi, lo;
		if (*p == '%' && (hi = _hex(p[1])) >= 0 && (lo = _hex(p[2])) >= 0) {
			int c = hi * 16 + lo;
			*w++ = c ? (char)c : '_';
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
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
		_pct_decode(buf);
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
	_pct_decode(buf);
	return names_sanitize(_basename(buf), out);
}
