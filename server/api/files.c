/* files: the files inside an image. GET /images/{name}/files?dir=/a lists a
 * directory, GET /images/{name}/files/{path} downloads a file, PUT
 * /images/{name}/files/{path} adds or replaces one and DELETE removes one
 * (FAT only). Nothing of
 * this runs while a host may write to the image: reads are refused (409)
 * while it is inserted read-write, writes while it is inserted at all. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../files/files.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"

/* 409 if a LUN has the image inserted read-write (ask the gadget: only it
 * knows how an image is inserted). */
static bool _host_may_write(struct app *app, const char *name, struct err *err)
{
	struct gadget_lun lun;

	for (unsigned i = 0; i < gadget_lun_count(app->gadget); i++)
		if (gadget_get(app->gadget, i, &lun, NULL) == 0 && lun.state != GADGET_LUN_EMPTY &&
		    strcmp(lun.image, name) == 0 && !lun.ro) {
			err_set(err, ERR_CONFLICT, "image_writable",
				"image %s is inserted read-write in LUN %u: the host may be changing "
				"its files; eject it first", name, i);
			return true;
		}
	return false;
}

struct api_lent {
	char name[NAMES_MAX + 1];
	char image[4200];
	enum files_fs fs;
	int64_t offset;
};

/* Takes the image for a file operation: the lease, then the checks that
 * need it held (no insert can start meanwhile). */
static int _lend(struct app *app, const char *name, bool write, struct api_lent *l, struct err *err)
{
	struct storage_image img;

	snprintf(l->name, sizeof(l->name), "%s", name);
	if (storage_lease_begin(app->storage, name, write, l->image, sizeof(l->image), &img,
				err) < 0)
		return -1;
	if (_host_may_write(app, name, err) || files_probe(l->image, &l->fs, &l->offset, err) < 0) {
		storage_lease_end(app->storage, name, false, NULL);
		return -1;
	}
	if (write && l->fs == FILES_EXFAT) {
		storage_lease_end(app->storage, name, false, NULL);
		return err_set(err, ERR_UNPROCESSABLE, "unsupported_filesystem",
			       "vmediad reads the files of exFAT drives but cannot change them: no "
			       "tool it can use writes exFAT without mounting it; use a FAT32 drive "
			       "for files you add or delete");
	}
	if (write && l->fs != FILES_FAT) {
		storage_lease_end(app->storage, name, false, NULL);
		return err_set(err, ERR_INVALID, "read_only_filesystem",
			       "files can be added to FAT images only; this one is %s",
			       files_fs_name(l->fs));
	}
	return 0;
}

void api_files_list(struct http_req *r)
{
	struct app *app = http_req_app(r);
	const char *dirq = http_req_query(r, "dir");
	char dir[FILES_PATH_MAX];
	struct files_entry *v;
	struct api_lent l;
	struct err err;
	size_t n;

	if (files_path(dirq ? dirq : "/", dir, &err) < 0 ||
	    _lend(app, http_req_param(r, 0), false, &l, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	int rc = files_list(l.image, l.fs, l.offset, dir, &v, &n, &err);
	storage_lease_end(app->storage, l.name, false, NULL);
	if (rc < 0) {
		http_reply_err(r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char when[CLOCK_ISO8601_SIZE];
		clock_iso8601(when, sizeof(when), (time_t)v[i].mtime, -1);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s}", "name", v[i].name,
						     "type", v[i].dir ? "dir" : "file",
						     "size", (json_int_t)v[i].size, "mtime", when));
	}
	free(v);
	http_reply_json(r, MHD_HTTP_OK, json_pack("{s:s, s:s, s:s, s:o}", "image", l.name,
						  "filesystem", files_fs_name(l.fs), "dir", dir,
						  "files", arr));
}

void api_files_get(struct http_req *r)
{
	struct app *app = http_req_app(r);
	char path[FILES_PATH_MAX], tmp[4200], disp[300];
	struct api_lent l;
	struct err err;
	struct stat st;
	int fd = -1;

	if (files_path(http_req_param(r, 1), path, &err) < 0 ||
	    (strcmp(path, "/") == 0 &&
	     err_set(&err, ERR_INVALID, "bad_path", "name a file; list with ?dir=") < 0) ||
	    _lend(app, http_req_param(r, 0), false, &l, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	/* Extracted to a temporary file first, which is then sent: the image
	 * is not held while a slow client reads. */
	fd = storage_temp_file(app->storage, tmp, sizeof(tmp), &err);
	if (fd >= 0)
		unlink(tmp);
	int rc = fd < 0 ? -1 : files_extract(l.image, l.fs, l.offset, path, fd, &err);
	storage_lease_end(app->storage, l.name, false, NULL);
	if (rc < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		http_reply_err(r, &err);
		return;
	}
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", strrchr(path, '/') + 1);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	http_reply(r, MHD_HTTP_OK, resp);
}

void api_files_delete(struct http_req *r)
{
	struct app *app = http_req_app(r);
	char path[FILES_PATH_MAX];
	struct api_lent l;
	struct err err, end_err;

	if (files_path(http_req_param(r, 1), path, &err) < 0 ||
	    (strcmp(path, "/") == 0 &&
	     err_set(&err, ERR_INVALID, "bad_path", "name the file to delete") < 0) ||
	    _lend(app, http_req_param(r, 0), true, &l, &err) < 0) {
		http_reply_err(r, &err);
		return;
	}
	int rc = files_delete(l.image, l.offset, path, &err);
	/* Hashed again either way: a failed mdel may have changed the image. */
	if (storage_lease_end(app->storage, l.name, true, &end_err) < 0 && rc == 0) {
		err = end_err;
		rc = -1;
	}
	if (rc < 0) {
		http_reply_err(r, &err);
		return;
	}
	http_reply(r, MHD_HTTP_NO_CONTENT, MHD_create_response_from_buffer(0, NULL,
									  MHD_RESPMEM_PERSISTENT));
}

/* PUT: the body goes to a temporary file while it arrives (the image is
 * not held meanwhile), then into the image under its lease. */
struct api_file_put {
	int fd;
	char tmp[4200];
	char path[FILES_PATH_MAX];
	int64_t got;
};

static void _put_free(struct http_req *r, struct api_file_put *p)
{
	if (p->fd >= 0)
		close(p->fd);
	unlink(p->tmp);
	free(p);
	http_req_set_state(r, NULL);
}

static void _put_begin(struct http_req *r)
{
	struct app *app = http_req_app(r);
	const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct storage_image img;
	struct err err;
	struct api_file_put *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->fd = -1;
	if (files_path(http_req_param(r, 1), p->path, &err) < 0 ||
	    (strcmp(p->path, "/") == 0 &&
	     err_set(&err, ERR_INVALID, "bad_path", "name the file to write") < 0) ||
	    storage_get(app->storage, http_req_param(r, 0), &img, &err) < 0 ||
	    (img.attached && err_set(&err, ERR_CONFLICT, "image_attached",
				     "image %s is inserted in a LUN: a host may be using its file "
				     "system; eject it before changing its files", img.name) < 0) ||
	    (cl && strtoll(cl, NULL, 10) > storage_room(app->storage) &&
	     err_set(&err, ERR_NO_SPACE, "insufficient_storage",
		     "the file needs %s bytes but the storage has less room left", cl) < 0) ||
	    (p->fd = storage_temp_file(app->storage, p->tmp, sizeof(p->tmp), &err)) < 0) {
		free(p);
		http_reply_err(r, &err);
		return;
	}
	http_req_set_state(r, p);
}

static void _put_data(struct http_req *r, const char *buf, size_t len)
{
	struct api_file_put *p = http_req_state(r);

	for (size_t off = 0; off < len; ) {
		ssize_t n = write(p->fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			_put_free(r, p);
			http_reply_error(r, e == ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE :
					 MHD_HTTP_INTERNAL_SERVER_ERROR,
					 e == ENOSPC ? "insufficient_storage" : "io_error",
					 "cannot keep the file while it arrives: %s", strerror(e));
			return;
		}
		off += (size_t)n;
	}
	p->got += (int64_t)len;
}

static void _put_end(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct api_file_put *p = http_req_state(r);
	struct api_lent l;
	struct err err, end_err;
	int rc = -1;

	if (fsync(p->fd) < 0) {
		err_set(&err, ERR_IO, "io_error", "cannot keep the file while it arrives: %s",
			strerror(errno));
		goto out;
	}
	if (_lend(app, http_req_param(r, 0), true, &l, &err) < 0)
		goto out;
	rc = files_put(l.image, l.offset, p->path, p->tmp, &err);
	/* Read back either way: a failed mcopy may have written part of it. */
	if (storage_lease_end(app->storage, l.name, true, &end_err) < 0 && rc == 0) {
		err = end_err;
		rc = -1;
	}
out:
	if (rc == 0)
		http_reply_json(r, MHD_HTTP_CREATED,
				json_pack("{s:s, s:s, s:I}", "image", l.name, "path", p->path,
					  "size", (json_int_t)p->got));
	else
		http_reply_err(r, &err);
	_put_free(r, p);
}

static void _put_abort(struct http_req *r)
{
	struct api_file_put *p = http_req_state(r);

	if (p)
		_put_free(r, p);
}

const struct http_stream_ops api_files_put = {
	.begin = _put_begin,
	.data = _put_data,
	.end = _put_end,
	.abort = _put_abort,
};
