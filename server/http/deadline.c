/* deadline: a request's headers must be complete within --header-timeout
 * of the connection's start. libmicrohttpd's own timeout counts only idle
 * time, so a client sending a byte now and then would hold a connection
 * (and its thread) for ever; a few such clients per address would use up
 * the connection limit before anyone logs in. A watchdog thread closes such
 * connections: plain HTTP ones get a 408 first.
 *
 * Each watched connection keeps a dup() of its socket: shutdown() acts on
 * the socket, and our own descriptor cannot be reused for another
 * connection while the watchdog may still touch it. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "../core/log.h"

#define HTTP_MOD "HTTP"

struct http_watch {
	struct http_watch *prev, *next;
	int fd;			/* our dup of the connection's socket */
	char group[64];		/* the peer's address; IPv6 by its /64 */
	struct timespec since;
	bool waiting;		/* headers of a request not yet complete */
	bool expired;		/* the watchdog closed it */
	void *req;		/* the request begun and not yet completed */
};

struct http_deadline {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool stop;
	bool tls;
	unsigned timeout_s;
	struct http_watch head;	/* circular list */
};

static double _age(const struct timespec *since, const struct timespec *now)
{
	return (double)(now->tv_sec - since->tv_sec) + (now->tv_nsec - since->tv_nsec) / 1e9;
}

static void _expire(struct http_deadline *d, struct http_watch *w)
{
	static const char body[] =
		"{\"error\":{\"code\":\"request_timeout\",\"message\":\"the request headers "
		"were not complete in time\"}}\n";
	char reply[512];

	w->expired = true;
	w->waiting = false;
	/* Nothing has been written on a connection whose headers are not in;
	 * over TLS the reply would have to be encrypted, so it is only closed. */
	if (!d->tls) {
		int n = snprintf(reply, sizeof(reply),
				 "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
				 "Cache-Control: no-store\r\nConnection: close\r\n"
				 "Content-Length: %zu\r\n\r\n%s", sizeof(body) - 1, body);
		(void)!send(w->fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	shutdown(w->fd, SHUT_RDWR);
}

static void *_watchdog(void *arg)
{
	struct http_deadline *d = arg;
	struct timespec now, until;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct http_watch *w = d->head.next; w != &d->head; w = w->next)
			if (w->waiting && _age(&w->since, &now) >= d->timeout_s) {
				log_info(HTTP_MOD, "closing a connection whose request headers were not "
					 "complete after %u s", d->timeout_s);
				_expire(d, w);
			}
		until = now;
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->wake, &d->lock, &until);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* The address a peer is counted under: IPv6 addresses by their /64, which
 * one host may have many of. */
static void _group(const struct sockaddr *sa, char *buf, size_t size)
{
	snprintf(buf, size, "?");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
	} else if (sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], buf, (socklen_t)size);
			return;
		}
		memset(a.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a, buf, (socklen_t)size);
	}
}

/* Whether a new connection from sa may be accepted: fewer than max of
 * that address's connections may be waiting for their headers. Slow or
 * stalled clients of one address cannot take every connection, while a
 * browser's kept-alive and event-stream connections (which have sent
 * their headers) do not count. Nor do connections opened within the last
 * HTTP_ADMIT_GRACE_S: a browser opens up to six at once to load a page's
 * files (the web UI's modules), and every one is still "waiting" when the
 * next is accepted; such a burst is bounded by --max-per-ip. */
#define HTTP_ADMIT_GRACE_S 0.15

bool http_deadline_admit(struct http_deadline *d, const struct sockaddr *sa, unsigned max)
{
	char group[64];
	struct timespec now;
	unsigned n = 0;

	_group(sa, group, sizeof(group));
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&d->lock);
	for (struct http_watch *w = d->head.next; w != &d->head; w = w->next)
		if (w->waiting && !strcmp(w->group, group) &&
		    _age(&w->since, &now) >= HTTP_ADMIT_GRACE_S)
			n++;
	pthread_mutex_unlock(&d->lock);
	if (n >= max)
		log_info(HTTP_MOD, "refused a connection from %s: %u of its connections have not sent "
			 "their headers yet", group, n);
	return n < max;
}

struct http_deadline *http_deadline_start(unsigned timeout_s, bool tls)
{
	struct http_deadline *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (!d)
		abort();
	d->timeout_s = timeout_s;
	d->tls = tls;
	d->head.next = d->head.prev = &d->head;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, _watchdog, d) != 0)
		abort();
	pthread_setname_np(d->thread, "vmedia-deadline");
	return d;
}

void http_deadline_stop(struct http_deadline *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	/* The daemon has closed every connection by now: the list is empty. */
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct http_watch *http_deadline_add(struct http_deadline *d, int fd,
				      const struct sockaddr *peer)
{
	struct http_watch *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	_group(peer, w->group, sizeof(w->group));
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	w->waiting = w->fd >= 0;
	clock_gettime(CLOCK_MONOTONIC, &w->since);
	pthread_mutex_lock(&d->lock);
	w->next = &d->head;
	w->prev = d->head.prev;
	w->prev->next = w;
	d->head.prev = w;
	pthread_mutex_unlock(&d->lock);
	return w;
}

bool http_deadline_headers_in(struct http_deadline *d, struct http_watch *w)
{
	bool ok;

	if (!w)
		return true;
	pthread_mutex_lock(&d->lock);
	w->waiting = false;
	ok = !w->expired;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

/* After a refusal sent without reading the body, libmicrohttpd closes
 * the socket with the unread body in it: the kernel then answers the client's next segments with a
 * reset, and a client still sending may see the reset before it reads the
 * answer (Windows drops the answer then; Python's urllib3 raises on
 * ECONNRESET while sending). So, like nginx's lingering close, the rest is
 * read and dropped until the client closes, for at most ms and max_bytes:
 * clients that read the answer stop sending (curl, browsers), and the
 * bounds keep one that does not (requests) from holding the thread or
 * having its body read after all; it gets the reset, and then still reads
 * the answer it has received (on Linux). */
void http_deadline_linger(struct http_watch *w, unsigned ms, size_t max_bytes)
{
	struct timespec start, now;
	char buf[65536];
	size_t got = 0;

	if (!w || w->fd < 0)
		return;
	/* The answer is out: tell the client so at once (libmicrohttpd
	 * would only after this). */
	shutdown(w->fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = (long)ms - (long)(_age(&start, &now) * 1000);
		struct pollfd p = { .fd = w->fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
		if (n > 0 && (got += (size_t)n) >= max_bytes)
			return;
	}
}

/* libmicrohttpd does not report the end of a request it refused itself
 * after the request line (headers too large for its memory, say): the
 * context made for it is kept here so the connection's end can free it.
 * Only the connection's own thread and, after it ended, the one that
 * reports the close use these. */
void http_watch_hold(struct http_watch *w, void *req)
{
	if (w)
		w->req = req;
}

void *http_watch_take(struct http_watch *w)
{
	void *req = w ? w->req : NULL;

	if (w)
		w->req = NULL;
	return req;
}

void http_deadline_remove(struct http_deadline *d, struct http_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&d->lock);
	w->prev->next = w->next;
	w->next->prev = w->prev;
	pthread_mutex_unlock(&d->lock);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}
