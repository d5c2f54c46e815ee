/* lease: a complete image's file lent to a tool that reads or edits it in
 * place (the files inside an image). While lent the image is busy: no
 * insert, delete, overwrite or other lease starts until it is given back,
 * and an edited image is hashed again and its metadata rewritten then. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"

#define STORAGE_MOD "STORAGE"

int storage_lease_begin(struct storage *s, const char *name, bool write, char *path,
			size_t path_size, struct storage_image *out, struct err *err)
{
	char why[160];

	if (!names_valid(name, strlen(name), why, sizeof(why)))
		return err_set(err, ERR_INVALID, "bad_name", "%s", why);
	pthread_mutex_lock(&s->lock);
	struct storage_entry *e = storage_find_idle(s, name);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_NOT_FOUND, "not_found", "no image named %s", name);
	}
	if (write && e->img.attached) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_CONFLICT, "image_attached",
			       "image %s is inserted in a LUN: a host may be using its file "
			       "system; eject it before changing its files", name);
	}
	if (e->img.verifying) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ERR_CONFLICT, "image_verifying",
			       "image %s is still being verified; try again shortly", name);
	}
	e->busy = true;
	*out = e->img;
	pthread_mutex_unlock(&s->lock);
	int n = snprintf(path, path_size, "%s/%s", s->dir, name);
	if (n < 0 || (size_t)n >= path_size) {
		storage_settle(s, name, false);
		return err_set(err, ERR_IO, "io_error", "the storage path is too long");
	}
	return 0;
}

int storage_lease_end(struct storage *s, const char *name, bool changed, struct err *err)
{
	struct storage_entry snap;
	struct stat st;
	int rc = 0;

	if (!changed) {
		storage_settle(s, name, false);
		return 0;
	}
	/* The entry is busy: nobody else changes it or its file meanwhile. */
	pthread_mutex_lock(&s->lock);
	snap = *storage_find(s, name);
	pthread_mutex_unlock(&s->lock);
	int fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0 ||
	    storage_hash_fd(fd, snap.img.sha256, NULL) < 0) {
		rc = err_set(err, ERR_IO, "io_error", "cannot read %s back after changing it: %s",
			     name, strerror(errno));
		snap.img.verifying = true;	/* the verifier's job at the next start */
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		snap.img.size = st.st_size;
		snap.img.mtime = st.st_mtim.tv_sec;
		snap.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		/* What arrived is no longer what is stored. */
		snap.img.compression[0] = '\0';
		if (storage_write_meta(s, &snap, err) < 0)
			rc = -1;
	}
	pthread_mutex_lock(&s->lock);
	struct storage_entry *cur = storage_find(s, name);
	uint32_t attached = cur->img.attached;
	*cur = snap;
	cur->img.attached = attached;
	cur->busy = false;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		log_info(STORAGE_MOD, "%s: changed in place, now %lld bytes, sha256 %s", name,
			 (long long)snap.img.size, snap.img.sha256);
	storage_notify(s, "image_changed", &snap.img);
	return rc;
}

int storage_temp_file(struct storage *s, char *path, size_t path_size, struct err *err)
{
	int n = snprintf(path, path_size, "%s/.tmp/file-XXXXXX", s->dir);

	if (n < 0 || (size_t)n >= path_size)
		return err_set(err, ERR_IO, "io_error", "the storage path is too long");
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return err_set(err, ERR_IO, "io_error", "cannot create a temporary file in %s/.tmp: %s",
			       s->dir, strerror(errno));
	return fd;
}
