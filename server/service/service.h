/* service: vmediad as a system service. Root given up at the start
 * (root.c), and systemd's Type=notify: the notify protocol
 * (a datagram to $NOTIFY_SOCKET, no libsystemd needed) and the watchdog
 * thread, which pings systemd while vmediad itself is sound and keeps the
 * STATUS= line (a summary of the LUNs) current. Without $NOTIFY_SOCKET none
 * of it does anything. */
#ifndef VMEDIA_SERVICE_H
#define VMEDIA_SERVICE_H

#include <stddef.h>

struct config;
struct err;
struct gadget;
struct service_watch;

/* Sends one notification ("READY=1\nSTATUS=..."): 1 sent, 0 when not run by
 * systemd (no $NOTIFY_SOCKET), -1 when the send failed (logged). */
int service_notify(const char *msg);

/* Tells systemd READY=1 and starts the watchdog thread (only under
 * systemd). Pings every half of $WATCHDOG_USEC (if set) as long as the
 * LUN table's lock can be taken: a LUN worker stuck in the kernel shows in
 * STATUS= but does not stop the pings (restarting vmediad would not free
 * it), a deadlock in vmediad does. NULL when not under systemd. */
struct service_watch *service_ready(struct gadget *g);
/* STOPPING=1, and ends the thread. NULL is fine. */
void service_stopping(struct service_watch *w);

/* Root given up (service/root.c): as root with --user NAME, becomes that
 * user with only the capabilities the backend and a port below 1024 need;
 * as root without it, refuses the configfs backend unless --allow-root.
 * Call it while vmediad has one thread. Logs what it did. */
int service_drop_root(const struct config *cfg, struct err *err);

#endif
