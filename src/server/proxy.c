/*
 * The reverse proxy's handler (proxy.h). One proxied exchange is a struct px: the
 * request as it goes to the backend (out, kept from its first byte while it is small
 * enough to send again), the response as it comes back (in), and the backend
 * connection (upstream.h). Its life:
 *   serve        head rewritten into out; body, if any, streams in through the sink
 *   start        a backend, round-robin, skipping for 10 s one that refused or timed
 *                out; a pooled connection if the pool has one young enough, else a new
 *                one (a refused connect moves on to the next backend)
 *   send, read   out to the backend; the response head parsed from in
 *   forward      the head, rewritten, to the client; the body streams through the
 *                client's write buffer (a full client stops the reads from the
 *                backend); the connection goes back to the pool when both sides
 *                ended cleanly
 *   tunnel       after 101, bytes both ways until either side closes
 * A failure before the response head is a 502 or 504 naming its cause, or, on a
 * reused connection before any response byte, one retry on a new connection for a
 * request that may be sent twice. A failure after the head cuts the client
 * connection: it must never see a complete-looking response.
 */
#include "server/proxy_exchange.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/http_response.h"
#include "core/sockopt.h"
#include "core/util.h"
#include "server/conn.h"
#include "server/server.h"
#include "server/trace.h"

static struct px *px_of(struct ka_conn *c)
{
	return ((struct px_state *)ka_conn_state(c))->px;
}

static void px_progress(struct px *px);
static void px_start(struct px *px);

/* ---- exchanges: taken, given back ------------------------------------------------------ */

/* An exchange for a request of worker pw: a spare one, or a new one. */
static struct px *px_new(struct px_worker *pw)
{
	struct px *px;

	if (pw->n_spare)
		return pw->spare[--pw->n_spare];
	if ((px = malloc(sizeof(*px)))) {
		px->out = malloc(PX_BUF);
		px->in = malloc(PX_BUF);
		if (!px->out || !px->in) {
			ka_px_free(px);
			px = NULL;
		}
	}
	return px;
}

/* The exchange lets go of the client connection: no callback of it runs again. */
static void px_detach(struct px *px)
{
	struct ka_exchange *ex = px->c->ex;

	if (ex && ka_conn_state(px->c) && px_of(px->c) == px) {
		((struct px_state *)ka_conn_state(px->c))->px = NULL;
		ex->on_release = NULL;
		ex->on_drain = NULL;
		ex->on_input = NULL;
		if (ex->sink) {
			ex->sink = NULL;
			ex->body_wanted = false;  /* the rest of the body is discarded */
		}
	}
	ka_conn_timer_stop(px->c);
	if (px->pw->n_spare < PX_SPARE)
		px->pw->spare[px->pw->n_spare++] = px;
	else
		ka_px_free(px);
}

/* Closes the backend connection, if any: it is in an unknown state. */
static void px_drop_upstream(struct px *px, const char *why)
{
	if (px->u) {
		ka_upstream_close(px->u, why);
		px->u = NULL;
	}
}

/* The client connection ends (or its exchange is released) with this exchange still
 * under way: the backend connection cannot be reused. */
static void on_release(struct ka_conn *c)
{
	struct px *px = px_of(c);

	if (!px)
		return;
	px_drop_upstream(px, "client_gone");
	px_detach(px);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* The exchange failed before its response head reached the client: 502 or 504. */
static void px_fail(struct px *px, enum ka_up_failure why, const char *detail)
{
	struct ka_conn *c = px->c;
	int status = why == KA_UP_CONNECT_TIMEOUT || why == KA_UP_TIMEOUT ? 504 : 502;

	if (px->up)
		ka_stat_add(&px->up->stats.failures[why], 1);
	ka_trace(c, "upstream_error", "backend=%s cause=%s status=%d",
	         px->up ? px->up->be->text : "-", ka_up_failure_name(why), status);
	ka_px_log_fields(px);
	px_drop_upstream(px, ka_up_failure_name(why));
	px_detach(px);
	ka_conn_respond_text(c, status, detail);
}

/* The response broke after its head was forwarded: the client connection ends after
 * what it has, so that it sees a cut, never a complete response. */
static void px_cut(struct px *px, const char *why)
{
	struct ka_conn *c = px->c;
	struct ka_exchange *ex = c->ex;

	ka_trace(c, "upstream_cut", "backend=%s reason=%s", px->up->be->text, why);
	px_drop_upstream(px, why);
	px_detach(px);
	ex->streaming = false;
	c->closing = true;
	c->client_done = false;
	c->close_reason = KA_CLOSE_ERROR;
}

/* ---- the request, as it goes to the backend --------------------------------------------- */

/* Room in out for more request body, giving up the copy kept for a retry when it is
 * in the way. */
static size_t out_room(struct px *px)
{
	size_t reserve = px->req_chunked ? CHUNK_FRAME + sizeof(LAST_CHUNK) : 0;

	if (PX_BUF - px->out_len < reserve + 4096 && px->out_sent) {
		memmove(px->out, px->out + px->out_sent, px->out_len - px->out_sent);
		px->out_len -= px->out_sent;
		px->out_sent = 0;
		px->replayable = false;
	}
	return PX_BUF - px->out_len > reserve ? PX_BUF - px->out_len - reserve : 0;
}

static void out_append(struct px *px, const char *p, size_t n)
{
	memcpy(px->out + px->out_len, p, n);
	px->out_len += n;
}

/* Sends what out holds; 0 when all of it is out or the socket is full, -1 (errno) on a
 * failed connection. */
static int px_send(struct px *px)
{
	struct ka_upconn *u = px->u;

	while (px->out_sent < px->out_len && u->connected && u->writable) {
		ssize_t n = send(u->io.fd, px->out + px->out_sent, px->out_len - px->out_sent,
		                 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				u->writable = false;
				return 0;
			}
			return -1;
		}
		px->out_sent += (size_t)n;
		px->last_io = px->c->w->loop.now;
	}
	if (px->out_sent == px->out_len && !px->replayable)
		px->out_sent = px->out_len = 0;
	return 0;
}

/* A send failed inside the client connection's own code (its body sink): handled from
 * the exchange's timer, at once, outside that code. */
static void deferred_failure(struct ka_conn *c);

static void send_from_client(struct px *px)
{
	if (px->phase == PX_SEND && px->u && px_send(px) < 0 && !px->deferred) {
		px->deferred = true;
		px->deferred_errno = errno;
		if (ka_conn_timer(px->c, deferred_failure, px->c->w->loop.now) < 0)
			px->deferred = false;  /* the backend's own events will tell */
	}
}

static size_t sink_room(struct ka_conn *c)
{
	struct px *px = px_of(c);

	return px ? out_room(px) : 0;
}

static void sink_piece(struct ka_conn *c, const char *p, size_t n)
{
	struct px *px = px_of(c);
	char head[CHUNK_FRAME];

	if (px->req_chunked) {
		out_append(px, head, (size_t)snprintf(head, sizeof(head), "%zx\r\n", n));
		out_append(px, p, n);
		out_append(px, "\r\n", 2);
	} else {
		out_append(px, p, n);
	}
	send_from_client(px);
}

static const struct ka_body_sink sink = { sink_room, sink_piece };

/* The request body is all in out. */
static void body_read(struct ka_conn *c)
{
	struct px *px = px_of(c);

	if (px->req_chunked)
		out_append(px, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
	px->req_done = true;
	ka_conn_set_state(c, KA_CONN_PROCESS);
	send_from_client(px);
}

/* ---- choosing a backend and a connection -------------------------------------------- */

static void upstream_event(struct ka_upconn *u, uint32_t events);
static void upstream_timeout(struct ka_upconn *u);

static void attach(struct px *px, struct ka_upconn *u, bool reused)
{
	struct ka_worker *w = px->c->w;

	px->u = u;
	px->reused = reused;
	u->owner = px;
	u->on_event = upstream_event;
	u->on_timer = upstream_timeout;
	if (reused) {
		u->connected = u->writable = true;
		ka_trace(px->c, "upstream_reuse", "backend=%s up_conn=%llu requests=%u idle_ms=%lld",
		         px->up->be->text, (unsigned long long)u->id, u->requests,
		         (long long)(w->loop.now - u->idle_since));
	} else {
		ka_trace(px->c, "upstream_connect", "backend=%s up_conn=%llu", px->up->be->text,
		         (unsigned long long)u->id);
	}
	ka_upstream_timer(u, w->loop.now + (u->connected ? w->cfg->upstream_timeout
	                                                  : w->cfg->upstream_connect_timeout));
}

/* The next backend to try, round-robin from the request's start: first those not
 * marked down, then, when every one is, those too (one may be back). -1: all tried. */
static int next_backend(struct px *px)
{
	unsigned n = px->route->conf->n_backends;
	int64_t now = px->c->w->loop.now;

	for (int pass = 0; pass < 2; pass++)
		for (unsigned k = 0; k < n; k++) {
			unsigned i = (px->start + k) % n;

			if (px->tried & (1u << i))
				continue;
			if (pass == 0) {
				const struct ka_upstream *up = ka_px_upstream(px->c, px->route, i);

				if (up && up->down_until > now)
					continue;
			}
			return (int)i;
		}
	return -1;
}

static void mark_down(struct px *px)
{
	px->up->down_until = px->c->w->loop.now + DOWN_MS;
}

/* A connection to some backend for the request (a pooled one if one is young enough),
 * and the request on its way; or the 502 or 504 when none can be had. */
static void px_start(struct px *px)
{
	for (;;) {
		int i = next_backend(px);
		struct ka_upconn *u;

		if (i < 0) {
			if (px->connect_timed_out)
				px_fail(px, KA_UP_CONNECT_TIMEOUT, "no backend answered within "
				                                   "--upstream-connect-timeout");
			else
				px_fail(px, KA_UP_REFUSED, "every backend refused the connection");
			return;
		}
		px->tried |= 1u << i;
		if (!(px->up = ka_px_upstream(px->c, px->route, (unsigned)i))) {
			px_fail(px, KA_UP_REFUSED, "out of memory");
			return;
		}
		if ((u = ka_upstream_take(px->up, px->retryable))) {
			attach(px, u, true);
			break;
		}
		if ((u = ka_upstream_connect(px->up))) {
			attach(px, u, false);
			break;
		}
		if (errno != ECONNREFUSED) {
			px_fail(px, KA_UP_REFUSED, strerror(errno));
			return;
		}
		mark_down(px);
	}
	if (px_send(px) < 0)
		px_progress(px);  /* the failure shows as an event too; take it now */
}

/* Sends the request again, once, on a new connection to the same backend: a reused
 * connection failed before any byte of the response, and the request may be sent
 * twice. False when it may not. */
static bool px_retry(struct px *px)
{
	struct ka_upconn *u;

	if (!px->reused || px->got_byte || px->retries || !px->retryable || !px->replayable)
		return false;
	px_drop_upstream(px, "stale");
	if (!(u = ka_upstream_connect(px->up)))
		return false;
	px->retries++;
	ka_stat_add(&px->up->stats.retries, 1);
	px->out_sent = 0;
	px->in_pos = px->in_len = px->scanned = 0;
	px->backend_fin = false;
	attach(px, u, false);
	return true;
}

static void deferred_failure(struct ka_conn *c)
{
	struct px *px = px_of(c);

	if (!px)
		return;
	px->deferred = false;
	errno = px->deferred_errno;
	px_progress(px);
}

/* The backend connection failed (err, or 0 for its close) before a response head came:
 * retried when that is safe, else 502. */
static void failed_before_head(struct px *px, int err)
{
	if (px->reused && !px->got_byte)
		ka_stat_add(&px->up->stats.stale_failures, 1);
	if (px_retry(px))
		return;
	if (err)
		px_fail(px, KA_UP_RESET, px->got_byte ? "backend reset the connection in the "
		                                        "response head"
		                                      : "backend reset the connection before the "
		                                        "response head");
	else
		px_fail(px, KA_UP_CLOSED, px->got_byte ? "backend closed the connection in the "
		                                         "response head"
		                                       : "backend closed the connection before the "
		                                         "response head");
}

/* ---- the response, as it comes back --------------------------------------------------- */

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
		px_fail(px, KA_UP_INVALID, "backend response head too large to forward");
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
	px_drop_upstream(px, !px->backend_keep ? "backend_closes"
	                     : px->backend_fin ? "closed_by_backend" : "bytes_after_response");
	px_detach(px);
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
				px_cut(px, "bad_chunk");
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
			px_fail(px, KA_UP_INVALID, "backend response head too large");
			return -1;
		}
		return 0;
	}
	if (r == KA_PARSE_ERROR) {
		char why[128];

		snprintf(why, sizeof(why), "invalid response from the backend: %s", px->resp.error);
		px_fail(px, KA_UP_INVALID, why);
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
		px_fail(px, KA_UP_INVALID, "backend switched protocols unasked");
		return -1;
	}
	return forward_head(px, (size_t)r);
}

/* The backend closed its side (err 0) or failed (err). */
static void backend_ended(struct px *px, int err)
{
	if (px->phase == PX_SEND) {
		failed_before_head(px, err);
	} else if (px->phase == PX_TUNNEL) {
		struct ka_conn *c = px->c;

		pump_done(px);
		c->closing = true;  /* after what the backend sent before its end */
	} else if (px->framing == KA_HTTP_BODY_CLOSE && !err) {
		px->backend_keep = false;
		pump_done(px);
	} else {
		ka_stat_add(&px->up->stats.failures[err ? KA_UP_RESET : KA_UP_CLOSED], 1);
		px_cut(px, err ? "reset_in_body" : "closed_in_body");
	}
}

/* Reads from the backend and moves what comes on, until it has nothing more for now,
 * the client's buffer is full, or the exchange has moved on (px may be gone: -1). */
static int px_read(struct px *px)
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
static void tunnel_end(struct px *px, const char *why);

static void px_progress(struct px *px)
{
	if (px->phase != PX_BODY && px_send(px) < 0) {
		if (px->phase == PX_SEND)
			failed_before_head(px, errno);
		else
			tunnel_end(px, "tunnel_send_failed");
		return;
	}
	if (px->phase == PX_TUNNEL && px->out_len == 0 && px->c->peer_closed)
		shutdown(px->u->io.fd, SHUT_WR);  /* the client's end, passed on */
	(void)px_read(px);
}

/* A backend connect failed (err): that backend is skipped for a while, and the request
 * tries the next one (nothing was sent). */
static void connect_failed(struct px *px, int err)
{
	px_drop_upstream(px, err == ETIMEDOUT ? "connect_timeout" : "connect_failed");
	if (err == ETIMEDOUT)
		px->connect_timed_out = true;
	mark_down(px);
	px_start(px);
}

static void upstream_event(struct ka_upconn *u, uint32_t events)
{
	struct px *px = u->owner;
	struct ka_conn *c = px->c;

	if (events & KA_EV_OUT)
		u->writable = true;
	if (events & KA_EV_RDHUP)
		px->backend_fin = true;
	if (events & (KA_EV_IN | KA_EV_RDHUP | KA_EV_HUP | KA_EV_ERR))
		u->readable = true;
	if (!u->connected) {
		int err;

		if (!(events & (KA_EV_OUT | KA_EV_ERR | KA_EV_HUP)))
			return;
		err = ka_sock_error(u->io.fd);
		if (!err && (events & (KA_EV_ERR | KA_EV_HUP)))
			err = ECONNREFUSED;
		if (err) {
			connect_failed(px, err);
			ka_conn_run(c);
			return;
		}
		u->connected = true;
		ka_upstream_timer(u, c->w->loop.now + c->w->cfg->upstream_timeout);
	}
	px_progress(px);
	ka_conn_run(c);
}

static void upstream_timeout(struct ka_upconn *u)
{
	struct px *px = u->owner;
	struct ka_conn *c = px->c;

	if (!u->connected)
		connect_failed(px, ETIMEDOUT);
	else if (px->phase == PX_SEND)
		px_fail(px, KA_UP_TIMEOUT, px->got_byte ? "backend response head incomplete after "
		                                          "--upstream-timeout"
		                                        : "no response head from the backend within "
		                                          "--upstream-timeout");
	else {
		ka_stat_add(&px->up->stats.failures[KA_UP_TIMEOUT], 1);
		px_cut(px, "timeout_in_body");
	}
	ka_conn_run(c);
}

/* The client's write buffer has room again: move more of the response. */
static void on_drain(struct ka_conn *c)
{
	struct px *px = px_of(c);

	if (!px)
		return;
	if (px->phase == PX_BODY)
		ka_upstream_timer(px->u, c->w->loop.now + c->w->cfg->upstream_timeout);
	(void)px_read(px);
}

/* ---- tunnels (101 Switching Protocols) ----------------------------------------------- */

/* Ends a tunnel from our side: both connections close, the client's after what it has
 * been sent. */
static void tunnel_end(struct px *px, const char *why)
{
	struct ka_conn *c = px->c;

	ka_trace(c, "tunnel_end", "backend=%s reason=%s", px->up->be->text, why);
	px_drop_upstream(px, why);
	px_detach(px);
	c->ex->streaming = false;
	c->closing = true;
	c->close_reason = KA_CLOSE_CONNECTION_CLOSE;
}

/* The client's bytes, on to the backend. */
static void tunnel_input(struct ka_conn *c)
{
	struct px *px = px_of(c);

	while (px && c->readable && px->out_len < PX_BUF) {
		ssize_t n = ka_conn_recv(c, px->out + px->out_len, PX_BUF - px->out_len);

		if (n == KA_RECV_AGAIN || n == 0)
			break;
		if (n < 0) {
			tunnel_end(px, "client_reset");
			return;
		}
		px->out_len += (size_t)n;
		px->last_io = c->w->loop.now;
	}
	if (px)
		px_progress(px);
}

static void tunnel_tick(struct ka_conn *c)
{
	struct px *px = px_of(c);
	int64_t timeout = c->w->cfg->tunnel_idle_timeout;

	if (!px)
		return;
	if (c->w->loop.now - px->last_io >= timeout)
		tunnel_end(px, "tunnel_idle_timeout");
	else if (ka_conn_timer(c, tunnel_tick, px->last_io + timeout) < 0)
		tunnel_end(px, "out_of_memory");
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
		out_append(px, rb->data + rb->pos, ka_buf_used(rb));
		ka_buf_consume(rb, ka_buf_used(rb));
	}
	px->last_io = c->w->loop.now;
	ka_upstream_timer_stop(px->u);
	ka_trace(c, "tunnel_start", "backend=%s up_conn=%llu", px->up->be->text,
	         (unsigned long long)px->u->id);
	if (ka_conn_timer(c, tunnel_tick, px->last_io + c->w->cfg->tunnel_idle_timeout) < 0) {
		tunnel_end(px, "out_of_memory");
		return;
	}
	px_progress(px);
}

/* ---- the handler ---------------------------------------------------------------------- */

static void serve(struct ka_conn *c, const struct ka_route *route)
{
	struct ka_exchange *ex = c->ex;
	const struct ka_http_request *req = &ex->req;
	struct px_worker *pw = ka_px_worker(c);
	struct px *px;

	if (!pw || !(px = px_new(pw))) {
		ka_conn_respond_text(c, 500, "out of memory");
		return;
	}
	memset(px, 0, offsetof(struct px, resp));
	px->c = c;
	px->route = route->data;
	px->pw = pw;
	px->start = pw->rr[px->route->index]++ % px->route->conf->n_backends;
	px->start_us = c->w->loop.now_us;
	px->retryable = ka_px_retryable(req);
	px->upgrade = ka_px_wants_upgrade(req);
	px->replayable = true;
	px->req_chunked = req->is_chunked;
	((struct px_state *)ka_conn_state(c))->px = px;
	ex->on_release = on_release;
	if (!ka_px_build_request(px)) {
		px_detach(px);
		ka_conn_respond_text(c, 431, "request head too large to forward");
		return;
	}
	if (ex->framing != KA_FRAMING_NONE)
		ka_conn_stream_body(c, &sink, body_read);
	else
		px->req_done = true;
	px_start(px);
}

int ka_proxy_add_routes(struct ka_routes *t, struct ka_server *srv,
                        const struct ka_config *cfg)
{
	struct px_gen *gen;

	if (!cfg->n_proxy)
		return 0;
	/* The registry first: it makes srv->proxies, which keeps the generation. */
	if (ka_px_register(srv, &cfg->proxy[0].backends[0]) < 0 || !(gen = calloc(1, sizeof(*gen))))
		return -1;
	gen->next = srv->proxies->gens;
	srv->proxies->gens = gen;
	for (unsigned r = 0; r < cfg->n_proxy; r++) {
		struct px_route *pr = &gen->routes[gen->n];
		struct ka_route route = {
			.path = cfg->proxy[r].prefix,
			.path_len = strlen(cfg->proxy[r].prefix),
			.prefix = true,
			.reads_body = true,
			.streams_body = true,
			.methods = KA_METHODS_ANY,
			.serve = serve,
			.data = pr,
		};

		pr->conf = &cfg->proxy[r];
		pr->index = gen->n++;
		for (unsigned i = 0; i < pr->conf->n_backends; i++) {
			int k = ka_px_register(srv, &pr->conf->backends[i]);

			if (k < 0)
				return -1;
			pr->reg[i] = (unsigned)k;
		}
		if (ka_routes_add(t, &route) < 0)
			return -1;
	}
	return 0;
}
