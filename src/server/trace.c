/*
 * Connection trace lines (see trace.h).
 */
#include "server/trace.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/sockopt.h"
#include "server/conn.h"

const char *ka_conn_peer_text(const struct ka_conn *c, char *out, unsigned out_len)
{
	struct sockaddr_storage ss = { 0 };

	if (c->peer.family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(c->peer.port);
		memcpy(&a6->sin6_addr, c->peer.addr, 16);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons(c->peer.port);
		memcpy(&a4->sin_addr, c->peer.addr, 4);
	}
	return ka_sock_addr_text((struct sockaddr *)&ss, out, out_len);
}

/* "<time> conn=<id> <event> <fields>\n" in one write; who is the conn=... value. */
static void trace_line(const char *who, const char *event, const char *fmt, va_list ap)
{
	char line[512];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%06ldZ conn=%s %s", ts.tv_nsec / 1000,
	                      who, event);
	if (fmt[0] && n < sizeof(line) - 2) {
		line[n++] = ' ';
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;  /* nowhere left to report it */
}

void ka_trace_write(const struct ka_conn *c, const char *event, const char *fmt, ...)
{
	char id[24];
	va_list ap;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
	va_start(ap, fmt);
	trace_line(id, event, fmt, ap);
	va_end(ap);
}

void ka_trace_pool(const struct ka_worker *w, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!w->cfg->trace_connections)
		return;
	va_start(ap, fmt);
	trace_line("-", event, fmt, ap);
	va_end(ap);
}
