/* events: the publish/subscribe bus (see events.h). */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"

#define EVENTS_MOD "EVENTS"

/* One formatted SSE message, shared by every queue it sits in. */
struct events_msg {
	int refs;		/* guarded by the bus lock */
	size_t len;
	char text[];
};

struct events_sub {
	struct events *ev;
	struct events_sub *next;
	struct events_msg **queue;
	size_t head, count;
	bool resync;		/* send a full state next */
	struct events_msg *cur;	/* being copied out */
	size_t off;
};

struct events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t queue_len;
	struct events_sub *subs;
	bool shutdown;
	events_snapshot_fn snapshot;
	void *ctx;
};

static struct events_msg *_format(const char *type, json_t *data)
{
	char *json = json_dumps(data, JSON_COMPACT);
	size_t n;
	struct events_msg *m;

	if (!json)
		abort();
	n = strlen("event: \ndata: \n\n") + strlen(type) + strlen(json);
	m = malloc(sizeof(*m) + n + 1);
	if (!m)
		abort();
	m->refs = 1;
	m->len = (size_t)snprintf(m->text, n + 1, "event: %s\ndata: %s\n\n", type, json);
	free(json);
	return m;
}

static void _unref(struct events_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

struct events *events_create(size_t queue_len, events_snapshot_fn snapshot, void *ctx)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		abort();
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	ev->queue_len = queue_len;
	ev->snapshot = snapshot;
	ev->ctx = ctx;
	return ev;
}

void events_shutdown(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->shutdown = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

void events_destroy(struct events *ev)
{
	if (!ev)
		return;
	/* Streams still open hold their subscriptions; http_stop has ended
	 * them all before this runs. */
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->cond);
	free(ev);
}

static void _drop_queue(struct events_sub *s)
{
	for (size_t i = 0; i < s->count; i++)
		_unref(s->queue[(s->head + i) % s->ev->queue_len]);
	s->head = s->count = 0;
}

void events_publish(struct events *ev, const char *type, json_t *data)
{
	struct events_msg *m = _format(type, data);

	json_decref(data);
	pthread_mutex_lock(&ev->lock);
	for (struct events_sub *s = ev->subs; s; s = s->next) {
		if (s->resync)
			continue;	/* the state it will get includes this */
		if (s->count == ev->queue_len) {
			_drop_queue(s);
			s->resync = true;
			log_info(EVENTS_MOD, "a client fell %zu events behind: it gets a fresh state",
				 ev->queue_len);
			continue;
		}
		m->refs++;
		s->queue[(s->head + s->count++) % ev->queue_len] = m;
	}
	_unref(m);
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

struct events_sub *events_subscribe(struct events *ev)
{
	struct events_sub *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->ev = ev;
	s->queue = calloc(ev->queue_len, sizeof(*s->queue));
	if (!s->queue)
		abort();
	s->resync = true;
	pthread_mutex_lock(&ev->lock);
	s->next = ev->subs;
	ev->subs = s;
	pthread_mutex_unlock(&ev->lock);
	return s;
}

void events_unsubscribe(struct events_sub *s)
{
	struct events *ev = s->ev;

	pthread_mutex_lock(&ev->lock);
	for (struct events_sub **p = &ev->subs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	_drop_queue(s);
	_unref(s->cur);
	pthread_mutex_unlock(&ev->lock);
	free(s->queue);
	free(s);
}

ssize_t events_read(struct events_sub *s, char *buf, size_t max, int timeout_ms)
{
	struct events *ev = s->ev;
	struct timespec dl;
	ssize_t n;

	clock_deadline(&dl, timeout_ms < 0 ? 0 : (unsigned)timeout_ms);
	pthread_mutex_lock(&ev->lock);
	while (!s->cur && !s->resync && s->count == 0 && !ev->shutdown)
		if (pthread_cond_timedwait(&ev->cond, &ev->lock, &dl) == ETIMEDOUT)
			break;
	if (ev->shutdown) {
		pthread_mutex_unlock(&ev->lock);
		return -1;
	}
	if (!s->cur && s->resync) {
		/* The snapshot reads other modules: build it unlocked. Events
		 * published meanwhile are queued behind it; they may repeat
		 * what the state already shows, which clients take in their
		 * stride, but none is lost. */
		s->resync = false;
		pthread_mutex_unlock(&ev->lock);
		json_t *state = ev->snapshot(ev->ctx);
		struct events_msg *m = _format("state", state);
		json_decref(state);
		pthread_mutex_lock(&ev->lock);
		s->cur = m;
		s->off = 0;
	} else if (!s->cur && s->count > 0) {
		s->cur = s->queue[s->head];
		s->head = (s->head + 1) % ev->queue_len;
		s->count--;
		s->off = 0;
	}
	if (!s->cur) {
		pthread_mutex_unlock(&ev->lock);
		return 0;
	}
	n = (ssize_t)(s->cur->len - s->off < max ? s->cur->len - s->off : max);
	memcpy(buf, s->cur->text + s->off, (size_t)n);
	s->off += (size_t)n;
	if (s->off == s->cur->len) {
		_unref(s->cur);
		s->cur = NULL;
	}
	pthread_mutex_unlock(&ev->lock);
	return n;
}
