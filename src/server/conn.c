/*
 * The connection state machine: where RFC 9112 section 9 (connection management)
 * becomes code. One function per state, each returning whether to wait for the next
 * event, go round again, or stop because the connection is gone; conn_run() loops
 * until a step waits. Every state owns its timer: entering a state arms its FIFO,
 * leaving it disarms, so exactly one connection timeout runs at a time (none while a
 * handler is working). Sockets are registered once, edge-triggered for input and
 * output, so a request costs no epoll_ctl; "readable" and "writable" remember an
 * edge until a short read or write shows the kernel has nothing more for us.
 * Whether a connection persists is the keep-alive policy's answer
 * (keepalive_policy.c); its deadlines, eviction and the drain are in conn_keepalive.c;
 * a request's memory, body and queued response in conn_request.c. Handlers are
 * reached only through the route table (route.h).
 */
#include "server/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sockopt.h"
#include "core/util.h"
#include "server/accesslog.h"
#include "server/trace.h"

enum step { STEP_WAIT, STEP_AGAIN, STEP_CLOSED };

static void on_event(struct ka_io *io, uint32_t events);

/* ---- birth and death --------------------------------------------------------------------- */

static void peer_store(struct ka_peer *p, const struct sockaddr *sa)
{
	p->family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;

		p->port = ntohs(a6->sin6_port);
		memcpy(p->addr, &a6->sin6_addr, 16);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

		p->port = ntohs(a4->sin_port);
		memcpy(p->addr, &a4->sin_addr, 4);
	}
}

struct ka_conn *ka_conn_new(struct ka_worker *w, int fd, const struct sockaddr *peer,
                            const struct ka_listener *l)
{
	struct ka_conn *c = calloc(1, sizeof(*c));
	int64_t now = w->loop.now;

	if (!c) {
		close(fd);
		return NULL;
	}
	c->io.fd = fd;
	c->io.on_event = on_event;
	c->w = w;
	c->born = now;
	c->role = (uint8_t)l->role;
	c->slot = (uint8_t)(l - w->listeners);
	if (l->tls && !(c->tls = ka_tls_accept(w->srv->tls, fd))) {
		close(fd);
		free(c);
		return NULL;
	}
	c->handshaking = c->tls != NULL;
	/* The admin's own connections take no public id: they are counted nowhere. */
	c->id = !ka_conn_public(c) ? ++w->admin_ids
	                           : atomic_fetch_add_explicit(&w->srv->next_conn_id, 1,
	                                                       memory_order_relaxed) + 1;
	c->state = KA_CONN_HEAD;
	/* TCP_NODELAY and TCP keepalive came with the socket from its listener (main.c). */
	if (ka_loop_add(&w->loop, &c->io, KA_EV_IN | KA_EV_OUT | KA_EV_RDHUP | KA_EV_EDGE) < 0) {
		if (c->tls)
			ka_tls_conn_free(c->tls);
		close(fd);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&w->conns_lock);
	c->link.next = w->conns.next;
	c->link.prev = &w->conns;
	w->conns.next->prev = &c->link;
	w->conns.next = &c->link;
	pthread_mutex_unlock(&w->conns_lock);
	w->nconns++;
	ka_stat_add(&w->stats.accepted, 1);
	ka_stat_add(&w->stats.in_state[KA_CONN_HEAD], 1);
	/* The first request's head must be complete within --header-timeout of the accept,
	 * or of the TLS handshake, which has its own timeout. */
	ka_fifo_push(c->tls ? &w->handshake_q : &w->header_q, &c->timer, now);
	c->idle_timer.cb = ka_conn_idle_deadline;
	peer_store(&c->peer, peer);
	if (ka_conn_traced(c)) {
		char text[KA_ADDR_TEXT_MAX];

		ka_trace(c, "accept", "peer=%s worker=%u", ka_conn_peer_text(c, text, sizeof(text)),
		         w->index);
	}
	return c;
}

void ka_conn_close(struct ka_conn *c, enum ka_close_reason reason)
{
	struct ka_worker *w = c->w;
	/* Who closed first is who keeps TIME_WAIT: the client when its FIN (or RST) came
	 * before ours, whether read yet or only announced (EPOLLRDHUP). */
	bool by_client = reason == KA_CLOSE_CLIENT_CLOSE ||
	                 (c->shut_wr ? c->fin_before_ours : c->peer_closed || c->fin_announced);

	c->close_reason = reason;
	ka_trace(c, "close", "reason=%s closed_by=%s requests=%u age_ms=%lld",
	         ka_close_reason_name(reason), by_client ? "client" : "server", c->requests,
	         (long long)(w->loop.now - c->born));
	ka_fifo_remove(&c->timer);
	ka_loop_timer_remove(&w->loop, &c->idle_timer);
	if (c->ex) {
		ka_access_log_cut(c, reason);
		ka_exchange_release(c);
	}
	if (c->tls) {
		/* The server's close, not a cut: close_notify before the FIN. */
		if (!by_client && !c->shut_wr)
			ka_tls_close_notify(c->tls);
		ka_tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->rbuf)
		ka_buf_put(&w->bufs, c->rbuf);
	if (c->wbuf)
		ka_buf_put(&w->bufs, c->wbuf);
	/* Counted before the close, so that a client that has seen the FIN reads figures
	 * that include it. */
	ka_stat_add(&w->stats.in_state[c->state], -1);
	ka_stats_closed(&w->stats, reason, by_client, c->requests, w->loop.now - c->born);
	/* No other descriptor refers to the socket, so close() also takes it out of epoll;
	 * except while a binary upgrade's child, between fork and execve, holds copies of
	 * our descriptors: epoll would then go on reporting a connection already freed. */
	if (atomic_load_explicit(&w->srv->fds_shared, memory_order_relaxed))
		ka_loop_del(&w->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	/* Freed at the end of the loop iteration (ka_conn_free_closed): an event for this
	 * connection may still be waiting further down the current epoll batch. */
	pthread_mutex_lock(&w->conns_lock);
	c->link.prev->next = c->link.next;
	c->link.next->prev = c->link.prev;
	pthread_mutex_unlock(&w->conns_lock);
	c->link.next = w->closed.next;
	c->link.prev = &w->closed;
	w->closed.next->prev = &c->link;
	w->closed.next = &c->link;
	w->nconns--;
	if (ka_conn_public(c))
		ka_server_conn_closed(w);
	if (w->draining && w->nconns == 0)
		w->loop.stop = true;
}

/* After the last response is out: close at once, or linger (RFC 9112 9.6) as the
 * keep-alive policy says. Lingering, we shut down our side so the client sees the end
 * of the response, read and drop what it still sends, and close when it closes or
 * after KA_POLICY_LINGER_MS: closing with its bytes unread would send an RST, and an
 * RST can destroy a response the client has not read yet. Unread input is what the
 * buffer holds, a body not read to its end, or a readiness edge not yet used up. */
static enum step conn_finish(struct ka_conn *c)
{
	bool unread = c->readable || (c->rbuf && ka_buf_used(c->rbuf)) ||
	              (c->ex && !c->ex->body_done);
	bool waited = c->ex && c->ex->send_queued;

	/* Bytes that came after our last read may not have reached us as an event yet:
	 * before closing with nothing thought unread, one look, so that close() does not
	 * meet them unread and reset the response (a readiness flag alone, as nginx has,
	 * leaves that window open). */
	if (!unread && !ka_policy_linger(c->client_done, c->peer_closed, false, waited))
		unread = ka_conn_peek(c) > 0;
	if (!ka_policy_linger(c->client_done, c->peer_closed, unread, waited)) {
		ka_conn_close(c, c->close_reason);
		return STEP_CLOSED;
	}
	if (c->tls)
		ka_tls_close_notify(c->tls);
	shutdown(c->io.fd, SHUT_WR);
	c->shut_wr = true;
	c->fin_before_ours = c->fin_announced;
	if (c->ex)
		ka_exchange_release(c);
	if (c->rbuf)
		c->rbuf->pos = c->rbuf->len = 0;
	ka_conn_release(c);
	ka_conn_set_state(c, KA_CONN_LINGER);
	ka_fifo_push(&c->w->linger_q, &c->timer, c->w->loop.now);
	if (ka_conn_public(c))
		ka_server_conn_evictable(c->w);  /* it can make room for a client kept waiting */
	return STEP_AGAIN;
}

/* ---- reading ----------------------------------------------------------------------------- */

int ka_conn_peek(struct ka_conn *c)
{
	char byte;
	ssize_t n = recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0)
		c->peer_closed = true;
	return n > 0 ? 1 : n == 0 ? 0 : -1;
}


/* One recv. A short read means the socket is drained: with edge-triggered epoll, any
 * byte that arrives later brings a new event, so no second recv to see EAGAIN. Not so
 * when the client's FIN came with the data: the one edge (EPOLLIN | EPOLLRDHUP) is
 * spent, nothing will arrive to bring another, and only a further recv returning 0
 * reveals the end of input; without it a half-closed client with a request or a body
 * underway would hold its connection until a timeout. */
static ssize_t conn_recv(struct ka_conn *c, char *p, size_t len)
{
	for (;;) {
		ssize_t n = recv(c->io.fd, p, len, 0);

		if (n > 0) {
			if ((size_t)n < len && !c->fin_announced)
				c->readable = false;
			return n;
		}
		if (n == 0) {
			c->peer_closed = true;
			c->readable = false;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->readable = false;
			return KA_RECV_AGAIN;
		}
		return KA_RECV_ERROR;
	}
}

ssize_t ka_conn_recv(struct ka_conn *c, char *p, size_t len)
{
	return c->tls ? ka_conn_recv_tls(c, p, len) : conn_recv(c, p, len);
}

/* Reads into the free room of the read buffer, compacting it first if needed. */
static ssize_t conn_recv_buf(struct ka_conn *c)
{
	struct ka_buf *b = c->rbuf;
	ssize_t n;

	if (ka_buf_room(b) == 0)
		ka_buf_compact(b);
	if (ka_buf_room(b) == 0)
		return KA_RECV_AGAIN;
	n = ka_conn_recv(c, b->data + b->len, ka_buf_room(b));
	if (n > 0)
		b->len += (uint32_t)n;
	return n;
}

static enum ka_close_reason reason_for_errno(int err)
{
	return err == ETIMEDOUT ? KA_CLOSE_TCP_KEEPALIVE
	       : (err == ECONNRESET || err == EPIPE) ? KA_CLOSE_CLIENT_CLOSE
	                                              : KA_CLOSE_ERROR;
}

/* ---- the states -------------------------------------------------------------------------- */

static bool output_pending(const struct ka_conn *c)
{
	return (c->wbuf && ka_buf_used(c->wbuf)) || (c->ex && c->ex->tail != KA_TAIL_NONE);
}

/* The head is complete: find its route and hand the request to the handler. Until the
 * handler answers, the connection is processing, with no timer (the handler may wait
 * on one of its own); one that reads the body moves it on to reading the body. */
static enum step start_request(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;
	struct ka_http_request *req = &ex->req;
	const struct ka_route *route;

	ka_conn_count_request(c);
	ex->is_head = req->method_id == KA_METHOD_HEAD;
	ka_trace(c, "request", "req=%u method=%.*s target=%.*s version=1.%d", c->requests,
	         (int)req->method.len, req->method.p, (int)KA_MIN(req->target.len, 200),
	         req->target.p, req->minor_version);
	ka_access_log_request(c);
	if (req->is_chunked) {
		ex->framing = KA_FRAMING_CHUNKED;
		ex->body_done = false;
	} else if (req->content_length > 0) {
		ex->framing = KA_FRAMING_LENGTH;
		ex->body_left = (uint64_t)req->content_length;
		ex->body_done = false;
	}
	ex->route = route = ka_routes_find(w->routes[c->role], req->path);
	if (req->content_length > 0 && (uint64_t)req->content_length > w->cfg->max_body_size &&
	    !(route && route->streams_body)) {
		ka_conn_respond_error(c, 413, "request body larger than --max-body-size",
		                      KA_CLOSE_BAD_REQUEST);
		return STEP_AGAIN;
	}
	/* Handlers that ignore the body: drop what of it has already arrived, so that the
	 * keep-alive policy knows whether the rest is small enough to discard later. */
	if (!(route && route->reads_body) && !ka_conn_skip_body(c))
		return STEP_AGAIN;
	ka_conn_set_state(c, KA_CONN_PROCESS);
	if (!route) {
		ka_conn_respond_text(c, 404, "no route for this path");
	} else if (!ka_route_allows(route, req->method_id)) {
		ka_resp_add_header(&ex->resp, "Allow", route->allow);
		ka_conn_respond_text(c, 405, route->allow);
	} else {
		route->serve(c, route);
		if (c->ex == ex && ex->body_wanted && !ex->body_done) {
			/* The handler kept what it needs of the head; the body may now overwrite it. */
			ka_buf_consume(c->rbuf, ex->head_len);
			ex->head_len = 0;
			ka_conn_set_state(c, KA_CONN_BODY);
			ka_fifo_push(&w->io_q, &c->timer, w->loop.now);
		}
	}
	return STEP_AGAIN;
}

static enum step step_head(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	const struct ka_http_limits limits = { w->cfg->max_header_size, KA_HTTP_MAX_TARGET };
	struct ka_exchange *ex;
	struct ka_buf *b;

	if (c->handshaking) {
		int r = ka_conn_handshake(c);

		return r < 0 ? STEP_CLOSED : r > 0 ? STEP_AGAIN : STEP_WAIT;
	}
	if (!ka_conn_activate(c)) {
		ka_conn_close(c, KA_CLOSE_ERROR);
		return STEP_CLOSED;
	}
	ex = c->ex;
	b = c->rbuf;
	for (;;) {
		size_t avail = ka_buf_used(b);
		ssize_t n;

		if (avail > ex->scanned) {
			ssize_t r = ka_http_parse_request(b->data + b->pos, avail, ex->scanned, &limits,
			                                  &ex->req);

			if (r > 0) {
				ka_fifo_remove(&c->timer);
				ex->head_len = (size_t)r;
				return start_request(c);
			}
			if (r == KA_PARSE_ERROR) {
				ka_fifo_remove(&c->timer);
				ka_conn_respond_error(c, ex->req.status, ex->req.error, KA_CLOSE_BAD_REQUEST);
				return STEP_AGAIN;
			}
			ex->scanned = avail;
		}
		/* Before waiting for the rest of a head, send what earlier requests produced. */
		if (output_pending(c)) {
			ka_fifo_remove(&c->timer);
			ka_conn_set_state(c, KA_CONN_WRITE);
			return STEP_AGAIN;
		}
		if (c->peer_closed) {  /* every request it sent has been answered */
			ka_conn_close(c, KA_CLOSE_CLIENT_CLOSE);
			return STEP_CLOSED;
		}
		if (!ka_fifo_node_armed(&c->timer))
			ka_fifo_push(&w->header_q, &c->timer, w->loop.now);
		if (!c->readable)
			return STEP_WAIT;
		n = conn_recv_buf(c);
		if (n == KA_RECV_AGAIN)
			return STEP_WAIT;
		if (n <= 0) {
			ka_conn_close(c, n == 0 ? KA_CLOSE_CLIENT_CLOSE : reason_for_errno(errno));
			return STEP_CLOSED;
		}
	}
}

static enum step step_body(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;

	for (;;) {
		int status = 0;
		const char *why = NULL;
		ssize_t n;

		if (ka_buf_used(c->rbuf)) {
			int r = ka_conn_body_take(c, 0, &status, &why);

			if (r < 0) {
				ka_fifo_remove(&c->timer);
				if (ex->body_wanted) {
					ka_conn_respond_error(c, status, why, KA_CLOSE_BAD_REQUEST);
					return STEP_AGAIN;
				}
				ka_conn_close(c, KA_CLOSE_BAD_REQUEST);  /* response already sent */
				return STEP_CLOSED;
			}
			if (r == 1)
				break;
		}
		/* An interim 100 Continue may be waiting to go out. */
		if (output_pending(c) && ka_output_flush(c, false) < 0) {
			ka_conn_close(c, reason_for_errno(errno));
			return STEP_CLOSED;
		}
		if (!c->readable)
			return STEP_WAIT;
		n = conn_recv_buf(c);
		if (n == KA_RECV_AGAIN)
			return STEP_WAIT;
		if (n <= 0) {
			ka_conn_close(c, n == 0 ? KA_CLOSE_CLIENT_CLOSE : reason_for_errno(errno));
			return STEP_CLOSED;
		}
		ka_fifo_push(&w->io_q, &c->timer, w->loop.now);  /* progress: the stall clock restarts */
	}
	ka_fifo_remove(&c->timer);
	if (ex->body_wanted) {
		ex->body_wanted = false;
		ex->on_body(c);
		return STEP_AGAIN;
	}
	ka_conn_set_state(c, KA_CONN_WRITE);  /* discarded: carry on as after any response */
	return STEP_AGAIN;
}

/* A handler is working. Input is read to notice a client that is gone: a reset
 * closes the connection at once. Its FIN does not: a client that has sent its
 * requests in full may half-close and still wait for the answers (nothing it sent in
 * full goes unanswered); if it has closed altogether, the answer's first write brings
 * the reset. Except on an event stream (fin_ends): no client half-closes to go on
 * reading one, and its next event may be far off. Pipelined bytes wait in the
 * buffer. */
static enum step step_process(struct ka_conn *c)
{
	ssize_t n;

	if (!c->readable)
		return STEP_WAIT;
	if (c->ex && c->ex->on_input) {
		c->ex->on_input(c);
		return STEP_WAIT;
	}
	if (ka_buf_room(c->rbuf) == 0 && c->rbuf->pos == 0)
		return STEP_WAIT;  /* buffer full of pipelined requests: read later */
	n = conn_recv_buf(c);
	if (n == KA_RECV_ERROR || (n == 0 && c->ex && c->ex->fin_ends)) {
		ka_conn_close(c, n == 0 ? KA_CLOSE_CLIENT_CLOSE : reason_for_errno(errno));
		return STEP_CLOSED;
	}
	return n > 0 ? STEP_AGAIN : STEP_WAIT;  /* on 0, c->peer_closed is now set */
}

static void conn_go_idle(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	int64_t timeout = ka_conn_next_idle_timeout(c);

	ka_conn_release(c);
	ka_conn_set_state(c, KA_CONN_IDLE);
	ka_trace(c, "idle", "timeout_ms=%lld", (long long)timeout);
	/* RFC 9112 9.8 leaves the timeout to us; it starts now that the last byte of the
	 * response is with the kernel. A timeout shorter than idle_q's shared one (under
	 * pressure, or the end of --keepalive-time) also gets a heap timer; should it fail
	 * to arm, idle_q's later deadline still closes the connection. */
	ka_fifo_push(&w->idle_q, &c->timer, w->loop.now);
	c->idle_since_us = w->loop.now_us;
	if (timeout < w->cfg->keepalive_timeout)
		(void)ka_loop_timer_add(&w->loop, &c->idle_timer, w->loop.now + timeout);
	if (ka_conn_public(c))
		ka_server_conn_evictable(w);
}

static enum step step_write(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;
	/* When the connection is closing, conn_finish follows a complete flush at once. */
	int r = ka_output_flush(c, c->closing && !(ex && ex->streaming));

	if (r < 0) {
		ka_conn_close(c, reason_for_errno(errno));
		return STEP_CLOSED;
	}
	if (r == 0) {
		if (ex)
			ex->send_queued = true;
		/* The socket is full: the client is not reading. Restart the stall clock only
		 * when we are not already waiting on it, so a trickle still counts as progress
		 * (each partial write re-arms) but a stuck client times out. */
		ka_fifo_push(&w->io_q, &c->timer, w->loop.now);
		return c->readable && ex && ex->streaming ? step_process(c) : STEP_WAIT;
	}
	ka_fifo_remove(&c->timer);
	if (ex && ex->streaming) {
		if (ex->on_drain)
			ex->on_drain(c);
		if (output_pending(c) || !ex->streaming)  /* more to send, or the stream ended */
			return STEP_AGAIN;
		return c->readable ? step_process(c) : STEP_WAIT;
	}
	if (ex)
		ka_conn_response_done(c);
	if (c->closing)
		return conn_finish(c);
	if (ex && !ex->body_done) {
		ka_conn_set_state(c, KA_CONN_BODY);
		ka_fifo_push(&w->io_q, &c->timer, w->loop.now);
		return STEP_AGAIN;
	}
	if (c->rbuf && ka_buf_used(c->rbuf)) {
		ka_exchange_reset(ex);
		ka_conn_set_state(c, KA_CONN_HEAD);
		return STEP_AGAIN;
	}
	if (c->peer_closed) {  /* it half-closed while we answered: no request can follow */
		ka_conn_close(c, KA_CLOSE_CLIENT_CLOSE);
		return STEP_CLOSED;
	}
	if (w->draining && !w->handing_over) {
		/* The head said keep-alive before the drain began: close now, unless a
		 * pipelined request already arrived, which is answered (with close). Handing
		 * over, it waits idle for its next request like the others (worker.c). */
		ka_conn_expire_idle(c, KA_CLOSE_SHUTDOWN);
		return STEP_WAIT;
	}
	conn_go_idle(c);
	return c->readable ? STEP_AGAIN : STEP_WAIT;
}

/* The first byte of the next request ends the idle wait; its head must then be
 * complete within --header-timeout. */
static enum step step_idle(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	ssize_t n;

	if (!c->readable)
		return STEP_WAIT;
	if (!ka_conn_activate(c)) {
		ka_conn_close(c, KA_CLOSE_ERROR);
		return STEP_CLOSED;
	}
	n = conn_recv_buf(c);
	if (n > 0) {
		ka_loop_timer_remove(&w->loop, &c->idle_timer);
		ka_conn_set_state(c, KA_CONN_HEAD);
		ka_fifo_push(&w->header_q, &c->timer, w->loop.now);
		return STEP_AGAIN;
	}
	if (n == KA_RECV_AGAIN) {
		ka_conn_release(c);
		return STEP_WAIT;
	}
	ka_conn_close(c, n == 0 ? KA_CLOSE_CLIENT_CLOSE : reason_for_errno(errno));
	return STEP_CLOSED;
}

/* At most this many discard reads per turn: a client sending faster than we read must
 * not keep its worker from every other connection, nor from the 2 s limit. */
enum { LINGER_READS_PER_TURN = 16 };

static enum step step_linger(struct ka_conn *c)
{
	for (int reads = 0;; reads++) {
		ssize_t n;

		if (!c->readable)
			return STEP_WAIT;
		if (reads == LINGER_READS_PER_TURN) {
			/* Still more: carry on a millisecond on, once the loop has served the
			 * others (ka_conn_idle_deadline); without a timer, stop lingering. */
			if (ka_loop_timer_add(&c->w->loop, &c->idle_timer, c->w->loop.now + 1) < 0) {
				ka_conn_close(c, c->close_reason);
				return STEP_CLOSED;
			}
			return STEP_WAIT;
		}
		n = conn_recv(c, c->w->discard, sizeof(c->w->discard));
		if (n == KA_RECV_AGAIN)
			return STEP_WAIT;
		if (n <= 0) {
			ka_conn_close(c, c->close_reason);
			return STEP_CLOSED;
		}
	}
}

void ka_conn_run(struct ka_conn *c)
{
	enum step s;

	do {
		switch ((enum ka_conn_state)c->state) {
		case KA_CONN_HEAD:
			s = step_head(c);
			break;
		case KA_CONN_BODY:
			s = step_body(c);
			break;
		case KA_CONN_PROCESS:
			s = step_process(c);
			break;
		case KA_CONN_WRITE:
			s = step_write(c);
			break;
		case KA_CONN_IDLE:
			s = step_idle(c);
			break;
		case KA_CONN_LINGER:
			s = step_linger(c);
			break;
		default:
			s = STEP_WAIT;
		}
	} while (s == STEP_AGAIN);
}

void ka_conn_free_closed(void *data)
{
	struct ka_worker *w = data;

	while (w->closed.next != &w->closed) {
		struct ka_link *l = w->closed.next;

		l->next->prev = l->prev;
		l->prev->next = l->next;
		free(ka_container_of(l, struct ka_conn, link));
	}
	while (w->graves) {
		struct ka_grave *g = w->graves;

		w->graves = g->next;
		free(g->block);
	}
}

static void on_event(struct ka_io *io, uint32_t events)
{
	struct ka_conn *c = (struct ka_conn *)io;

	if (io->fd < 0)
		return;  /* closed earlier in this batch */
	/* EPOLLERR: a socket error (ETIMEDOUT when TCP keepalive probes or
	 * TCP_USER_TIMEOUT gave up, ECONNRESET); EPOLLHUP: both directions are shut, as
	 * after an RST. Either way the peer can take nothing more from us, except while
	 * lingering: there a hang-up is only the client's FIN after ours, and the end of
	 * the response may still wait in our send queue. Bytes may have come with that
	 * FIN, and close() with them unread would send an RST that throws the response's
	 * end away: they are read first, as any input is (step_linger closes after). */
	if (events & (KA_EV_ERR | KA_EV_HUP)) {
		if (c->state == KA_CONN_LINGER) {
			if (events & KA_EV_ERR) {
				ka_conn_close(c, c->close_reason);
				return;
			}
			events |= KA_EV_IN | KA_EV_RDHUP;
		} else if ((events & KA_EV_ERR) || !(events & KA_EV_IN)) {
			int err = ka_sock_error(io->fd);

			if (err == ETIMEDOUT)
				ka_trace(c, "tcp_keepalive_dead", "state=%s", ka_conn_state_name(c->state));
			ka_conn_close(c, err ? reason_for_errno(err) : KA_CLOSE_CLIENT_CLOSE);
			return;
		}
	}
	if (events & KA_EV_OUT)
		c->writable = true;
	if (events & KA_EV_RDHUP)
		c->fin_announced = true;
	if (events & (KA_EV_IN | KA_EV_RDHUP))
		c->readable = true;
	ka_conn_run(c);
}
