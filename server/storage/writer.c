/* writer: every new image is streamed through here: hidden temporary file,
 * SHA-256 while streaming, the disk writes on a thread of their own
 * (sink.c), fsync, rename; a compressed one is decompressed on the way
 * (decode.c), with the digest of what arrived kept beside the stored one. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/text.h"

#define STORAGE_MOD "STORAGE"

struct storage_upload {
	struct storage *s;
	struct storage_upload *next;
	char name[NAMES_MAX + 1];
	char tmpname[80];
	int tmpdir_fd;		/* .tmp, or .partial for resumable ones */
	bool partial;
	char source[512];
	char expected_sha[65];
	bool overwrite;
	_Atomic bool preallocated;	/* read by listings under the lock */
	int fd;
	int64_t expected;	/* of the data stored; -1 when decompressing */
	int64_t announced;	/* of the data received */
	_Atomic int64_t written;	/* stored; the sink's digest and file may lag */
	_Atomic int64_t received;	/* given to storage_upload_write */
	struct storage_sink *sink;
	int64_t started;	/* epoch seconds */
	struct timespec last_progress;
	EVP_MD_CTX *md;
	/* Decompressing only: the decoder (which feeds the sink) and the
	 * digest of the data as it arrived. */
	enum storage_compression compression;
	struct storage_decoder *dec;
	EVP_MD_CTX *in_md;
};

bool storage_upload_in_progress(struct storage *s, const char *name)
{
	for (struct storage_upload *u = s->uploads; u; u = u->next)
		if (strcmp(u->name, name) == 0)
			return true;
	return false;
}

static void _snapshot(const struct storage_upload *u, struct storage_image *img)
{
	memset(img, 0, sizeof(*img));
	snprintf(img->name, sizeof(img->name), "%s", u->name);
	snprintf(img->source, sizeof(img->source), "%s", u->source);
	img->size = u->received;	/* progress counts what arrived */
	img->expected = u->announced;
	img->mtime = u->started;
	img->complete = false;
}

/* Appends the uploads whose name has no complete image yet (an overwrite
 * in progress is not listed: its image is); *n is the room in out on entry
 * and the number written on return. */
void storage_uploads_snapshot(struct storage *s, struct storage_image *out, size_t *n)
{
	size_t room = *n, k = 0;

	for (struct storage_upload *u = s->uploads; u && k < room; u = u->next)
		if (!storage_find(s, u->name))
			_snapshot(u, &out[k++]);
	*n = k;
}

/* Bytes promised to uploads still running that the file system does not
 * know about yet (those that could not be preallocated). */
static int64_t _reserved(struct storage *s)
{
	int64_t r = 0;

	for (struct storage_upload *u = s->uploads; u; u = u->next)
		if (u->expected > u->written && !u->preallocated)
			r += u->expected - u->written;
	return r;
}

static void _unlink_upload(struct storage *s, struct storage_upload *u)
{
	for (struct storage_upload **p = &s->uploads; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			s->nuploads--;
			return;
		}
}

static void _free_upload(struct storage_upload *u);

/* Takes an upload that ends without an image off the list, removes its
 * temporary file if asked (after: once the file is gone, no listing shows
 * the upload), tells the listener, and frees it. */
static void _release(struct storage_upload *u, bool remove_tmp)
{
	struct storage *s = u->s;
	struct storage_image img;

	_snapshot(u, &img);
	pthread_mutex_lock(&s->lock);
	img.overwrite = storage_find(s, u->name) != NULL;
	_unlink_upload(s, u);
	pthread_mutex_unlock(&s->lock);
	if (remove_tmp && u->tmpname[0]) {
		unlinkat(u->tmpdir_fd, u->tmpname, 0);
		log_info(STORAGE_MOD, "%s: upload abandoned after %lld bytes; temporary file removed",
			 u->name, (long long)u->written);
	}
	storage_notify(s, "upload_aborted", &img);
	_free_upload(u);
}

static void _free_upload(struct storage_upload *u)
{
	storage_decoder_free(u->dec);	/* first: it writes into the sink */
	EVP_MD_CTX_free(u->in_md);
	storage_sink_free(u->sink);
	if (u->fd >= 0)
		close(u->fd);
	EVP_MD_CTX_free(u->md);
	free(u);
}

/* free_bytes: measured before the lock was taken, or -1. */
static int _check_begin(struct storage *s, const struct storage_upload_options *o,
			int64_t free_bytes, struct err *err)
{
	struct storage_entry *e;

	if (s->nuploads >= s->max_uploads)
		return err_set(err, ERR_UNAVAILABLE, "too_many_uploads",
			       "%d uploads are running already; try again when one has finished",
			       s->nuploads);
	if (storage_upload_in_progress(s, o->name))
		return err_set(err, ERR_CONFLICT, "upload_in_progress",
			       "image %s is being uploaded by another request", o->name);
	if (storage_link_exists(s, o->name))
		return err_set(err, ERR_CONFLICT, "image_exists",
			       "%s is a named link; delete it (DELETE /images/%s) first", o->name,
			       o->name);
	e = storage_find(s, o->name);
	if (e && !o->overwrite)
		return err_set(err, ERR_CONFLICT, "image_exists",
			       "image %s exists; add ?overwrite=1 to replace it", o->name);
	if (e && e->img.attached)
		return err_set(err, ERR_CONFLICT, "image_attached",
			       "image %s is inserted in a LUN and cannot be replaced; eject it first",
			       o->name);
	if (o->expected_size > s->max_image_size)
		return err_set(err, ERR_TOO_LARGE, "too_large",
			       "the image is %lld bytes; this server accepts at most %lld",
			       (long long)o->expected_size, (long long)s->max_image_size);
	if (o->expected_size >= 0 && free_bytes >= 0) {
		int64_t avail = free_bytes - s->reserve - _reserved(s);
		if (o->expected_size > avail)
			return err_set(err, ERR_NO_SPACE, "insufficient_storage",
				       "the image needs %lld bytes but only %lld are free; "
				       "delete images to make room",
				       (long long)o->expected_size, (long long)(avail > 0 ? avail : 0));
	}
	return 0;
}

/* Continues a resumable upload where its file ends: the digest has to see
 * those bytes again, one pass, since a SHA-256 state cannot be saved. */
static int _resume(struct storage_upload *u, struct err *err)
{
	static const size_t bufsize = 1 << 20;
	char *buf = malloc(bufsize);
	struct stat st;
	ssize_t n = 0;

	if (!buf)
		abort();
	if (fstat(u->fd, &st) < 0) {
		free(buf);
		return err_set(err, ERR_IO, "io_error", "%s: %s", u->tmpname, strerror(errno));
	}
	while (u->written < st.st_size && (n = pread(u->fd, buf, bufsize, u->written)) > 0) {
		EVP_DigestUpdate(u->md, buf, (size_t)n);
		u->written += n;
	}
	u->received = u->written;
	free(buf);
	if (n < 0)
		return err_set(err, ERR_IO, "io_error", "reading %s: %s", u->tmpname,
			       strerror(errno));
	return 0;
}

/* Maps a write error from the sink. */
static int _write_error(struct storage_upload *u, int rc, struct err *err)
{
	if (rc == ENOSPC || rc == EDQUOT)
		return err_set(err, ERR_NO_SPACE, "insufficient_storage",
			       "the storage file system is full after %lld bytes of %s",
			       (long long)u->written, u->name);
	return err_set(err, ERR_IO, "io_error", "writing %s: %s", u->name, strerror(rc));
}

static int _store_decoded(void *ctx, const void *data, size_t len, struct err *err);

int storage_upload_restart(struct storage_upload *u, struct err *err)
{
	if (u->dec) {	/* a decoder's state cannot go back: a new one */
		storage_decoder_free(u->dec);
		u->dec = NULL;
	}
	storage_sink_reset(u->sink, 0);
	if (ftruncate(u->fd, 0) < 0)
		return err_set(err, ERR_IO, "io_error", "%s: %s", u->tmpname, strerror(errno));
	EVP_DigestInit_ex(u->md, EVP_sha256(), NULL);
	u->written = 0;
	u->received = 0;
	u->preallocated = false;
	if (u->compression) {
		EVP_DigestInit_ex(u->in_md, EVP_sha256(), NULL);
		u->dec = storage_decoder_new(u->compression, _store_decoded, u);
	}
	return 0;
}

void storage_upload_suspend(struct storage_upload *u)
{
	/* What did not reach the file is simply fetched again: the resume
	 * starts where the file ends. */
	if (u->sink)
		storage_sink_flush(u->sink);
	if (u->fd >= 0)
		fdatasync(u->fd);
	log_info(STORAGE_MOD, "%s: suspended after %lld bytes; .partial/%s kept to resume", u->name,
		 (long long)u->written, u->tmpname);
	_release(u, false);
}

int storage_upload_begin(struct storage *s, const struct storage_upload_options *o,
			 struct storage_upload **out, struct err *err)
{
	char why[128];
	struct storage_upload *u;
	int64_t free_bytes = -1, total;

	if (!names_valid(o->name, strlen(o->name), why, sizeof(why)))
		return err_set(err, ERR_INVALID, "bad_name", "%s", why);
	if (o->sha256 && !storage_sha256_valid(o->sha256))
		return err_set(err, ERR_INVALID, "bad_checksum",
			       "the expected SHA-256 must be 64 hex digits");
	if (o->compression && o->partial)
		return err_set(err, ERR_INVALID, "bad_request",
			       "a decompressing upload cannot be resumable");
	u = calloc(1, sizeof(*u));
	err_must(u != NULL);
	u->s = s;
	u->fd = -1;
	u->compression = o->compression;
	u->announced = o->expected_size;
	/* The decompressed size shows only at the end: checked as it grows. */
	u->expected = o->compression ? -1 : o->expected_size;
	u->overwrite = o->overwrite;
	u->started = time(NULL);
	snprintf(u->name, sizeof(u->name), "%s", o->name);
	snprintf(u->source, sizeof(u->source), "%s", o->source ? o->source : "upload");
	if (o->sha256)
		snprintf(u->expected_sha, sizeof(u->expected_sha), "%s", o->sha256);
	u->md = EVP_MD_CTX_new();
	err_must(u->md && EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) == 1);

	/* statvfs can wait for the file system: not under the lock. */
	if (o->expected_size >= 0 && storage_space(s, &free_bytes, &total) < 0)
		free_bytes = -1;
	pthread_mutex_lock(&s->lock);
	if (_check_begin(s, o, free_bytes, err) < 0) {
		pthread_mutex_unlock(&s->lock);
		_free_upload(u);
		return -1;
	}
	u->next = s->uploads;
	s->uploads = u;
	s->nuploads++;
	pthread_mutex_unlock(&s->lock);

	if (o->partial) {
		u->partial = true;
		u->tmpdir_fd = s->partial_fd;
		snprintf(u->tmpname, sizeof(u->tmpname), "%s.part", o->partial);
		u->fd = openat(s->partial_fd, u->tmpname, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (u->fd >= 0 && _resume(u, err) < 0) {
			storage_upload_suspend(u);
			return -1;
		}
	}
	for (int i = 0; i < 100 && u->fd < 0 && !u->partial; i++) {
		u->tmpdir_fd = s->tmp_fd;
		snprintf(u->tmpname, sizeof(u->tmpname), "upload-%08lx",
			 (unsigned long)random() ^ (unsigned long)(uintptr_t)u);
		u->fd = openat(s->tmp_fd, u->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (u->fd < 0 && errno != EEXIST)
			break;
	}
	if (u->fd < 0) {
		err_set(err, ERR_IO, "io_error", "cannot create a temporary file in %s/%s: %s",
			s->dir, u->partial ? ".partial" : ".tmp", strerror(errno));
		u->tmpname[0] = '\0';
		storage_upload_abort(u);
		return -1;
	}
	/* Claim the space now where the file system allows it: the upload then
	 * cannot run out of room half-way because of another one. */
	if (u->expected > u->written &&
	    fallocate(u->fd, FALLOC_FL_KEEP_SIZE, 0, u->expected) == 0)
		u->preallocated = true;
	int dfd = s->buffered_io ? -1 :
		  openat(u->tmpdir_fd, u->tmpname, O_WRONLY | O_DIRECT | O_CLOEXEC);
	u->sink = storage_sink_new(u->fd, dfd, u->md, u->written);
	if (u->compression) {
		u->in_md = EVP_MD_CTX_new();
		err_must(u->in_md && EVP_DigestInit_ex(u->in_md, EVP_sha256(), NULL) == 1);
		u->dec = storage_decoder_new(u->compression, _store_decoded, u);
	}
	log_info(STORAGE_MOD, "%s: receiving into %s/%s (%lld bytes announced, %lld there already%s%s%s)",
		 u->name, u->partial ? ".partial" : ".tmp", u->tmpname, (long long)u->announced,
		 (long long)u->written, dfd < 0 ? ", through the page cache" : "",
		 u->compression ? ", decompressing " : "",
		 u->compression ? storage_compression_name(u->compression) : "");
	*out = u;
	return 0;
}

int storage_upload_path(const struct storage_upload *u, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s/%s", u->s->dir, u->partial ? ".partial" : ".tmp",
			 u->tmpname);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int storage_upload_fd(const struct storage_upload *u)
{
	return u->fd;
}

int storage_upload_take_file(struct storage_upload *u, struct err *err)
{
	storage_sink_flush(u->sink);	/* nothing in it; orders the digest's use */
	u->written = 0;
	return _resume(u, err);
}

int64_t storage_room(struct storage *s)
{
	int64_t free_bytes, total;

	if (storage_space(s, &free_bytes, &total) < 0)
		return INT64_MAX;
	pthread_mutex_lock(&s->lock);
	int64_t room = free_bytes - s->reserve - _reserved(s);
	pthread_mutex_unlock(&s->lock);
	return room > 0 ? room : 0;
}

static void _progress(struct storage_upload *u)
{
	struct timespec now;
	struct storage_image img;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - u->last_progress.tv_sec < 1)
		return;
	u->last_progress = now;
	_snapshot(u, &img);
	pthread_mutex_lock(&u->s->lock);
	img.overwrite = storage_find(u->s, u->name) != NULL;
	pthread_mutex_unlock(&u->s->lock);
	storage_notify(u->s, "upload_progress", &img);
}

/* An upload whose size was not announced (chunked, or a download without
 * Content-Length) has no room set aside: it stops before it eats into the
 * reserve. Checked at each MiB it crosses, with the sink's ring (bytes on
 * their way to the disk) counted as written. */
#define STORAGE_UNANNOUNCED_CHECK_BYTES (1 << 20)
#define STORAGE_SINK_IN_FLIGHT_BYTES (4 << 20)

static int _check_room(struct storage_upload *u, size_t len, struct err *err)
{
	struct storage *s = u->s;
	int64_t free_bytes, total;

	if (u->expected >= 0 || (u->written + (int64_t)len) / STORAGE_UNANNOUNCED_CHECK_BYTES ==
	    u->written / STORAGE_UNANNOUNCED_CHECK_BYTES || storage_space(s, &free_bytes, &total) < 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	int64_t promised = _reserved(s);
	/* Every other upload of unknown size may write this much before its
	 * own next check (seen: two at once went 3 MiB into the reserve). */
	for (struct storage_upload *o = s->uploads; o; o = o->next)
		if (o != u && o->expected < 0)
			promised += STORAGE_SINK_IN_FLIGHT_BYTES + STORAGE_UNANNOUNCED_CHECK_BYTES;
	pthread_mutex_unlock(&s->lock);
	if ((int64_t)len + STORAGE_SINK_IN_FLIGHT_BYTES > free_bytes - s->reserve - promised)
		return err_set(err, ERR_NO_SPACE, "insufficient_storage",
			       "the disk is nearly full after %lld bytes of %s: storing more would "
			       "use the %lld bytes always kept free (--reserve); delete images to "
			       "make room", (long long)u->written, u->name, (long long)s->reserve);
	return 0;
}

/* Puts data into the image: on the receiving thread, or on the decoder's
 * for a compressed upload. */
static int _store(struct storage_upload *u, const void *data, size_t len, struct err *err)
{
	int rc;

	if (u->written + (int64_t)len > u->s->max_image_size)
		return err_set(err, ERR_TOO_LARGE, "too_large",
			       "the image is larger than the %lld bytes this server accepts",
			       (long long)u->s->max_image_size);
	if (_check_room(u, len, err) < 0)
		return -1;
	if ((rc = storage_sink_write(u->sink, data, len)) != 0)
		return _write_error(u, rc, err);
	u->written += (int64_t)len;
	return 0;
}

static int _store_decoded(void *ctx, const void *data, size_t len, struct err *err)
{
	return _store(ctx, data, len, err);
}

int storage_upload_write(struct storage_upload *u, const void *data, size_t len, struct err *err)
{
	if (u->dec) {
		EVP_DigestUpdate(u->in_md, data, len);
		if (storage_decoder_feed(u->dec, data, len, err) < 0)
			return -1;
	} else if (_store(u, data, len, err) < 0) {
		return -1;
	}
	u->received += (int64_t)len;
	_progress(u);
	return 0;
}

int64_t storage_upload_written(const struct storage_upload *u)
{
	return u->received;
}


static int _finish_file(struct storage_upload *u, struct storage_entry *e, struct err *err)
{
	unsigned char md[32];
	unsigned int mdlen;
	struct stat st;
	int rc;

	if (u->announced >= 0 && u->received != u->announced)
		return err_set(err, ERR_INVALID, "incomplete_body",
			       "received %lld of %lld announced bytes", (long long)u->received,
			       (long long)u->announced);
	/* The decoder's end: the last data is in the sink, or the stream
	 * was cut short or corrupt. */
	if (u->dec && storage_decoder_finish(u->dec, err) < 0)
		return -1;
	if ((rc = storage_sink_flush(u->sink)) != 0)
		return _write_error(u, rc, err);
	if ((u->preallocated && ftruncate(u->fd, u->written) < 0) || fsync(u->fd) < 0 ||
	    fstat(u->fd, &st) < 0)
		return err_set(err, errno == ENOSPC ? ERR_NO_SPACE : ERR_IO,
			       errno == ENOSPC ? "insufficient_storage" : "io_error",
			       "cannot flush %s to disk: %s", u->name, strerror(errno));
	EVP_DigestFinal_ex(u->md, md, &mdlen);
	memset(e, 0, sizeof(*e));
	text_hex(md, 32, e->img.sha256);
	if (u->in_md) {
		EVP_DigestFinal_ex(u->in_md, md, &mdlen);
		text_hex(md, 32, e->img.received_sha256);
		snprintf(e->img.compression, sizeof(e->img.compression), "%s",
			 storage_compression_name(u->compression));
	} else {
		memcpy(e->img.received_sha256, e->img.sha256, sizeof(e->img.sha256));
	}
	e->img.received_size = u->received;
	if (u->expected_sha[0] && strcasecmp(u->expected_sha, e->img.received_sha256) != 0)
		return err_set(err, ERR_DIGEST, "checksum_mismatch",
			       "SHA-256 of the received data is %s, expected %s; nothing was stored",
			       e->img.received_sha256, u->expected_sha);
	snprintf(e->img.name, sizeof(e->img.name), "%s", u->name);
	snprintf(e->img.source, sizeof(e->img.source), "%s", u->source);
	e->img.size = u->written;
	e->img.expected = -1;
	e->img.complete = true;
	e->img.mtime = st.st_mtim.tv_sec;
	e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

/* Puts the finished file in place, outside the catalog's lock: metadata
 * first (a crash between the two renames leaves metadata that does not
 * match the old file's size and mtime, which start-up detects and
 * rehashes), then the data, then the directory, so that what is listed is
 * on disk. old is the image replaced, or NULL. On failure *lost says that
 * the old image is no longer there either. */
static int _put_in_place(struct storage_upload *u, const struct storage_entry *e,
			 const struct storage_entry *old, bool *lost, struct err *err)
{
	struct storage *s = u->s;
	struct err ignored;

	*lost = false;
	if (storage_write_meta(s, e, err) < 0)
		return -1;
	if (renameat(u->tmpdir_fd, u->tmpname, s->dir_fd, u->name) < 0) {
		err_set(err, ERR_IO, "io_error", "cannot rename %s into place: %s", u->name,
			strerror(errno));
		if (!old || storage_write_meta(s, old, &ignored) < 0)
			unlinkat(s->meta_fd, u->name, 0);
		return -1;
	}
	u->tmpname[0] = '\0';
	if (fsync(s->dir_fd) < 0) {
		/* The rename may not survive a crash: not stored, then. The
		 * image it replaced is gone from the directory already. */
		int sync_errno = errno;
		unlinkat(s->dir_fd, u->name, 0);
		unlinkat(s->meta_fd, u->name, 0);
		*lost = old != NULL;
		err_set(err, ERR_IO, "io_error",
			"cannot sync %s after renaming %s into place: %s; nothing was stored%s",
			s->dir, u->name, strerror(sync_errno),
			old ? " and the image it was to replace is gone" : "");
		log_warn(STORAGE_MOD, "%s: cannot sync %s after the rename: %s; not stored%s", u->name,
			 s->dir, strerror(sync_errno), old ? ", and the image it replaced is gone" : "");
		return -1;
	}
	return 0;
}

int storage_upload_commit(struct storage_upload *u, struct storage_image *out, struct err *err)
{
	struct storage *s = u->s;
	struct storage_entry e, *cur, old;
	bool replacing, lost;

	if (_finish_file(u, &e, err) < 0)
		goto out_abort;

	/* Reserve the name: an image it replaces turns busy (no pin, delete or
	 * open until it is settled); a new name is reserved by the upload. */
	pthread_mutex_lock(&s->lock);
	cur = storage_find_idle(s, u->name);
	if (cur && cur->img.attached) {
		pthread_mutex_unlock(&s->lock);
		err_set(err, ERR_CONFLICT, "image_attached",
			"image %s was inserted in a LUN during the upload; nothing was replaced",
			u->name);
		goto out_abort;
	}
	replacing = cur != NULL;
	if (replacing) {
		old = *cur;
		cur->busy = true;
	}
	pthread_mutex_unlock(&s->lock);

	if (_put_in_place(u, &e, replacing ? &old : NULL, &lost, err) < 0) {
		if (replacing)
			storage_settle(s, u->name, lost);
		if (lost)
			storage_notify(s, "image_removed", &old.img);
		goto out_abort;
	}

	/* Publish: listed complete only now, with everything on disk. */
	pthread_mutex_lock(&s->lock);
	storage_put(s, &e);
	cur = storage_find(s, u->name);
	if (out)
		*out = cur->img;
	_unlink_upload(s, u);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);

	/* Where the time went, for whoever wonders why a board is slow: the
	 * network (no waits), the disk or the digest. */
	double disk_ms, hash_ms;
	storage_sink_waited(u->sink, &disk_ms, &hash_ms);
	log_info(STORAGE_MOD, "%s: stored, %lld bytes (%lld with O_DIRECT), sha256 %s%s%s%s; the "
		 "receiver waited %.0f ms for the disk, %.0f ms for SHA-256", e.img.name,
		 (long long)e.img.size, (long long)storage_sink_direct_bytes(u->sink), e.img.sha256,
		 e.img.compression[0] ? ", decompressed from " : "", e.img.compression,
		 e.img.compression[0] ? " (see received_sha256)" : "", disk_ms, hash_ms);
	storage_notify(s, "image_added", &e.img);
	_free_upload(u);
	return 0;

out_abort:
	storage_upload_abort(u);
	return -1;
}

void storage_upload_abort(struct storage_upload *u)
{
	_release(u, true);
}
