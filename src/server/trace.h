/*
 * --trace-connections: one line per connection lifecycle event on stderr,
 *   2026-11-22T03:07:01.123456Z conn=7 accept peer=127.0.0.1:51234 worker=0
 * the server-side equivalent of reading a packet capture line by line: who opened,
 * how long the connection idled, who closed first. One write(2) per line, so lines
 * from different workers never interleave; tracing is for looking, not for speed.
 */
#ifndef KA_TRACE_H
#define KA_TRACE_H

#include <stdbool.h>

struct ka_conn;

/* Writes "<time> conn=<id> <event> <fmt...>\n" when tracing is on. */
void ka_trace(const struct ka_conn *c, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "IP:port" of the connection's peer. */
const char *ka_conn_peer_text(const struct ka_conn *c, char *out, unsigned out_len);

#endif
