/*
 * Persistence applied: the facts a connection gives the keep-alive policy
 * (keepalive_policy.c, where every rule is) and what it does with the answers, and
 * how a connection ends when nothing is going on: the idle, header, body and linger
 * deadlines, the close-race guard, eviction at --max-connections, and the drain at
 * shutdown. The states themselves are in conn.c.
 */
#include "server/conn.h"

#include <stdint.h>

#include "core/util.h"
#include "server/trace.h"

/* ---- asking the policy --------------------------------------------------------------------- */

static uint64_t conns_open(const struct ka_conn *c)
{
	return atomic_load_explicit(&c->w->srv->nconns, memory_order_relaxed);
}

int64_t ka_conn_next_idle_timeout(const struct ka_conn *c)
{
	return ka_policy_idle_deadline(c->w->cfg, conns_open(c), c->w->loop.now - c->born,
	                               c->advertised_ms);
}

/* Gathers the facts of c and its request for the keep-alive policy, and applies its
 * decision about the response about to be written. */
void ka_conn_decide(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	const struct ka_policy_conn facts = {
		.requests = c->requests,
		.age_ms = c->w->loop.now - c->born,
		.half_closed = c->peer_closed,
		.last_call = c->last_call,
		/* A listener a reload removed drains its connections like a shutdown. */
		.draining = c->w->draining ||
		            (ka_conn_public(c) && c->w->srv->public_removed[c->slot]),
		/* Bytes of a next request are already buffered behind this one (its body,
		 * if any, has been taken out of the buffer). */
		.input_follows = ex->body_done && c->rbuf && ka_buf_used(c->rbuf) > ex->head_len,
		.send_queued = ex->send_queued,
	};
	const struct ka_policy_request req = {
		.minor_version = ex->req.minor_version,
		.conn_close = ex->req.conn_close,
		.conn_keep_alive = ex->req.conn_keep_alive,
		.length_unknown = ex->resp.content_length < 0 && ex->resp.body == KA_BODY_STREAM,
		.is_head = ex->is_head,
		.body_unread = !ex->body_done,
		.body_chunked = ex->framing == KA_FRAMING_CHUNKED,
		.body_left = ex->body_left,
	};
	struct ka_decision d = ka_policy_decide(c->w->cfg, &facts, &req, conns_open(c));

	ex->decision = d;
	c->client_done = d.client_asked;
	if (!d.keep) {
		c->closing = true;
		c->close_reason = d.reason;
		return;
	}
	c->advertised_ms = (uint32_t)(d.advertise_s * 1000);
}

/* ---- timers ------------------------------------------------------------------------------ */

/* An idle connection's time is up (idle timeout or lifetime). The race guard: a request
 * may have arrived since the loop last looked; if so it is answered, with
 * Connection: close, rather than dropped (docs/keepalive.md, "the reuse race"). */
void ka_conn_expire_idle(struct ka_conn *c, enum ka_close_reason reason)
{
	int n = ka_conn_peek(c);

	ka_fifo_remove(&c->timer);
	ka_loop_timer_remove(&c->w->loop, &c->idle_timer);
	if (n > 0) {
		c->last_call = true;
		c->readable = true;
		ka_conn_set_state(c, KA_CONN_HEAD);
		ka_fifo_push(&c->w->header_q, &c->timer, c->w->loop.now);
		ka_conn_run(c);
		return;
	}
	ka_conn_close(c, n == 0 ? KA_CLOSE_CLIENT_CLOSE : reason);
}

void ka_conn_handshake_timeout(struct ka_fifo_node *node, void *data)
{
	struct ka_conn *c = ka_container_of(node, struct ka_conn, timer);

	(void)data;
	ka_stat_add(&c->w->stats.tls_failed[KA_TLS_FAIL_TIMEOUT], 1);
	ka_trace(c, "tls_handshake", "ok=0 failure=timeout ms=%lld",
	         (long long)(c->w->loop.now - c->born));
	ka_conn_close(c, KA_CLOSE_TLS_HANDSHAKE);
}

void ka_conn_header_timeout(struct ka_fifo_node *node, void *data)
{
	struct ka_conn *c = ka_container_of(node, struct ka_conn, timer);

	(void)data;
	/* Nothing received: close silently. Part of a head: say why, then close. */
	if (c->state != KA_CONN_HEAD || !c->rbuf || ka_buf_used(c->rbuf) == 0 ||
	    !ka_conn_activate(c)) {
		ka_conn_close(c, KA_CLOSE_HEADER_TIMEOUT);
		return;
	}
	ka_conn_respond_error(c, 408, "request head not received within --header-timeout",
	                      KA_CLOSE_HEADER_TIMEOUT);
	ka_conn_run(c);
}

void ka_conn_idle_timeout(struct ka_fifo_node *node, void *data)
{
	(void)data;
	ka_conn_expire_idle(ka_container_of(node, struct ka_conn, timer), KA_CLOSE_KEEPALIVE_TIMEOUT);
}

void ka_conn_io_timeout(struct ka_fifo_node *node, void *data)
{
	(void)data;
	ka_conn_close(ka_container_of(node, struct ka_conn, timer), KA_CLOSE_IO_TIMEOUT);
}

void ka_conn_linger_timeout(struct ka_fifo_node *node, void *data)
{
	struct ka_conn *c = ka_container_of(node, struct ka_conn, timer);

	(void)data;
	ka_conn_close(c, c->close_reason);
}

/* The idle heap timer: an earlier deadline than idle_q's (see struct ka_conn), or,
 * lingering, the next turn of discarding. */
void ka_conn_idle_deadline(struct ka_timer *t)
{
	struct ka_conn *c = ka_container_of(t, struct ka_conn, idle_timer);
	if (c->state == KA_CONN_LINGER) {
		ka_conn_run(c);
		return;
	}
	bool lifetime = c->w->cfg->keepalive_time &&
	                c->w->loop.now - c->born >= c->w->cfg->keepalive_time;

	ka_conn_expire_idle(c, lifetime ? KA_CLOSE_KEEPALIVE_TIME : KA_CLOSE_KEEPALIVE_TIMEOUT);
}

int64_t ka_conn_evict_key(const struct ka_worker *w)
{
	/* idle_q is in the order connections went idle; the time it happened, in
	 * microseconds, orders them across workers. Lingering ones sort before all. */
	if (!ka_fifo_empty(&w->linger_q))
		return INT64_MIN / 2 + w->linger_q.head.next->deadline;
	if (!ka_fifo_empty(&w->idle_q))
		return ka_container_of(w->idle_q.head.next, struct ka_conn, timer)->idle_since_us;
	return INT64_MAX;
}

bool ka_conn_evict_one(struct ka_worker *w)
{
	/* A lingering connection first: its last response is out, and closing it only cuts
	 * short the courtesy of reading what its client still sends. It keeps its reason. */
	if (!ka_fifo_empty(&w->linger_q)) {
		struct ka_conn *c = ka_container_of(w->linger_q.head.next, struct ka_conn, timer);

		ka_conn_close(c, c->close_reason);
		return true;
	}
	while (!ka_fifo_empty(&w->idle_q)) {
		struct ka_conn *c = ka_container_of(w->idle_q.head.next, struct ka_conn, timer);

		/* The race guard holds here too: a request already on its way is answered. */
		ka_conn_expire_idle(c, KA_CLOSE_EVICTED);
		if (c->io.fd < 0)
			return true;
	}
	return false;
}

void ka_conn_drain(struct ka_conn *c)
{
	bool silent = c->state == KA_CONN_IDLE ||
	              (c->state == KA_CONN_HEAD && c->requests == 0 &&
	               (!c->rbuf || ka_buf_used(c->rbuf) == 0) && !c->readable);

	/* Handing over, a silent connection waits for its next request (worker.c). */
	if (silent && !c->w->handing_over) {
		ka_conn_expire_idle(c, KA_CLOSE_SHUTDOWN);
		return;
	}
	/* A stream that would go on for ever is brought to its end; others end with their
	 * current response (ka_conn_decide sees w->draining and says Connection: close). */
	if (c->ex && c->ex->streaming && c->ex->on_shutdown)
		c->ex->on_shutdown(c);
}

void ka_conn_idle_retime(struct ka_worker *w, int64_t timeout)
{
	int64_t limit = w->loop.now + timeout;
	struct ka_fifo_node *node, *next;

	/* Shorter: closing a waiting connection before the time its client was told could
	 * race a request it believes welcome. A deadline later than any new entry's would
	 * also break idle_q's order; such a connection moves to its own heap timer, with
	 * its deadline unchanged (should that fail, it is brought forward instead). */
	for (node = w->idle_q.head.next; timeout < w->idle_q.timeout && node != &w->idle_q.head;
	     node = next) {
		struct ka_conn *c = ka_container_of(node, struct ka_conn, timer);
		int64_t deadline = node->deadline;

		next = node->next;
		if (deadline <= limit)
			continue;
		if (ka_timer_armed(&c->idle_timer) && c->idle_timer.deadline <= deadline) {
			ka_fifo_remove(node);
		} else if (ka_loop_timer_add(&w->loop, &c->idle_timer, deadline) == 0) {
			ka_fifo_remove(node);
		} else {
			node->deadline = limit;
		}
	}
	w->idle_q.timeout = timeout;
}
