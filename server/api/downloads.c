/* downloads: POST /downloads (fetch an image from a URL), GET /downloads,
 * GET and DELETE /downloads/{id}. */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../download/download.h"

static bool _id(struct http_req *r, unsigned *out)
{
	const char *s = http_req_param(r, 0);
	unsigned long v;

	if (!names_number(s, 0xffffffffUL, &v)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "'%s' is not a download id", s);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

void api_downloads_add(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct download_request req = { 0 };
	struct download_job job;
	struct err err;
	json_error_t jerr;
	bool failed;
	int insecure = 0, decompress = 1;

	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (!body || json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?s, s?s, s?b, s?b}",
				    "url", &req.url, "name", &req.name, "sha256", &req.sha256,
				    "insecure", &insecure, "decompress", &decompress) < 0) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
				 "expected {\"url\": string, \"name\": string, \"sha256\": string, "
				 "\"insecure\": bool, \"decompress\": bool}%s%s", body ? ": " : "", body ? jerr.text : "");
		json_decref(body);
		return;
	}
	req.insecure = insecure;
	req.keep_compressed = !decompress;
	if (downloads_add(app->downloads, &req, &job, &err) < 0)
		http_reply_err(r, &err);
	else
		http_reply_json(r, MHD_HTTP_ACCEPTED, download_job_json(&job));
	json_decref(body);
}

void api_downloads_list(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct download_job *v;
	size_t n;
	json_t *arr = json_array();

	downloads_list(app->downloads, &v, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, download_job_json(&v[i]));
	free(v);
	http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "downloads", arr));
}

/* GET and DELETE of one job differ only in what they ask of the queue. */
static void _one(struct http_req *r, int (*op)(struct downloads *, unsigned,
					      struct download_job *, struct err *))
{
	struct app *app = http_req_app(r);
	struct download_job job;
	struct err err;
	unsigned id;

	if (!_id(r, &id))
		return;
	if (op(app->downloads, id, &job, &err) < 0)
		http_reply_err(r, &err);
	else
		http_reply_json(r, MHD_HTTP_OK, download_job_json(&job));
}

void api_downloads_get(struct http_req *r)
{
	_one(r, downloads_get);
}

void api_downloads_cancel(struct http_req *r)
{
	_one(r, downloads_cancel);
}
