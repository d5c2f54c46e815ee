/* test_watchdog: the systemd watchdog thread (service/watchdog.c) against a
 * notify socket of the test's own. While vmediad can take its LUN table's
 * lock it pings; while that lock is held (a deadlock) it does not, so that
 * systemd restarts it, and STATUS= says why; once the lock is free again it
 * pings again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "gadget/internal.h"	/* struct gadget's lock, held here as a deadlock would */
#include "service/service.h"

#define PING_MS 100	/* WATCHDOG_USEC=200000: a ping every 100 ms */

static int sock = -1;
static char sock_path[64];

static int _setup(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(sock_path, sizeof(sock_path), "/tmp/vmedia-notify-%d", (int)getpid());
	unlink(sock_path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&a, sizeof(a)), 0);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	unsetenv("WATCHDOG_PID");
	return 0;
}

static int _teardown(void **state)
{
	(void)state;
	close(sock);
	unlink(sock_path);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	return 0;
}

/* What arrives on the socket for ms: how many WATCHDOG=1, and the last
 * STATUS= line. */
struct heard {
	int pings;
	char status[256];
};

static struct heard _listen(unsigned ms)
{
	struct heard h = { 0 };
	double start = clock_now_ms();

	for (;;) {
		double left = start + ms - clock_now_ms();
		if (left <= 0)
			break;
		/* At least 1 ms: a timeout of 0 would wait for ever. */
		struct timeval tv = { .tv_sec = 0,
				      .tv_usec = left > 50 ? 50000 : left < 1 ? 1000 : (long)(left * 1000) };
		setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char buf[2048];
		ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "WATCHDOG=1"))
			h.pings++;
		const char *s = strstr(buf, "STATUS=");
		if (s)
			snprintf(h.status, sizeof(h.status), "%.*s", (int)strcspn(s + 7, "\n"), s + 7);
	}
	return h;
}

struct holder {
	struct gadget *g;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool held, release;
};

static void *_hold(void *arg)
{
	struct holder *h = arg;

	pthread_mutex_lock(&h->g->lock);
	pthread_mutex_lock(&h->m);
	h->held = true;
	pthread_cond_broadcast(&h->c);
	while (!h->release)
		pthread_cond_wait(&h->c, &h->m);
	pthread_mutex_unlock(&h->m);
	pthread_mutex_unlock(&h->g->lock);
	return NULL;
}

static void test_a_held_lun_table_lock_stops_the_pings_until_it_is_free(void **state)
{
	struct gadget_options o = { .luns = 2, .api_wait_ms = 200, .eject_wait_ms = 50 };
	void *be = gadget_sim_new(2, "patched");
	struct gadget *g = NULL;
	struct err e;
	struct holder h = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
	pthread_t t;

	(void)state;
	assert_int_equal(gadget_create(&o, &gadget_sim_ops, be, &g, &e), 0);
	struct service_watch *w = service_ready(g);
	assert_non_null(w);

	/* Sound: a ping every PING_MS (some, on a loaded machine), STATUS= the
	 * LUNs. */
	struct heard before = _listen(1000);
	assert_true(before.pings >= 2);
	assert_non_null(strstr(before.status, "LUN 0: empty; LUN 1: empty"));

	/* Deadlocked: no ping for as long as the lock is held, and STATUS=
	 * says so (gadget_summary gives up on the lock after 1 s). */
	h.g = g;
	assert_int_equal(pthread_create(&t, NULL, _hold, &h), 0);
	pthread_mutex_lock(&h.m);
	while (!h.held)
		pthread_cond_wait(&h.c, &h.m);
	pthread_mutex_unlock(&h.m);
	/* A round that took the lock just before us may still ping, after its
	 * STATUS= summary gave up on the lock (1 s; more on a loaded machine):
	 * from then on, none. */
	struct heard settle = _listen(3000);
	struct heard stuck = _listen(2500);
	assert_int_equal(stuck.pings, 0);
	/* STATUS= is sent when it changes: in either window. */
	assert_string_equal(stuck.status[0] ? stuck.status : settle.status,
			    "the LUN table is locked up");

	/* Free again: the pings and the LUN summary come back. */
	pthread_mutex_lock(&h.m);
	h.release = true;
	pthread_cond_broadcast(&h.c);
	pthread_mutex_unlock(&h.m);
	pthread_join(t, NULL);
	struct heard after = _listen(2000);
	assert_true(after.pings >= 2);
	assert_non_null(strstr(after.status, "LUN 0: empty"));

	service_stopping(w);
	gadget_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_held_lun_table_lock_stops_the_pings_until_it_is_free,
						_setup, _teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
