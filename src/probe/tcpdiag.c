/*
 * TIME_WAIT sockets, counted by the kernel (core sockdiag.c, one NETLINK_SOCK_DIAG
 * dump of the server's address family), filtered here to the connections between the
 * server's address:port and the local ports a benchmark run used. Both directions
 * count: our socket is in TIME_WAIT when we closed first, the server's when it did
 * and it runs on this host (loopback), which is exactly the cost a new connection per
 * request leaves behind.
 */
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sockdiag.h"
#include "probe/probe.h"

static bool port_marked(const uint8_t *ports, uint16_t port)
{
	return (ports[port >> 3] >> (port & 7)) & 1;
}

/* The server's address as inet_diag lays it out: four 32-bit words, IPv4 in the first. */
static void server_words(const struct sockaddr_storage *server, uint32_t words[4], uint16_t *port)
{
	memset(words, 0, 4 * sizeof(uint32_t));
	if (server->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)server;
		memcpy(words, &a6->sin6_addr, 16);
		*port = a6->sin6_port;
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)server;
		words[0] = a4->sin_addr.s_addr;
		*port = a4->sin_port;
	}
}

static bool is_ours(const struct inet_diag_msg *m, const uint32_t server[4], uint16_t server_port,
                    const uint8_t *ports)
{
	/* Our side: local is the client port, remote is the server. */
	if (m->id.idiag_dport == server_port && memcmp(m->id.idiag_dst, server, 16) == 0 &&
	    port_marked(ports, ntohs(m->id.idiag_sport)))
		return true;
	/* The server's side: local is the server, remote is one of our ports. */
	return m->id.idiag_sport == server_port && memcmp(m->id.idiag_src, server, 16) == 0 &&
	       port_marked(ports, ntohs(m->id.idiag_dport));
}

struct run_filter {
	uint32_t server[4];
	uint16_t server_port;
	const uint8_t *ports;
};

static bool run_match(const struct inet_diag_msg *m, void *arg)
{
	const struct run_filter *f = arg;

	return is_ours(m, f->server, f->server_port, f->ports);
}

int64_t kp_time_wait_count(const struct sockaddr_storage *server, const uint8_t *ports)
{
	struct run_filter f = { .ports = ports };

	server_words(server, f.server, &f.server_port);
	return ka_sock_count_time_wait(server->ss_family, run_match, &f);
}

/*
 * /proc/net/netstat holds pairs of lines, "TcpExt: Name1 Name2 ..." then "TcpExt: v1
 * v2 ...": the value of TCPTimeWaitOverflow is at its name's position in the second.
 */
int64_t kp_time_wait_overflows(void)
{
	char names[8192], values[8192];
	int64_t result = -1;
	FILE *f = fopen("/proc/net/netstat", "r");
	if (f == NULL)
		return -1;
	while (fgets(names, sizeof(names), f) != NULL && fgets(values, sizeof(values), f) != NULL) {
		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		char *save_n, *save_v;
		char *n = strtok_r(names, " \n", &save_n);
		char *v = strtok_r(values, " \n", &save_v);
		while ((n = strtok_r(NULL, " \n", &save_n)) != NULL &&
		       (v = strtok_r(NULL, " \n", &save_v)) != NULL) {
			if (strcmp(n, "TCPTimeWaitOverflow") == 0) {
				result = strtoll(v, NULL, 10);
				break;
			}
		}
		break;
	}
	fclose(f);
	return result;
}
