/*
 * The /_demo/ endpoints (--demo): small handlers that make persistence visible.
 *   sleep?ms=N                             answers after N ms; the worker keeps serving
 *   stream?chunks=N&interval_ms=M&size=B   N pieces of B bytes, M ms apart, no length
 *   echo (POST, PUT)                       the request body back, with its Content-Type
 *   events?interval_ms=M&count=K           server-sent events, with --heartbeat comments
 * Each shows one thing the connection layer must get right: no idle timer while a
 * handler works, chunked or close-delimited framing, request bodies, and traffic on a
 * long-lived stream so that NATs and load balancers keep it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "server/conn.h"

#define MAX_SLEEP_MS (24LL * 3600 * 1000)
#define MAX_CHUNKS 1000000
#define MAX_PIECE (1 << 20)

/* handler-private counters in ex->h[] */
enum { H_LEFT, H_TOTAL, H_SIZE, H_INTERVAL, H_PIECE_LEFT, H_NEED_HEAD, H_HAS_TYPE };
/* events: H_LEFT (0 = forever), H_TOTAL sent, H_INTERVAL, and these two */
enum { H_NEXT_EVENT = H_SIZE, H_LAST_SENT = H_PIECE_LEFT };

/* Finds name=value in the query; returns 1 and the value, 0 when absent, -1 when the
 * value is not a whole number within [0, max]. */
static int query_uint(const struct ka_http_request *req, const char *name, uint64_t max,
                      uint64_t *out)
{
	const char *p = req->query.p, *end = p + req->query.len;
	size_t nlen = strlen(name);

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
			uint64_t v = 0;
			const char *q = p + nlen + 1;

			if (q == stop)
				return -1;
			for (; q < stop; q++) {
				if (*q < '0' || *q > '9')
					return -1;
				v = v * 10 + (uint64_t)(*q - '0');
				if (v > max)
					return -1;
			}
			*out = v;
			return 1;
		}
		p = stop + 1;
	}
	return 0;
}

static void bad_param(struct ka_conn *c, const char *text)
{
	struct ka_exchange *ex = c->ex;
	int n = snprintf(ex->scratch, sizeof(ex->scratch), "400 Bad Request: %s\n", text);

	ka_resp_text(&ex->resp, 400, ex->scratch, (size_t)n);
	ka_conn_respond(c);
}

/* 405 with Allow, for any method the endpoint does not take. */
static void method_not_allowed(struct ka_conn *c, const char *allow)
{
	struct ka_exchange *ex = c->ex;
	int n = snprintf(ex->scratch, sizeof(ex->scratch), "405 Method Not Allowed: use %s\n",
	                 allow);

	ka_resp_text(&ex->resp, 405, ex->scratch, (size_t)n);
	ka_resp_add_header(&ex->resp, "Allow", allow);
	ka_conn_respond(c);
}

/* ---- sleep ------------------------------------------------------------------------------- */

static void sleep_done(struct ka_timer *t)
{
	struct ka_exchange *ex = ka_container_of(t, struct ka_exchange, timer);
	struct ka_conn *c = ex->conn;
	int n = snprintf(ex->scratch, sizeof(ex->scratch), "slept %llu ms\n",
	                 (unsigned long long)ex->h[H_LEFT]);

	ka_resp_text(&ex->resp, 200, ex->scratch, (size_t)n);
	ka_conn_respond(c);
	ka_conn_run(c);
}

static void demo_sleep(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	uint64_t ms = 0;

	if (query_uint(&ex->req, "ms", MAX_SLEEP_MS, &ms) < 0)
		return bad_param(c, "ms must be a whole number of milliseconds up to 86400000");
	ex->h[H_LEFT] = ms;
	ex->timer.cb = sleep_done;
	if (ka_loop_timer_add(&c->w->loop, &ex->timer, c->w->loop.now + (int64_t)ms) < 0) {
		ka_resp_text(&ex->resp, 500, "500 Internal Server Error: out of memory\n", 41);
		ka_conn_respond(c);
		return;
	}
	ka_conn_set_state(c, KA_CONN_PROCESS);
}

/* ---- stream ------------------------------------------------------------------------------ */

/* Writes as much of the stream as the write buffer takes; called again (on_drain)
 * once the buffer has gone out. Piece k is the letter 'a' + k % 26 repeated, so a
 * client can check order and size. */
static void stream_fill(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	struct ka_buf *b = c->wbuf;
	uint64_t *h = ex->h;

	if (h[H_NEED_HEAD]) {
		if (ka_buf_room(b) < 32)
			return;
		if (ex->chunked_out)
			b->len += (uint32_t)snprintf(b->data + b->len, ka_buf_room(b), "%llx\r\n",
			                             (unsigned long long)h[H_SIZE]);
		h[H_NEED_HEAD] = 0;
	}
	while (h[H_PIECE_LEFT] && ka_buf_room(b)) {
		size_t n = KA_MIN(h[H_PIECE_LEFT], ka_buf_room(b));

		memset(b->data + b->len, 'a' + (int)((h[H_TOTAL] - h[H_LEFT]) % 26), n);
		b->len += (uint32_t)n;
		ex->body_bytes += n;
		h[H_PIECE_LEFT] -= n;
	}
	if (h[H_PIECE_LEFT] || ka_buf_room(b) < 8)
		return;
	ex->on_drain = NULL;
	if (ex->chunked_out)
		ka_buf_append(b, "\r\n", 2);
	if (--h[H_LEFT] == 0) {
		if (ex->chunked_out)
			ka_buf_append(b, "0\r\n\r\n", 5);  /* last-chunk, no trailers */
		ex->streaming = false;
		return;
	}
	ka_loop_timer_add(&c->w->loop, &ex->timer, c->w->loop.now + (int64_t)h[H_INTERVAL]);
}

/* Draining an endless event stream: the event being written is the last. */
static void stream_shutdown(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	ex->h[H_LEFT] = 1;  /* else: the next event, or the rest of this piece, is the last */
	if (ka_timer_armed(&ex->timer) && ka_buf_room(c->wbuf) >= 5) {
		/* Between pieces: send no more of them, just the end of the body. */
		ka_loop_timer_remove(&c->w->loop, &ex->timer);
		if (ex->chunked_out)
			ka_buf_append(c->wbuf, "0\r\n\r\n", 5);
		ex->streaming = false;
		ka_conn_run(c);
	}
}

static void stream_piece(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	ex->h[H_PIECE_LEFT] = ex->h[H_SIZE];
	ex->h[H_NEED_HEAD] = 1;
	ex->on_drain = stream_fill;
	stream_fill(c);
}

static void stream_timer(struct ka_timer *t)
{
	struct ka_conn *c = ka_container_of(t, struct ka_exchange, timer)->conn;

	stream_piece(c);
	ka_conn_run(c);
}

static void demo_stream(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	uint64_t chunks = 5, interval = 200, size = 64;

	if (query_uint(&ex->req, "chunks", MAX_CHUNKS, &chunks) < 0 || chunks == 0)
		return bad_param(c, "chunks must be a whole number from 1 to 1000000");
	if (query_uint(&ex->req, "interval_ms", MAX_SLEEP_MS, &interval) < 0)
		return bad_param(c, "interval_ms must be a whole number up to 86400000");
	if (query_uint(&ex->req, "size", MAX_PIECE, &size) < 0 || size == 0)
		return bad_param(c, "size must be a whole number of bytes from 1 to 1048576");

	ex->resp.status = 200;
	ex->resp.content_type = "text/plain; charset=utf-8";
	ex->resp.content_length = -1;
	ex->resp.body = KA_BODY_STREAM;
	ex->h[H_LEFT] = ex->h[H_TOTAL] = chunks;
	ex->h[H_SIZE] = size;
	ex->h[H_INTERVAL] = interval;
	ex->timer.cb = stream_timer;
	ka_conn_respond(c);
	if (ex->streaming)
		stream_piece(c);
}

/* ---- events ------------------------------------------------------------------------------ */

/* Appends one piece of the stream, as a chunk when the response is chunked. */
static void stream_append(struct ka_conn *c, const char *p, size_t n)
{
	struct ka_buf *b = c->wbuf;

	if (c->ex->chunked_out)
		b->len += (uint32_t)snprintf(b->data + b->len, ka_buf_room(b), "%zx\r\n", n);
	ka_buf_append(b, p, n);
	c->ex->body_bytes += n;
	if (c->ex->chunked_out)
		ka_buf_append(b, "\r\n", 2);
}

static void events_schedule(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	int64_t next = (int64_t)ex->h[H_NEXT_EVENT];
	int64_t hb = c->w->cfg->heartbeat;

	if (hb && (int64_t)ex->h[H_LAST_SENT] + hb < next)
		next = (int64_t)ex->h[H_LAST_SENT] + hb;
	ka_loop_timer_add(&c->w->loop, &ex->timer, next);
}

/* Sends the event that is due, or else a heartbeat comment (an SSE line starting with
 * ':' is ignored by clients): middleboxes that drop silent flows see traffic. */
static void events_timer(struct ka_timer *t)
{
	struct ka_exchange *ex = ka_container_of(t, struct ka_exchange, timer);
	struct ka_conn *c = ex->conn;
	int64_t now = c->w->loop.now;
	char line[64];

	if (ka_buf_room(c->wbuf) < 256) {
		/* The client is not reading; --io-timeout decides its fate. */
		ka_loop_timer_add(&c->w->loop, t, now + (int64_t)ex->h[H_INTERVAL] + 1);
		return;
	}
	if (now >= (int64_t)ex->h[H_NEXT_EVENT]) {
		int n = snprintf(line, sizeof(line), "id: %llu\ndata: event %llu\n\n",
		                 (unsigned long long)ex->h[H_TOTAL] + 1,
		                 (unsigned long long)ex->h[H_TOTAL] + 1);

		stream_append(c, line, (size_t)n);
		ex->h[H_TOTAL]++;
		ex->h[H_NEXT_EVENT] = (uint64_t)now + ex->h[H_INTERVAL];
		if (ex->h[H_LEFT] && --ex->h[H_LEFT] == 0) {
			if (ex->chunked_out)
				ka_buf_append(c->wbuf, "0\r\n\r\n", 5);
			ex->streaming = false;
			ka_conn_run(c);
			return;
		}
	} else {
		stream_append(c, ": keep-alive\n\n", 14);
	}
	ex->h[H_LAST_SENT] = (uint64_t)now;
	events_schedule(c);
	ka_conn_run(c);
}

static void demo_events(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	uint64_t interval = 1000, count = 0;

	if (query_uint(&ex->req, "interval_ms", MAX_SLEEP_MS, &interval) < 0 || interval == 0)
		return bad_param(c, "interval_ms must be a whole number from 1 to 86400000");
	if (query_uint(&ex->req, "count", UINT32_MAX, &count) < 0)
		return bad_param(c, "count must be a whole number (0 = forever)");

	ex->resp.status = 200;
	ex->resp.content_type = "text/event-stream";
	ex->resp.content_length = -1;
	ex->resp.body = KA_BODY_STREAM;
	ka_resp_add_header(&ex->resp, "Cache-Control", "no-cache");
	ex->h[H_LEFT] = count;
	ex->h[H_TOTAL] = 0;
	ex->h[H_INTERVAL] = interval;
	ex->h[H_NEXT_EVENT] = (uint64_t)(c->w->loop.now + (int64_t)interval);
	ex->h[H_LAST_SENT] = (uint64_t)c->w->loop.now;
	ex->timer.cb = events_timer;
	ex->fin_ends = true;
	/* A finite stream finishes (or is cut by --shutdown-timeout, its end missing, so
	 * the client knows); an endless one is brought to a clean end by a drain. */
	if (count == 0)
		ex->on_shutdown = stream_shutdown;
	ka_conn_respond(c);
	if (ex->streaming)
		events_schedule(c);
}

/* ---- echo -------------------------------------------------------------------------------- */

static void echo_body(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	ex->resp.status = 200;
	ex->resp.content_type = ex->h[H_HAS_TYPE] ? ex->scratch : "application/octet-stream";
	ex->resp.content_length = (int64_t)ex->body_len;
	ex->resp.body = KA_BODY_MEM;
	ex->resp.mem = ex->body;
	ex->resp.mem_len = ex->body_len;
	ka_conn_respond(c);
}

static void demo_echo(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	const struct ka_http_header *ct = ka_http_header_find(&ex->req, "content-type");
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (ex->req.method_id != KA_METHOD_POST && ex->req.method_id != KA_METHOD_PUT)
		return method_not_allowed(c, "POST, PUT");
	/* The head is about to be overwritten by the body: keep the Content-Type. */
	ex->h[H_HAS_TYPE] = 0;
	if (ct && ct->value.len < sizeof(ex->scratch)) {
		memcpy(ex->scratch, ct->value.p, ct->value.len);
		ex->scratch[ct->value.len] = '\0';
		ex->h[H_HAS_TYPE] = 1;
	}
	ex->body_wanted = true;
	ex->on_body = echo_body;
	if (ex->body_done)
		return echo_body(c);
	/* RFC 9110 10.1.1: the client waits for 100 before sending the body; HTTP/1.0
	 * clients do not know the interim response. Not needed once body bytes arrived. */
	if (ex->req.expect_continue && ex->req.minor_version == 1 &&
	    ka_buf_used(c->rbuf) == ex->head_len)
		ka_buf_append(c->wbuf, cont, sizeof(cont) - 1);
}

/* Paths are case-sensitive (RFC 3986 6.2.2.1), unlike header names. */
static bool name_is(struct ka_str name, const char *s)
{
	return name.len == strlen(s) && memcmp(name.p, s, name.len) == 0;
}

void ka_demo_dispatch(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	struct ka_str name = { ex->req.path.p + 7, ex->req.path.len - 7 };
	bool get = ex->req.method_id == KA_METHOD_GET || ex->req.method_id == KA_METHOD_HEAD;

	if (name_is(name, "echo"))
		return demo_echo(c);
	if (name_is(name, "sleep") || name_is(name, "stream") || name_is(name, "events")) {
		if (!get)
			return method_not_allowed(c, "GET, HEAD");
		if (name_is(name, "sleep"))
			return demo_sleep(c);
		return name_is(name, "stream") ? demo_stream(c) : demo_events(c);
	}
	{
		int n = snprintf(ex->scratch, sizeof(ex->scratch),
		                 "404 Not Found: no demo endpoint here (try sleep, stream, events, echo)\n");

		ka_resp_text(&ex->resp, 404, ex->scratch, (size_t)n);
		ka_conn_respond(c);
	}
}
