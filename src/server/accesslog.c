/*
 * The access log (see accesslog.h). Every field that comes from the client is escaped
 * (quotes, backslashes, control and non-ASCII bytes as \xHH) and cut at a bound, so a
 * request can neither forge a line nor make one unboundedly long.
 */
#include "server/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sockopt.h"
#include "core/util.h"
#include "server/conn.h"
#include "server/tls.h"
#include "server/trace.h"

#define LOG_BUF_SIZE (64 * 1024)
#define LOG_LINE_MAX 4096   /* a line never needs more; the buffer flushes before */
#define FIELD_MAX 400       /* escaped bytes kept of one client-supplied field */

/* The longest line part log_begin can build: address and date (at most 128 bytes),
 * method and target, " HTTP/1.x\" ", then Referer and User-Agent with their quotes and
 * spaces. ex->log must hold it: an overflow would run into ex->scratch unseen. */
_Static_assert(sizeof(((struct ka_exchange *)0)->log) >=
                       128 + 2 * FIELD_MAX + 1 + 11 + 2 * (FIELD_MAX + 3),
               "ka_exchange.log is too small for the longest access-log line");

int ka_access_log_open(struct ka_server *srv)
{
	const char *path = srv->cfg.access_log;

	srv->log_fd = -1;
	pthread_mutex_init(&srv->log_lock, NULL);
	if (!path)
		return 0;
	if (strcmp(path, "-") == 0) {
		srv->log_fd = STDOUT_FILENO;
		return 0;
	}
	srv->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return srv->log_fd < 0 ? -errno : 0;
}

void ka_access_log_close(struct ka_server *srv)
{
	if (srv->log_fd > STDERR_FILENO)
		close(srv->log_fd);
	srv->log_fd = -1;
	pthread_mutex_destroy(&srv->log_lock);
}

void ka_access_log_flush(struct ka_worker *w)
{
	struct ka_server *srv = w->srv;
	size_t off = 0;

	if (!w->log_len)
		return;
	pthread_mutex_lock(&srv->log_lock);
	while (off < w->log_len) {
		ssize_t n = write(srv->log_fd, w->log_buf + off, w->log_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;  /* a full disk loses log lines, never requests */
		off += (size_t)n;
	}
	pthread_mutex_unlock(&srv->log_lock);
	w->log_len = 0;
}

static void flush_tick(struct ka_timer *t)
{
	struct ka_worker *w = ka_container_of(t, struct ka_worker, log_timer);

	ka_access_log_flush(w);
	if (ka_loop_timer_add(&w->loop, t, w->loop.now + 1000) < 0)
		fprintf(stderr, "kahttpd: access log: out of memory for its timer; lines are "
		                "written when the buffer fills and at exit\n");
}

int ka_access_log_worker_init(struct ka_worker *w, bool logged)
{
	if (w->srv->log_fd < 0 || !logged)
		return 0;
	w->log_buf = malloc(LOG_BUF_SIZE);
	if (!w->log_buf)
		return -ENOMEM;
	w->log_timer.cb = flush_tick;
	return ka_loop_timer_add(&w->loop, &w->log_timer, w->loop.now + 1000);
}

void ka_access_log_worker_reload(struct ka_worker *w, bool logged)
{
	bool on;

	pthread_mutex_lock(&w->srv->log_lock);
	on = logged && w->cfg->access_log && w->srv->log_fd >= 0;
	pthread_mutex_unlock(&w->srv->log_lock);
	if (on && !w->log_buf) {
		if (ka_access_log_worker_init(w, true) < 0)
			fprintf(stderr, "kahttpd: access log: out of memory; not logging\n");
	} else if (!on && w->log_buf) {
		ka_access_log_flush(w);
		ka_loop_timer_remove(&w->loop, &w->log_timer);
		free(w->log_buf);
		w->log_buf = NULL;
	}
}

int ka_access_log_reopen(const struct ka_config *next, int *fd)
{
	const char *path = next->access_log;

	*fd = -1;
	if (!path)
		return 1;
	if (strcmp(path, "-") == 0) {
		*fd = STDOUT_FILENO;
		return 0;
	}
	*fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return *fd < 0 ? -errno : 0;
}

void ka_access_log_swap(struct ka_server *srv, int fd)
{
	int old;

	pthread_mutex_lock(&srv->log_lock);
	old = srv->log_fd;
	srv->log_fd = fd;
	pthread_mutex_unlock(&srv->log_lock);
	/* Flushes write under the lock: none is writing to old any more. */
	if (old > STDERR_FILENO && old != fd)
		close(old);
}

/* Appends s[0..n) escaped, at most FIELD_MAX bytes of output; returns the new end. */
static char *put_escaped(char *p, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *end = p + FIELD_MAX;

	for (size_t i = 0; i < n && p < end - 4; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			*p++ = (char)ch;
		} else {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	return p;
}

static char *put_header(char *p, const struct ka_http_request *req, const char *name)
{
	const struct ka_http_header *h = req ? ka_http_header_find(req, name) : NULL;

	*p++ = '"';
	if (h)
		p = put_escaped(p, h->value.p, h->value.len);
	else
		*p++ = '-';
	*p++ = '"';
	return p;
}

/* Fills ex->log: the part before the status and the part after the size. req is NULL
 * for a request whose head could not be parsed: its request line is logged as "-". */
static void log_begin(struct ka_conn *c, const struct ka_http_request *req)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;
	char peer[KA_ADDR_TEXT_MAX], *p = ex->log, *colon;

	if (w->log_date_wall != w->loop.wall) {
		struct tm tm;
		time_t t = (time_t)w->loop.wall;

		w->log_date_wall = w->loop.wall;
		gmtime_r(&t, &tm);
		strftime(w->log_date, sizeof(w->log_date), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	}
	ka_conn_peer_text(c, peer, sizeof(peer));
	/* %h is the address alone: drop ":port" (and the brackets of an IPv6 address). */
	colon = strrchr(peer, ':');
	if (colon)
		*colon = '\0';
	if (peer[0] == '[') {
		peer[strlen(peer) - 1] = '\0';
		memmove(peer, peer + 1, strlen(peer));
	}
	p += snprintf(p, 128, "%s - - [%s] \"", peer, w->log_date);
	if (req) {
		p = put_escaped(p, req->method.p, req->method.len);
		*p++ = ' ';
		p = put_escaped(p, req->target.p, req->target.len);
		p += sprintf(p, " HTTP/1.%d", req->minor_version);
	} else {
		*p++ = '-';
	}
	p += sprintf(p, "\" ");
	ex->log_head_len = (uint16_t)(p - ex->log);
	*p++ = ' ';
	p = put_header(p, req, "referer");
	*p++ = ' ';
	p = put_header(p, req, "user-agent");
	ex->log_tail_len = (uint16_t)(p - ex->log - ex->log_head_len);
}

void ka_access_log_request(struct ka_conn *c)
{
	if (c->w->log_buf)
		log_begin(c, &c->ex->req);
}

/* Appends the line of c's exchange with this status and body size. */
static void put_line(struct ka_conn *c, int status, uint64_t body_bytes, bool keep_alive)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;
	char *p;

	if (w->log_len + LOG_LINE_MAX > LOG_BUF_SIZE)
		ka_access_log_flush(w);
	p = w->log_buf + w->log_len;
	memcpy(p, ex->log, ex->log_head_len);
	p += ex->log_head_len;
	p += sprintf(p, "%d ", status);
	if (body_bytes)
		p += sprintf(p, "%llu", (unsigned long long)body_bytes);
	else
		*p++ = '-';
	memcpy(p, ex->log + ex->log_head_len, ex->log_tail_len);
	p += ex->log_tail_len;
	p += sprintf(p, " conn=%llu req=%u persist=%s dur_ms=%lld", (unsigned long long)c->id,
	             c->requests, keep_alive ? "keep-alive" : "close",
	             (long long)((w->loop.now_us - ex->start_us) / 1000));
	if (c->tls)
		p += sprintf(p, " tls=%s resumed=%d", ka_tls_version(c->tls), ka_tls_resumed(c->tls));
	memcpy(p, ex->log_more, ex->log_more_len);
	p += ex->log_more_len;
	*p++ = '\n';
	w->log_len = (size_t)(p - w->log_buf);
	ex->log_head_len = 0;
}

void ka_access_log_response(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	if (!c->w->log_buf)
		return;
	if (!ex->log_head_len)
		log_begin(c, NULL);
	put_line(c, ex->resp.status, ex->body_bytes, ex->decision.keep);
}

void ka_access_log_cut(struct ka_conn *c, enum ka_close_reason reason)
{
	struct ka_exchange *ex = c->ex;
	uint64_t unsent, sent;
	int status;

	if (!c->w->log_buf || !ex || !ex->log_head_len)
		return;  /* no log, or no request under way, or its line is written */
	if (!ex->response_pending) {
		/* Nothing was sent: nginx's codes, for a client gone before its answer
		 * (499) and for a connection the server closed without one (444). */
		status = reason == KA_CLOSE_CLIENT_CLOSE || reason == KA_CLOSE_TCP_KEEPALIVE ||
		                 reason == KA_CLOSE_ERROR ? 499 : 444;
		put_line(c, status, 0, false);
		return;
	}
	/* Part of the response went out: the body bytes that did, at least. What is still
	 * queued may include header bytes, but then no body byte has left. */
	unsent = ex->tail_len + (c->wbuf ? ka_buf_used(c->wbuf) : 0);
	sent = ex->body_bytes > unsent ? ex->body_bytes - unsent : 0;
	put_line(c, ex->resp.status, sent, false);
}
