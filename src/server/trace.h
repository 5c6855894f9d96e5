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

/* Writes "<time> conn=<id> <event> <fmt...>\n". */
void ka_trace_write(const struct ka_conn *c, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An event of the proxy's connection pool with no client connection in it (a pooled
 * connection retired or closed by its backend): "conn=- <event> ...", when tracing. */
struct ka_worker;
void ka_trace_pool(const struct ka_worker *w, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ka_trace_write when tracing is on for this connection (--trace-connections, and not an
 * admin connection); when it is off, the arguments are not even evaluated. */
#define ka_trace(c, ...)                                        \
	do {                                                    \
		if (__builtin_expect(ka_conn_traced(c), 0))     \
			ka_trace_write((c), __VA_ARGS__);       \
	} while (0)

/* "IP:port" of the connection's peer. */
const char *ka_conn_peer_text(const struct ka_conn *c, char *out, unsigned out_len);

#endif
