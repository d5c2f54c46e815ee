/* events: a small publish/subscribe bus. Services publish state changes;
 * the HTTP layer turns each subscription into a Server-Sent Events stream.
 *
 * Publishing never blocks: each subscriber has a bounded queue, and one
 * that falls behind loses its queue and gets a fresh full state instead,
 * so a slow or dead client costs the server nothing but its own memory. */
#ifndef VMEDIA_EVENTS_H
#define VMEDIA_EVENTS_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct events;
struct events_sub;

/* Builds the full state sent first and after an overflow. */
typedef json_t *(*events_snapshot_fn)(void *ctx);

struct events *events_create(size_t queue_len, events_snapshot_fn snapshot, void *ctx);
/* Ends every stream (their reads return -1) and refuses new ones. */
void events_shutdown(struct events *ev);
void events_destroy(struct events *ev);

/* Takes ownership of data. */
void events_publish(struct events *ev, const char *type, json_t *data);

struct events_sub *events_subscribe(struct events *ev);
void events_unsubscribe(struct events_sub *sub);
/* Copies the next bytes of the stream into buf: > 0 bytes, 0 when nothing
 * came within timeout_ms (send a keep-alive), -1 when the bus shut down. */
ssize_t events_read(struct events_sub *sub, char *buf, size_t max, int timeout_ms);

#endif
