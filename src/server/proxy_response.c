/*
 * The reverse proxy's response side (proxy_exchange.h): the backend's response head
 * parsed, checked and rewritten for the client, its body streamed through the client's
 * write buffer (a full client stops the reads from the backend), the backend
 * connection pooled again when both sides ended cleanly; and after a 101, the tunnel
 * that passes bytes both ways until either side ends.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "server/proxy_exchange.h"
#include "server/trace.h"

static void tunnel_start(struct px *px);
static void pump_done(struct px *px);
static void on_drain(struct ka_conn *c);

/* A complete final response head of head_len bytes: on to the client. 1: the body
 * follows; -1: the exchange has moved on (px may be gone). */
static int forward_head(struct px *px, size_t head_len)
{
	struct ka_conn *c = px->c;
	struct ka_exchange *ex = c->ex;
	struct ka_http_response *resp = &px->resp;
	const struct ka_http_header *ka = ka_http_response_header_find(resp, "keep-alive");
	/* The head must fit the client's write buffer beside what is queued there. */
	size_t room = ka_buf_room(c->wbuf);
	int64_t timeout = -1, max = -1;

	px->head_us = c->w->loop.now_us;
	px->framing = ka_http_response_framing(resp, ex->req.method_id);
	if (ka)
		ka_http_keep_alive_parse(ka->value, &timeout, &max);
	ka_upstream_told(px->u, timeout, max);
	px->backend_keep = ka_http_response_keeps_open(resp, px->framing) && px->req_done &&
	                   px->out_sent == px->out_len;
	if (!px->req_done) {
		/* It answered before the whole request came: the rest of the body is the
		 * client connection's to discard, and the backend connection is spent. */
		ex->sink = NULL;
		ex->body_wanted = false;
		px->backend_keep = false;
	}
	px->phase = resp->status == 101 ? PX_TUNNEL : PX_BODY;
	if (room < 1024 || !ka_px_build_response_fields(px, room - 1024)) {
		px->phase = PX_SEND;
		ka_px_fail(px, KA_UP_INVALID, "backend response head too large to forward");
		return -1;
	}
	px->in_pos += head_len;
	ka_px_log_fields(px);
	ka_resp_init(&ex->resp, resp->status);
	ex->resp.more = px->out;
	ex->resp.more_len = px->out_len;
	switch (px->framing) {
	case KA_HTTP_BODY_NONE:
		/* HEAD: the length a GET would have had, when the backend said it. */
		ex->resp.content_length = resp->content_length;
		break;
	case KA_HTTP_BODY_LENGTH:
		px->body_left = (uint64_t)resp->content_length;
		ex->resp.content_length = resp->content_length;
		ex->resp.body = resp->content_length ? KA_BODY_STREAM : KA_BODY_NONE;
		break;
	case KA_HTTP_BODY_CHUNKED:
	case KA_HTTP_BODY_CLOSE:
		memset(&px->chunked, 0, sizeof(px->chunked));
		ex->resp.content_length = -1;
		ex->resp.body = KA_BODY_STREAM;
		break;
	}
	if (px->phase == PX_TUNNEL) {
		tunnel_start(px);
		return -1;
	}
	if (ex->resp.body != KA_BODY_STREAM) {
		ka_conn_respond(c);  /* copies the fields out of px->out */
		pump_done(px);
		return -1;
	}
	ka_conn_respond(c);
	ex->on_drain = on_drain;
	px->out_len = 0;
	return 1;
}

/* The response body is complete: the client's stream ends, and the backend connection
 * goes back to the pool if both sides ended cleanly. */
static void pump_done(struct px *px)
{
	struct ka_conn *c = px->c;

	if (c->ex->streaming)
		ka_output_stream_end(c);
	/* A backend FIN seen with the response: the backend closes without having said so,
	 * and the connection must not wait in the pool to be taken. */
	if (px->u && px->backend_keep && px->in_pos == px->in_len && !px->backend_fin) {
		ka_upstream_timer_stop(px->u);
		ka_upstream_put(px->u);
		px->u = NULL;
	}
	ka_px_drop_upstream(px, !px->backend_keep ? "backend_closes"
	                     : px->backend_fin ? "closed_by_backend" : "bytes_after_response");
	ka_px_detach(px);
}

/* Moves response body bytes from in to the client's stream. 1: all of in is used,
 * read more; 0: the client's buffer is full (on_drain goes on); -1: the exchange has
 * ended (px is gone). */
static int pump(struct px *px)
{
	struct ka_conn *c = px->c;

	for (;;) {
		size_t avail = px->in_len - px->in_pos;
		size_t room, n;
		char *p = px->in + px->in_pos;

		if (px->framing == KA_HTTP_BODY_LENGTH && px->body_left == 0) {
			pump_done(px);
			return -1;
		}
		if (!avail)
			return 1;
		if (!(room = ka_output_stream_room(c)))
			return 0;
		n = KA_MIN(avail, room);
		if (px->framing == KA_HTTP_BODY_CHUNKED) {
			size_t got = n;
			ssize_t r = ka_http_chunked_decode(&px->chunked, p, &got);

			if (r == KA_PARSE_ERROR) {
				ka_px_cut(px, "bad_chunk");
				return -1;
			}
			ka_output_stream_write(c, p, got);
			px->in_pos += n;
			if (r >= 0) {
				if (r > 0 || px->in_pos != px->in_len)
					px->backend_keep = false;  /* bytes after the response */
				px->in_pos = px->in_len;
				pump_done(px);
				return -1;
			}
			continue;
		}
		if (px->framing == KA_HTTP_BODY_LENGTH)
			n = (size_t)KA_MIN((uint64_t)n, px->body_left);
		ka_output_stream_write(c, p, n);
		px->in_pos += n;
		if (px->framing == KA_HTTP_BODY_LENGTH)
			px->body_left -= n;
	}
}

/* Parses what of the response head has come. 1: go on (more input, or the body);
 * 0: the head is incomplete; -1: the exchange has moved on (px may be gone). */
static int parse_head(struct px *px)
{
	size_t avail = px->in_len - px->in_pos;
	ssize_t r = ka_http_parse_response(px->in + px->in_pos, avail, px->scanned, &px->resp);

	if (r == KA_PARSE_PARTIAL) {
		px->scanned = avail;
		if (avail >= KA_HTTP_MAX_RESPONSE_HEAD || avail == PX_BUF) {
			ka_px_fail(px, KA_UP_INVALID, "backend response head too large");
			return -1;
		}
		return 0;
	}
	if (r == KA_PARSE_ERROR) {
		char why[128];

		snprintf(why, sizeof(why), "invalid response from the backend: %s", px->resp.error);
		ka_px_fail(px, KA_UP_INVALID, why);
		return -1;
	}
	px->scanned = 0;
	if (px->resp.status < 200 && px->resp.status != 101) {
		/* The client's expectation went to the backend: its 100 comes back to the
		 * client (once; a client whose body is on its way needs none). Other 1xx,
		 * 103 Early Hints among them, are not forwarded. */
		if (px->resp.status == 100 && px->c->ex->req.expect_continue && !px->req_done &&
		    !px->continued && ka_buf_used(px->c->rbuf) == 0) {
			px->continued = true;
			ka_conn_continue(px->c);
		}
		px->in_pos += (size_t)r;
		return 1;
	}
	if (px->resp.status == 101 && !px->upgrade) {
		ka_px_fail(px, KA_UP_INVALID, "backend switched protocols unasked");
		return -1;
	}
	return forward_head(px, (size_t)r);
}

/* The backend closed its side (err 0) or failed (err). */
static void backend_ended(struct px *px, int err)
{
	if (px->phase == PX_SEND) {
		ka_px_failed_before_head(px, err);
	} else if (px->phase == PX_TUNNEL) {
		struct ka_conn *c = px->c;

		pump_done(px);
		c->closing = true;  /* after what the backend sent before its end */
	} else if (px->framing == KA_HTTP_BODY_CLOSE && !err) {
		px->backend_keep = false;
		pump_done(px);
	} else {
		ka_stat_add(&px->up->stats.failures[err ? KA_UP_RESET : KA_UP_CLOSED], 1);
		ka_px_cut(px, err ? "reset_in_body" : "closed_in_body");
	}
}

/* Reads from the backend and moves what comes on, until it has nothing more for now,
 * the client's buffer is full, or the exchange has moved on (px may be gone: -1). */
int ka_px_read(struct px *px)
{
	struct ka_upconn *u = px->u;

	for (;;) {
		int r = px->phase == PX_SEND ? (px->in_len > px->in_pos ? parse_head(px) : 0)
		                             : pump(px);
		ssize_t n;

		if (r < 0)
			return -1;
		if (px->phase != PX_SEND && r == 0) {
			ka_upstream_timer_stop(u);  /* waiting for the client, not the backend */
			return 0;
		}
		if (r == 1 && (px->phase == PX_SEND || px->in_pos < px->in_len))
			continue;  /* a 1xx skipped, or the head done and its body behind it */
		if (!u->readable)
			return 0;
		if (px->in_pos == px->in_len) {
			px->in_pos = px->in_len = 0;
		} else if (px->in_pos && px->in_len == PX_BUF) {
			memmove(px->in, px->in + px->in_pos, px->in_len - px->in_pos);
			px->in_len -= px->in_pos;
			px->in_pos = 0;
		}
		n = recv(u->io.fd, px->in + px->in_len, PX_BUF - px->in_len, 0);
		if (n > 0) {
			if ((size_t)n < PX_BUF - px->in_len && !px->backend_fin)
				u->readable = false;  /* edge-triggered: the next byte brings an event */
			px->in_len += (size_t)n;
			px->got_byte = true;
			px->last_io = px->c->w->loop.now;
			if (px->phase != PX_TUNNEL)
				ka_upstream_timer(u, px->c->w->loop.now + px->c->w->cfg->upstream_timeout);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			u->readable = false;
			return 0;
		}
		backend_ended(px, n == 0 ? 0 : errno);
		return -1;
	}
}

/* Carries the exchange on after an event: sends, reads. */
static void on_drain(struct ka_conn *c)
{
	struct px *px = ka_px_of(c);

	if (!px)
		return;
	if (px->phase == PX_BODY)
		ka_upstream_timer(px->u, c->w->loop.now + c->w->cfg->upstream_timeout);
	(void)ka_px_read(px);
}

/* ---- tunnels (101 Switching Protocols) ----------------------------------------------- */

/* Ends a tunnel from our side: both connections close, the client's after what it has
 * been sent. */
void ka_px_tunnel_end(struct px *px, const char *why)
{
	struct ka_conn *c = px->c;

	ka_trace(c, "tunnel_end", "backend=%s reason=%s", px->up->be->text, why);
	ka_px_drop_upstream(px, why);
	ka_px_detach(px);
	c->ex->streaming = false;
	c->closing = true;
	c->close_reason = KA_CLOSE_CONNECTION_CLOSE;
}

/* The client's bytes, on to the backend. */
static void tunnel_input(struct ka_conn *c)
{
	struct px *px = ka_px_of(c);

	while (px && c->readable && px->out_len < PX_BUF) {
		ssize_t n = ka_conn_recv(c, px->out + px->out_len, PX_BUF - px->out_len);

		if (n == KA_RECV_AGAIN || n == 0)
			break;
		if (n < 0) {
			ka_px_tunnel_end(px, "client_reset");
			return;
		}
		px->out_len += (size_t)n;
		px->last_io = c->w->loop.now;
	}
	if (px)
		ka_px_progress(px);
}

static void tunnel_tick(struct ka_conn *c)
{
	struct px *px = ka_px_of(c);
	int64_t timeout = c->w->cfg->tunnel_idle_timeout;

	if (!px)
		return;
	if (c->w->loop.now - px->last_io >= timeout)
		ka_px_tunnel_end(px, "tunnel_idle_timeout");
	else if (ka_conn_timer(c, tunnel_tick, px->last_io + timeout) < 0)
		ka_px_tunnel_end(px, "out_of_memory");
}

/* The backend agreed to switch protocols: the 101 goes to the client, and from then on
 * bytes pass both ways as they are, until either side ends. */
static void tunnel_start(struct px *px)
{
	struct ka_conn *c = px->c;
	struct ka_exchange *ex = c->ex;
	struct ka_buf *rb = c->rbuf;

	ex->streaming = true;  /* no pipelined request follows: the connection is the tunnel's */
	ka_conn_respond(c);
	ex->decision.keep = false;  /* for the log: HTTP ends here on this connection */
	c->closing = true;
	c->client_done = false;
	c->close_reason = KA_CLOSE_CONNECTION_CLOSE;
	ex->on_drain = on_drain;
	ex->on_input = tunnel_input;
	px->framing = KA_HTTP_BODY_CLOSE;
	px->replayable = false;
	px->backend_keep = false;
	/* What the client sent behind its request (it need not wait for the 101). */
	px->out_len = px->out_sent = 0;
	if (ka_buf_used(rb)) {
		ka_px_out_append(px, rb->data + rb->pos, ka_buf_used(rb));
		ka_buf_consume(rb, ka_buf_used(rb));
	}
	px->last_io = c->w->loop.now;
	ka_upstream_timer_stop(px->u);
	ka_trace(c, "tunnel_start", "backend=%s up_conn=%llu", px->up->be->text,
	         (unsigned long long)px->u->id);
	if (ka_conn_timer(c, tunnel_tick, px->last_io + c->w->cfg->tunnel_idle_timeout) < 0) {
		ka_px_tunnel_end(px, "out_of_memory");
		return;
	}
	ka_px_progress(px);
}
