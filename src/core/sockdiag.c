/*
 * TIME_WAIT counting over NETLINK_SOCK_DIAG (see sockdiag.h). One dump request per
 * address family, filtered by state in the kernel; which sockets count is decided by
 * the caller's function, which keeps us clear of the inet_diag bytecode language.
 */
#include "core/sockdiag.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long count_family(int fd, int family, ka_tw_match *match, void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_TIME_WAIT },
	};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	long count = 0;

	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return count;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : -EIO;
			}
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			/* The kernel sends only what idiag_states asked for; check anyway. */
			if (m->idiag_state == TCP_TIME_WAIT && match(m, arg))
				count++;
		}
	}
}

long ka_sock_count_time_wait(int family, ka_tw_match *match, void *arg)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	long v4 = 0, v6 = 0;

	if (fd < 0)
		return -errno;
	if (family != AF_INET6)
		v4 = count_family(fd, AF_INET, match, arg);
	if (family != AF_INET && v4 >= 0)
		v6 = count_family(fd, AF_INET6, match, arg);
	close(fd);
	if (v4 < 0)
		return v4;
	return v6 < 0 ? v6 : v4 + v6;
}
