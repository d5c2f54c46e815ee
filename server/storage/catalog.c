/* catalog: the list of images in the storage directory, their metadata,
 * and which LUNs hold them. See storage.h for the directory layout. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/text.h"

#define STORAGE_MOD "STORAGE"

/* Images are larger than 2 GiB: a 32-bit build (armhf) without 64-bit off_t
 * would fail to open or stat them (EOVERFLOW). */
_Static_assert(sizeof(off_t) == 8, "build with -D_FILE_OFFSET_BITS=64");

bool storage_sha256_valid(const char *hex)
{
	size_t i;

	for (i = 0; hex[i]; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return i == 64;
}

struct storage_entry *storage_find(struct storage *s, const char *name)
{
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->entries[i].img.name, name) == 0)
			return &s->entries[i];
	return NULL;
}

struct storage_entry *storage_find_idle(struct storage *s, const char *name)
{
	struct storage_entry *e;

	while ((e = storage_find(s, name)) && e->busy)
		pthread_cond_wait(&s->idle, &s->lock);
	return e;
}

static void _remove_entry(struct storage *s, struct storage_entry *e);

void storage_settle(struct storage *s, const char *name, bool gone)
{
	struct storage_entry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = storage_find(s, name))) {
		e->busy = false;
		if (gone)
			_remove_entry(s, e);
	}
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* Inserts or replaces, keeping the array sorted by name; a replaced entry
 * keeps its pins and is no longer busy. */
void storage_put(struct storage *s, const struct storage_entry *e)
{
	struct storage_entry *old = storage_find(s, e->img.name);
	size_t at;

	if (old) {
		uint32_t attached = old->img.attached;
		*old = *e;
		old->img.attached = attached;
		return;
	}
	if (s->count == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->entries = realloc(s->entries, s->cap * sizeof(*s->entries));
		err_must(s->entries != NULL);
	}
	for (at = 0; at < s->count; at++)
		if (strcmp(s->entries[at].img.name, e->img.name) > 0)
			break;
	memmove(&s->entries[at + 1], &s->entries[at], (s->count - at) * sizeof(*s->entries));
	s->entries[at] = *e;
	s->count++;
}

static void _remove_entry(struct storage *s, struct storage_entry *e)
{
	size_t at = (size_t)(e - s->entries);
	memmove(&s->entries[at], &s->entries[at + 1], (s->count - at - 1) * sizeof(*s->entries));
	s->count--;
}

void storage_notify(struct storage *s, const char *event, const struct storage_image *img)
{
	pthread_mutex_lock(&s->lock);
	storage_listener_fn fn = s->listener;
	void *ctx = s->listener_ctx;
	if (fn)
		s->in_notify++;
	pthread_mutex_unlock(&s->lock);
	if (!fn)
		return;
	fn(ctx, event, img);
	pthread_mutex_lock(&s->lock);
	if (--s->in_notify == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

void storage_set_listener(struct storage *s, storage_listener_fn fn, void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->listener = fn;
	s->listener_ctx = ctx;
	while (s->in_notify > 0)	/* the old listener is not called after this */
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

const char *storage_dir(const struct storage *s)
{
	return s->dir;
}

int storage_partial_dir_fd(const struct storage *s)
{
	return s->partial_fd;
}

int storage_space(const struct storage *s, int64_t *free_bytes, int64_t *total_bytes)
{
	struct statvfs st;

	if (fstatvfs(s->dir_fd, &st) < 0)
		return -1;
	*free_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
	*total_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
	return 0;
}

json_t *storage_image_json(const struct storage_image *img)
{
	char when[CLOCK_ISO8601_SIZE];
	json_t *luns = json_array();

	clock_iso8601(when, sizeof(when), (time_t)img->mtime, -1);
	for (unsigned i = 0; i < STORAGE_MAX_LUNS; i++)
		if (img->attached & (1u << i))
			json_array_append_new(luns, json_integer(i));

	json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:s, s:s, s:o}",
			      "name", img->name, "kind", "image", "size", (json_int_t)img->size,
			      "complete", img->complete, "mtime", when,
			      "source", img->source, "attached_to", luns);
	err_must(o != NULL);
	json_object_set_new(o, "sha256", img->complete && !img->verifying ?
			    json_string(img->sha256) : json_null());
	if (img->verifying)
		json_object_set_new(o, "verifying", json_true());
	if (!img->complete) {
		json_object_set_new(o, "expected_size",
				    img->expected >= 0 ? json_integer(img->expected) : json_null());
		json_object_set_new(o, "overwrite", json_boolean(img->overwrite));
	}
	if (img->compression[0]) {
		json_object_set_new(o, "compression", json_string(img->compression));
		json_object_set_new(o, "received_size", json_integer(img->received_size));
		json_object_set_new(o, "received_sha256", json_string(img->received_sha256));
	}
	return o;
}

/* Hashes a whole file: used only for images that arrived without metadata
 * (copied in by hand) or whose metadata no longer matches. */
int storage_hash_fd(int fd, char hex[65], const _Atomic bool *stop)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned int mdlen;
	static const size_t bufsize = 1 << 20;
	char *buf = malloc(bufsize);
	ssize_t n;
	off_t off = 0;
	int rc = -1;

	err_must(ctx && buf);
	err_must(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
	while ((n = pread(fd, buf, bufsize, off)) > 0 && !(stop && *stop)) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
	}
	if (n == 0 && !(stop && *stop)) {
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		text_hex(md, 32, hex);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* An image's metadata is .meta/NAME: the longest name (255 bytes) still
 * fits, which NAME.json did not. It is written to a temporary .new-N (no
 * image name starts with a dot) and renamed over it. Before 0.2 the file
 * was NAME.json; that is still read, and rewritten as NAME. */
static _Atomic unsigned long _meta_seq;

int storage_write_meta(struct storage *s, const struct storage_entry *e, struct err *err)
{
	char tmp[32];
	const char *final = e->img.name;
	json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", e->img.name,
			      "size", (json_int_t)e->img.size, "mtime_ns", (json_int_t)e->mtime_ns,
			      "sha256", e->img.sha256, "source", e->img.source);
	char *text;
	int fd, rc = -1;

	err_must(o != NULL);
	if (e->img.compression[0])
		err_must(json_object_update_new(o, json_pack("{s:s, s:I, s:s}", "compression",
				e->img.compression, "received_size", (json_int_t)e->img.received_size,
				"received_sha256", e->img.received_sha256)) == 0);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	err_must(text != NULL);
	snprintf(tmp, sizeof(tmp), ".new-%lu", ++_meta_seq);
	fd = openat(s->meta_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, ERR_IO, "io_error", "cannot write metadata of %s: %s", e->img.name,
			strerror(errno));
		goto out_free;
	}
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		err_set(err, errno == ENOSPC ? ERR_NO_SPACE : ERR_IO,
			errno == ENOSPC ? "insufficient_storage" : "io_error",
			"cannot write metadata of %s: %s", e->img.name, strerror(errno));
		close(fd);
		unlinkat(s->meta_fd, tmp, 0);
		goto out_free;
	}
	close(fd);
	if (renameat(s->meta_fd, tmp, s->meta_fd, final) < 0) {
		err_set(err, ERR_IO, "io_error", "cannot rename metadata of %s: %s", e->img.name,
			strerror(errno));
		unlinkat(s->meta_fd, tmp, 0);
		goto out_free;
	}
	/* The rename itself must be on disk before the image is. */
	if (fsync(s->meta_fd) < 0) {
		err_set(err, ERR_IO, "io_error", "cannot sync %s/.meta after writing the metadata "
			"of %s: %s", s->dir, e->img.name, strerror(errno));
		unlinkat(s->meta_fd, final, 0);
		goto out_free;
	}
	rc = 0;
out_free:
	free(text);
	return rc;
}

/* Trusts a metadata file only if it names this image and still describes
 * the file beside it. */
static bool _read_meta(struct storage *s, struct storage_entry *e, const char *path)
{
	json_error_t jerr;
	json_int_t size, mtime_ns;
	const char *name, *sha, *source = "upload", *comp = "", *rsha = "";
	json_int_t rsize = 0;
	int fd = openat(s->meta_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return false;
	json_t *o = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (!o)
		return false;
	bool ok = json_unpack(o, "{s:s, s:I, s:I, s:s, s?s, s?s, s?I, s?s}", "name", &name,
			      "size", &size, "mtime_ns", &mtime_ns, "sha256", &sha,
			      "source", &source, "compression", &comp, "received_size", &rsize,
			      "received_sha256", &rsha) == 0 &&
		  strcmp(name, e->img.name) == 0 && size == e->img.size &&
		  mtime_ns == e->mtime_ns && storage_sha256_valid(sha);
	if (ok) {
		snprintf(e->img.sha256, sizeof(e->img.sha256), "%s", sha);
		snprintf(e->img.source, sizeof(e->img.source), "%s", source);
		if (comp[0] && storage_sha256_valid(rsha)) {
			snprintf(e->img.compression, sizeof(e->img.compression), "%s", comp);
			snprintf(e->img.received_sha256, sizeof(e->img.received_sha256), "%s", rsha);
			e->img.received_size = rsize;
		}
	}
	json_decref(o);
	return ok;
}

static bool _load_meta(struct storage *s, struct storage_entry *e)
{
	char legacy[NAMES_MAX + 8];
	struct err err;

	if (_read_meta(s, e, e->img.name))
		return true;
	if (strlen(e->img.name) + 5 > NAMES_MAX ||
	    snprintf(legacy, sizeof(legacy), "%s.json", e->img.name) < 0 ||
	    !_read_meta(s, e, legacy))
		return false;
	/* The old layout: rewrite it as the new one; the start-up clean-up
	 * removes the old file once no image has its name. */
	if (storage_write_meta(s, e, &err) < 0)
		log_warn(STORAGE_MOD, "%s", err.message);
	return true;
}

static void _empty_tmp(struct storage *s)
{
	DIR *d = fdopendir(dup(s->tmp_fd));
	struct dirent *de;

	if (!d)
		return;
	rewinddir(d);	/* a dup shares the offset of any earlier scan */
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(s->tmp_fd, de->d_name, 0) == 0)
			log_info(STORAGE_MOD, "removed the leftover of an interrupted upload: .tmp/%s",
				 de->d_name);
	}
	closedir(d);
}

static void _scan_images(struct storage *s)
{
	DIR *d = fdopendir(dup(s->dir_fd));
	struct dirent *de;
	struct stat st;

	if (!d)
		return;
	rewinddir(d);	/* a dup shares the offset of any earlier scan */
	while ((de = readdir(d))) {
		struct storage_entry e;

		if (!names_valid(de->d_name, strlen(de->d_name), NULL, 0))
			continue;
		if (fstatat(s->dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		memset(&e, 0, sizeof(e));
		snprintf(e.img.name, sizeof(e.img.name), "%s", de->d_name);
		e.img.size = st.st_size;
		e.img.expected = -1;
		e.img.mtime = st.st_mtim.tv_sec;
		e.img.complete = true;
		e.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		snprintf(e.img.source, sizeof(e.img.source), "upload");
		/* Without metadata it is hashed by the verifier once vmediad
		 * listens: tens of GiB on an SD card take minutes. */
		if (!_load_meta(s, &e)) {
			e.img.verifying = true;
			snprintf(e.img.source, sizeof(e.img.source), "found in storage");
		}
		storage_put(s, &e);
	}
	closedir(d);

	/* Metadata whose image is gone (deleted, or a crash mid-delete). */
	d = fdopendir(dup(s->meta_fd));
	if (!d)
		return;
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Metadata of an image that is listed; anything else is an
		 * orphan, a temporary file of a crashed write, or the old
		 * NAME.json layout already rewritten. */
		if (de->d_name[0] != '.' && storage_find(s, de->d_name))
			continue;
		unlinkat(s->meta_fd, de->d_name, 0);
	}
	closedir(d);
}

static bool _same_file(int fd, const struct storage_entry *e)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_size == e->img.size &&
	       (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == e->mtime_ns;
}

/* The verifier: one image at a time, the smallest first, the lock only
 * around the look-ups. An image deleted or replaced while it is hashed
 * keeps what it has now. */
static void *_verify_main(void *arg)
{
	struct storage *s = arg;

	while (!s->stopping) {
		struct storage_entry snap;
		bool found = false;
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->count; i++)	/* the smallest first */
			if (s->entries[i].img.verifying && !s->entries[i].busy &&
			    (!found || s->entries[i].img.size < snap.img.size)) {
				snap = s->entries[i];
				found = true;
			}
		pthread_mutex_unlock(&s->lock);
		if (!found)
			break;
		log_info(STORAGE_MOD, "%s has no matching metadata: computing its SHA-256 (%lld bytes) "
			 "in the background", snap.img.name, (long long)snap.img.size);
		double t0 = clock_now_ms();
		int fd = openat(s->dir_fd, snap.img.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		int rc = fd >= 0 && _same_file(fd, &snap) ?
			 storage_hash_fd(fd, snap.img.sha256, &s->stopping) : -1;
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (s->stopping)
			break;
		pthread_mutex_lock(&s->lock);
		struct storage_entry *cur = storage_find(s, snap.img.name);
		bool same = cur && cur->img.verifying && cur->mtime_ns == snap.mtime_ns &&
			    cur->img.size == snap.img.size;
		if (same && rc == 0) {
			snprintf(cur->img.sha256, sizeof(cur->img.sha256), "%s", snap.img.sha256);
			cur->img.verifying = false;
			snap = *cur;
		} else if (same) {	/* unreadable, or not the file that was listed */
			cur->img.verifying = false;
			cur->busy = true;
		}
		pthread_mutex_unlock(&s->lock);
		if (same && rc == 0) {
			struct err err;
			if (storage_write_meta(s, &snap, &err) < 0)
				log_warn(STORAGE_MOD, "%s", err.message);
			log_info(STORAGE_MOD, "%s verified in %.0f ms: SHA-256 %s", snap.img.name,
				 clock_now_ms() - t0, snap.img.sha256);
			storage_notify(s, "image_changed", &snap.img);
		} else if (same) {
			log_warn(STORAGE_MOD, "cannot read %s (%s); not listed", snap.img.name,
				 fd < 0 ? strerror(e) : "it changed while it was read");
			storage_settle(s, snap.img.name, true);
			storage_notify(s, "image_removed", &snap.img);
		}
	}
	return NULL;
}

static int _open_subdir(int dir_fd, const char *name)
{
	if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* mkdir -p, so a fresh device or `make run` needs no set-up. */
static int _mkdirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return (mkdir(buf, 0755) < 0 && errno != EEXIST) ? -1 : 0;
}

int storage_open(const struct storage_options *opts, struct storage **out, struct err *err)
{
	struct storage *s = calloc(1, sizeof(*s));

	err_must(s != NULL);
	s->dir_fd = s->meta_fd = s->tmp_fd = s->partial_fd = s->lock_fd = s->links_fd = -1;
	s->reserve = opts->reserve;
	s->max_image_size = opts->max_image_size;
	s->max_uploads = opts->max_uploads;
	s->buffered_io = opts->buffered_io;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->dir = realpath(opts->dir, NULL);
	if (!s->dir) {
		if (_mkdirs(opts->dir) < 0) {
			err_set(err, ERR_IO, "storage_error", "cannot create storage directory %s: %s",
				opts->dir, strerror(errno));
			goto out_close;
		}
		s->dir = realpath(opts->dir, NULL);
	}
	if (!s->dir || (s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err_set(err, ERR_IO, "storage_error", "cannot open storage directory %s: %s",
			opts->dir, strerror(errno));
		goto out_close;
	}
	s->lock_fd = openat(s->dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		/* Typically the files of an earlier run as root, now as --user. */
		err_set(err, ERR_IO, "storage_error",
			"cannot open %s/.lock as uid %u: %s (files of a run as another user? "
			"chown -R them to this one)", s->dir, (unsigned)geteuid(), strerror(errno));
		goto out_close;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		err_set(err, ERR_IO, "storage_error",
			"storage directory %s is in use by another vmediad (%s)", s->dir,
			strerror(errno));
		goto out_close;
	}
	s->meta_fd = _open_subdir(s->dir_fd, ".meta");
	s->tmp_fd = _open_subdir(s->dir_fd, ".tmp");
	s->partial_fd = _open_subdir(s->dir_fd, ".partial");
	if (s->meta_fd < 0 || s->tmp_fd < 0 || s->partial_fd < 0) {
		err_set(err, ERR_IO, "storage_error", "cannot create %s/.meta or .tmp: %s", s->dir,
			strerror(errno));
		goto out_close;
	}
	_empty_tmp(s);
	_scan_images(s);
	storage_links_load(s);
	size_t verify = 0;
	for (size_t i = 0; i < s->count; i++)
		verify += s->entries[i].img.verifying;
	log_info(STORAGE_MOD, "%s: %zu image(s)%s", s->dir, s->count,
		 verify ? ", some to verify in the background" : "");
	if (verify) {
		if (pthread_create(&s->verifier, NULL, _verify_main, s) != 0)
			abort();
		pthread_setname_np(s->verifier, "vmedia-verify");
		s->verifier_started = true;
	}
	*out = s;
	return 0;

out_close:
	storage_close(s);
	return -1;
}

void storage_close(struct storage *s)
{
	if (!s)
		return;
	s->stopping = true;
	if (s->verifier_started)
		pthread_join(s->verifier, NULL);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	if (s->meta_fd >= 0)
		close(s->meta_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->partial_fd >= 0)
		close(s->partial_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	storage_links_free(s);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s->entries);
	free(s->dir);
	free(s);
}

int storage_list(struct storage *s, struct storage_image **out, size_t *count)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->count, total = n + (size_t)s->nuploads;
	struct storage_image *v = malloc((total ? total : 1) * sizeof(*v));

	err_must(v != NULL);
	for (size_t i = 0; i < n; i++)
		v[i] = s->entries[i].img;
	storage_uploads_snapshot(s, v + n, &total);
	pthread_mutex_unlock(&s->lock);
	total += n;
	*out = v;
	*count = total;
	return 0;
}

int storage_get(struct storage *s, const char *name, struct storage_image *out, struct err *err)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	struct storage_entry *e = storage_find(s, name);
	if (e)
		*out = e->img;
	else if (storage_upload_in_progress(s, name))
		rc = err_set(err, ERR_NOT_FOUND, "not_found",
			     "image %s is still being uploaded", name);
	else
		rc = err_set(err, ERR_NOT_FOUND, "not_found", "no image named %s", name);
	pthread_mutex_unlock(&s->lock);
	return rc;
}


int storage_open_image(struct storage *s, const char *name, int *fd, struct storage_image *out,
		       struct err *err)
{
	struct storage_entry snap;

	/* The open is outside the lock, so an overwrite may swap the file in
	 * between: the fd and the size always belong together only if the
	 * file is the one the entry describes, so look again until it is (a
	 * file changed behind our back never matches: take it after a few). */
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&s->lock);
		struct storage_entry *e = storage_find_idle(s, name);
		if (e)
			snap = *e;
		pthread_mutex_unlock(&s->lock);
		if (!e)
			return err_set(err, ERR_NOT_FOUND, "not_found", "no image named %s", name);
		*fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (*fd < 0 && errno == ENOENT)
			return err_set(err, ERR_NOT_FOUND, "not_found", "no image named %s", name);
		if (*fd < 0 && errno == ELOOP)
			return err_set(err, ERR_CONFLICT, "image_changed",
				       "image %s has been replaced by a symbolic link", name);
		if (*fd < 0)
			return err_set(err, ERR_IO, "io_error", "cannot open image %s: %s", name,
				       strerror(errno));
		if (_same_file(*fd, &snap))
			break;
		close(*fd);
		if (tries == 2)	/* changed behind our back: its size is not ours to trust */
			return err_set(err, ERR_CONFLICT, "image_changed",
				       "image %s was changed outside vmediad; restart vmediad to list "
				       "it anew", name);
	}
	*out = snap.img;
	return 0;
}

int storage_delete(struct storage *s, const char *name, struct err *err)
{
	struct storage_image img;

	pthread_mutex_lock(&s->lock);
	struct storage_entry *e = storage_find_idle(s, name);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_NOT_FOUND, "not_found", "no image named %s", name);
	}
	if (e->img.attached) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_CONFLICT, "image_attached",
			       "image %s is inserted in a LUN; eject it first", name);
	}
	e->busy = true;
	img = e->img;
	pthread_mutex_unlock(&s->lock);

	/* The data first: a crash in between leaves orphan metadata, which the
	 * next start-up removes, never an image without its digest. */
	if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT) {
		err_set(err, ERR_IO, "io_error", "cannot delete %s: %s", name, strerror(errno));
		storage_settle(s, name, false);
		return -1;
	}
	unlinkat(s->meta_fd, name, 0);
	/* The name is gone from the folder either way, so it is gone from the
	 * catalog too; but a delete the disk did not confirm is not durable (a
	 * power cut may bring the image back, and start-up then lists it
	 * again), and the client must hear that rather than a 204. */
	int rc = 0;
	if (fsync(s->dir_fd) < 0) {
		int e = errno;
		log_warn(STORAGE_MOD, "deleted %s, but cannot sync %s: %s; it may be back after a crash",
			 name, s->dir, strerror(e));
		rc = err_set(err, ERR_IO, "io_error",
			     "image %s was removed, but the disk did not confirm it (sync of %s: "
			     "%s): it may be back after a power cut; check the storage and "
			     "delete it again then", name, s->dir, strerror(e));
	} else {
		log_info(STORAGE_MOD, "deleted %s", name);
	}
	storage_settle(s, name, true);
	storage_notify(s, "image_removed", &img);
	return rc;
}

int storage_pin_fn(void *storage, const char *name, unsigned lun, char *path, size_t path_size,
		   struct err *err)
{
	return storage_pin(storage, name, lun, path, path_size, err);
}

int storage_pin(struct storage *s, const char *name, unsigned lun, char *path, size_t path_size,
		struct err *err)
{
	struct storage_image img;

	if (lun >= STORAGE_MAX_LUNS)
		return err_set(err, ERR_INVALID, "bad_request", "LUN %u is out of range", lun);
	pthread_mutex_lock(&s->lock);
	struct storage_entry *e = storage_find_idle(s, name);
	if (!e) {
		bool uploading = storage_upload_in_progress(s, name);
		pthread_mutex_unlock(&s->lock);
		return err_set(err, uploading ? ERR_CONFLICT : ERR_NOT_FOUND,
			       uploading ? "image_incomplete" : "not_found",
			       uploading ? "image %s is still being uploaded" : "no image named %s",
			       name);
	}
	if (e->img.verifying) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_CONFLICT, "image_verifying",
			       "image %s was found without metadata and its SHA-256 is still being "
			       "computed; insert it once it is verified", name);
	}
	struct storage_entry snap = *e;
	e->img.attached |= 1u << lun;
	img = e->img;
	pthread_mutex_unlock(&s->lock);
	/* The kernel opens the path itself: it must still be the regular file
	 * listed, not a symlink or a file put there behind vmediad's back. */
	struct stat st;
	if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != snap.img.size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != snap.mtime_ns) {
		storage_unpin(s, name, lun);
		return err_set(err, ERR_CONFLICT, "image_changed",
			       "image %s is no longer the file vmediad listed (replaced, shortened or "
			       "a link); restart vmediad to list it anew", name);
	}
	snprintf(path, path_size, "%s/%s", s->dir, name);
	storage_notify(s, "image_changed", &img);
	return 0;
}

void storage_unpin(struct storage *s, const char *name, unsigned lun)
{
	struct storage_image img;
	bool found = false;

	if (lun >= STORAGE_MAX_LUNS)
		return;
	pthread_mutex_lock(&s->lock);
	struct storage_entry *e = storage_find(s, name);
	if (e) {
		e->img.attached &= ~(1u << lun);
		img = e->img;
		found = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (found)
		storage_notify(s, "image_changed", &img);
}
