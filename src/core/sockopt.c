/*
 * Socket helpers (see sockopt.h). Everything here is a thin, checked wrapper; the
 * comments record the kernel behaviour each option relies on.
 */
#include "core/sockopt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ka_sock_parse_addr(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
	char host[256];
	const char *colon, *port;
	size_t host_len;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res;
	char *end;
	long portnum;

	const char *host_start = text;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host_start = text + 1;
		host_len = (size_t)(close - host_start);
		port = close + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		host_len = (size_t)(colon - text);
		port = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';

	errno = 0;
	portnum = strtol(port, &end, 10);
	if (*port < '0' || *port > '9' || *end || errno || portnum > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

char *ka_sock_addr_text(const struct sockaddr *addr, char *out, size_t out_len)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;

		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(out, out_len, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(out, out_len, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		snprintf(out, out_len, "?");
	}
	return out;
}

int ka_sock_listen(const struct sockaddr *addr, socklen_t len, bool reuseport, int backlog)
{
	int one = 1;
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	/* A "[::]" listener should not also claim IPv4: that is what a second --listen is for. */
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, addr, len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int ka_sock_local_addr(int fd, struct sockaddr_storage *addr, socklen_t *len)
{
	*len = sizeof(*addr);
	return getsockname(fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* One write per response already batches our output; Nagle would only delay the last
 * segment of a response behind the client's delayed ACK (up to 40 ms on Linux). */
int ka_sock_set_nodelay(int fd)
{
	return set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/* Linux keeps SO_KEEPALIVE off per socket and defaults to 7200 s idle, 75 s interval,
 * 9 probes; the three TCP_ options override those for this socket only. */
int ka_sock_set_tcp_keepalive(int fd, int idle_s, int intvl_s, int count)
{
	int err;

	if (idle_s <= 0)
		return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 0);
	if ((err = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s)) ||
	    (err = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, intvl_s)) ||
	    (err = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count)))
		return err;
	return set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
}

int ka_sock_set_user_timeout(int fd, unsigned ms)
{
	return set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)ms);
}

int ka_sock_set_notsent_lowat(int fd, unsigned bytes)
{
	return set_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, (int)bytes);
}

int ka_sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}
