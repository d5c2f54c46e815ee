/* fetch: one attempt at a download with libcurl, streamed into storage's
 * resumable writer. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/version.h"
#include "../storage/storage.h"
#include "internal.h"

#define DOWNLOAD_MOD "DOWNLOAD"

struct download_xfer {
	struct downloads *d;
	struct download_entry *j;
	CURL *curl;
	struct storage_upload *u;
	int64_t offset;			/* bytes we asked the server to skip */
	int64_t length;			/* Content-Length of this response, or -1 */
	char content_range[128];	/* its Content-Range, or "" */
	struct download_content_range range_sent;	/* of a 206, once checked */
	char disposition[NAMES_MAX + 1];
	char etag[256];
	char last_modified[64];
	bool failed;			/* the error is set; abort the transfer */
	bool start_over;		/* the data kept was dropped: retry from byte 0 */
	char refused[160];		/* an address not connected to, and why */
	struct err err;
	double last_ms, last_bytes;
	char range[32];
};

static void _trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* Headers of every response, redirects included: a status line starts a
 * new response, so what is kept belongs to the last one. */
static size_t _on_header(char *data, size_t size, size_t n, void *arg)
{
	struct download_xfer *x = arg;
	size_t len = size * n;
	char line[1024];

	snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), data);
	_trim(line);
	if (strncmp(line, "HTTP/", 5) == 0) {
		x->length = -1;
		x->content_range[0] = '\0';
		x->disposition[0] = '\0';
		x->etag[0] = '\0';
		x->last_modified[0] = '\0';
	} else if (strncasecmp(line, "Content-Length:", 15) == 0) {
		x->length = strtoll(line + 15, NULL, 10);
	} else if (strncasecmp(line, "Content-Range:", 14) == 0) {
		snprintf(x->content_range, sizeof(x->content_range), "%.127s", line + 14);
		for (char *c = x->content_range; *c; c++)	/* it may end up in the log */
			if (*c < 0x20 || *c == 0x7f)
				*c = '?';
	} else if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
		if (!download_disposition_name(line + 20, x->disposition))
			x->disposition[0] = '\0';
	} else if (strncasecmp(line, "ETag:", 5) == 0) {
		const char *v = line + 5;
		while (*v == ' ')
			v++;
		snprintf(x->etag, sizeof(x->etag), "%.255s", v);
	} else if (strncasecmp(line, "Last-Modified:", 14) == 0) {
		const char *v = line + 14;
		while (*v == ' ')
			v++;
		snprintf(x->last_modified, sizeof(x->last_modified), "%.63s", v);
	}
	return len;
}

static bool _fail(struct download_xfer *x, const struct err *e)
{
	x->err = *e;
	x->failed = true;
	return false;
}

static enum storage_compression _compression(const char *name)
{
	for (int c = STORAGE_XZ; c <= STORAGE_BZIP2; c++)
		if (strcmp(name, storage_compression_name((enum storage_compression)c)) == 0)
			return (enum storage_compression)c;
	return STORAGE_RAW;
}

/* Once per job: whether it is decompressed, and the name it is stored
 * under. The name's suffix decides (pi.img.xz is stored as pi.img), or,
 * for a name given without one, the URL's (name "pi.img" for .../pi.img.xz). */
static void _decide_format(struct download_xfer *x, char name[NAMES_MAX + 1], bool given)
{
	struct download_entry *j = x->j;
	enum storage_compression c = STORAGE_RAW;
	char url_name[NAMES_MAX + 1];
	size_t stem;

	if (!j->pub.keep_compressed) {
		c = storage_compression_of(name, &stem);
		if (c)
			name[stem] = '\0';
		else if (given && download_url_name(j->full_url, url_name))
			c = storage_compression_of(url_name, &stem);
	}
	pthread_mutex_lock(&x->d->lock);
	snprintf(j->pub.name, sizeof(j->pub.name), "%s", name);
	snprintf(j->pub.compression, sizeof(j->pub.compression), "%s",
		 c ? storage_compression_name(c) : "");
	j->format_known = true;
	pthread_mutex_unlock(&x->d->lock);
	if (c)
		log_info(DOWNLOAD_MOD, "job %u: %s data, stored decompressed as %s", j->pub.id,
			 storage_compression_name(c), name);
}

/* A resume answered 416: the data kept reaches the end of the file (the
 * last run received all of it and lost power or was killed before storing
 * it), or the file on the server is shorter now. Either way the data kept
 * cannot be continued; the job starts over rather than fail. */
static bool _unsatisfiable(struct download_xfer *x)
{
	struct download_entry *j = x->j;
	struct err e = { 0 };

	log_warn(DOWNLOAD_MOD, "job %u: the server has nothing after the %lld bytes kept (HTTP 416); "
		 "starting over", j->pub.id, (long long)x->offset);
	download_forget_data(x->d, j->pub.id);
	pthread_mutex_lock(&x->d->lock);
	j->etag[0] = j->last_modified[0] = '\0';
	j->pub.done = 0;
	pthread_mutex_unlock(&x->d->lock);
	download_save(x->d, j);
	x->start_over = true;
	err_set(&e, ERR_IO, "http_error", "the server has nothing after the %lld bytes kept "
		"(HTTP 416); starting over", (long long)x->offset);
	return _fail(x, &e);
}

/* At the first byte of the final response: decide the name, open the
 * writer (resuming, or starting over if the server ignored our Range). */
static bool _start(struct download_xfer *x)
{
	struct downloads *d = x->d;
	struct download_entry *j = x->j;
	long status = 0;
	struct err e = { 0 };
	char name[NAMES_MAX + 1], partial[32];

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 416 && x->offset > 0)
		return _unsatisfiable(x);
	if (status != 200 && status != 206) {
		err_set(&e, ERR_IO, "http_error", "the server answered HTTP %ld", status);
		return _fail(x, &e);
	}
	/* The range of a 206 places the data and sizes the image: only one
	 * that agrees with itself and with Content-Length is believed. */
	if (status == 206 && !download_content_range(x->content_range, x->length, &x->range_sent)) {
		err_set(&e, ERR_IO, "http_error",
			"the server sent a partial response (206) with an invalid Content-Range "
			"'%s' (expected bytes START-END/TOTAL, within 64 bits and as long as "
			"the body)", x->content_range[0] ? x->content_range +
			strspn(x->content_range, " ") : "(none)");
		return _fail(x, &e);
	}
	if (status == 206 && x->range_sent.total >= 0 &&
	    x->range_sent.end + 1 != x->range_sent.total) {
		err_set(&e, ERR_IO, "http_error",
			"the server sent bytes %lld-%lld of %lld, not the rest of the file",
			(long long)x->range_sent.start, (long long)x->range_sent.end,
			(long long)x->range_sent.total);
		return _fail(x, &e);
	}
	pthread_mutex_lock(&d->lock);
	snprintf(name, sizeof(name), "%s", j->pub.name);
	bool given = name[0] != '\0';
	pthread_mutex_unlock(&d->lock);
	if (!name[0]) {
		char *eff = NULL;
		curl_easy_getinfo(x->curl, CURLINFO_EFFECTIVE_URL, &eff);
		if (!(x->disposition[0] && snprintf(name, sizeof(name), "%s", x->disposition)) &&
		    !download_url_name(eff ? eff : j->full_url, name) &&
		    !download_url_name(j->full_url, name)) {
			err_set(&e, ERR_INVALID, "bad_name",
				"no file name in the URL or the server's reply; give one with \"name\"");
			return _fail(x, &e);
		}
		pthread_mutex_lock(&d->lock);
		snprintf(j->pub.name, sizeof(j->pub.name), "%s", name);
		pthread_mutex_unlock(&d->lock);
	}
	if (!j->format_known)
		_decide_format(x, name, given);
	enum storage_compression comp = _compression(j->pub.compression);
	/* A 206 continues the data kept only if it is of the same file: a
	 * server may ignore If-Range and answer any Range from a file that has
	 * changed since. Its validators must be the first response's. */
	if (status == 206 && x->offset > 0 &&
	    ((j->etag[0] && strcmp(j->etag, x->etag) != 0) ||
	     (j->last_modified[0] && strcmp(j->last_modified, x->last_modified) != 0) ||
	     (!j->etag[0] && !j->last_modified[0]))) {
		log_warn(DOWNLOAD_MOD, "job %u: the server resumed from another version of the file "
			 "(ETag %s, Last-Modified %s; the data kept came with %s, %s): starting "
			 "over", j->pub.id, x->etag[0] ? x->etag : "none",
			 x->last_modified[0] ? x->last_modified : "none",
			 j->etag[0] ? j->etag : "none",
			 j->last_modified[0] ? j->last_modified : "none");
		download_forget_data(d, j->pub.id);
		j->etag[0] = j->last_modified[0] = '\0';
		download_save(d, j);
		x->start_over = true;
		err_set(&e, ERR_IO, "http_error", "the file changed on the server; starting over");
		return _fail(x, &e);
	}
	if (status == 200 || x->offset == 0) {	/* the validators of what we keep */
		snprintf(j->etag, sizeof(j->etag), "%s", x->etag);
		snprintf(j->last_modified, sizeof(j->last_modified), "%s", x->last_modified);
	}
	download_save(d, j);

	snprintf(partial, sizeof(partial), "dl-%u", j->pub.id);
	/* Checked above: end < INT64_MAX, and the range goes to the end. */
	int64_t total = status == 206 ? x->range_sent.end + 1 : x->length;
	/* A decoder cannot resume: a decompressing download starts over. */
	struct storage_upload_options o = {
		.name = name, .expected_size = total, .sha256 = j->pub.sha256[0] ? j->pub.sha256 : NULL,
		.source = j->pub.url, .partial = comp ? NULL : partial, .compression = comp,
	};
	if (storage_upload_begin(d->storage, &o, &x->u, &e) < 0)
		return _fail(x, &e);
	int64_t have = storage_upload_written(x->u);
	if (status == 200 && have > 0) {
		log_info(DOWNLOAD_MOD, "job %u: the server sent the whole file; starting over", j->pub.id);
		if (storage_upload_restart(x->u, &e) < 0)
			return _fail(x, &e);
	} else if (status == 206 && x->range_sent.start != have) {
		err_set(&e, ERR_IO, "http_error", "the server resumed at byte %lld, not %lld",
			(long long)x->range_sent.start, (long long)have);
		storage_upload_restart(x->u, &e);
		return _fail(x, &e);
	}
	pthread_mutex_lock(&d->lock);
	j->pub.total = total;
	j->pub.done = storage_upload_written(x->u);
	pthread_mutex_unlock(&d->lock);
	return true;
}

static size_t _on_data(char *data, size_t size, size_t n, void *arg)
{
	struct download_xfer *x = arg;
	size_t len = size * n;
	struct err e = { 0 };

	if (!x->u && !_start(x))
		return 0;
	if (storage_upload_write(x->u, data, len, &e) < 0) {
		_fail(x, &e);
		return 0;
	}
	return len;
}

static int _on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	struct download_xfer *x = arg;
	struct downloads *d = x->d;
	struct download_entry *j = x->j;
	double now = clock_now_ms();
	bool stop;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	pthread_mutex_lock(&d->lock);
	stop = j->cancel || d->stopping;
	bool publish = x->u && now - x->last_ms >= 1000;
	if (publish) {
		double bytes = (double)storage_upload_written(x->u);
		j->pub.done = (int64_t)bytes;
		j->pub.speed = x->last_ms > 0 ? (bytes - x->last_bytes) * 1000 / (now - x->last_ms) : 0;
		x->last_ms = now;
		x->last_bytes = bytes;
	}
	pthread_mutex_unlock(&d->lock);
	if (publish)
		download_notify(d, j);
	return stop ? 1 : 0;
}

/* Every connection libcurl opens, for the URL and each redirect, after DNS:
 * the box's own loopback services and link-local ones (cloud metadata,
 * other devices' configuration pages) are no business of a download. A
 * refused address makes libcurl try the next one of the name, if any. */
static curl_socket_t _on_open_socket(void *arg, curlsocktype purpose,
				     struct curl_sockaddr *a)
{
	struct download_xfer *x = arg;
	curl_socket_t fd;

	(void)purpose;
	fd = download_open_socket(x->d->opts.allow_local, a, x->refused, sizeof(x->refused));
	if (fd == CURL_SOCKET_BAD && x->refused[0])
		log_warn(DOWNLOAD_MOD, "job %u: not connecting: %s", x->j->pub.id, x->refused);
	return fd;
}

static bool _transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return true;
	default:
		return false;
	}
}

static void _describe(struct download_xfer *x, CURLcode rc, const char *curl_err)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		err_set(&x->err, ERR_INVALID, "bad_url",
			"refused: only http and https are allowed, also after a redirect (%s)",
			curl_err);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		err_set(&x->err, ERR_IO, "too_many_redirects",
			"more than %u redirects; giving up", x->d->opts.max_redirects);
		break;
	case CURLE_FILESIZE_EXCEEDED:
		err_set(&x->err, ERR_TOO_LARGE, "too_large",
			"the file is larger than the %lld bytes this server accepts",
			(long long)x->d->opts.max_size);
		break;
	default:
		err_set(&x->err, ERR_IO, "download_failed", "%s", curl_err[0] ? curl_err :
			curl_easy_strerror(rc));
	}
}

static void _configure(struct download_xfer *x, char *errbuf, struct curl_slist **headers)
{
	struct downloads *d = x->d;
	struct download_entry *j = x->j;
	CURL *c = x->curl;

	curl_easy_setopt(c, CURLOPT_URL, j->full_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)d->opts.max_redirects);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)d->opts.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)d->opts.low_speed_time_s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, j->pub.insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, j->pub.insecure ? 0L : 2L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->opts.max_size);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vmediad/" VMEDIA_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, _on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, _on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, _on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, _on_open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
	if (x->offset > 0) {
		/* CURLOPT_RANGE, not RESUME_FROM: the latter makes a 200 reply
		 * an error, and a server without ranges should just send it all. */
		snprintf(x->range, sizeof(x->range), "%lld-", (long long)x->offset);
		curl_easy_setopt(c, CURLOPT_RANGE, x->range);
		/* Only the same file may continue: otherwise the server sends
		 * the whole new one (200), and we start over. */
		const char *v = j->etag[0] && j->etag[0] != 'W' ? j->etag :
				j->last_modified[0] ? j->last_modified : NULL;
		if (v) {
			char h[300];
			snprintf(h, sizeof(h), "If-Range: %s", v);
			*headers = curl_slist_append(*headers, h);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
		}
	}
}

enum download_outcome download_attempt(struct downloads *d, struct download_entry *j)
{
	struct download_xfer x = { .d = d, .j = j, .length = -1 };
	char errbuf[CURL_ERROR_SIZE] = "", part[32];
	struct curl_slist *headers = NULL;
	struct stat st;
	enum download_outcome out;
	int64_t written = 0;

	snprintf(part, sizeof(part), "dl-%u.part", j->pub.id);
	if (fstatat(d->partial_fd, part, &st, 0) == 0)
		x.offset = st.st_size;
	x.curl = curl_easy_init();
	if (!x.curl)
		abort();
	_configure(&x, errbuf, &headers);
	log_info(DOWNLOAD_MOD, "job %u: GET %s%s", j->pub.id, j->pub.url,
		 x.offset ? " (resuming)" : "");
	CURLcode rc = curl_easy_perform(x.curl);
	long status = 0;
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &status);

	pthread_mutex_lock(&d->lock);
	bool cancel = j->cancel, stopping = d->stopping;
	pthread_mutex_unlock(&d->lock);

	if (rc == CURLE_OK && !x.u && !x.failed) {
		/* No body at all: an error status, or an empty file. */
		if (status == 200 || status == 206 || (status == 416 && x.offset > 0))
			_start(&x);
		else
			err_set(&x.err, ERR_IO, "http_error", "the server answered HTTP %ld", status);
		x.failed = x.failed || !x.u;
	}
	if (cancel) {
		out = DOWNLOAD_OUT_CANCELLED;
	} else if (stopping && rc == CURLE_ABORTED_BY_CALLBACK) {
		out = DOWNLOAD_OUT_STOPPED;
	} else if (rc == CURLE_OK && !x.failed) {
		written = storage_upload_written(x.u);
		out = storage_upload_commit(x.u, NULL, &x.err) == 0 ? DOWNLOAD_OUT_DONE : DOWNLOAD_OUT_FAILED;
		x.u = NULL;
	} else {
		if (!x.failed && rc == CURLE_COULDNT_CONNECT && x.refused[0]) {
			/* Not a network error to retry: the answer stays the same. */
			err_set(&x.err, ERR_INVALID, "local_address",
				"refused: %s of this box; downloads reach other machines only, "
				"unless vmediad runs with --allow-local-downloads", x.refused);
			x.failed = true;
		}
		if (!x.failed)
			_describe(&x, rc, errbuf);
		out = x.start_over || (!x.failed && _transient(rc)) ? DOWNLOAD_OUT_RETRY : DOWNLOAD_OUT_FAILED;
		if (x.failed && !x.u && strcmp(x.err.code, "too_many_uploads") == 0)
			out = DOWNLOAD_OUT_WAIT;
	}
	if (x.u) {
		if ((out == DOWNLOAD_OUT_RETRY || out == DOWNLOAD_OUT_STOPPED) && !j->pub.compression[0])
			storage_upload_suspend(x.u);
		else
			storage_upload_abort(x.u);
	}
	if (out == DOWNLOAD_OUT_CANCELLED || out == DOWNLOAD_OUT_FAILED)
		download_forget_data(d, j->pub.id);

	pthread_mutex_lock(&d->lock);
	if (out == DOWNLOAD_OUT_FAILED || out == DOWNLOAD_OUT_RETRY || out == DOWNLOAD_OUT_WAIT)
		snprintf(j->pub.error, sizeof(j->pub.error), "%s", x.err.message);
	if (out == DOWNLOAD_OUT_DONE) {
		j->pub.error[0] = '\0';
		j->pub.done = written;
		j->pub.total = written;
	}
	pthread_mutex_unlock(&d->lock);
	if (out == DOWNLOAD_OUT_WAIT)
		log_info(DOWNLOAD_MOD, "job %u: %s; waiting for a free upload slot", j->pub.id,
			 x.err.message);
	else if (out != DOWNLOAD_OUT_DONE && out != DOWNLOAD_OUT_STOPPED && out != DOWNLOAD_OUT_CANCELLED)
		log_warn(DOWNLOAD_MOD, "job %u: %s%s", j->pub.id, x.err.message,
			 out == DOWNLOAD_OUT_RETRY ? " (will resume)" : "");
	curl_slist_free_all(headers);
	curl_easy_cleanup(x.curl);
	return out;
}
