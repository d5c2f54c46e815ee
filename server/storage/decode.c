/* decode: an upload's decompression (xz, gzip, zstd, bzip2) while it streams.
 *
 * libarchive (its raw format and one filter) pulls its input, while an upload
 * is pushed at the writer piece by piece from libmicrohttpd's or libcurl's
 * callback. So the decoder runs on a thread of its own ("vmedia-unpack"),
 * fed through a bounded ring of input chunks: the receiver copies into the
 * ring and waits only when the decoder is STORAGE_DECODE_RING chunks behind; the decoder
 * hands what it decompresses to the writer's output function, which puts it
 * into the sink (hash and write threads). Nothing holds more than the ring
 * and libarchive's own window, whatever the size of the image.
 *
 * gzip goes through zlib on the same thread instead: libarchive's gzip
 * filter skips each member's CRC-32 and length, so damage inside a stored
 * (uncompressed) deflate block would be stored without a word. xz, zstd
 * and bzip2 check their own data inside libarchive (liblzma, libzstd and
 * libbz2 verify the streams' checks). */
#include "internal.h"

#include <archive.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STORAGE_DECODE_RING 4
#define STORAGE_DECODE_CHUNK (512 * 1024)

struct storage_decoder {
	enum storage_compression kind;
	storage_decoder_out_fn out;
	void *out_ctx;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *buf[STORAGE_DECODE_RING];
	size_t len[STORAGE_DECODE_RING];
	unsigned head;		/* the chunk the decoder reads (or will) */
	unsigned full;		/* chunks handed over, the one being read included */
	bool reading;		/* the decoder holds buf[head] */
	bool eof, cancel;	/* the receiver is done / gives up */
	bool done;		/* the decoder has stopped; err says how */
	bool failed;
	bool ended;		/* the decoder has seen the end of the input */
	struct err err;

	pthread_t thread;
	size_t fill;		/* receiver only: bytes in the chunk being filled */
};

static const struct {
	const char *suffix, *name;
	int filter;
} _kinds[] = {
	[STORAGE_XZ] = { ".xz", "xz", ARCHIVE_FILTER_XZ },
	[STORAGE_GZIP] = { ".gz", "gzip", ARCHIVE_FILTER_GZIP },
	[STORAGE_ZSTD] = { ".zst", "zstd", ARCHIVE_FILTER_ZSTD },
	[STORAGE_BZIP2] = { ".bz2", "bzip2", ARCHIVE_FILTER_BZIP2 },
};

enum storage_compression storage_compression_of(const char *name, size_t *stem_len)
{
	size_t n = strlen(name);

	for (int k = STORAGE_XZ; k <= STORAGE_BZIP2; k++) {
		size_t sl = strlen(_kinds[k].suffix);
		/* a name that is only the suffix has no stem to store it under */
		if (n > sl && strcmp(name + n - sl, _kinds[k].suffix) == 0) {
			*stem_len = n - sl;
			return (enum storage_compression)k;
		}
	}
	*stem_len = n;
	return STORAGE_RAW;
}

const char *storage_compression_name(enum storage_compression c)
{
	return c == STORAGE_RAW ? NULL : _kinds[c].name;
}

/* libarchive's read callback, on the decoder's thread: gives back the chunk
 * read before and waits for the next one. 0 is the end of the input. */
static la_ssize_t _pull(struct archive *a, void *arg, const void **data)
{
	struct storage_decoder *d = arg;
	la_ssize_t n;

	pthread_mutex_lock(&d->lock);
	if (d->reading) {
		d->reading = false;
		d->head = (d->head + 1) % STORAGE_DECODE_RING;
		d->full--;
		pthread_cond_broadcast(&d->cond);
	}
	while (!d->full && !d->eof && !d->cancel)
		pthread_cond_wait(&d->cond, &d->lock);
	if (d->cancel) {
		pthread_mutex_unlock(&d->lock);
		if (a)
			archive_set_error(a, ECANCELED, "the upload was abandoned");
		return -1;
	}
	if (!d->full) {
		d->ended = true;
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	d->reading = true;
	*data = d->buf[d->head];
	n = (la_ssize_t)d->len[d->head];
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* Says what is wrong with the data in the user's terms: a stream that ends
 * early is truncated, anything else libarchive objects to is corrupt. */
static void _data_error(struct storage_decoder *d, const char *why, struct err *err)
{
	pthread_mutex_lock(&d->lock);
	bool ended = d->ended;
	pthread_mutex_unlock(&d->lock);
	if (ended) {
		err_set(err, ERR_DIGEST, "bad_compressed_data",
			"the %s data ends before the end of its stream: the file is truncated "
			"(%s); nothing was stored", _kinds[d->kind].name, why ? why : "no detail");
		return;
	}
	err_set(err, ERR_DIGEST, "bad_compressed_data",
		"the %s data cannot be decompressed (%s); nothing was stored: check the file, "
		"or upload it with ?decompress=0 to keep it as it is", _kinds[d->kind].name,
		why ? why : "unknown error");
}

/* gzip with zlib: one member after the other (pigz and concatenated files
 * have several), each checked against its CRC-32 and length by inflate. */
static int _gunzip(struct storage_decoder *d, struct err *err)
{
	static const size_t outsize = 256 * 1024;
	unsigned char *out = malloc(outsize);
	z_stream z = { 0 };
	const void *in;
	la_ssize_t n = 0;
	int zr = Z_STREAM_END, rc = -1;
	bool any = false;

	if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
		abort();
	for (;;) {
		if (!z.avail_in) {
			n = _pull(NULL, d, &in);
			if (n <= 0)
				break;
			z.next_in = (unsigned char *)in;
			z.avail_in = (uInt)n;
		}
		if (zr == Z_STREAM_END) {	/* a member starts: a gzip header or the end */
			if (any && z.next_in[0] != 0x1f)
				break;	/* trailing data, as gzip -d ignores it */
			inflateReset(&z);
			any = true;
		}
		z.next_out = out;
		z.avail_out = (uInt)outsize;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			_data_error(d, z.msg ? z.msg : "inflate failed", err);
			goto out;
		}
		size_t got = outsize - z.avail_out;
		if (got && d->out(d->out_ctx, out, got, err) < 0)
			goto out;
	}
	if (n < 0)
		err_set(err, ERR_IO, "aborted", "the upload was abandoned");
	else if (zr != Z_STREAM_END)
		_data_error(d, any ? "the last member has no end" : "no gzip data", err);
	else
		rc = 0;
out:
	inflateEnd(&z);
	free(out);
	return rc;
}

static void _finish_thread(struct storage_decoder *d, int rc, const struct err *err)
{
	pthread_mutex_lock(&d->lock);
	d->done = true;
	d->failed = rc < 0;
	d->err = *err;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void *_run(void *arg)
{
	struct storage_decoder *d = arg;
	struct archive *a;
	struct archive_entry *entry;
	struct err err = { 0 };
	const void *block;
	size_t size;
	la_int64_t offset;
	int rc = -1;

	pthread_setname_np(pthread_self(), "vmedia-unpack");
	if (d->kind == STORAGE_GZIP) {
		rc = _gunzip(d, &err);
		_finish_thread(d, rc, &err);
		return NULL;
	}
	if (!(a = archive_read_new()))
		abort();
	archive_read_support_format_raw(a);
	switch (d->kind) {
	case STORAGE_XZ: archive_read_support_filter_xz(a); break;
	case STORAGE_ZSTD: archive_read_support_filter_zstd(a); break;
	case STORAGE_BZIP2: archive_read_support_filter_bzip2(a); break;
	case STORAGE_GZIP:
	case STORAGE_RAW: abort();
	}
	if (archive_read_open(a, d, NULL, _pull, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK) {
		if (archive_errno(a) == ECANCELED)
			err_set(&err, ERR_IO, "aborted", "the upload was abandoned");
		else
			_data_error(d, archive_error_string(a), &err);
		goto out;
	}
	/* With only this filter enabled, anything else reads as uncompressed:
	 * a .xz that is not xz would otherwise be stored as it came. */
	if (archive_filter_code(a, 0) != _kinds[d->kind].filter) {
		err_set(&err, ERR_DIGEST, "bad_compressed_data",
			"the data is not %s, though the name ends in %s; nothing was stored: "
			"upload it under its own name, or with ?decompress=0",
			_kinds[d->kind].name, _kinds[d->kind].suffix);
		goto out;
	}
	for (;;) {
		int r = archive_read_data_block(a, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			if (archive_errno(a) == ECANCELED)
				err_set(&err, ERR_IO, "aborted", "the upload was abandoned");
			else
				_data_error(d, archive_error_string(a), &err);
			goto out;
		}
		if (size && d->out(d->out_ctx, block, size, &err) < 0)
			goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	_finish_thread(d, rc, &err);
	return NULL;
}

struct storage_decoder *storage_decoder_new(enum storage_compression kind,
					    storage_decoder_out_fn out, void *ctx)
{
	struct storage_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		abort();
	d->kind = kind;
	d->out = out;
	d->out_ctx = ctx;
	for (int i = 0; i < STORAGE_DECODE_RING; i++)
		if (!(d->buf[i] = malloc(STORAGE_DECODE_CHUNK)))
			abort();
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (pthread_create(&d->thread, NULL, _run, d) != 0)
		abort();
	return d;
}

/* The decoder's error, once it has stopped on one. Lock held. */
static int _failure(struct storage_decoder *d, struct err *err)
{
	if (err)
		*err = d->err;
	return -1;
}

/* Hands the chunk being filled to the decoder. Lock held. */
static void _hand_over(struct storage_decoder *d)
{
	d->len[(d->head + d->full) % STORAGE_DECODE_RING] = d->fill;
	d->full++;
	d->fill = 0;
	pthread_cond_broadcast(&d->cond);
}

int storage_decoder_feed(struct storage_decoder *d, const void *data, size_t len, struct err *err)
{
	const char *p = data;

	pthread_mutex_lock(&d->lock);
	while (len) {
		/* Wait for room: the decoder gives a chunk back when it is done. */
		while (d->full == STORAGE_DECODE_RING && !d->done)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->done) {
			/* Stopped on an error, or at the end of the compressed
			 * stream: what follows it is ignored, as gzip -d does. */
			int rc = d->failed ? _failure(d, err) : 0;
			pthread_mutex_unlock(&d->lock);
			return rc;
		}
		char *dst = d->buf[(d->head + d->full) % STORAGE_DECODE_RING];
		size_t n = len < STORAGE_DECODE_CHUNK - d->fill ? len : STORAGE_DECODE_CHUNK - d->fill;
		/* The chunk being filled is not the decoder's until handed over,
		 * so the copy needs no lock; but the ring's indexes do. */
		pthread_mutex_unlock(&d->lock);
		memcpy(dst + d->fill, p, n);
		pthread_mutex_lock(&d->lock);
		d->fill += n;
		p += n;
		len -= n;
		if (d->fill == STORAGE_DECODE_CHUNK)
			_hand_over(d);
	}
	int rc = d->done && d->failed ? _failure(d, err) : 0;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int storage_decoder_finish(struct storage_decoder *d, struct err *err)
{
	pthread_mutex_lock(&d->lock);
	if (d->fill && !d->done) {
		while (d->full == STORAGE_DECODE_RING && !d->done)
			pthread_cond_wait(&d->cond, &d->lock);
		if (!d->done)
			_hand_over(d);
	}
	d->eof = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	d->thread = 0;
	return d->failed ? _failure(d, err) : 0;
}

void storage_decoder_free(struct storage_decoder *d)
{
	if (!d)
		return;
	if (d->thread) {
		pthread_mutex_lock(&d->lock);
		d->cancel = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	for (int i = 0; i < STORAGE_DECODE_RING; i++)
		free(d->buf[i]);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
