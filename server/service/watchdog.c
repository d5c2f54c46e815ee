/* watchdog: the thread that tells systemd vmediad is alive, and what its
 * LUNs are doing. */
#include "service.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../gadget/gadget.h"

#define SERVICE_MOD "SERVICE"
#define SERVICE_STATUS_MS 1000		/* STATUS= is refreshed at least this often */

struct service_watch {
	struct gadget *g;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	unsigned ping_ms;	/* 0: no watchdog asked for */
	char status[1024];	/* the last STATUS= sent */
};

static void *_run(void *arg)
{
	struct service_watch *w = arg;
	double last_ping = 0, last_status = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		pthread_mutex_unlock(&w->lock);
		double now = clock_now_ms();
		char msg[1200], status[sizeof(w->status)];
		bool ping = w->ping_ms && now - last_ping >= w->ping_ms;
		struct gadget_worker gw[GADGET_MAX_LUNS];

		/* The pings say that vmediad can still take its LUN table's lock:
		 * a worker stuck in the kernel holds no lock, a deadlock would. */
		if (ping && gadget_health(w->g, w->ping_ms, gw, GADGET_MAX_LUNS) < 0) {
			log_error(SERVICE_MOD, "the LUN table's lock has been held for over %u ms: no "
				  "watchdog ping, systemd will restart vmediad", w->ping_ms);
			ping = false;
		}
		gadget_summary(w->g, status, sizeof(status));
		msg[0] = '\0';
		if (ping) {
			snprintf(msg, sizeof(msg), "WATCHDOG=1\n");
			last_ping = now;
		}
		if (strcmp(status, w->status) != 0 || now - last_status >= 60000) {
			size_t l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l, "STATUS=%s\n", status);
			memcpy(w->status, status, sizeof(status));
			last_status = now;
		}
		if (msg[0])
			service_notify(msg);
		unsigned wait = w->ping_ms && w->ping_ms < SERVICE_STATUS_MS ? w->ping_ms : SERVICE_STATUS_MS;
		struct timespec deadline;
		clock_deadline(&deadline, wait);
		pthread_mutex_lock(&w->lock);
		if (!w->stop)
			pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Half of $WATCHDOG_USEC in ms, if it is meant for this process. */
static unsigned _ping_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsigned long long v = strtoull(usec, &end, 10);
	if (*end || v < 2000) {
		log_warn(SERVICE_MOD, "WATCHDOG_USEC=%s is not a usable interval; no watchdog pings", usec);
		return 0;
	}
	return v / 2000 > 600000 ? 600000 : (unsigned)(v / 2000);
}

struct service_watch *service_ready(struct gadget *g)
{
	struct service_watch *w;
	char msg[1200];

	if (!getenv("NOTIFY_SOCKET"))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->g = g;
	w->ping_ms = _ping_ms();
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	gadget_summary(g, w->status, sizeof(w->status));
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s\n", w->status);
	service_notify(msg);
	if (pthread_create(&w->thread, NULL, _run, w) != 0)
		abort();
	pthread_setname_np(w->thread, "vmedia-watch");
	if (w->ping_ms)
		log_info(SERVICE_MOD, "systemd told READY=1; watchdog pings every %u ms", w->ping_ms);
	else
		log_info(SERVICE_MOD, "systemd told READY=1; no watchdog asked for");
	return w;
}

void service_stopping(struct service_watch *w)
{
	if (!w)
		return;
	service_notify("STOPPING=1\nSTATUS=stopping\n");
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
