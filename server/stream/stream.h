/* stream: remote images served without copying them.
 *
 * One nbdkit process per streamed image (its curl plugin, with the retry,
 * cache and log filters) listens on a Unix socket of its own; with a kernel
 * (the configfs backend) Debian's nbd-client connects that socket to a free
 * /dev/nbdN, and the LUN's file is that device. Without one (the sim
 * backend) vmediad reads through the socket itself with libnbd, so the API
 * and the UI can be tried on any machine.
 *
 * Before nbdkit starts, vmediad asks the server for the image's first byte
 * itself (libcurl, the same address rules as downloads, redirects
 * followed): a server that does not answer a Range request with 206 is
 * refused there with a clear error, and nbdkit is handed the final URL.
 * Credentials in the URL reach nbdkit through a pipe, never its command
 * line, and are never shown or logged.
 *
 * The module knows nothing of LUNs: gadget/ calls stream_open on a LUN's
 * worker, stream_interrupt from its breaker (a forced eject: the stalled
 * block reads of a hung server fail at once instead of waiting for it) and
 * stream_close when the LUN has let go of the medium. */
#ifndef VMEDIA_STREAM_H
#define VMEDIA_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../core/err.h"

struct stream_options {
	const char *dir;	/* sockets, pid files, logs and the cache */
	bool kernel;		/* connect a /dev/nbdN (else: read with libnbd) */
	bool allow_local;	/* may connect to loopback and link-local */
	unsigned open_timeout_s;	/* for the probe and nbdkit's start */
	unsigned retries;	/* nbdkit's retry filter: reopen after an error,
				 * once a second, this many times */
	long long cache_max;	/* bytes of the read cache, per stream */
	unsigned block;		/* bytes per request to the server (the cache's block) */
	unsigned delay_ms;	/* nbdkit's delay filter before each request, or 0 */
	const char *known_hosts;	/* sftp: the host keys accepted */
	const char *identity;	/* sftp: the private key to log in with, or "" */
};

struct streams;
struct stream;

int streams_create(const struct stream_options *opts, struct streams **out, struct err *err);
/* Streams still open stay running (a medium in a LUN survives a restart of
 * vmediad, as a stored image does); their records let the next start find
 * them. */
void streams_destroy(struct streams *s);

/* Checks the URL (http, https; sftp is refused for now) and makes a stream
 * for it; nothing runs until stream_open. name gets the image name shown
 * for it (the URL's last path segment). */
int stream_new(struct streams *s, const char *url, bool writable, char *name, size_t name_size,
	       struct stream **out, struct err *err);
/* Only the probe of stream_open (the server must answer a Range request
 * with 206 and say the size): for a named link. Blocks up to
 * open_timeout_s. */
int stream_probe(struct streams *s, const char *url, long long *size, struct err *err);
/* Probes the server, starts nbdkit and (kernel) connects a device; gives
 * the path the LUN opens. Blocks up to open_timeout_s: call it on a LUN's
 * worker, never an HTTP thread. */
int stream_open(struct stream *st, char *path, size_t path_size, struct err *err);
/* Ends every read waiting on the server now, from any thread, without
 * blocking: nbdkit is killed, so the device's requests fail. */
void stream_interrupt(struct stream *st);
/* Stops nbdkit, disconnects the device, removes the files and frees st. */
void stream_close(struct stream *st);

/* The image's size in bytes, once open. */
long long stream_size(struct stream *st);

/* For GET /luns/{id}: the redacted URL, size, bytes the host read, bytes
 * fetched from the server, the cache hit rate, whether nbdkit runs. */
json_t *stream_json(struct stream *st);

/* At start-up: the stream a record of an earlier run left serving path (a
 * LUN still holds it), still running; NULL if none. */
struct stream *stream_adopt(struct streams *s, const char *path, char *name, size_t name_size);
/* After the LUNs were restored: stops what an earlier run left and no LUN
 * holds. */
void streams_clean(struct streams *s);

#endif
