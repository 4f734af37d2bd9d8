/*
 * notify.c - sd_notify(3) without libsystemd (see notify.h).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observd/log.h"
#include "observd/notify.h"

int
notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char msg[512];
	socklen_t len;
	va_list ap;
	int fd, n;

	if (path == NULL || path[0] == '\0')
		return 0;
	/* "@name" is an abstract socket; otherwise an absolute path. */
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET: unsupported address '%s'", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("notify socket");
		return -1;
	}
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, len) != n) {
		log_warn("notify %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
