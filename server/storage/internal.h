/* storage internals shared by the catalog and the writer. */
#ifndef VMEDIA_STORAGE_INTERNAL_H
#define VMEDIA_STORAGE_INTERNAL_H

#include <pthread.h>

#include "storage.h"

struct storage_entry {
	struct storage_image img;
	int64_t mtime_ns;	/* of the data file, to trust the metadata */
	/* Its files are being replaced or removed, outside the lock: it stays
	 * listed as it was, and pins, deletes and opens wait for idle. */
	bool busy;
};

struct storage {
	char *dir;
	int dir_fd, meta_fd, tmp_fd, partial_fd, lock_fd;
	int64_t reserve, max_image_size;
	int max_uploads;
	bool buffered_io;

	/* Guards everything below, and only memory: no disk call is made
	 * with it held (a slow SD card would stall every listing). */
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* an entry stopped being busy */
	struct storage_entry *entries;
	size_t count, cap;
	struct storage_upload *uploads;	/* in progress, a list */
	int nuploads;
	struct storage_link *links;	/* links.c */
	size_t nlinks;
	int links_fd;

	storage_listener_fn listener;
	void *listener_ctx;
	unsigned in_notify;	/* listener calls running (idle is broadcast) */

	/* Hashes the images found without metadata, after start-up. */
	pthread_t verifier;
	bool verifier_started;
	_Atomic bool stopping;
};

struct storage_entry *storage_find(struct storage *s, const char *name);
/* The entry once it is not busy (waits, lock held), or NULL. */
struct storage_entry *storage_find_idle(struct storage *s, const char *name);
/* Ends a busy period: the entry stays, or goes (gone), and waiters wake. */
void storage_settle(struct storage *s, const char *name, bool gone);
void storage_put(struct storage *s, const struct storage_entry *e);
void storage_notify(struct storage *s, const char *event, const struct storage_image *img);
/* Writes .meta/NAME.json durably (file and directory synced). */
int storage_write_meta(struct storage *s, const struct storage_entry *e, struct err *err);
bool storage_upload_in_progress(struct storage *s, const char *name);
/* links.c: loaded at open, freed at close; a name taken by a link (lock
 * held). */
void storage_links_load(struct storage *s);
void storage_links_free(struct storage *s);
bool storage_link_exists(struct storage *s, const char *name);
/* SHA-256 of the file; -1 on a read error, or once *stop is set (may be
 * NULL). */
int storage_hash_fd(int fd, char hex[65], const _Atomic bool *stop);
void storage_uploads_snapshot(struct storage *s, struct storage_image *out, size_t *n);

/* writer.c, for drive.c: the upload's temporary file (absolute path), and
 * taking what that file holds as the upload's data (hashed once). */
int storage_upload_path(const struct storage_upload *u, char *buf, size_t size);
int storage_upload_take_file(struct storage_upload *u, struct err *err);
int storage_upload_fd(const struct storage_upload *u);

/* sink.c: an upload's digest and ordered writes on threads of their own.
 * storage_sink_new takes the buffered fd (borrowed), an O_DIRECT one (owned; -1
 * for none) and the digest to update (borrowed; read it after a flush);
 * write and flush return 0 or the errno of the first failed write. */
struct storage_sink;
struct evp_md_ctx_st;
struct storage_sink *storage_sink_new(int fd, int direct_fd, struct evp_md_ctx_st *md,
				      int64_t offset);
int storage_sink_write(struct storage_sink *k, const void *data, size_t len);
int storage_sink_flush(struct storage_sink *k);
void storage_sink_reset(struct storage_sink *k, int64_t offset);
int64_t storage_sink_direct_bytes(struct storage_sink *k);
/* How long the receiver waited for a full ring, and for which consumer. */
void storage_sink_waited(struct storage_sink *k, double *disk_ms, double *hash_ms);
void storage_sink_free(struct storage_sink *k);

/* decode.c: decompression on a thread of its own, fed through a bounded
 * ring. out gets the decompressed data in order, on that thread; a
 * negative return stops the decoder with its err. feed and finish return
 * the decoder's error once it has stopped on one; finish waits for the
 * end (a truncated stream is an error there). */
typedef int (*storage_decoder_out_fn)(void *ctx, const void *data, size_t len,
				      struct err *err);
struct storage_decoder;
struct storage_decoder *storage_decoder_new(enum storage_compression kind,
					    storage_decoder_out_fn out, void *ctx);
int storage_decoder_feed(struct storage_decoder *d, const void *data, size_t len, struct err *err);
int storage_decoder_finish(struct storage_decoder *d, struct err *err);
void storage_decoder_free(struct storage_decoder *d);

#endif
