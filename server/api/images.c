/* images: the image library. GET /images, PUT (streamed upload), GET with
 * Range, HEAD and DELETE of /images/{name}. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../http/range.h"
#include "../metrics/metrics.h"
#include "../storage/storage.h"

/* Replies 400 and returns false unless the {name} segment is a valid name. */
static bool _name_ok(struct http_req *r, const char **name)
{
	char why[160];

	*name = http_req_param(r, 0);
	if (!names_valid(*name, strlen(*name), why, sizeof(why))) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_name", "%s", why);
		return false;
	}
	return true;
}

void api_images_list(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct storage_image *v;
	size_t n;
	json_t *arr = json_array();

	storage_list(app->storage, &v, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, storage_image_json(&v[i]));
	free(v);
	arr = api_links_merge(app, arr);
	http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "images", arr));
}

void api_images_get(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct storage_image img;
	struct err err;
	const char *name;
	uint64_t start = 0, len;
	int fd;
	char buf[NAMES_MAX + 64];
	struct MHD_Response *resp;

	if (!_name_ok(r, &name))
		return;
	struct storage_link link;
	if (storage_link_get(app->storage, name, &link) == 0) {
		memset(link.url, 0, sizeof(link.url));
		http_reply_error(r, MHD_HTTP_CONFLICT, "image_is_link", "%s is a named link to %s; "
				 "its data is on that server, not on this box", name, link.shown);
		return;
	}
	if (storage_open_image(app->storage, name, &fd, &img, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	len = (uint64_t)img.size;
	enum range_result rr = range_parse(http_req_header(r, MHD_HTTP_HEADER_RANGE),
					   (uint64_t)img.size, &start, &len);
	if (rr == RANGE_UNSATISFIABLE) {
		close(fd);
		snprintf(buf, sizeof(buf), "bytes */%lld", (long long)img.size);
		resp = http_error_response("range_not_satisfiable",
					   "the requested range lies outside the image (%lld bytes)",
					   (long long)img.size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, buf);
		http_reply(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
		return;
	}
	/* MHD sends the file with sendfile(2) and closes fd when done. */
	resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (!img.verifying) {	/* the ETag is the SHA-256, not known yet */
		snprintf(buf, sizeof(buf), "\"%s\"", img.sha256);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, buf);
	}
	snprintf(buf, sizeof(buf), "attachment; filename=\"%s\"", img.name);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, buf);
	time_t t = (time_t)img.mtime;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, buf);
	if (rr == RANGE_OK) {
		snprintf(buf, sizeof(buf), "bytes %llu-%llu/%lld", (unsigned long long)start,
			 (unsigned long long)(start + len - 1), (long long)img.size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, buf);
		http_reply(r, MHD_HTTP_PARTIAL_CONTENT, resp);
	} else {
		http_reply(r, MHD_HTTP_OK, resp);
	}
}

void api_images_delete(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct err err;
	const char *name;

	if (!_name_ok(r, &name) || api_links_delete(r, name))
		return;
	if (storage_delete(app->storage, name, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	http_reply(r, MHD_HTTP_NO_CONTENT,
		   MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

/* Content-Length, or -1 when the body is chunked or the header is absent. */
static int _content_length(struct http_req *r, int64_t *out)
{
	const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;

	*out = -1;
	if (!cl)
		return 0;
	errno = 0;
	long long v = strtoll(cl, &end, 10);
	if (errno || end == cl || *end || v < 0) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", "bad Content-Length");
		return -1;
	}
	*out = v;
	return 0;
}

/* A 0-byte image is nearly always a mistake (curl -T of a file that is not
 * there yet, a form sent without its file): refused unless asked for. */
static void _refuse_empty(struct http_req *r)
{
	http_reply_error(r, MHD_HTTP_BAD_REQUEST, "empty_body",
			 "the upload is empty; send the image as the body, or add "
			 "?allow_empty=1 to store a 0-byte image");
}

static void _put_begin(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct storage_upload_options o = { 0 };
	struct storage_upload *u;
	struct err err;
	const char *hdr = http_req_header(r, "X-Checksum-SHA256");
	const char *qry = http_req_query(r, "sha256");

	bool allow_empty, decompress;
	char stem[NAMES_MAX + 1];
	size_t stem_len;

	if (!_name_ok(r, &o.name) || http_req_query_bool(r, "overwrite", false, &o.overwrite) < 0 ||
	    http_req_query_bool(r, "allow_empty", false, &allow_empty) < 0 ||
	    http_req_query_bool(r, "decompress", true, &decompress) < 0 ||
	    _content_length(r, &o.expected_size) < 0)
		return;
	/* NAME.img.xz is stored, decompressed, as NAME.img. */
	if (decompress && (o.compression = storage_compression_of(o.name, &stem_len))) {
		snprintf(stem, sizeof(stem), "%.*s", (int)stem_len, o.name);
		o.name = stem;
	}
	if (o.expected_size == 0 && !allow_empty) {
		_refuse_empty(r);
		return;
	}
	if (hdr && qry && strcasecmp(hdr, qry) != 0) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_checksum",
				 "X-Checksum-SHA256 and ?sha256= disagree");
		return;
	}
	o.sha256 = hdr ? hdr : qry;
	if (storage_upload_begin(app->storage, &o, &u, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	http_req_set_state(r, u);
}

static void _put_data(struct http_req *r, const char *buf, size_t len)
{
	struct storage_upload *u = http_req_state(r);
	struct err err;

	if (storage_upload_write(u, buf, len, &err) < 0) {
		storage_upload_abort(u);
		metrics_transfer(METRICS_UPLOAD, false, 0, 0);
		http_req_set_state(r, NULL);
		http_reply_err(r, &err);
	}
}

static void _put_end(struct http_req *r)
{
	struct storage_upload *u = http_req_state(r);
	struct storage_image img;
	struct err err;

	http_req_set_state(r, NULL);
	bool allow_empty = false;
	http_req_query_bool(r, "allow_empty", false, &allow_empty);
	if (storage_upload_written(u) == 0 && !allow_empty) {	/* chunked, and nothing came */
		storage_upload_abort(u);
		metrics_transfer(METRICS_UPLOAD, false, 0, 0);
		_refuse_empty(r);
		return;
	}
	if (storage_upload_commit(u, &img, &err) < 0) {
		metrics_transfer(METRICS_UPLOAD, false, 0, 0);
		http_reply_err(r, &err);
		return;
	}
	metrics_transfer(METRICS_UPLOAD, true, img.size, http_req_elapsed_s(r));
	http_reply_json(r, MHD_HTTP_CREATED, storage_image_json(&img));
}

static void _put_abort(struct http_req *r)
{
	struct storage_upload *u = http_req_state(r);

	if (u) {
		storage_upload_abort(u);
		metrics_transfer(METRICS_UPLOAD, false, 0, 0);
	}
	http_req_set_state(r, NULL);
}

const struct http_stream_ops api_images_put = {
	.begin = _put_begin,
	.data = _put_data,
	.end = _put_end,
	.abort = _put_abort,
};
