/*
 * The /_demo/ endpoints (--demo): small handlers that make persistence visible.
 *   sleep?ms=N                             answers after N ms; the worker keeps serving
 *   stream?chunks=N&interval_ms=M&size=B   N pieces of B bytes, M ms apart, no length
 *   echo (POST, PUT)                       the request body back, with its Content-Type
 *   events?interval_ms=M&count=K           server-sent events, with --heartbeat comments
 * Each shows one thing the connection layer must get right: no idle timer while a
 * handler works, chunked or close-delimited framing, request bodies, and traffic on a
 * long-lived stream so that NATs and load balancers keep it. Each is one route; each
 * keeps its per-request state in its own struct (ka_conn_state).
 */
#include "server/demo.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "server/conn.h"

#define MAX_SLEEP_MS (24LL * 3600 * 1000)
#define MAX_CHUNKS 1000000
#define MAX_PIECE (1 << 20)

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

/* A handler timer could not be armed: say so rather than never answer. */
static void out_of_timers(struct ka_conn *c)
{
	ka_conn_respond_text(c, 500, "out of memory");
}

/* ---- sleep ------------------------------------------------------------------------------- */

struct sleep_state {
	uint64_t ms;
};
_Static_assert(sizeof(struct sleep_state) <= KA_HANDLER_STATE_MAX, "sleep state too big");

static void sleep_done(struct ka_conn *c)
{
	struct sleep_state *st = ka_conn_state(c);
	struct ka_exchange *ex = c->ex;
	int n = snprintf(ex->scratch, sizeof(ex->scratch), "slept %llu ms\n",
	                 (unsigned long long)st->ms);

	ka_resp_text(&ex->resp, 200, ex->scratch, (size_t)n);
	ka_conn_respond(c);
}

static void demo_sleep(struct ka_conn *c, const struct ka_route *route)
{
	struct sleep_state *st = ka_conn_state(c);

	(void)route;
	st->ms = 0;
	if (query_uint(&c->ex->req, "ms", MAX_SLEEP_MS, &st->ms) < 0)
		return ka_conn_respond_text(c, 400,
		                            "ms must be a whole number of milliseconds up to 86400000");
	if (ka_conn_timer(c, sleep_done, ka_conn_now(c) + (int64_t)st->ms) < 0)
		out_of_timers(c);
}

/* ---- stream ------------------------------------------------------------------------------ */

struct stream_state {
	uint64_t left;        /* pieces still to send, this one included */
	uint64_t total;       /* pieces in all */
	uint64_t size;        /* bytes per piece */
	uint64_t interval;    /* ms between pieces */
	uint64_t piece_left;  /* bytes of the current piece still to write */
};
_Static_assert(sizeof(struct stream_state) <= KA_HANDLER_STATE_MAX, "stream state too big");

static void stream_piece(struct ka_conn *c);

/* Writes as much of the current piece as the output takes; called again (on_drain)
 * once it has gone out. Piece k is the letter 'a' + k % 26 repeated, so a client can
 * check order and size. */
static void stream_fill(struct ka_conn *c)
{
	struct stream_state *st = ka_conn_state(c);
	char fill[4096];
	size_t room;

	memset(fill, 'a' + (int)((st->total - st->left) % 26), sizeof(fill));
	while (st->piece_left && (room = ka_output_stream_room(c)) > 0) {
		size_t n = KA_MIN(KA_MIN(st->piece_left, room), sizeof(fill));

		ka_output_stream_write(c, fill, n);
		st->piece_left -= n;
	}
	if (st->piece_left)
		return;
	c->ex->on_drain = NULL;
	if (--st->left == 0)
		ka_output_stream_end(c);
	else if (ka_conn_timer(c, stream_piece, ka_conn_now(c) + (int64_t)st->interval) < 0)
		ka_output_stream_end(c);  /* cut short, but framed: better than never ending */
}

static void stream_piece(struct ka_conn *c)
{
	struct stream_state *st = ka_conn_state(c);

	st->piece_left = st->size;
	c->ex->on_drain = stream_fill;
	stream_fill(c);
}

static void demo_stream(struct ka_conn *c, const struct ka_route *route)
{
	struct ka_exchange *ex = c->ex;
	struct stream_state *st = ka_conn_state(c);
	uint64_t chunks = 5, interval = 200, size = 64;

	(void)route;
	if (query_uint(&ex->req, "chunks", MAX_CHUNKS, &chunks) < 0 || chunks == 0)
		return ka_conn_respond_text(c, 400, "chunks must be a whole number from 1 to 1000000");
	if (query_uint(&ex->req, "interval_ms", MAX_SLEEP_MS, &interval) < 0)
		return ka_conn_respond_text(c, 400, "interval_ms must be a whole number up to 86400000");
	if (query_uint(&ex->req, "size", MAX_PIECE, &size) < 0 || size == 0)
		return ka_conn_respond_text(c, 400,
		                            "size must be a whole number of bytes from 1 to 1048576");

	ex->resp.status = 200;
	ex->resp.content_type = "text/plain; charset=utf-8";
	ex->resp.content_length = -1;
	ex->resp.body = KA_BODY_STREAM;
	*st = (struct stream_state){ .left = chunks, .total = chunks, .size = size,
		                     .interval = interval };
	ka_conn_respond(c);
	if (ex->streaming)
		stream_piece(c);
}

/* ---- events ------------------------------------------------------------------------------ */

struct events_state {
	uint64_t left;      /* events still to send; 0 = for ever */
	uint64_t sent;      /* events sent */
	int64_t interval;   /* ms between events */
	int64_t next;       /* loop time of the next event */
	int64_t last_sent;  /* loop time of the last write, event or heartbeat */
};
_Static_assert(sizeof(struct events_state) <= KA_HANDLER_STATE_MAX, "events state too big");

static void events_tick(struct ka_conn *c);

static void events_schedule(struct ka_conn *c)
{
	struct events_state *st = ka_conn_state(c);
	int64_t next = st->next;
	int64_t hb = c->w->cfg->heartbeat;

	if (hb && st->last_sent + hb < next)
		next = st->last_sent + hb;
	if (ka_conn_timer(c, events_tick, next) < 0)
		ka_output_stream_end(c);
}

/* Sends the event that is due, or else a heartbeat comment (an SSE line starting with
 * ':' is ignored by clients): middleboxes that drop silent flows see traffic. */
static void events_tick(struct ka_conn *c)
{
	struct events_state *st = ka_conn_state(c);
	int64_t now = ka_conn_now(c);
	char line[64];

	if (ka_output_stream_room(c) < sizeof(line)) {
		/* The client is not reading; --io-timeout decides its fate. */
		if (ka_conn_timer(c, events_tick, now + st->interval + 1) < 0)
			ka_output_stream_end(c);
		return;
	}
	if (now >= st->next) {
		int n = snprintf(line, sizeof(line), "id: %llu\ndata: event %llu\n\n",
		                 (unsigned long long)st->sent + 1, (unsigned long long)st->sent + 1);

		ka_output_stream_write(c, line, (size_t)n);
		st->sent++;
		st->next = now + st->interval;
		if (st->left && --st->left == 0) {
			ka_output_stream_end(c);
			return;
		}
	} else {
		ka_output_stream_write(c, ": keep-alive\n\n", 14);
	}
	st->last_sent = now;
	events_schedule(c);
}

static void events_shutdown(struct ka_conn *c)
{
	/* Between events (always: an event is written whole): end the body now. */
	ka_conn_timer_stop(c);
	ka_output_stream_end(c);
	ka_conn_run(c);
}

static void demo_events(struct ka_conn *c, const struct ka_route *route)
{
	struct ka_exchange *ex = c->ex;
	struct events_state *st = ka_conn_state(c);
	uint64_t interval = 1000, count = 0;

	(void)route;
	if (query_uint(&ex->req, "interval_ms", MAX_SLEEP_MS, &interval) < 0 || interval == 0)
		return ka_conn_respond_text(c, 400,
		                            "interval_ms must be a whole number from 1 to 86400000");
	if (query_uint(&ex->req, "count", UINT32_MAX, &count) < 0)
		return ka_conn_respond_text(c, 400, "count must be a whole number (0 = forever)");

	ex->resp.status = 200;
	ex->resp.content_type = "text/event-stream";
	ex->resp.content_length = -1;
	ex->resp.body = KA_BODY_STREAM;
	ka_resp_add_header(&ex->resp, "Cache-Control", "no-cache");
	*st = (struct events_state){ .left = count, .interval = (int64_t)interval,
		                     .next = ka_conn_now(c) + (int64_t)interval,
		                     .last_sent = ka_conn_now(c) };
	ex->fin_ends = true;
	/* A finite stream finishes (or is cut by --shutdown-timeout, its end missing, so
	 * the client knows); an endless one is brought to a clean end by a drain. */
	if (count == 0)
		ex->on_shutdown = events_shutdown;
	ka_conn_respond(c);
	if (ex->streaming)
		events_schedule(c);
}

/* ---- echo -------------------------------------------------------------------------------- */

struct echo_state {
	bool has_type;  /* the request's Content-Type is kept in the scratch area */
};
_Static_assert(sizeof(struct echo_state) <= KA_HANDLER_STATE_MAX, "echo state too big");

static void echo_body(struct ka_conn *c)
{
	struct echo_state *st = ka_conn_state(c);
	struct ka_exchange *ex = c->ex;

	ex->resp.status = 200;
	ex->resp.content_type = st->has_type ? ex->scratch : "application/octet-stream";
	ex->resp.content_length = (int64_t)ex->body_len;
	ex->resp.body = KA_BODY_MEM;
	ex->resp.mem = ex->body;
	ex->resp.mem_len = ex->body_len;
	ka_conn_respond(c);
}

static void demo_echo(struct ka_conn *c, const struct ka_route *route)
{
	struct echo_state *st = ka_conn_state(c);
	struct ka_exchange *ex = c->ex;
	const struct ka_http_header *ct = ka_http_header_find(&ex->req, "content-type");

	(void)route;
	/* The head is about to be overwritten by the body: keep the Content-Type. */
	st->has_type = false;
	if (ct && ct->value.len < sizeof(ex->scratch)) {
		memcpy(ex->scratch, ct->value.p, ct->value.len);
		ex->scratch[ct->value.len] = '\0';
		st->has_type = true;
	}
	ka_conn_read_body(c, echo_body);
}

/* ---- the routes -------------------------------------------------------------------------- */

static void demo_unknown(struct ka_conn *c, const struct ka_route *route)
{
	(void)route;
	ka_conn_respond_text(c, 404, "no demo endpoint here (try sleep, stream, events, echo)");
}

int ka_demo_add_routes(struct ka_routes *t)
{
	static const struct ka_route routes[] = {
		{ .path = "/_demo/sleep", .methods = KA_METHODS_GET_HEAD, .allow = "GET, HEAD",
		  .serve = demo_sleep },
		{ .path = "/_demo/stream", .methods = KA_METHODS_GET_HEAD, .allow = "GET, HEAD",
		  .serve = demo_stream },
		{ .path = "/_demo/events", .methods = KA_METHODS_GET_HEAD, .allow = "GET, HEAD",
		  .serve = demo_events },
		{ .path = "/_demo/echo", .reads_body = true,
		  .methods = KA_METHOD_BIT(KA_METHOD_POST) | KA_METHOD_BIT(KA_METHOD_PUT),
		  .allow = "POST, PUT", .serve = demo_echo },
		{ .path = "/_demo/", .prefix = true, .methods = KA_METHODS_ANY, .serve = demo_unknown },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (ka_routes_add(t, &routes[i]) < 0)
			return -1;
	return 0;
}
