/*
 * Counting TIME_WAIT sockets through NETLINK_SOCK_DIAG (the interface ss(8) uses):
 * whoever closes a TCP connection first keeps it in TIME_WAIT for 60 s on Linux, so the
 * count shows who closes first. Both kahttpd (its listening ports) and kaprobe (the
 * server it measured) use it.
 */
#ifndef KA_SOCKDIAG_H
#define KA_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>

enum ka_tw_match {
	KA_TW_LOCAL_PORT,   /* sockets whose local port is one of ports (a server's view) */
	KA_TW_REMOTE_PORT,  /* sockets whose remote port is one of ports (a client's view) */
};

/* Counts IPv4 and IPv6 TCP sockets in TIME_WAIT matching ports; returns the count or
 * -errno. */
long ka_sock_count_time_wait(const uint16_t *ports, size_t nports, enum ka_tw_match match);

#endif
