/* The download job table: who may free a job, and the order of its last
 * events, against a one-file HTTP origin on a loopback socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "download/download.h"
#include "storage/storage.h"
#include "fsync_gate.h"

static char dir[64];

/* --- the origin: every request gets the same five bytes ----------------- */

static int origin_fd = -1;
static int origin_port;
static pthread_t origin_thread;

static void *_serve(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				    "Connection: close\r\n\r\nhello";
	char buf[4096];

	(void)arg;
	for (;;) {
		int c = accept(origin_fd, NULL, NULL);
		if (c < 0)
			return NULL;	/* shut down */
		size_t have = 0;
		ssize_t n;
		while (have < sizeof(buf) - 1 && (n = read(c, buf + have, sizeof(buf) - 1 - have)) > 0) {
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (write(c, reply, sizeof(reply) - 1) < 0)
			(void)0;
		close(c);
	}
}

static void _origin_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	origin_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(origin_fd >= 0);
	assert_int_equal(bind(origin_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(origin_fd, 8), 0);
	assert_int_equal(getsockname(origin_fd, (struct sockaddr *)&a, &len), 0);
	origin_port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&origin_thread, NULL, _serve, NULL), 0);
}

static void _origin_stop(void)
{
	shutdown(origin_fd, SHUT_RDWR);
	pthread_join(origin_thread, NULL);
	close(origin_fd);
	origin_fd = -1;
}

/* --- the listener: what it saw, and a job's "done" that takes a while ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static enum download_state seen[64];
static int nseen;
static bool in_done;		/* the worker is inside its "done" callback */
static bool removed_during_done;
static bool cancel_returned;

static void _listener(void *ctx, const struct download_job *job)
{
	struct timespec dl;

	(void)ctx;
	pthread_mutex_lock(&lock);
	if (nseen < 64)
		seen[nseen++] = job->state;
	if (job->state == DOWNLOAD_REMOVED && in_done)
		removed_during_done = true;
	pthread_cond_broadcast(&cond);
	if (job->state == DOWNLOAD_DONE) {
		/* Stay inside until the test's DELETE has returned (or a while):
		 * the window in which a worker still uses a finished job. */
		in_done = true;
		clock_deadline(&dl, 2000);
		while (!cancel_returned)
			if (pthread_cond_timedwait(&cond, &lock, &dl) == ETIMEDOUT)
				break;
		in_done = false;
	}
	pthread_mutex_unlock(&lock);
}

static bool _wait_seen(enum download_state st, unsigned ms)
{
	struct timespec dl;
	bool found = false;

	clock_deadline(&dl, ms);
	pthread_mutex_lock(&lock);
	for (;;) {
		for (int i = 0; i < nseen && !found; i++)
			found = seen[i] == st;
		if (found || pthread_cond_timedwait(&cond, &lock, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

/* --- fixtures ------------------------------------------------------------ */

static struct storage *storage;
static struct downloads *downloads;

static int _setup(void **state)
{
	struct storage_options so = { .dir = dir, .max_image_size = 1 << 20, .max_uploads = 2 };
	struct download_options o = { .workers = 1, .max_size = 1 << 20, .connect_timeout_s = 5,
				      .low_speed_time_s = 10, .max_redirects = 3,
				      .retries = 0, .retry_delay_ms = 100,
				      .allow_local = true };	/* the server is on 127.0.0.1 */
	struct err e;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vmedia-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	nseen = 0;
	in_done = removed_during_done = cancel_returned = false;
	_origin_start();
	assert_int_equal(storage_open(&so, &storage, &e), 0);
	assert_int_equal(downloads_create(&o, storage, _listener, NULL, &downloads, &e), 0);
	return 0;
}

static int _teardown(void **state)
{
	char cmd[128];

	(void)state;
	downloads_destroy(downloads);
	storage_close(storage);
	_origin_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static unsigned _add(const char *name)
{
	char url[64];
	struct download_request req = { .url = url, .name = name };
	struct download_job job;
	struct err e;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", origin_port, name);
	assert_int_equal(downloads_add(downloads, &req, &job, &e), 0);
	return job.id;
}

/* --- tests --------------------------------------------------------------- */

/* DELETE of a job whose worker is still publishing "done" (ASan saw the
 * worker read the freed job): the job outlives its worker, and "removed"
 * comes after "done", never inside it. */
static void test_a_job_forgotten_while_its_worker_finishes_it_outlives_the_worker(void **state)
{
	struct download_job job;
	struct err e;

	(void)state;
	unsigned id = _add("a.img");
	assert_true(_wait_seen(DOWNLOAD_DONE, 10000));
	assert_int_equal(downloads_cancel(downloads, id, &job, &e), 0);
	assert_int_equal(job.state, DOWNLOAD_DONE);
	pthread_mutex_lock(&lock);
	cancel_returned = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	assert_true(_wait_seen(DOWNLOAD_REMOVED, 5000));
	pthread_mutex_lock(&lock);
	bool inside = removed_during_done;
	enum download_state last = seen[nseen - 1];
	pthread_mutex_unlock(&lock);
	assert_false(inside);
	assert_int_equal(last, DOWNLOAD_REMOVED);
	/* Forgotten: not listed, and a second DELETE finds nothing. */
	assert_int_equal(downloads_get(downloads, id, &job, &e), -1);
	assert_int_equal(downloads_cancel(downloads, id, &job, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
}

/* A finished job is forgotten, says so last, and is gone. */
static void test_forgetting_a_finished_job_says_removed_last(void **state)
{
	struct download_job job;
	struct err e;

	(void)state;
	pthread_mutex_lock(&lock);
	cancel_returned = true;		/* "done" need not wait */
	pthread_mutex_unlock(&lock);
	unsigned id = _add("b.img");
	assert_true(_wait_seen(DOWNLOAD_DONE, 10000));
	assert_int_equal(downloads_cancel(downloads, id, &job, &e), 0);
	assert_true(_wait_seen(DOWNLOAD_REMOVED, 5000));
	pthread_mutex_lock(&lock);
	enum download_state last = seen[nseen - 1];
	pthread_mutex_unlock(&lock);
	assert_int_equal(last, DOWNLOAD_REMOVED);
	assert_int_equal(downloads_get(downloads, id, &job, &e), -1);
}

/* --- the job file's end, and what was listed while it was synced -------- */

static bool done_synced;		/* an fsync of .partial with dl-1.json saying done */
static enum download_state listed_then;	/* the job's listed state at that fsync */

static void _on_partial_sync(int fd)
{
	char path[128], text[2048];

	(void)fd;
	snprintf(path, sizeof(path), "%s/.partial/dl-1.json", dir);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = f >= 0 ? read(f, text, sizeof(text) - 1) : -1;
	if (f >= 0)
		close(f);
	text[n > 0 ? n : 0] = '\0';
	if (done_synced || !strstr(text, "\"state\":\"done\""))
		return;
	struct download_job job;
	struct err e;
	done_synced = true;
	listed_then = downloads_get(downloads, 1, &job, &e) == 0 ? job.state : DOWNLOAD_REMOVED;
}

/* A job is listed done only once its job file says so durably: a client
 * that saw "done" and deletes the image must not have the job fetch it
 * again after a power cut. While .partial is synced after the file says
 * done, the job is still listed running. */
static void test_a_job_is_listed_done_only_after_its_job_file_is_synced(void **state)
{
	char partial[96];
	struct download_job job;
	struct err e;

	(void)state;
	pthread_mutex_lock(&lock);
	cancel_returned = true;		/* "done" need not wait */
	pthread_mutex_unlock(&lock);
	done_synced = false;
	snprintf(partial, sizeof(partial), "%s/.partial", dir);
	gate_hook = _on_partial_sync;
	gate_on(partial, GATE_HOOK);
	unsigned id = _add("c.img");
	bool done = _wait_seen(DOWNLOAD_DONE, 10000);
	gate_off();
	assert_int_equal(id, 1);	/* the first job of a new folder: dl-1.json */
	assert_true(done);
	assert_true(done_synced);
	assert_int_equal(listed_then, DOWNLOAD_RUNNING);
	assert_int_equal(downloads_get(downloads, id, &job, &e), 0);
	assert_int_equal(job.state, DOWNLOAD_DONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_job_forgotten_while_its_worker_finishes_it_outlives_the_worker, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_forgetting_a_finished_job_says_removed_last, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_job_is_listed_done_only_after_its_job_file_is_synced, _setup, _teardown),
	};
	return cmocka_run_group_tests_name("download_jobs", tests, NULL, NULL);
}
