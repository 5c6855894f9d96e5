/*
 * sd_notify(3) by hand (sdnotify.h). NOTIFY_SOCKET is a path, or an abstract socket
 * name when it starts with '@'. WATCHDOG_USEC applies to us unless WATCHDOG_PID names
 * another process.
 */
#include "server/sdnotify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static int64_t watchdog_ms;
static bool warned;

void ka_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	size_t len;

	if (usec && (!pid || strtol(pid, NULL, 10) == (long)getpid())) {
		long long us = strtoll(usec, NULL, 10);

		watchdog_ms = us > 0 ? us / 2000 : 0;
		if (us > 0 && watchdog_ms == 0)
			watchdog_ms = 1;
	}
	if (!path || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(notify_addr.sun_path))
		return;
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';  /* abstract namespace: no terminating NUL */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                         (path[0] == '@' ? 0 : 1));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0)
		perror("kahttpd: NOTIFY_SOCKET");
}

bool ka_notify_enabled(void)
{
	return notify_fd >= 0;
}

int64_t ka_notify_watchdog_ms(void)
{
	return notify_fd >= 0 ? watchdog_ms : 0;
}

void ka_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
	           notify_len) < 0 && !warned) {
		warned = true;
		perror("kahttpd: NOTIFY_SOCKET: sendto");
	}
}
