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
 * This file holds the exchange, the request side and the backend's events; the
 * response side and the tunnel are in proxy_response.c.
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

struct px *ka_px_of(struct ka_conn *c)
{
	return ((struct px_state *)ka_conn_state(c))->px;
}

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
void ka_px_detach(struct px *px)
{
	struct ka_exchange *ex = px->c->ex;

	if (ex && ka_conn_state(px->c) && ka_px_of(px->c) == px) {
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
void ka_px_drop_upstream(struct px *px, const char *why)
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
	struct px *px = ka_px_of(c);

	if (!px)
		return;
	ka_px_drop_upstream(px, "client_gone");
	ka_px_detach(px);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* The exchange failed before its response head reached the client: 502 or 504. */
void ka_px_fail(struct px *px, enum ka_up_failure why, const char *detail)
{
	struct ka_conn *c = px->c;
	int status = why == KA_UP_CONNECT_TIMEOUT || why == KA_UP_TIMEOUT ? 504 : 502;

	if (px->up)
		ka_stat_add(&px->up->stats.failures[why], 1);
	ka_trace(c, "upstream_error", "backend=%s cause=%s status=%d",
	         px->up ? px->up->be->text : "-", ka_up_failure_name(why), status);
	ka_px_log_fields(px);
	ka_px_drop_upstream(px, ka_up_failure_name(why));
	ka_px_detach(px);
	ka_conn_respond_text(c, status, detail);
}

/* The response broke after its head was forwarded: the client connection ends after
 * what it has, so that it sees a cut, never a complete response. */
void ka_px_cut(struct px *px, const char *why)
{
	struct ka_conn *c = px->c;
	struct ka_exchange *ex = c->ex;

	ka_trace(c, "upstream_cut", "backend=%s reason=%s", px->up->be->text, why);
	ka_px_drop_upstream(px, why);
	ka_px_detach(px);
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

void ka_px_out_append(struct px *px, const char *p, size_t n)
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
	struct px *px = ka_px_of(c);

	return px ? out_room(px) : 0;
}

static void sink_piece(struct ka_conn *c, const char *p, size_t n)
{
	struct px *px = ka_px_of(c);
	char head[CHUNK_FRAME];

	if (px->req_chunked) {
		ka_px_out_append(px, head, (size_t)snprintf(head, sizeof(head), "%zx\r\n", n));
		ka_px_out_append(px, p, n);
		ka_px_out_append(px, "\r\n", 2);
	} else {
		ka_px_out_append(px, p, n);
	}
	send_from_client(px);
}

static const struct ka_body_sink sink = { sink_room, sink_piece };

/* The request body is all in out. */
static void body_read(struct ka_conn *c)
{
	struct px *px = ka_px_of(c);

	if (px->req_chunked)
		ka_px_out_append(px, LAST_CHUNK, sizeof(LAST_CHUNK) - 1);
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
				ka_px_fail(px, KA_UP_CONNECT_TIMEOUT, "no backend answered within "
				                                   "--upstream-connect-timeout");
			else
				ka_px_fail(px, KA_UP_REFUSED, "every backend refused the connection");
			return;
		}
		px->tried |= 1u << i;
		if (!(px->up = ka_px_upstream(px->c, px->route, (unsigned)i))) {
			ka_px_fail(px, KA_UP_REFUSED, "out of memory");
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
			ka_px_fail(px, KA_UP_REFUSED, strerror(errno));
			return;
		}
		mark_down(px);
	}
	if (px_send(px) < 0)
		ka_px_progress(px);  /* the failure shows as an event too; take it now */
}

/* Sends the request again, once, on a new connection to the same backend: a reused
 * connection failed before any byte of the response, and the request may be sent
 * twice. False when it may not. */
static bool px_retry(struct px *px)
{
	struct ka_upconn *u;

	if (!px->reused || px->got_byte || px->retries || !px->retryable || !px->replayable)
		return false;
	ka_px_drop_upstream(px, "stale");
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
	struct px *px = ka_px_of(c);

	if (!px)
		return;
	px->deferred = false;
	errno = px->deferred_errno;
	ka_px_progress(px);
}

/* The backend connection failed (err, or 0 for its close) before a response head came:
 * retried when that is safe, else 502. */
void ka_px_failed_before_head(struct px *px, int err)
{
	if (px->reused && !px->got_byte)
		ka_stat_add(&px->up->stats.stale_failures, 1);
	if (px_retry(px))
		return;
	if (err)
		ka_px_fail(px, KA_UP_RESET, px->got_byte ? "backend reset the connection in the "
		                                        "response head"
		                                      : "backend reset the connection before the "
		                                        "response head");
	else
		ka_px_fail(px, KA_UP_CLOSED, px->got_byte ? "backend closed the connection in the "
		                                         "response head"
		                                       : "backend closed the connection before the "
		                                         "response head");
}

void ka_px_progress(struct px *px)
{
	if (px->phase != PX_BODY && px_send(px) < 0) {
		if (px->phase == PX_SEND)
			ka_px_failed_before_head(px, errno);
		else
			ka_px_tunnel_end(px, "tunnel_send_failed");
		return;
	}
	if (px->phase == PX_TUNNEL && px->out_len == 0 && px->c->peer_closed)
		shutdown(px->u->io.fd, SHUT_WR);  /* the client's end, passed on */
	(void)ka_px_read(px);
}

/* A backend connect failed (err): that backend is skipped for a while, and the request
 * tries the next one (nothing was sent). */
static void connect_failed(struct px *px, int err)
{
	ka_px_drop_upstream(px, err == ETIMEDOUT ? "connect_timeout" : "connect_failed");
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
	ka_px_progress(px);
	ka_conn_run(c);
}

static void upstream_timeout(struct ka_upconn *u)
{
	struct px *px = u->owner;
	struct ka_conn *c = px->c;

	if (!u->connected)
		connect_failed(px, ETIMEDOUT);
	else if (px->phase == PX_SEND)
		ka_px_fail(px, KA_UP_TIMEOUT, px->got_byte ? "backend response head incomplete after "
		                                          "--upstream-timeout"
		                                        : "no response head from the backend within "
		                                          "--upstream-timeout");
	else {
		ka_stat_add(&px->up->stats.failures[KA_UP_TIMEOUT], 1);
		ka_px_cut(px, "timeout_in_body");
	}
	ka_conn_run(c);
}

/* The client's write buffer has room again: move more of the response. */
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
		ka_px_detach(px);
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
