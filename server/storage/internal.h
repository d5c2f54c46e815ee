/* storage internals shared by the catalog and the writer. */
#ifndef VMEDIA_STORAGE_INTERNAL_H
#define VMEDIA_STORAGE_INTERNAL_H

#include <pthread.h>

#include "storage.h"

struct _entry {
	struct storage_image img;
	int64_t mtime_ns;	/* of the data file, to trust the metadata */
};

struct storage {
	char *dir;
	int dir_fd, meta_fd, tmp_fd, partial_fd, lock_fd;
	int64_t reserve, max_image_size;
	int max_uploads;

	pthread_mutex_t lock;	/* guards everything below */
	struct _entry *entries;
	size_t count, cap;
	struct storage_upload *uploads;	/* in progress, a list */
	int nuploads;

	storage_listener_fn listener;
	void *listener_ctx;
};

struct _entry *_storage_find(struct storage *s, const char *name);
void _storage_put(struct storage *s, const struct _entry *e);
void _storage_notify(struct storage *s, const char *event, const struct storage_image *img);
int _storage_write_meta(struct storage *s, const struct _entry *e, struct err *err);
bool _storage_upload_in_progress(struct storage *s, const char *name);
int _storage_hash_fd(int fd, char hex[65]);
void _storage_uploads_snapshot(struct storage *s, struct storage_image *out, size_t *n);

#endif
