/*
 * A request's life on its connection: the exchange and buffers borrowed for it and
 * given back, the handler's timers, its body read for the handler or dropped, and its
 * response queued for the output path. The states that drive all this are in conn.c.
 */
#include "server/conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "server/accesslog.h"
#include "server/trace.h"

/* Room a new response needs in the write buffer (its head, or a small body). */
#define RESPONSE_ROOM 4096

/* ---- borrowing and returning per-request memory ------------------------------------------ */

/* Readies ex for the next request on the connection. The 3 KiB header array and the
 * scratch area are left as they are: the parser and handlers overwrite what they use. */
void ka_exchange_reset(struct ka_exchange *ex)
{
	ka_output_drop_tail(ex);
	ex->scanned = 0;
	ex->head_len = 0;
	ex->framing = KA_FRAMING_NONE;
	ex->body_left = 0;
	memset(&ex->chunked, 0, sizeof(ex->chunked));
	ex->body_done = true;
	ex->body_wanted = false;
	ex->sink = NULL;
	ex->body_len = 0;
	ex->is_head = false;
	ex->route = NULL;
	ex->chunked_out = false;
	ex->send_queued = false;
	ex->streaming = false;
	ex->fin_ends = false;
	ex->response_pending = false;
	ex->on_timer = NULL;
	ex->on_drain = NULL;
	ex->on_body = NULL;
	ex->on_shutdown = NULL;
	ex->on_input = NULL;
	ex->on_release = NULL;
	ex->counted = false;
	ex->start_us = ex->conn->w->loop.now_us;
	ex->body_bytes = 0;
	ex->log_head_len = 0;
	ex->log_more_len = 0;
	ka_resp_init(&ex->resp, 200);
}

void ka_exchange_release(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	if (ex->on_release) {
		void (*on_release)(struct ka_conn *) = ex->on_release;

		ex->on_release = NULL;
		on_release(c);
	}
	ka_output_drop_tail(ex);
	ka_loop_timer_remove(&c->w->loop, &ex->timer);
	free(ex->body);
	ka_pool_put(&c->w->exchanges, ex);
	c->ex = NULL;
}

bool ka_conn_activate(struct ka_conn *c)
{
	struct ka_worker *w = c->w;

	if (!c->rbuf && !(c->rbuf = ka_buf_get(&w->bufs)))
		return false;
	if (!c->wbuf && !(c->wbuf = ka_buf_get(&w->bufs)))
		return false;
	if (!c->ex) {
		struct ka_exchange *ex = ka_pool_get(&w->exchanges);

		if (!ex)
			return false;
		ex->conn = c;
		ex->body = NULL;
		ex->body_cap = 0;
		ex->tail = KA_TAIL_NONE;
		ex->tail_fd = -1;
		ex->timer.index = 0;
		c->ex = ex;
		ka_exchange_reset(ex);
	}
	return true;
}

/* ---- handler timers ---------------------------------------------------------------------- */

static void exchange_timer(struct ka_timer *t)
{
	struct ka_exchange *ex = ka_container_of(t, struct ka_exchange, timer);
	struct ka_conn *c = ex->conn;

	ex->on_timer(c);
	ka_conn_run(c);
}

int ka_conn_timer(struct ka_conn *c, void (*cb)(struct ka_conn *c), int64_t at)
{
	struct ka_exchange *ex = c->ex;

	ex->on_timer = cb;
	ex->timer.cb = exchange_timer;
	return ka_loop_timer_add(&c->w->loop, &ex->timer, at) < 0 ? -1 : 0;
}

void ka_conn_timer_stop(struct ka_conn *c)
{
	ka_loop_timer_remove(&c->w->loop, &c->ex->timer);
}

/* Gives back everything an idle connection does not need. */
void ka_conn_release(struct ka_conn *c)
{
	if (c->ex)
		ka_exchange_release(c);
	if (c->rbuf && ka_buf_used(c->rbuf) == 0) {
		ka_buf_put(&c->w->bufs, c->rbuf);
		c->rbuf = NULL;
	}
	if (c->wbuf && ka_buf_used(c->wbuf) == 0) {
		ka_buf_put(&c->w->bufs, c->wbuf);
		c->wbuf = NULL;
	}
}

/* ---- request bodies ---------------------------------------------------------------------- */

/* Adds got decoded body bytes at p to what the handler will read; -1 (status and why
 * set) when the body grows past --max-body-size or memory runs out. */
static int body_keep(struct ka_conn *c, const char *p, size_t got, int *status,
                     const char **why)
{
	struct ka_exchange *ex = c->ex;
	/* What a chunk announces counts before its bytes come, so that a chunk too big is
	 * refused at once, as a Content-Length is. */
	uint64_t promised = ex->body_len + got;

	if (ex->framing == KA_FRAMING_CHUNKED)
		promised += ka_http_chunked_pending(&ex->chunked);
	if (promised > c->w->cfg->max_body_size) {
		*status = 413;
		*why = "request body larger than --max-body-size";
		return -1;
	}
	if (!got)
		return 0;
	if (ex->body_len + got > ex->body_cap) {
		size_t cap = ex->body_cap ? ex->body_cap : 4096;
		char *nb;

		while (cap < ex->body_len + got)
			cap *= 2;
		if (!(nb = realloc(ex->body, cap))) {
			*status = 500;
			*why = "out of memory";
			return -1;
		}
		ex->body = nb;
		ex->body_cap = cap;
	}
	memcpy(ex->body + ex->body_len, p, got);
	ex->body_len += got;
	return 0;
}

/* Takes body bytes from the read buffer, starting off bytes after its unconsumed start
 * (off is the head length while the head is still needed). Decoded bytes go to the
 * handler or nowhere; what follows the body stays for the next request. Returns 1 when
 * the body is complete, 0 when more is needed, -1 on error (status in *status). */
int ka_conn_body_take(struct ka_conn *c, size_t off, int *status, const char **why)
{
	struct ka_exchange *ex = c->ex;
	struct ka_buf *b = c->rbuf;
	char *p = b->data + b->pos + off;
	size_t all = b->len - b->pos - off;
	/* A sink takes what it has room for; the bytes past that wait (beyond). Decoded
	 * bytes are never more than the input they came from. */
	size_t avail = ex->sink && ex->body_wanted ? KA_MIN(all, ex->sink->room(c)) : all;
	size_t beyond = all - avail;
	size_t got, rest;
	int done;

	if (avail == 0 && all)
		return 0;

	if (ex->framing == KA_FRAMING_LENGTH) {
		got = avail < ex->body_left ? avail : ex->body_left;
		rest = avail - got;
		ex->body_left -= got;
		done = ex->body_left == 0;
	} else {
		ssize_t r;

		got = avail;
		r = ka_http_chunked_decode(&ex->chunked, p, &got);
		if (r == KA_PARSE_ERROR) {
			*status = 400;
			*why = ex->chunked.error;
			return -1;
		}
		rest = r >= 0 ? (size_t)r : 0;
		done = r >= 0;
	}
	if (ex->body_wanted && ex->sink) {
		if (got)
			ex->sink->piece(c, p, got);
	} else if (ex->body_wanted && body_keep(c, p, got, status, why) < 0) {
		return -1;
	}
	/* Drop the body bytes. With the head gone (off 0) the buffer's start moves past
	 * them; with the head still in front, what follows moves down to close the gap. */
	if (beyond)  /* what the sink had no room for follows what is left */
		memmove(p + got + rest, p + avail, beyond);
	rest += beyond;
	if (off == 0) {
		b->len = (uint32_t)(p - b->data + got + rest);
		b->pos += (uint32_t)got;
	} else {
		memmove(p, p + got, rest);
		b->len = (uint32_t)(p - b->data + rest);
	}
	if (b->pos == b->len)
		b->pos = b->len = 0;
	if (done)
		ex->body_done = true;
	return done;
}

/* Drops what of an unwanted body has already arrived behind the head. False when the
 * body is malformed: the error response is queued. */
bool ka_conn_skip_body(struct ka_conn *c)
{
	int status = 0;
	const char *why = NULL;

	if (c->ex->body_done || ka_conn_body_take(c, c->ex->head_len, &status, &why) >= 0)
		return true;
	ka_conn_respond_error(c, status, why, KA_CLOSE_BAD_REQUEST);
	return false;
}

void ka_conn_read_body(struct ka_conn *c, void (*on_body)(struct ka_conn *c))
{
	struct ka_exchange *ex = c->ex;

	ex->body_wanted = true;
	ex->on_body = on_body;
	if (ex->body_done) {
		ex->body_wanted = false;
		on_body(c);
		return;
	}
	/* RFC 9110 10.1.1: the client waits for 100 before sending the body; HTTP/1.0
	 * clients do not know the interim response. Not needed once body bytes arrived. */
	if (ex->req.expect_continue && ka_buf_used(c->rbuf) == ex->head_len)
		ka_conn_continue(c);
}

void ka_conn_stream_body(struct ka_conn *c, const struct ka_body_sink *sink,
                         void (*on_body)(struct ka_conn *c))
{
	struct ka_exchange *ex = c->ex;

	ex->sink = sink;
	ex->body_wanted = true;
	ex->on_body = on_body;
	if (ex->body_done) {
		ex->body_wanted = false;
		on_body(c);
	}
}

void ka_conn_continue(struct ka_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->ex->req.minor_version == 1 && ka_buf_room(c->wbuf) >= sizeof(cont) - 1)
		ka_buf_append(c->wbuf, cont, sizeof(cont) - 1);
}

/* ---- bookkeeping ------------------------------------------------------------------------- */

/* Counts the request being served, once, however it ends. */
void ka_conn_count_request(struct ka_conn *c)
{
	if (c->ex->counted)
		return;
	c->ex->counted = true;
	c->requests++;
	ka_stat_add(&c->w->stats.requests, 1);
}

/* The response's last byte is with the kernel (or, for a pipelined response, in the
 * buffer that leaves with the next write): count and report it. */
void ka_conn_response_done(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	if (!ex->response_pending)
		return;
	ex->response_pending = false;
	ka_trace(c, "response", "req=%u status=%d persist=%s", c->requests, ex->resp.status,
	         ex->decision.keep ? "keep-alive" : "close");
	ka_access_log_response(c);
}

/* ---- responses --------------------------------------------------------------------------- */

/* The response is queued: move on. A pipelined next request already in the buffer is
 * parsed right away so that its response joins this one in the same write, unless that
 * could reorder output (a file or memory tail is pending) or the buffer is filling. */
void ka_conn_response_queued(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	if (ex->head_len) {
		ka_buf_consume(c->rbuf, ex->head_len);
		ex->head_len = 0;
	}
	ka_conn_set_state(c, KA_CONN_WRITE);
	if (!c->closing && !ex->streaming && ex->body_done && ex->tail == KA_TAIL_NONE &&
	    ka_buf_used(c->rbuf) && ka_buf_room(c->wbuf) >= RESPONSE_ROOM) {
		ka_conn_response_done(c);
		ka_exchange_reset(ex);
		ka_conn_set_state(c, KA_CONN_HEAD);
	}
}

void ka_conn_respond(struct ka_conn *c)
{
	ka_conn_decide(c);
	ka_output_response(c);
	ka_conn_response_queued(c);
}

void ka_conn_respond_text(struct ka_conn *c, int status, const char *detail)
{
	struct ka_exchange *ex = c->ex;

	ka_resp_error(&ex->resp, status, detail, ex->scratch, sizeof(ex->scratch));
	ka_conn_respond(c);
}

void ka_conn_respond_error(struct ka_conn *c, int status, const char *detail,
                           enum ka_close_reason reason)
{
	struct ka_exchange *ex = c->ex;

	if (ex->on_release) {  /* a handler at work (a malformed body it was streaming) stops */
		void (*on_release)(struct ka_conn *) = ex->on_release;

		ex->on_release = NULL;
		on_release(c);
	}
	ka_conn_count_request(c);  /* a request we could not parse is a request all the same */
	ka_output_drop_tail(ex);
	ex->streaming = false;
	ex->is_head = false;
	ka_resp_error(&ex->resp, status, detail, ex->scratch, sizeof(ex->scratch));
	ex->decision = ka_policy_error(reason);
	c->closing = true;
	c->client_done = false;
	c->close_reason = reason;
	ka_output_response(c);
	ka_conn_response_queued(c);
}

