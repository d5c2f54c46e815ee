/* router: matching a path against the routing table, and the web UI's
 * static files (embedded, or from --web DIR) for every GET that no API
 * route claims. */
#include "internal.h"
#include "webui.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Matches path against pattern; on success fills params (strdup'ed). */
static bool _match(const char *pattern, const char *path, char **params)
{
	unsigned n = 0;
	const char *p = pattern, *s = path;

	while (*p && *s) {
		if (p[0] == '*' && p[1] == '*' && p[2] == '\0') {
			params[n] = strdup(s);
			err_must(params[n] != NULL);
			return true;
		}
		if (p[0] == '*' && (p[1] == '/' || p[1] == '\0')) {
			size_t len = strcspn(s, "/");
			if (len == 0 || n >= HTTP_MAX_PARAMS)
				goto out_mismatch;
			params[n] = strndup(s, len);
			err_must(params[n] != NULL);
			n++;
			p++;
			s += len;
			continue;
		}
		if (*p != *s)
			goto out_mismatch;
		p++;
		s++;
	}
	/* "/images/" against the rest-of-path pattern: an empty name, which the handler
	 * rejects with a clear message. */
	if (*s == '\0' && strcmp(p, "**") == 0) {
		params[n] = strdup("");
		err_must(params[n] != NULL);
		return true;
	}
	if (*p == '\0' && *s == '\0')
		return true;
out_mismatch:
	for (unsigned i = 0; i < HTTP_MAX_PARAMS; i++) {
		free(params[i]);
		params[i] = NULL;
	}
	return false;
}

void http_route_request(struct http_req *r)
{
	const struct http_server *srv = r->srv;
	const char *method = r->method;
	char allow[128] = "";
	char *params[HTTP_MAX_PARAMS] = { 0 };

	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct http_route *rt = &srv->routes[i];
		if (!_match(rt->pattern, r->path, params))
			continue;
		if (strcmp(rt->method, method) == 0) {
			memcpy(r->params, params, sizeof(params));
			r->route = rt;
			return;
		}
		for (unsigned k = 0; k < HTTP_MAX_PARAMS; k++) {
			free(params[k]);
			params[k] = NULL;
		}
		if (!strstr(allow, rt->method)) {
			size_t l = strlen(allow);
			snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "", rt->method);
			if (strcmp(rt->method, "GET") == 0) {
				l = strlen(allow);
				snprintf(allow + l, sizeof(allow) - l, ", HEAD");
			}
		}
	}
	if (allow[0]) {
		struct MHD_Response *resp = http_error_response(
			"method_not_allowed", "%s is not allowed on %s; use %s", r->method, r->path,
			allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
		http_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		return;
	}
	if (strcmp(method, "GET") == 0 && !r->srv->no_web && http_serve_static(r))
		return;
	http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "there is nothing at %s", r->path);
}

static const char *_content_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".yaml", "application/yaml" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* The embedded copy of the UI (webui.h), or NULL if it has no such file. */
static const struct webui_file *_embedded(const char *rel)
{
	for (const struct webui_file *f = webui_files; f->name; f++)
		if (strcmp(f->name, rel) == 0)
			return f;
	return NULL;
}

static void _reply_static(struct http_req *r, const char *rel, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, _content_type(rel));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	http_reply(r, MHD_HTTP_OK, resp);
}

bool http_serve_static(struct http_req *r)
{
	const char *rel = r->path + 1;
	char full[4096];
	struct stat st;
	int fd;

	if (*rel == '\0')
		rel = "index.html";
	/* Only plain relative names: no "..", no hidden files, no odd bytes. */
	for (const char *p = rel; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '/' ||
			  (c == '.' && p != rel && p[-1] != '/' && p[-1] != '.');
		if (!ok)
			return false;
	}
	if (!r->srv->web_dir) {
		const struct webui_file *f = _embedded(rel);
		if (!f)
			return false;
		_reply_static(r, rel, MHD_create_response_from_buffer(
				      f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT));
		return true;
	}
	snprintf(full, sizeof(full), "%s/%s", r->srv->web_dir, rel);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	_reply_static(r, rel, MHD_create_response_from_fd64((uint64_t)st.st_size, fd));
	return true;
}
