/* storage: the image catalog in one directory, and the crash-safe writer
 * that every new image (upload or download) goes through.
 *
 * Layout of the directory:
 *   NAME              a complete image (only ever created by rename(2))
 *   .meta/NAME.json   its metadata: size, mtime, sha256, source
 *   .tmp/             images being written; emptied at start-up
 *   .partial/         resumable downloads: ID.part (data so far) and the
 *                     download module's ID.json; kept across restarts
 *   .links/NAME.json  a named link: a remote image's URL (0600), its size
 *   .lock             flock(2)ed while a vmediad uses the directory
 * An image is listed as complete only once its data and metadata are
 * fsync'ed and renamed into place, so a crash at any point leaves either the
 * old state or the new one, never a half-written image under its name. */
#ifndef VMEDIA_STORAGE_H
#define VMEDIA_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/err.h"
#include "../core/names.h"

#define STORAGE_MAX_LUNS 32

struct storage;
struct storage_upload;

/* How an upload arrives: as it is stored, or compressed (decompressed on
 * the way to the disk). */
enum storage_compression {
	STORAGE_RAW = 0,
	STORAGE_XZ,
	STORAGE_GZIP,
	STORAGE_ZSTD,
	STORAGE_BZIP2,
};

/* The compression a file name's suffix says (.xz, .gz, .zst, .bz2) and the
 * length of the name without it; STORAGE_RAW and the whole length if none. */
enum storage_compression storage_compression_of(const char *name, size_t *stem_len);
/* "xz", "gzip", "zstd", "bzip2"; NULL for STORAGE_RAW. */
const char *storage_compression_name(enum storage_compression c);

/* A snapshot of one image, copied out under the catalog's lock. */
struct storage_image {
	char name[NAMES_MAX + 1];
	int64_t size;		/* complete: its size; in progress: bytes so far */
	int64_t expected;	/* in progress: the announced size, or -1 */
	char sha256[65];	/* hex; empty while in progress */
	int64_t mtime;		/* seconds since the epoch */
	char source[512];	/* "upload" or the (redacted) URL it came from */
	bool complete;
	/* complete, found without metadata at start-up: its SHA-256 is being
	 * computed in the background; it cannot be inserted until then */
	bool verifying;
	/* in progress: it will replace the complete image of that name, which
	 * stays listed (and usable) until then */
	bool overwrite;
	uint32_t attached;	/* bit N set: inserted in LUN N */
	/* Decompressed on arrival: the format ("xz", ...; empty if it came
	 * as stored), and the size and SHA-256 of what arrived. */
	char compression[8];
	int64_t received_size;
	char received_sha256[65];
};

struct storage_options {
	const char *dir;
	int64_t reserve;	/* bytes always left free */
	int64_t max_image_size;
	int max_uploads;
	bool buffered_io;	/* no O_DIRECT: everything through the page cache */
};

/* Called for "image_added", "image_removed", "image_changed" (attach state),
 * "upload_progress" (at most about once a second per upload) and
 * "upload_aborted"; for the last two, img->overwrite says whether the upload
 * is one over a complete image, which then is still there. Runs on the
 * thread that caused it, outside the catalog lock: keep it short. */
typedef void (*storage_listener_fn)(void *ctx, const char *event, const struct storage_image *img);

int storage_open(const struct storage_options *opts, struct storage **out, struct err *err);
void storage_close(struct storage *s);
/* Sets (or with NULL clears) the listener; once it returns the previous
 * one is not running and is not called again. */
void storage_set_listener(struct storage *s, storage_listener_fn fn, void *ctx);

const char *storage_dir(const struct storage *s);
int storage_space(const struct storage *s, int64_t *free_bytes, int64_t *total_bytes);

/* All images sorted by name, complete ones and uploads in progress. The
 * caller frees *out. */
int storage_list(struct storage *s, struct storage_image **out, size_t *count);
/* A complete image by name (ERR_NOT_FOUND otherwise). */
int storage_get(struct storage *s, const char *name, struct storage_image *out, struct err *err);
/* Opens a complete image for reading; the caller closes *fd. */
int storage_open_image(struct storage *s, const char *name, int *fd,
		       struct storage_image *out, struct err *err);
/* Refuses (ERR_CONFLICT) while the image is attached to a LUN. */
int storage_delete(struct storage *s, const char *name, struct err *err);

/* Marks a complete image as inserted in a LUN, so it cannot be deleted or
 * overwritten, and gives its absolute path. */
int storage_pin(struct storage *s, const char *name, unsigned lun, char *path, size_t path_size,
		struct err *err);
/* storage_pin with the storage as a void *: the gadget's pin callback
 * (gadget_pin_fn) for every insert of a stored image. */
int storage_pin_fn(void *storage, const char *name, unsigned lun, char *path, size_t path_size,
		   struct err *err);
void storage_unpin(struct storage *s, const char *name, unsigned lun);

json_t *storage_image_json(const struct storage_image *img);

/* The writer. begin checks the name, clashes, size limits and free space
 * (expected_size < 0 when unknown); write streams data and SHA-256; commit
 * fsyncs, verifies the digest, renames into place and syncs the directory
 * (if that fails, nothing is stored), all without the catalog's lock, then
 * lists the image; abort removes every trace. commit and abort both free
 * the upload. */
struct storage_upload_options {
	const char *name;
	bool overwrite;
	int64_t expected_size;
	const char *sha256;	/* expected digest (hex) or NULL */
	const char *source;	/* NULL means "upload" */
	/* Resumable: the data lives in .partial/<partial>.part, which begin
	 * opens (or creates) and continues at its end, rehashing what it
	 * holds, and which storage_upload_suspend keeps. */
	const char *partial;
	/* Decompress what arrives (not with partial). expected_size and
	 * sha256 then describe the compressed data as it arrives. */
	enum storage_compression compression;
};

int storage_upload_begin(struct storage *s, const struct storage_upload_options *opts,
			 struct storage_upload **out, struct err *err);
int storage_upload_write(struct storage_upload *u, const void *data, size_t len, struct err *err);
/* Bytes received so far (compressed ones, if decompressing). */
int64_t storage_upload_written(const struct storage_upload *u);
int storage_upload_commit(struct storage_upload *u, struct storage_image *out, struct err *err);
void storage_upload_abort(struct storage_upload *u);
/* Resumable uploads only: closes and frees, keeping the data for later. */
void storage_upload_suspend(struct storage_upload *u);
/* Starts again from byte 0 (the source cannot resume). */
int storage_upload_restart(struct storage_upload *u, struct err *err);
/* The directory of resumable downloads' files (".partial" inside storage). */
int storage_partial_dir_fd(const struct storage *s);

/* A new empty drive: a sparse image of size bytes (a multiple of 512),
 * formatted "fat32" or "exfat" with label (NULL: "VMEDIA"), or "none"
 * (all zeros). Stored like an upload (fsync, SHA-256, rename). */
struct storage_drive_options {
	const char *name;
	int64_t size;
	const char *filesystem;
	const char *label;
};
int storage_create_drive(struct storage *s, const struct storage_drive_options *o,
			 struct storage_image *out, struct err *err);

/* Lends a complete image's file (its absolute path in path) to a tool
 * that reads or, with write, edits it in place: the image is busy (no
 * insert, delete, overwrite or other lease starts) until storage_lease_end.
 * write is refused (ERR_CONFLICT) while the image is inserted in a LUN.
 * With changed, lease_end hashes the file again and rewrites its metadata. */
int storage_lease_begin(struct storage *s, const char *name, bool write, char *path,
			size_t path_size, struct storage_image *out, struct err *err);
int storage_lease_end(struct storage *s, const char *name, bool changed, struct err *err);
/* A new temporary file in the storage's .tmp (removed at start-up if left
 * behind): its fd, read-write, and its absolute path. */
int storage_temp_file(struct storage *s, char *path, size_t path_size, struct err *err);
/* Bytes that may still be stored (free space less the reserve). */
int64_t storage_room(struct storage *s);

/* links.c: a named link, a remote image kept in the library by its URL
 * (streamed when inserted). url may carry user:password@ and is never
 * shown: shown is the redacted form. A link and an image never share a
 * name (ERR_CONFLICT "image_exists" either way). */
struct storage_link {
	char name[NAMES_MAX + 1];
	char url[4096];
	char shown[1024];
	int64_t size;		/* from the probe, when it was added */
	int64_t mtime;		/* when it was added */
	bool pending;		/* its file is being written */
};
int storage_link_add(struct storage *s, const struct storage_link *l, struct err *err);
/* 0 and the link (with its URL), or -1 when there is none of that name. */
int storage_link_get(struct storage *s, const char *name, struct storage_link *out);
/* Every link, without URLs (only shown); the caller frees *out. */
int storage_link_list(struct storage *s, struct storage_link **out, size_t *count);
int storage_link_delete(struct storage *s, const char *name, struct err *err);
/* As GET /images lists it: kind "link"; attached: bit N for LUN N. */
json_t *storage_link_json(const struct storage_link *l, uint32_t attached);

/* Validates a hex SHA-256 digest string (64 hex digits, any case). */
bool storage_sha256_valid(const char *hex);

#endif
