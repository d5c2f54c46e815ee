/* sink: the digest and disk side of one upload, on two threads of its own.
 *
 * The receiving thread (an HTTP connection, or a download worker) copies
 * what arrives into a small ring of chunk buffers and goes back to the
 * network; a hasher thread feeds full chunks to SHA-256 and a writer
 * thread writes them to the file, both in order and at the same time. So
 * the network, the digest and the disk overlap instead of taking turns,
 * and the slowest of the three sets the pace rather than their sum. That
 * matters most on a board whose CPU has no SHA instructions (a Raspberry
 * Pi 4's Cortex-A72 has none), where the digest alone can take as long as
 * the network.
 *
 * Chunks are written with O_DIRECT where the file system allows it: the
 * data goes to the device without filling the page cache (an ISO is not
 * worth evicting everything else for on a board with 512 MiB), and the
 * write itself is the flow control. The pieces O_DIRECT cannot take (a
 * start or an end not on a 4 KiB boundary) go through the page cache, and
 * everything goes that way where O_DIRECT is refused (tmpfs), with the
 * same bounded write-back as before: at most STORAGE_SINK_WINDOW * STORAGE_SINK_LAG dirty bytes.
 *
 *   producer: [fill seq n] -> submit -> [fill n+1] ... waits while chunk
 *             n+1 (the same buffer as n+1-STORAGE_SINK_NCHUNK) is still in use
 *   hasher:   takes chunks in order, updates the digest
 *   writer:   takes chunks in order, writes them
 *   a chunk is free again once both have passed it.
 *
 * An error is sticky: the sink stops writing and hashing, and the producer
 * sees it at its next write or flush. */
#include "internal.h"

#include "../core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* 4 x 1 MiB: measured against 4 x 512 KiB, 8 x 512 KiB and 8 x 1 MiB in
 * interleaved rounds (1 GiB downloads, 14 each): 4 x 512 KiB was 11% slower,
 * 8 x 1 MiB no faster within the noise. -D_CHUNK=... to experiment. */
#ifndef STORAGE_SINK_CHUNK
#define STORAGE_SINK_CHUNK ((size_t)1 << 20)
#endif
#ifndef STORAGE_SINK_NCHUNK
#define STORAGE_SINK_NCHUNK 4
#endif
#define STORAGE_SINK_ALIGN ((int64_t)4096)
#define STORAGE_SINK_WINDOW ((int64_t)8 << 20)
#define STORAGE_SINK_LAG 4

struct storage_chunk {
	char *buf;
	int64_t off;
	size_t len;
};

struct storage_sink {
	int fd;			/* buffered */
	int dfd;		/* O_DIRECT, or -1 */
	EVP_MD_CTX *md;		/* borrowed */
	pthread_t writer, hasher;
	pthread_mutex_t lock;
	pthread_cond_t more;	/* the consumers wait for chunks */
	pthread_cond_t room;	/* the producer waits for a free chunk, or a flush */
	/* sequence number n lives in [n % STORAGE_SINK_NCHUNK] */
	struct storage_chunk chunks[STORAGE_SINK_NCHUNK];
	uint64_t nsub;		/* chunks submitted; the producer fills number nsub */
	uint64_t nwritten, nhashed;
	bool stop;
	int error;		/* errno of the first failed write */
	int64_t flushed;	/* buffered write-back started up to here */
	int64_t direct_bytes;
	double waited_disk_ms, waited_hash_ms;	/* the producer, for a full ring */
};

static int _pwrite_all(int fd, const char *p, size_t len, int64_t off, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = pwrite(fd, p + *done, len - *done, off + (int64_t)*done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;
		*done += (size_t)n;
	}
	return 0;
}

/* Bounded write-back of buffered data (see the top of this file): at most
 * STORAGE_SINK_WINDOW * STORAGE_SINK_LAG dirty bytes, so the final fsync has little left to do. */
static void _write_back(struct storage_sink *k, int64_t end)
{
	while (end - k->flushed >= STORAGE_SINK_WINDOW) {
		sync_file_range(k->fd, k->flushed, STORAGE_SINK_WINDOW, SYNC_FILE_RANGE_WRITE);
		int64_t old = k->flushed - STORAGE_SINK_LAG * STORAGE_SINK_WINDOW;
		if (old >= 0) {
			sync_file_range(k->fd, old, STORAGE_SINK_WINDOW, SYNC_FILE_RANGE_WAIT_BEFORE |
					SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
			posix_fadvise(k->fd, old, STORAGE_SINK_WINDOW, POSIX_FADV_DONTNEED);
		}
		k->flushed += STORAGE_SINK_WINDOW;
	}
}

static int _put(struct storage_sink *k, const struct storage_chunk *c)
{
	size_t direct = 0, done;
	int rc;

	if (k->dfd >= 0 && c->off % STORAGE_SINK_ALIGN == 0)
		direct = c->len & ~(size_t)(STORAGE_SINK_ALIGN - 1);
	if (direct > 0) {
		rc = _pwrite_all(k->dfd, c->buf, direct, c->off, &done);
		if (rc == EINVAL && done == 0) {
			/* The device wants a larger alignment, or the file
			 * system changed its mind: buffered from now on. */
			close(k->dfd);
			k->dfd = -1;
			k->flushed = c->off - c->off % STORAGE_SINK_WINDOW;
		} else if (rc != 0 && rc != EINVAL) {
			return rc;
		}
		/* A short direct write leaves the rest to the page cache. */
		direct = done;
		k->direct_bytes += (int64_t)done;
	}
	if (c->len > direct) {
		rc = _pwrite_all(k->fd, c->buf + direct, c->len - direct, c->off + (int64_t)direct,
				 &done);
		if (rc != 0)
			return rc;
		if (k->dfd < 0)
			_write_back(k, c->off + (int64_t)c->len);
	}
	return 0;
}

/* Writes n consecutive chunks, from sequence number seq. When the writer
 * has fallen behind, the chunks waiting are written with one pwritev: a
 * device at queue depth 1 does more with one large write than with several
 * small ones, and the writer catches up after a slow write. */
static int _put_batch(struct storage_sink *k, uint64_t seq, unsigned n)
{
	struct iovec iov[STORAGE_SINK_NCHUNK];
	const struct storage_chunk *first = &k->chunks[seq % STORAGE_SINK_NCHUNK];
	size_t total = 0, done;
	bool together = k->dfd >= 0 && n > 1;
	ssize_t w;
	int rc;

	for (unsigned i = 0; i < n && together; i++) {
		const struct storage_chunk *c = &k->chunks[(seq + i) % STORAGE_SINK_NCHUNK];
		together = c->off % STORAGE_SINK_ALIGN == 0 && c->len % STORAGE_SINK_ALIGN == 0 &&
			   c->off == first->off + (int64_t)total;
		iov[i] = (struct iovec){ .iov_base = c->buf, .iov_len = c->len };
		total += c->len;
	}
	done = 0;
	if (together) {
		do
			w = pwritev(k->dfd, iov, (int)n, first->off);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EINVAL)
			return errno;
		done = w > 0 ? (size_t)w : 0;
		k->direct_bytes += (int64_t)done;
	}
	/* One by one: not all aligned, or what a short or refused pwritev
	 * left (_put decides about O_DIRECT again for whole chunks). */
	for (unsigned i = 0; i < n; i++) {
		const struct storage_chunk *c = &k->chunks[(seq + i) % STORAGE_SINK_NCHUNK];
		if (done >= c->len) {
			done -= c->len;
			continue;
		}
		if (done > 0) {
			size_t more;
			rc = _pwrite_all(k->fd, c->buf + done, c->len - done,
					 c->off + (int64_t)done, &more);
			done = 0;
		} else {
			rc = _put(k, c);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int _hash(struct storage_sink *k, uint64_t seq, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct storage_chunk *c = &k->chunks[(seq + i) % STORAGE_SINK_NCHUNK];
		if (EVP_DigestUpdate(k->md, c->buf, c->len) != 1)
			return EIO;
	}
	return 0;
}

/* One consumer: does work on every submitted chunk in order, at most batch
 * at a time, counting in *done, until stopped with nothing left. */
static void _consume(struct storage_sink *k, uint64_t *done, unsigned batch,
		     int (*work)(struct storage_sink *, uint64_t seq, unsigned n))
{
	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (*done == k->nsub && !k->stop)
			pthread_cond_wait(&k->more, &k->lock);
		if (*done == k->nsub)
			break;
		uint64_t seq = *done;
		unsigned n = (unsigned)(k->nsub - seq < batch ? k->nsub - seq : batch);
		int rc = 0;
		if (k->error == 0) {
			pthread_mutex_unlock(&k->lock);
			rc = work(k, seq, n);
			pthread_mutex_lock(&k->lock);
		}
		if (rc != 0 && k->error == 0)
			k->error = rc;
		*done += n;
		pthread_cond_signal(&k->room);
	}
	pthread_mutex_unlock(&k->lock);
}

static void *_run_writer(void *arg)
{
	struct storage_sink *k = arg;

	_consume(k, &k->nwritten, STORAGE_SINK_NCHUNK, _put_batch);
	return NULL;
}

/* One chunk at a time: each is free for the receiver as soon as it can be. */
static void *_run_hasher(void *arg)
{
	struct storage_sink *k = arg;

	_consume(k, &k->nhashed, 1, _hash);
	return NULL;
}

/* Chunks submitted and not yet passed by both consumers (lock held). */
static uint64_t _in_use(const struct storage_sink *k)
{
	return k->nsub - (k->nwritten < k->nhashed ? k->nwritten : k->nhashed);
}

struct storage_sink *storage_sink_new(int fd, int direct_fd, EVP_MD_CTX *md, int64_t offset)
{
	struct storage_sink *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->fd = fd;
	k->dfd = direct_fd;
	k->md = md;
	for (unsigned i = 0; i < STORAGE_SINK_NCHUNK; i++)
		if (posix_memalign((void **)&k->chunks[i].buf, (size_t)STORAGE_SINK_ALIGN, STORAGE_SINK_CHUNK) != 0)
			abort();
	k->chunks[0].off = offset;
	k->flushed = offset - offset % STORAGE_SINK_WINDOW;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->more, NULL);
	pthread_cond_init(&k->room, NULL);
	if (pthread_create(&k->writer, NULL, _run_writer, k) != 0 ||
	    pthread_create(&k->hasher, NULL, _run_hasher, k) != 0)
		abort();
	pthread_setname_np(k->writer, "vmedia-write");
	pthread_setname_np(k->hasher, "vmedia-hash");
	return k;
}

/* Hands the chunk being filled to the sink (caller holds the lock) and
 * waits until the next one is free. */
static void _submit(struct storage_sink *k)
{
	struct storage_chunk *c = &k->chunks[k->nsub % STORAGE_SINK_NCHUNK];
	int64_t end = c->off + (int64_t)c->len;

	k->nsub++;
	pthread_cond_broadcast(&k->more);
	if (_in_use(k) == STORAGE_SINK_NCHUNK) {
		double t0 = clock_now_ms();
		bool disk = k->nwritten <= k->nhashed;
		while (_in_use(k) == STORAGE_SINK_NCHUNK)
			pthread_cond_wait(&k->room, &k->lock);
		*(disk ? &k->waited_disk_ms : &k->waited_hash_ms) += clock_now_ms() - t0;
	}
	c = &k->chunks[k->nsub % STORAGE_SINK_NCHUNK];
	c->off = end;
	c->len = 0;
}

int storage_sink_write(struct storage_sink *k, const void *data, size_t len)
{
	const char *p = data;
	int rc;

	while (len > 0) {
		struct storage_chunk *c = &k->chunks[k->nsub % STORAGE_SINK_NCHUNK];
		/* Chunks end on multiples of STORAGE_SINK_CHUNK in the file, so after an
		 * odd start only the first one is unaligned. */
		size_t room = STORAGE_SINK_CHUNK - (size_t)((c->off + (int64_t)c->len) % (int64_t)STORAGE_SINK_CHUNK);
		size_t n = len < room ? len : room;

		memcpy(c->buf + c->len, p, n);
		c->len += n;
		p += n;
		len -= n;
		if (n == room) {
			pthread_mutex_lock(&k->lock);
			_submit(k);
			rc = k->error;
			pthread_mutex_unlock(&k->lock);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int storage_sink_flush(struct storage_sink *k)
{
	int rc;

	pthread_mutex_lock(&k->lock);
	if (k->chunks[k->nsub % STORAGE_SINK_NCHUNK].len > 0)
		_submit(k);
	while (_in_use(k) > 0)
		pthread_cond_wait(&k->room, &k->lock);
	rc = k->error;
	pthread_mutex_unlock(&k->lock);
	return rc;
}

void storage_sink_reset(struct storage_sink *k, int64_t offset)
{
	storage_sink_flush(k);
	pthread_mutex_lock(&k->lock);
	k->error = 0;
	k->chunks[k->nsub % STORAGE_SINK_NCHUNK].off = offset;
	k->chunks[k->nsub % STORAGE_SINK_NCHUNK].len = 0;
	k->flushed = offset - offset % STORAGE_SINK_WINDOW;
	pthread_mutex_unlock(&k->lock);
}

int64_t storage_sink_direct_bytes(struct storage_sink *k)
{
	int64_t n;

	pthread_mutex_lock(&k->lock);
	n = k->direct_bytes;
	pthread_mutex_unlock(&k->lock);
	return n;
}

void storage_sink_waited(struct storage_sink *k, double *disk_ms, double *hash_ms)
{
	pthread_mutex_lock(&k->lock);
	*disk_ms = k->waited_disk_ms;
	*hash_ms = k->waited_hash_ms;
	pthread_mutex_unlock(&k->lock);
}

/* Stops both threads and drops the chunks not yet passed; closes the
 * O_DIRECT descriptor (it owns that one), not the other. */
void storage_sink_free(struct storage_sink *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	k->error = k->error ? k->error : ECANCELED;
	pthread_cond_broadcast(&k->more);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->writer, NULL);
	pthread_join(k->hasher, NULL);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->more);
	pthread_cond_destroy(&k->room);
	for (unsigned i = 0; i < STORAGE_SINK_NCHUNK; i++)
		free(k->chunks[i].buf);
	if (k->dfd >= 0)
		close(k->dfd);
	free(k);
}
