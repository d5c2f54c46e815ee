/* notify: systemd's notification protocol. Each message is one datagram
 * of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET: a
 * path, or an abstract name when it starts with '@'. */
#include "service.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/log.h"

#define SERVICE_MOD "SERVICE"

int service_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd, rc = 1;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		log_warn(SERVICE_MOD, "NOTIFY_SOCKET=%s is neither a path nor an abstract name; not "
			 "notifying systemd", path);
		return -1;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn(SERVICE_MOD, "notify socket: %s", strerror(errno));
		return -1;
	}
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		log_warn(SERVICE_MOD, "notifying systemd at %s: %s", path, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}
