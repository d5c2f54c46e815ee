/* download: images fetched from a URL by the box itself, with libcurl.
 *
 * Jobs wait in a queue and run on a few worker threads; each streams into
 * storage's writer (the same crash-safe path as uploads) through a
 * resumable file in .partial/, so a dropped connection or a restart of
 * vmediad continues with a Range request where the server allows it and
 * starts over where it does not. Unfinished jobs are saved beside their
 * data and picked up at start-up. Credentials in URLs are kept for the
 * transfer but never logged or shown. */
#ifndef VMEDIA_DOWNLOAD_H
#define VMEDIA_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/err.h"
#include "../core/names.h"

struct storage;
struct downloads;

enum download_state { DOWNLOAD_QUEUED = 0, DOWNLOAD_RUNNING, DOWNLOAD_DONE, DOWNLOAD_FAILED, DOWNLOAD_CANCELLED,
		      DOWNLOAD_REMOVED /* forgotten: only ever in the last event */ };

/* A snapshot of one job. */
struct download_job {
	unsigned id;
	char url[2048];		/* redacted: no user:password */
	char name[NAMES_MAX + 1];	/* "" until known */
	enum download_state state;
	int64_t done, total;	/* total -1 when unknown */
	double speed;		/* bytes/s, over the last second or so */
	char error[384];
	char sha256[65];	/* expected, or "" */
	bool insecure;
	int attempts;
	bool keep_compressed;	/* store .xz/.gz/.zst/.bz2 as they come */
	/* The format it is decompressed from once the name is known ("xz",
	 * ...); "" if stored as it comes. */
	char compression[8];
};

struct download_options {
	unsigned workers;		/* concurrent downloads */
	int64_t max_size;
	unsigned connect_timeout_s;
	unsigned low_speed_time_s;	/* abort when below 1 KiB/s this long */
	unsigned max_redirects;
	unsigned retries;		/* resume attempts after a network error */
	unsigned retry_delay_ms;	/* first delay; doubles each time */
	bool allow_local;		/* may connect to loopback and link-local */
};

/* Called on every change and at most about once a second for progress. */
typedef void (*download_listener_fn)(void *ctx, const struct download_job *job);

int downloads_create(const struct download_options *opts, struct storage *storage,
		     download_listener_fn fn, void *ctx, struct downloads **out, struct err *err);
/* Stops the workers; running jobs keep their partial data and resume at
 * the next start. */
void downloads_destroy(struct downloads *d);

struct download_request {
	const char *url;
	const char *name;	/* optional */
	const char *sha256;	/* optional; of the file as it comes */
	bool insecure;
	bool keep_compressed;	/* default: decompress .xz, .gz, .zst, .bz2 */
};

int downloads_add(struct downloads *d, const struct download_request *req,
		  struct download_job *out, struct err *err);
int downloads_get(struct downloads *d, unsigned id, struct download_job *out, struct err *err);
/* The caller frees *out. */
int downloads_list(struct downloads *d, struct download_job **out, size_t *count);
/* Cancels a queued or running job (its partial data is removed), or forgets
 * a finished one. */
int downloads_cancel(struct downloads *d, unsigned id, struct download_job *out,
		     struct err *err);

json_t *download_job_json(const struct download_job *job);

/* Pure helpers, exposed for tests. */
/* Copies url without its user:password@ part into out. */
void download_redact_url(const char *url, char *out, size_t size);
/* The file name in a Content-Disposition header value, sanitised into a
 * valid image name; false if there is none. */
bool download_disposition_name(const char *value, char out[NAMES_MAX + 1]);
/* The last path segment of a URL, percent-decoded and sanitised. */
bool download_url_name(const char *url, char out[NAMES_MAX + 1]);

struct sockaddr;
/* Why a download may not connect to this address: "loopback" (127.0.0.0/8,
 * ::1, and 0.0.0.0/8 and ::, which reach this box too) or "link-local"
 * (169.254.0.0/16, fe80::/10), also in their IPv4-mapped IPv6 forms
 * (::ffff:127.0.0.1); NULL for any other address. */
const char *download_local_address(const struct sockaddr *sa);

struct curl_sockaddr;
/* libcurl's open-socket callback for a download or a stream's probe: the
 * socket, or CURL_SOCKET_BAD (-1) with refused set ("127.0.0.1 is a
 * loopback address") if the address is local and allow_local is false. */
int download_open_socket(bool allow_local, const struct curl_sockaddr *a, char *refused,
			 size_t n);

/* A 206 response's Content-Range. */
struct download_content_range {
	int64_t start, end;	/* the bytes sent, inclusive */
	int64_t total;		/* the whole file's size; -1 for '*' (unknown) */
};
/* Parses a Content-Range header value ("bytes START-END/TOTAL", TOTAL may
 * be '*'; leading blanks are skipped) strictly: digits only, every number
 * within int64, START <= END, END < TOTAL, and, when length (the response's
 * Content-Length) is not -1, END - START + 1 == length. Anything else
 * (also the '*' range of a 416) is false and leaves *out alone. */
bool download_content_range(const char *value, int64_t length,
			    struct download_content_range *out);

#endif
