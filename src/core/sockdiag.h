/*
 * Counting TIME_WAIT sockets through NETLINK_SOCK_DIAG (the interface ss(8) uses):
 * whoever closes a TCP connection first keeps it in TIME_WAIT for 60 s on Linux, so the
 * count shows who closes first. kahttpd counts those on its listening ports; kaprobe
 * those of the connections a benchmark run made. The caller says which sockets count.
 */
#ifndef KA_SOCKDIAG_H
#define KA_SOCKDIAG_H

#include <linux/inet_diag.h>
#include <stdbool.h>

/* Decides whether one TIME_WAIT socket counts. */
typedef bool ka_tw_match(const struct inet_diag_msg *m, void *arg);

/* Counts TCP sockets in TIME_WAIT of the given families (AF_INET, AF_INET6, or 0 for
 * both) that match; returns the count or -errno. */
long ka_sock_count_time_wait(int family, ka_tw_match *match, void *arg);

#endif
