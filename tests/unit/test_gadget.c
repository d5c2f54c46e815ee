/* The LUN table's threads against the sim backend: a forced eject pre-empts
 * a stuck operation, a failed SIGUSR1 never frees a LUN whose kernel call
 * is still running, and no listener call runs after gadget_destroy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "gadget/gadget.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static bool destroyed;		/* gadget_destroy has returned */
static int after_destroy;	/* listener calls that started after it */
static int listener_active;	/* listener calls running now */
static unsigned listener_sleep_ms;	/* worker-side listener calls sleep this long */
static int signal_failures;	/* signal_io calls that are to fail */
static int signals_sent, signals_refused;
static int break_io_calls[GADGET_MAX_LUNS];
static char image_path[64];

static void _listener(void *ctx, const struct gadget_lun *lun, const char *released)
{
	(void)ctx;
	(void)lun;
	(void)released;
	pthread_mutex_lock(&m);
	if (destroyed)
		after_destroy++;
	listener_active++;
	unsigned ms = pthread_equal(pthread_self(), main_thread) ? 0 : listener_sleep_ms;
	pthread_mutex_unlock(&m);
	usleep(ms * 1000);
	pthread_mutex_lock(&m);
	listener_active--;
	pthread_mutex_unlock(&m);
}

static int _signal_io(void *be, int *count, struct err *err)
{
	pthread_mutex_lock(&m);
	bool fail = signal_failures > 0;
	if (fail) {
		signal_failures--;
		signals_refused++;
	} else {
		signals_sent++;
	}
	pthread_mutex_unlock(&m);
	if (fail)
		return err_set(err, ERR_IO, "io_error", "no file-storage thread found (test)");
	return gadget_sim_ops.signal_io(be, count, err);
}

static int _break_io(void *be, unsigned lun, struct err *err)
{
	pthread_mutex_lock(&m);
	break_io_calls[lun]++;
	pthread_mutex_unlock(&m);
	return gadget_sim_ops.break_io(be, lun, err);
}

static struct gadget_backend ops;

static int _pin(void *ctx, const char *image, unsigned lun, char *path, size_t size,
		struct err *err)
{
	(void)ctx;
	(void)image;
	(void)lun;
	(void)err;
	snprintf(path, size, "%s", image_path);
	return 0;
}

static struct gadget *_make(const char *kernel, unsigned luns, void **be)
{
	struct gadget_options o = { .luns = luns, .api_wait_ms = 200, .eject_wait_ms = 50 };
	struct gadget *g = NULL;
	struct err e;

	*be = gadget_sim_new(luns, kernel);
	assert_int_equal(gadget_create(&o, &ops, *be, &g, &e), 0);
	gadget_set_listener(g, _listener, NULL);
	return g;
}

static void _insert(struct gadget *g, unsigned lun)
{
	struct gadget_insert_req req = { .image = "a.img", .pin = _pin };
	struct gadget_lun out;
	struct err e;

	assert_int_equal(gadget_insert(g, lun, &req, &out, &e), 0);
	assert_int_equal(out.state, GADGET_LUN_INSERTED);
}

static void _host(void *be, unsigned lun, int lock, int hang)
{
	bool locked, hung;
	struct err e;

	assert_int_equal(gadget_sim_host(be, lun, lock, hang, &locked, &hung, &e), 0);
}

static enum gadget_lun_state _state(struct gadget *g, unsigned lun)
{
	struct gadget_lun out;

	assert_int_equal(gadget_get(g, lun, &out, NULL), 0);
	return out.state;
}

static bool _wait_state(struct gadget *g, unsigned lun, enum gadget_lun_state want, unsigned ms)
{
	double end = clock_now_ms() + ms;

	while (clock_now_ms() < end) {
		if (_state(g, lun) == want)
			return true;
		usleep(5000);
	}
	return _state(g, lun) == want;
}

static int _setup(void **state)
{
	(void)state;
	ops = gadget_sim_ops;
	ops.signal_io = _signal_io;
	ops.break_io = _break_io;
	main_thread = pthread_self();
	destroyed = false;
	after_destroy = listener_active = 0;
	listener_sleep_ms = 0;
	signal_failures = signals_sent = signals_refused = 0;
	memset(break_io_calls, 0, sizeof(break_io_calls));
	snprintf(image_path, sizeof(image_path), "/tmp/vmedia-gadget-XXXXXX");
	int fd = mkstemp(image_path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int _teardown(void **state)
{
	(void)state;
	unlink(image_path);
	return 0;
}

/* A plain eject behind a host that hangs without locking; the forced one
 * breaks only that LUN's I/O and wins within the bound. */
static void test_force_pre_empts_a_stuck_plain_eject_with_break_io(void **state)
{
	void *be;
	struct gadget *g = _make("patched", 2, &be);
	struct gadget_lun out;
	struct err e;

	(void)state;
	_insert(g, 0);
	_insert(g, 1);
	_host(be, 1, 1, -1);
	_host(be, 0, 0, 1);
	assert_int_equal(gadget_eject(g, 0, false, &out, &e), 1);
	assert_int_equal(out.state, GADGET_LUN_EJECTING);
	/* Any other plain operation meets a busy LUN. */
	assert_int_equal(gadget_eject(g, 0, false, &out, &e), -1);
	assert_string_equal(e.code, "busy");
	double t0 = clock_now_ms();
	assert_int_equal(gadget_eject(g, 0, true, &out, &e), 0);
	assert_true(clock_now_ms() - t0 < 200);
	assert_int_equal(out.state, GADGET_LUN_EMPTY);
	assert_true(out.last_eject.forced && out.last_eject.ok);
	assert_string_equal(out.last_eject.method, "break_io+file");
	assert_false(out.last_eject.other_luns_affected);
	assert_int_equal(break_io_calls[1], 0);
	assert_int_equal(signals_sent, 0);
	assert_int_equal(gadget_get(g, 1, &out, NULL), 0);
	assert_int_equal(out.state, GADGET_LUN_INSERTED);
	assert_int_equal(out.locked, 1);
	gadget_destroy(g);
}

/* v2 of the patch: forced_eject of LUN 1 waits behind LUN 0's stalled
 * command without a time limit; the breaker ends that command with LUN 0's
 * break_io (not SIGUSR1), so LUN 0 keeps its medium and its lock. */
static void test_force_behind_another_luns_stall_breaks_only_that_command(void **state)
{
	void *be;
	struct gadget *g = _make("patched", 2, &be);
	struct gadget_lun out;
	struct err e;

	(void)state;
	_insert(g, 0);
	_insert(g, 1);
	_host(be, 0, 1, 1);
	assert_int_equal(gadget_eject(g, 1, true, &out, &e), 0);
	assert_int_equal(out.state, GADGET_LUN_EMPTY);
	assert_string_equal(out.last_eject.method, "break_io+forced_eject+break_others");
	assert_true(out.last_eject.other_luns_affected);
	assert_true(out.last_eject.elapsed_ms >= 50);	/* eject_wait_ms first */
	assert_true(break_io_calls[0] >= 1);
	assert_int_equal(signals_sent, 0);
	assert_int_equal(gadget_get(g, 0, &out, NULL), 0);
	assert_int_equal(out.state, GADGET_LUN_INSERTED);
	assert_int_equal(out.locked, 1);
	gadget_destroy(g);
}

/* Stock kernel: forced_eject waits behind the stalled command and SIGUSR1
 * cannot be sent. The LUN stays busy (ejecting) for as long as the kernel
 * call runs: nothing else may run beside it. Once a signal goes out, the
 * eject completes. */
static void test_a_failed_sigusr1_never_frees_a_lun_still_in_the_kernel(void **state)
{
	void *be;
	struct gadget *g = _make("stock", 2, &be);
	struct gadget_lun out;
	struct err e;

	(void)state;
	_insert(g, 0);
	_host(be, 0, 1, 1);
	pthread_mutex_lock(&m);
	signal_failures = 1000;
	pthread_mutex_unlock(&m);
	assert_int_equal(gadget_eject(g, 0, true, &out, &e), 1);
	usleep(300 * 1000);
	pthread_mutex_lock(&m);
	int refused = signals_refused;
	pthread_mutex_unlock(&m);
	assert_true(refused >= 1);
	assert_int_equal(_state(g, 0), GADGET_LUN_EJECTING);
	struct gadget_insert_req req = { .image = "a.img", .pin = _pin };
	assert_int_equal(gadget_insert(g, 0, &req, &out, &e), -1);
	assert_string_equal(e.code, "busy");
	assert_int_equal(gadget_eject(g, 0, false, &out, &e), -1);
	assert_string_equal(e.code, "busy");
	/* The signal can be sent again: the breaker's next try ends it. */
	pthread_mutex_lock(&m);
	signal_failures = 0;
	pthread_mutex_unlock(&m);
	assert_true(_wait_state(g, 0, GADGET_LUN_EMPTY, 3000));
	assert_int_equal(gadget_get(g, 0, &out, NULL), 0);
	assert_true(out.last_eject.ok);
	assert_string_equal(out.last_eject.method, "forced_eject+sigusr1");
	assert_true(out.last_eject.other_luns_affected);
	gadget_destroy(g);
}

/* vmediad stops while a plain eject sleeps in the kernel; the call returns
 * afterwards: its listener (events, storage pins: freed by then) must not
 * run. */
static void test_no_listener_call_after_destroy_when_a_stuck_call_returns(void **state)
{
	void *be;
	struct gadget *g = _make("patched", 1, &be);
	struct gadget_lun out;
	struct err e;

	(void)state;
	_insert(g, 0);
	_host(be, 0, 0, 1);
	assert_int_equal(gadget_eject(g, 0, false, &out, &e), 1);
	gadget_destroy(g);	/* returns: the worker is stuck */
	pthread_mutex_lock(&m);
	destroyed = true;
	pthread_mutex_unlock(&m);
	_host(be, 0, -1, 0);	/* the kernel call returns now */
	usleep(200 * 1000);
	pthread_mutex_lock(&m);
	int late = after_destroy;
	pthread_mutex_unlock(&m);
	assert_int_equal(late, 0);
}

/* A listener call in progress when vmediad stops has ended by the time
 * gadget_destroy returns. */
static void test_destroy_waits_for_a_running_listener_call(void **state)
{
	void *be;
	struct gadget *g = _make("patched", 1, &be);
	struct gadget_insert_req req = { .image = "a.img", .pin = _pin };
	struct gadget_lun out;
	struct err e;

	(void)state;
	listener_sleep_ms = 400;
	/* The worker announces the insert in a slow listener call. */
	assert_int_equal(gadget_insert(g, 0, &req, &out, &e), 1);
	pthread_mutex_lock(&m);
	int active = listener_active;
	pthread_mutex_unlock(&m);
	assert_int_equal(active, 1);
	gadget_destroy(g);
	pthread_mutex_lock(&m);
	active = listener_active;
	pthread_mutex_unlock(&m);
	assert_int_equal(active, 0);
}

/* Reconnect has a worker of its own: a stuck LUN 0 does not refuse it. */
static void test_reconnect_while_lun_0_is_stuck(void **state)
{
	void *be;
	struct gadget *g = _make("patched", 2, &be);
	struct gadget_lun out;
	struct err e;
	double ms = -1;

	(void)state;
	_insert(g, 0);
	_host(be, 0, 0, 1);
	assert_int_equal(gadget_eject(g, 0, false, &out, &e), 1);
	assert_int_equal(gadget_reconnect(g, &ms, &e), 0);
	assert_true(ms >= 0);
	/* The sim's host resets on a reconnect: the stuck eject finishes. */
	assert_true(_wait_state(g, 0, GADGET_LUN_EMPTY, 2000));
	gadget_destroy(g);
}

/* A medium of its own (a stream) whose reads hang: the kernel's forced
 * eject waits for the gadget's thread, which sleeps in the medium's read,
 * where neither break_io nor SIGUSR1 reaches. Only the medium can end it. */
static pthread_cond_t medium_cond = PTHREAD_COND_INITIALIZER;
static bool medium_hung;
static int medium_opens, medium_interrupts, medium_closes;

static int _forced_eject_behind_medium(void *be, unsigned lun, struct err *err)
{
	pthread_mutex_lock(&m);
	while (lun == 0 && medium_hung)
		pthread_cond_wait(&medium_cond, &m);
	pthread_mutex_unlock(&m);
	return gadget_sim_ops.forced_eject(be, lun, err);
}

static int _medium_open(void *medium, char *path, size_t size, struct err *err)
{
	(void)medium;
	(void)err;
	pthread_mutex_lock(&m);
	medium_opens++;
	pthread_mutex_unlock(&m);
	snprintf(path, size, "%s", image_path);
	return 0;
}

static void _medium_interrupt(void *medium)
{
	(void)medium;
	pthread_mutex_lock(&m);
	medium_interrupts++;
	medium_hung = false;
	pthread_cond_broadcast(&medium_cond);
	pthread_mutex_unlock(&m);
}

static void _medium_close(void *medium)
{
	(void)medium;
	pthread_mutex_lock(&m);
	medium_closes++;
	pthread_mutex_unlock(&m);
}

static const struct gadget_medium_ops medium_ops = {
	.open = _medium_open, .interrupt = _medium_interrupt, .close = _medium_close,
};

static void test_force_ends_a_stalled_medium_read_and_nothing_else(void **state)
{
	(void)state;
	ops.forced_eject = _forced_eject_behind_medium;
	medium_opens = medium_interrupts = medium_closes = 0;
	void *be;
	struct gadget *g = _make("patched", 2, &be);
	struct gadget_insert_req req = { .image = "remote.iso", .medium_ops = &medium_ops,
					 .medium = &medium_hung };
	struct gadget_lun out;
	struct err e;

	assert_int_equal(gadget_insert(g, 0, &req, &out, &e), 0);
	assert_true(out.streamed);
	assert_int_equal(medium_opens, 1);
	_insert(g, 1);
	pthread_mutex_lock(&m);
	medium_hung = true;
	pthread_mutex_unlock(&m);
	double t0 = clock_now_ms();
	assert_int_equal(gadget_eject(g, 0, true, &out, &e), 0);
	double ms = clock_now_ms() - t0;
	assert_int_equal(out.state, GADGET_LUN_EMPTY);
	assert_true(out.last_eject.ok);
	assert_false(out.last_eject.other_luns_affected);
	assert_true(ms < 150);		/* before the breaker's later stages (50 ms on) */
	assert_int_equal(medium_interrupts, 1);
	assert_int_equal(signals_sent, 0);
	assert_int_equal(break_io_calls[1], 0);
	assert_int_equal(_state(g, 1), GADGET_LUN_INSERTED);
	/* Closed on the worker once the LUN let go of it. */
	double end = clock_now_ms() + 1000;
	while (clock_now_ms() < end && medium_closes == 0)
		usleep(2000);
	assert_int_equal(medium_closes, 1);
	gadget_destroy(g);
}

/* An insert refused before it is queued still closes the medium: the
 * gadget owns it from the call on. */
static void test_a_refused_insert_closes_the_medium(void **state)
{
	(void)state;
	medium_opens = medium_interrupts = medium_closes = 0;
	void *be;
	struct gadget *g = _make("patched", 1, &be);
	struct gadget_insert_req req = { .image = "remote.iso", .medium_ops = &medium_ops,
					 .medium = &medium_hung };
	struct gadget_lun out;
	struct err e;

	_insert(g, 0);
	assert_int_equal(gadget_insert(g, 0, &req, &out, &e), -1);
	assert_string_equal(e.code, "lun_not_empty");
	assert_int_equal(medium_opens, 0);
	assert_int_equal(medium_closes, 1);
	gadget_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_force_ends_a_stalled_medium_read_and_nothing_else,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_refused_insert_closes_the_medium,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_force_pre_empts_a_stuck_plain_eject_with_break_io,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_sigusr1_never_frees_a_lun_still_in_the_kernel,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_force_behind_another_luns_stall_breaks_only_that_command,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_no_listener_call_after_destroy_when_a_stuck_call_returns,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_destroy_waits_for_a_running_listener_call,
						_setup, _teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_while_lun_0_is_stuck, _setup, _teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
