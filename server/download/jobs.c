/* jobs: the download queue, its worker threads, and the job files that
 * let a restart resume (see download.h). */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../metrics/metrics.h"
#include "../storage/storage.h"
#include "internal.h"

#define DOWNLOAD_MOD "DOWNLOAD"
/* Longest pause between two tries of a job waiting for an upload slot. */
#define DOWNLOAD_SLOT_WAIT_MAX_MS 5000u

static const char *_state_name(enum download_state s)
{
	static const char *const names[] = { "queued", "running", "done", "failed", "cancelled",
					     "removed" };
	return names[s];
}

json_t *download_job_json(const struct download_job *j)
{
	return json_pack("{s:i, s:s, s:o, s:s, s:I, s:o, s:f, s:o, s:o, s:b, s:i, s:b, s:o}",
			 "id", (int)j->id, "url", j->url,
			 "name", j->name[0] ? json_string(j->name) : json_null(),
			 "state", _state_name(j->state), "bytes_done", (json_int_t)j->done,
			 "total", j->total >= 0 ? json_integer(j->total) : json_null(),
			 "speed", j->speed,
			 "error", j->error[0] ? json_string(j->error) : json_null(),
			 "sha256", j->sha256[0] ? json_string(j->sha256) : json_null(),
			 "insecure", j->insecure, "attempts", j->attempts,
			 "decompress", !j->keep_compressed,
			 "compression", j->compression[0] ? json_string(j->compression) : json_null());
}

void download_notify(struct downloads *d, struct download_entry *j)
{
	struct download_job snap;

	pthread_mutex_lock(&d->lock);
	snap = j->pub;
	pthread_mutex_unlock(&d->lock);
	if (d->listener)
		d->listener(d->ctx, &snap);
}

/* The job file holds the URL with its credentials (the transfer needs
 * them after a restart), so it is readable by vmediad only. A finished
 * job keeps its file, with its final state, until it is removed: a restart
 * lists it as it ended. The rename is made durable with an fsync of
 * .partial: without it a power cut in the next seconds (ext4 commits its
 * journal every 5 s) loses a job whose 202 the client already has. The
 * file says `state`, which need not be the state listed yet: a job's end
 * is written before it is shown. Returns false, with errno set, if the
 * state may not survive a crash. */
bool download_save_as(struct downloads *d, struct download_entry *j, enum download_state state)
{
	char tmp[40], final[40];

	pthread_mutex_lock(&d->lock);
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:i}",
			      "id", (int)j->pub.id, "url", j->full_url, "name", j->pub.name,
			      "sha256", j->pub.sha256, "insecure", j->pub.insecure,
			      "etag", j->etag, "last_modified", j->last_modified,
			      "state", _state_name(state),
			      "bytes_done", (json_int_t)j->pub.done,
			      "total", (json_int_t)j->pub.total, "error", j->pub.error,
			      "attempts", j->pub.attempts);
	json_object_set_new(o, "keep_compressed", json_boolean(j->pub.keep_compressed));
	if (j->format_known)
		json_object_set_new(o, "compression", json_string(j->pub.compression));
	pthread_mutex_unlock(&d->lock);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	snprintf(tmp, sizeof(tmp), "dl-%u.json.new", j->pub.id);
	snprintf(final, sizeof(final), "dl-%u.json", j->pub.id);
	int fd = openat(d->partial_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (ok && renameat(d->partial_fd, tmp, d->partial_fd, final) < 0) {
		ok = false;
		e = errno;
	} else if (ok && fsync(d->partial_fd) < 0) {
		log_warn(DOWNLOAD_MOD, "job %u: cannot sync .partial after saving its state (%s); it may "
			 "not resume after a power cut", j->pub.id, strerror(errno));
		free(text);
		return false;
	}
	if (!ok) {	/* a full disk must not leave the half-written file behind */
		unlinkat(d->partial_fd, tmp, 0);
		log_warn(DOWNLOAD_MOD, "job %u: cannot save its state (%s); it will not resume after a "
			 "restart", j->pub.id, strerror(e));
	}
	free(text);
	errno = e;
	return ok;
}

bool download_save(struct downloads *d, struct download_entry *j)
{
	pthread_mutex_lock(&d->lock);
	enum download_state state = j->pub.state;
	pthread_mutex_unlock(&d->lock);
	return download_save_as(d, j, state);
}

void download_forget_data(struct downloads *d, unsigned id)
{
	char name[40];

	snprintf(name, sizeof(name), "dl-%u.part", id);
	unlinkat(d->partial_fd, name, 0);
}

void download_forget_files(struct downloads *d, unsigned id)
{
	char name[40];

	snprintf(name, sizeof(name), "dl-%u.json", id);
	unlinkat(d->partial_fd, name, 0);
	download_forget_data(d, id);
}

/* A new job, not yet in the table: the caller gives it its id. */
static struct download_entry *_alloc_job(const char *url, const char *name,
					 const char *sha256, bool insecure)
{
	struct download_entry *j = calloc(1, sizeof(*j));

	if (!j)
		abort();
	snprintf(j->full_url, sizeof(j->full_url), "%s", url);
	download_redact_url(url, j->pub.url, sizeof(j->pub.url));
	snprintf(j->pub.name, sizeof(j->pub.name), "%s", name ? name : "");
	snprintf(j->pub.sha256, sizeof(j->pub.sha256), "%s", sha256 ? sha256 : "");
	j->pub.insecure = insecure;
	j->pub.total = -1;
	j->pub.state = DOWNLOAD_QUEUED;
	return j;
}

static void _link_job(struct downloads *d, struct download_entry *j)
{
	struct download_entry **p = &d->jobs;	/* by id: the queue is FIFO, ids grow */

	while (*p && (*p)->pub.id < j->pub.id)
		p = &(*p)->next;
	j->next = *p;
	*p = j;
}

static enum download_state _state_of(const char *name)
{
	for (int st = DOWNLOAD_QUEUED; st <= DOWNLOAD_CANCELLED; st++)
		if (strcmp(name, _state_name((enum download_state)st)) == 0)
			return (enum download_state)st;
	return DOWNLOAD_QUEUED;
}

/* Frees a job that has left the table and has no users, and says so. */
static void _forget(struct downloads *d, struct download_entry *j)
{
	struct download_job gone = j->pub;

	gone.state = DOWNLOAD_REMOVED;
	free(j);
	download_forget_files(d, gone.id);
	if (d->listener)
		d->listener(d->ctx, &gone);
}

/* Ends a use of the job begun under the lock (users++). */
static void _release(struct downloads *d, struct download_entry *j)
{
	pthread_mutex_lock(&d->lock);
	bool last = --j->users == 0 && j->forgotten;
	pthread_mutex_unlock(&d->lock);
	if (last)
		_forget(d, j);
}

/* True for "dl-<id><suffix>" exactly. */
static bool _job_file(const char *name, const char *suffix, unsigned *id)
{
	int end = 0;

	return sscanf(name, "dl-%u%n", id, &end) == 1 && end > 3 && strcmp(name + end, suffix) == 0;
}

/* True if the last run stored the job's image and lost power (or was
 * killed) before the job file said so: the data was renamed from .partial
 * into place, and the image of that name came from this job's URL. Fetched
 * again, it would fail with "image exists". */
static bool _stored_before(struct downloads *d, struct download_entry *j, bool has_data)
{
	struct storage_image img;

	if (has_data || !j->pub.name[0] ||
	    storage_get(d->storage, j->pub.name, &img, NULL) < 0 || !img.complete ||
	    strcmp(img.source, j->pub.url) != 0 || (j->pub.total >= 0 && img.size != j->pub.total) ||
	    (j->pub.sha256[0] && strcasecmp(img.sha256, j->pub.sha256) != 0))
		return false;
	j->pub.done = j->pub.total = img.size;
	return true;
}

/* The jobs of the previous run, from their job files: finished ones as
 * they ended, the others queued to resume from the data they have. */
static void _load(struct downloads *d)
{
	DIR *dir = fdopendir(dup(d->partial_fd));
	struct dirent *de;
	unsigned id;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (!_job_file(de->d_name, ".json", &id))
			continue;
		int fd = openat(d->partial_fd, de->d_name, O_RDONLY | O_CLOEXEC);
		json_error_t jerr;
		json_t *o = fd >= 0 ? json_loadfd(fd, 0, &jerr) : NULL;
		const char *url, *name, *sha, *etag, *lm = "", *state = "queued", *error = "";
		const char *comp = NULL;
		json_int_t done = 0, total = -1;
		int insecure, attempts = 0, keep = 0;
		if (fd >= 0)
			close(fd);
		if (!o || json_unpack(o, "{s:s, s:s, s:s, s:b, s:s, s?s, s?s, s?I, s?I, s?s, s?i, "
				      "s?b, s?s}",
				      "url", &url, "name", &name, "sha256", &sha,
				      "insecure", &insecure, "etag", &etag, "last_modified", &lm,
				      "state", &state,
				      "bytes_done", &done, "total", &total, "error", &error,
				      "attempts", &attempts, "keep_compressed", &keep,
				      "compression", &comp) < 0) {
			log_warn(DOWNLOAD_MOD, "%s is unreadable; removing it", de->d_name);
			download_forget_files(d, id);
			json_decref(o);
			continue;
		}
		struct download_entry *j = _alloc_job(url, name[0] ? name : NULL,
						      sha[0] ? sha : NULL, insecure);
		j->pub.id = id;
		j->pub.state = _state_of(state);
		j->pub.total = total;
		j->pub.attempts = attempts;
		j->pub.keep_compressed = keep;
		if (comp) {
			j->format_known = true;
			snprintf(j->pub.compression, sizeof(j->pub.compression), "%s", comp);
		}
		snprintf(j->pub.error, sizeof(j->pub.error), "%s", error);
		snprintf(j->etag, sizeof(j->etag), "%s", etag);
		snprintf(j->last_modified, sizeof(j->last_modified), "%s", lm);
		if (j->pub.state == DOWNLOAD_RUNNING)
			j->pub.state = DOWNLOAD_QUEUED;
		if (j->pub.state == DOWNLOAD_QUEUED) {
			/* What it has is what it resumes from. */
			char part[40];
			struct stat st;
			snprintf(part, sizeof(part), "dl-%u.part", id);
			bool has_data = fstatat(d->partial_fd, part, &st, 0) == 0;
			j->pub.done = has_data ? st.st_size : 0;
			if (_stored_before(d, j, has_data)) {
				j->pub.state = DOWNLOAD_DONE;
				download_save(d, j);
				log_info(DOWNLOAD_MOD, "job %u: %s was stored by the last run, which ended "
					 "before it could say so; done", id, j->pub.name);
			} else {
				log_info(DOWNLOAD_MOD, "job %u: %s left unfinished by the last run; resuming "
					 "at %lld bytes", id, j->pub.url, (long long)j->pub.done);
			}
		} else {
			j->pub.done = done;
		}
		_link_job(d, j);
		d->next_id = d->next_id > id + 1 ? d->next_id : id + 1;
		json_decref(o);
	}
	closedir(dir);
	/* Data without a job file cannot be resumed; a job file whose write was
	 * cut short (dl-N.json.new) was never in force. */
	dir = fdopendir(dup(d->partial_fd));
	if (dir)	/* the dup shares the offset the first pass left at the end */
		rewinddir(dir);
	while (dir && (de = readdir(dir))) {
		if (_job_file(de->d_name, ".json.new", &id)) {
			unlinkat(d->partial_fd, de->d_name, 0);
			log_info(DOWNLOAD_MOD, "removed .partial/%s, left by a state write that did not "
				 "finish", de->d_name);
			continue;
		}
		if (!_job_file(de->d_name, ".part", &id))
			continue;
		bool known = false;
		for (struct download_entry *j = d->jobs; j; j = j->next)
			known |= j->pub.id == id && j->pub.state == DOWNLOAD_QUEUED;
		if (!known)
			unlinkat(d->partial_fd, de->d_name, 0);
	}
	if (dir)
		closedir(dir);
}

/* The end is on disk before anyone sees it: a client that saw "done" and
 * then deletes the image must not have the job fetch it again after a
 * power cut. If the disk cannot keep the state (logged), the end is shown
 * anyway: the image itself was stored and synced before, and start-up
 * takes a job left running whose image is there as done. */
static void _finish(struct downloads *d, struct download_entry *j, enum download_state st)
{
	/* Counted before the state shows: whoever sees the job end sees it counted. */
	if (st == DOWNLOAD_DONE || st == DOWNLOAD_FAILED)
		metrics_transfer(METRICS_DOWNLOAD, st == DOWNLOAD_DONE, j->pub.done,
				 (clock_now_ms() - j->started_ms) / 1000);
	download_forget_data(d, j->pub.id);
	download_save_as(d, j, st);
	pthread_mutex_lock(&d->lock);
	j->pub.state = st;
	j->pub.speed = 0;
	pthread_mutex_unlock(&d->lock);
	log_info(DOWNLOAD_MOD, "job %u: %s%s%s", j->pub.id, _state_name(st), j->pub.error[0] ? ": " : "",
		 j->pub.error);
	download_notify(d, j);
}

/* Sleeps ms unless the job is cancelled or the module stops. */
static bool _backoff(struct downloads *d, struct download_entry *j, unsigned ms)
{
	struct timespec dl;

	clock_deadline(&dl, ms);
	pthread_mutex_lock(&d->lock);
	while (!d->stopping && !j->cancel)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &dl) == ETIMEDOUT)
			break;
	bool go_on = !d->stopping && !j->cancel;
	pthread_mutex_unlock(&d->lock);
	return go_on;
}

static void _run(struct downloads *d, struct download_entry *j)
{
	unsigned delay = d->opts.retry_delay_ms, wait = d->opts.retry_delay_ms;

	j->started_ms = clock_now_ms();

	for (;;) {
		pthread_mutex_lock(&d->lock);
		j->pub.attempts++;
		pthread_mutex_unlock(&d->lock);
		enum download_outcome out = download_attempt(d, j);
		if (out == DOWNLOAD_OUT_WAIT) {
			/* Not an attempt: nothing was stored. The uploads that hold
			 * the slots may run for minutes, so there is no limit, and
			 * the wait grows only to DOWNLOAD_SLOT_WAIT_MAX_MS. */
			pthread_mutex_lock(&d->lock);
			j->pub.attempts--;
			pthread_mutex_unlock(&d->lock);
			download_notify(d, j);
			if (!_backoff(d, j, wait)) {
				if (j->cancel)
					_finish(d, j, DOWNLOAD_CANCELLED);
				return;
			}
			wait = wait * 2 > DOWNLOAD_SLOT_WAIT_MAX_MS ? DOWNLOAD_SLOT_WAIT_MAX_MS : wait * 2;
			continue;
		}
		switch (out) {
		case DOWNLOAD_OUT_WAIT:	/* above */
		case DOWNLOAD_OUT_DONE:
			_finish(d, j, DOWNLOAD_DONE);
			return;
		case DOWNLOAD_OUT_FAILED:
			_finish(d, j, DOWNLOAD_FAILED);
			return;
		case DOWNLOAD_OUT_CANCELLED:
			_finish(d, j, DOWNLOAD_CANCELLED);
			return;
		case DOWNLOAD_OUT_STOPPED:
			return;	/* stays queued on disk: the next start resumes it */
		case DOWNLOAD_OUT_RETRY:
			break;
		}
		if ((unsigned)j->pub.attempts > d->opts.retries) {
			_finish(d, j, DOWNLOAD_FAILED);
			return;
		}
		download_notify(d, j);
		if (!_backoff(d, j, delay)) {
			if (j->cancel)
				_finish(d, j, DOWNLOAD_CANCELLED);
			return;
		}
		delay *= 2;
	}
}

static void *_worker(void *arg)
{
	struct downloads *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		struct download_entry *j = d->jobs;
		while (j && j->pub.state != DOWNLOAD_QUEUED)
			j = j->next;
		if (!j) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		j->pub.state = DOWNLOAD_RUNNING;
		j->users++;
		pthread_mutex_unlock(&d->lock);
		download_notify(d, j);
		_run(d, j);
		_release(d, j);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int downloads_create(const struct download_options *opts, struct storage *storage,
		     download_listener_fn fn, void *ctx, struct downloads **out, struct err *err)
{
	struct downloads *d = calloc(1, sizeof(*d));

	if (!d)
		abort();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		free(d);
		return err_set(err, ERR_IO, "curl", "libcurl could not initialise");
	}
	d->opts = *opts;
	d->storage = storage;
	d->listener = fn;
	d->ctx = ctx;
	d->partial_fd = storage_partial_dir_fd(storage);
	d->next_id = 1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	_load(d);
	d->threads = calloc(opts->workers, sizeof(*d->threads));
	if (!d->threads)
		abort();
	for (unsigned i = 0; i < opts->workers; i++)
	{
		if (pthread_create(&d->threads[i], NULL, _worker, d) != 0)
			abort();
		pthread_setname_np(d->threads[i], "vmedia-dl");
	}
	*out = d;
	return 0;
}

void downloads_destroy(struct downloads *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->opts.workers; i++)
		pthread_join(d->threads[i], NULL);
	while (d->jobs) {
		struct download_entry *j = d->jobs;
		d->jobs = j->next;
		free(j);
	}
	free(d->threads);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	curl_global_cleanup();
	free(d);
}

static bool _url_ok(const char *url, struct err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;

	if (!ok)
		err_set(err, ERR_INVALID, "bad_url", "not a valid URL");
	else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		ok = err_set(err, ERR_INVALID, "bad_url",
			     "only http and https URLs can be downloaded, not %s", scheme) == 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

int downloads_add(struct downloads *d, const struct download_request *req,
		  struct download_job *out, struct err *err)
{
	char why[160];
	struct storage_image img;

	if (!_url_ok(req->url, err))
		return -1;
	if (strlen(req->url) >= sizeof(((struct download_entry *)0)->full_url))
		return err_set(err, ERR_INVALID, "bad_url", "the URL is too long");
	if (req->name && !names_valid(req->name, strlen(req->name), why, sizeof(why)))
		return err_set(err, ERR_INVALID, "bad_name", "%s", why);
	if (req->sha256 && !storage_sha256_valid(req->sha256))
		return err_set(err, ERR_INVALID, "bad_checksum",
			       "the expected SHA-256 must be 64 hex digits");
	if (req->name && storage_get(d->storage, req->name, &img, NULL) == 0)
		return err_set(err, ERR_CONFLICT, "image_exists",
			       "image %s exists; delete it first or choose another name", req->name);
	/* The job file is written before the job is in the table: nobody can
	 * start, cancel or forget it half-saved. */
	struct download_entry *j = _alloc_job(req->url, req->name, req->sha256, req->insecure);
	j->pub.keep_compressed = req->keep_compressed;
	pthread_mutex_lock(&d->lock);
	j->pub.id = d->next_id++;
	pthread_mutex_unlock(&d->lock);
	/* Accepted (202) means it survives a power cut: a job the disk cannot
	 * keep is refused. */
	if (!download_save(d, j)) {
		int e = errno;
		unsigned id = j->pub.id;
		download_forget_files(d, id);
		free(j);
		return err_set(err, e == ENOSPC || e == EDQUOT ? ERR_NO_SPACE : ERR_IO,
			       e == ENOSPC || e == EDQUOT ? "insufficient_storage" : "io_error",
			       "cannot store download job %u in %s/.partial: %s",
			       id, storage_dir(d->storage), strerror(e));
	}

	pthread_mutex_lock(&d->lock);
	for (struct download_entry *o = d->jobs; req->name && o; o = o->next)
		if ((o->pub.state == DOWNLOAD_QUEUED || o->pub.state == DOWNLOAD_RUNNING) &&
		    strcmp(o->pub.name, req->name) == 0) {
			unsigned other = o->pub.id;
			pthread_mutex_unlock(&d->lock);
			download_forget_files(d, j->pub.id);
			free(j);
			return err_set(err, ERR_CONFLICT, "upload_in_progress",
				       "download %u already fetches %s", other, req->name);
		}
	_link_job(d, j);
	j->users++;
	*out = j->pub;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	log_info(DOWNLOAD_MOD, "job %u: queued %s", out->id, out->url);
	download_notify(d, j);
	_release(d, j);
	return 0;
}

static struct download_entry *_find(struct downloads *d, unsigned id)
{
	for (struct download_entry *j = d->jobs; j; j = j->next)
		if (j->pub.id == id)
			return j;
	return NULL;
}

int downloads_get(struct downloads *d, unsigned id, struct download_job *out, struct err *err)
{
	pthread_mutex_lock(&d->lock);
	struct download_entry *j = _find(d, id);
	if (j)
		*out = j->pub;
	pthread_mutex_unlock(&d->lock);
	return j ? 0 : err_set(err, ERR_NOT_FOUND, "not_found", "no download %u", id);
}

int downloads_list(struct downloads *d, struct download_job **out, size_t *count)
{
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (struct download_entry *j = d->jobs; j; j = j->next)
		n++;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		abort();
	n = 0;
	for (struct download_entry *j = d->jobs; j; j = j->next)
		(*out)[n++] = j->pub;
	pthread_mutex_unlock(&d->lock);
	*count = n;
	return 0;
}

int downloads_cancel(struct downloads *d, unsigned id, struct download_job *out,
		     struct err *err)
{
	pthread_mutex_lock(&d->lock);
	struct download_entry *j = _find(d, id);
	if (!j) {
		pthread_mutex_unlock(&d->lock);
		return err_set(err, ERR_NOT_FOUND, "not_found", "no download %u", id);
	}
	if (j->pub.state == DOWNLOAD_QUEUED) {
		j->pub.state = DOWNLOAD_CANCELLED;
		j->users++;
		*out = j->pub;
		pthread_mutex_unlock(&d->lock);
		download_forget_data(d, id);
		download_save(d, j);
		log_info(DOWNLOAD_MOD, "job %u: cancelled before it started", id);
		download_notify(d, j);
		_release(d, j);
		return 0;
	}
	if (j->pub.state == DOWNLOAD_RUNNING) {
		/* The worker sees it in its progress callback (or backoff) and
		 * removes the partial data itself. */
		j->cancel = true;
		pthread_cond_broadcast(&d->cond);
		*out = j->pub;
		out->state = DOWNLOAD_CANCELLED;
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	/* Finished: forget it, and say so (as state "removed"). Its worker
	 * may still be publishing its end (in _finish): then the worker frees
	 * it and says so when it lets go. */
	*out = j->pub;
	for (struct download_entry **p = &d->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	j->forgotten = true;
	bool now = j->users == 0;
	pthread_mutex_unlock(&d->lock);
	if (now)
		_forget(d, j);
	return 0;
}
