/*
 * The chain's demonstration: a proxy or load balancer (the front) keeps idle
 * connections to its backend and reuses them. When it keeps them longer than the
 * backend's idle timeout, a request it sends on one just as the backend closes it is
 * lost: the backend's FIN (or reset) crosses the request on the wire, and the front
 * answers 502 unless it may retry, which it may not for a request that is not
 * idempotent (RFC 9110 9.2.2). The window is about one round trip between front and
 * backend, right before the backend's timeout.
 *
 * So: one request through the front opens (or refreshes) an upstream connection;
 * then N requests, each sent after an idle gap from the previous response, the gaps
 * spread evenly from 60 ms before to 20 ms after the backend's measured idle timeout.
 * Each goes on a new client connection (the front's own idle timeout toward clients
 * plays no part) with --method (POST and a small body by default). A 502, 503 or 504,
 * a reset, a close without a response or no response within --timeout is a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "probe/probe.h"

#define GAP_FROM_MS (-60)
#define GAP_TO_MS 20
#define BODY "kaprobe\n"

struct demo {
	struct kp_net net;
	const struct kp_target *t;
	const struct kp_chain_opts *o;
	struct kp_chain_demo *d;
	struct kp_conn *conn;
	struct ka_timer next;          /* the next round's start */
	int64_t backend_ms;
	int64_t round;                 /* 0 opens the upstream connection; 1..N count */
	bool failed;
	char *fatal;
	size_t fatal_len;
};

static const struct kp_conn_ops demo_ops;

static int64_t gap_ms(const struct demo *m, int64_t round)
{
	int64_t n = m->o->demonstrate;
	int64_t off = n == 1 ? (GAP_FROM_MS + GAP_TO_MS) / 2
	                     : GAP_FROM_MS + (GAP_TO_MS - GAP_FROM_MS) * (round - 1) / (n - 1);
	return m->backend_ms + off;
}

static void demo_request(struct demo *m)
{
	char buf[KP_PATH_MAX + KP_HOST_MAX + 512];
	bool body = strcmp(m->o->method, "GET") != 0 && strcmp(m->o->method, "HEAD") != 0;
	size_t n = kp_request_format(buf, sizeof(buf) - sizeof(BODY), m->t, m->o->method, 1,
	                             body ? "Content-Type: text/plain\r\nContent-Length: 8\r\n" : "");

	if (body) {
		memcpy(buf + n, BODY, sizeof(BODY) - 1);
		n += sizeof(BODY) - 1;
	}
	m->conn = kp_conn_open(&m->net, m->t, &demo_ops, m);
	if (m->conn == NULL) {
		snprintf(m->fatal, m->fatal_len, "cannot open a socket: %s", strerror(errno));
		m->failed = true;
		m->net.loop.stop = true;
		return;
	}
	kp_conn_queue(m->conn, buf, n, strcmp(m->o->method, "HEAD") == 0 ? KA_METHOD_HEAD
	                                                                  : KA_METHOD_GET);
	kp_conn_flush(m->conn);
	kp_conn_set_timer(m->conn, m->net.loop.now + m->o->timeout_ms);
}

/* One round is over: note a failure (what, NULL for none) and start the next after its
 * gap, from now. */
static void round_end(struct demo *m, const char *failure)
{
	struct kp_chain_demo *d = m->d;

	if (m->conn != NULL)
		kp_conn_close(m->conn);
	m->conn = NULL;
	if (m->round > 0) {
		d->requests++;
		if (failure != NULL && d->failures++ == 0)
			snprintf(d->first_failure, sizeof(d->first_failure), "request %lld, after %.3f s "
			         "idle: %s", (long long)m->round, (double)gap_ms(m, m->round) / 1000.0,
			         failure);
	}
	if (m->round == m->o->demonstrate) {
		m->net.loop.stop = true;
		return;
	}
	m->round++;
	ka_loop_timer_add(&m->net.loop, &m->next, m->net.loop.now + gap_ms(m, m->round));
}

static void next_round(struct ka_timer *t)
{
	struct demo *m = ka_container_of(t, struct demo, next);
	demo_request(m);
}

static void demo_response(struct kp_conn *c, const struct kp_response *r)
{
	struct demo *m = c->owner;
	char what[120];

	if (r->head.status >= 502 && r->head.status <= 504) {
		if (m->round > 0)
			m->d->status_5xx++;
		snprintf(what, sizeof(what), "%.*s", (int)KA_MIN(r->status_line.len, (size_t)100),
		         r->status_line.p);
		round_end(m, what);
		return;
	}
	round_end(m, NULL);
}

static void demo_closed(struct kp_conn *c)
{
	struct demo *m = c->owner;

	m->conn = NULL;
	if (c->end == KP_END_CONNECT || (c->end == KP_END_TLS && m->round == 0)) {
		snprintf(m->fatal, m->fatal_len, "%s %s: %s", c->end == KP_END_CONNECT ?
		         "cannot connect to" : "TLS with", m->t->addr_text,
		         c->end == KP_END_CONNECT ? strerror(c->err) : c->tls_error);
		m->failed = true;
		m->net.loop.stop = true;
		return;
	}
	if (m->round > 0 && c->end == KP_END_RST)
		m->d->reset++;
	else if (m->round > 0 && c->end == KP_END_FIN)
		m->d->closed++;
	else if (m->round > 0)
		m->d->other_errors++;
	round_end(m, c->end == KP_END_RST ? "the front reset the connection"
	             : c->end == KP_END_FIN ? "the front closed without a response"
	             : kp_end_name(c->end));
}

static void demo_timer(struct kp_conn *c)
{
	struct demo *m = c->owner;

	if (m->round > 0)
		m->d->timed_out++;
	round_end(m, "no response within --timeout");
}

static const struct kp_conn_ops demo_ops = {
	.response = demo_response,
	.closed = demo_closed,
	.timer = demo_timer,
};

int kp_chain_demonstrate(const struct kp_target *front, const struct kp_chain_opts *o,
                         double backend_timeout_s, struct kp_chain_demo *d, char *fatal,
                         size_t fatal_len)
{
	static struct demo m;
	int err;

	memset(&m, 0, sizeof(m));
	memset(d, 0, sizeof(*d));
	m.t = front;
	m.o = o;
	m.d = d;
	m.fatal = fatal;
	m.fatal_len = fatal_len;
	m.backend_ms = (int64_t)(backend_timeout_s * 1000.0 + 0.5);
	m.next.cb = next_round;
	d->backend_timeout_s = backend_timeout_s;
	d->gap_min_s = (double)gap_ms(&m, 1) / 1000.0;
	d->gap_max_s = (double)gap_ms(&m, o->demonstrate) / 1000.0;
	if ((err = kp_net_init(&m.net)) != 0) {
		snprintf(fatal, fatal_len, "event loop: %s", strerror(-err));
		return 1;
	}
	demo_request(&m);
	while (!m.net.loop.stop)
		ka_loop_run_once(&m.net.loop, -1);
	if (m.conn != NULL)
		kp_conn_close(m.conn);
	ka_loop_timer_remove(&m.net.loop, &m.next);
	kp_net_close(&m.net);
	d->ran = !m.failed;
	return m.failed ? 1 : 0;
}

/* ---- the verdict on the ordering --------------------------------------------------------- */

/* "60 s", "> 3 s": a side's idle timeout, or what --max-wait showed of it. */
static const char *idle_text(const struct kp_results *r, double max_wait_s, char *buf, size_t len)
{
	if (r->idle_closed_by_server)
		kp_seconds_text(r->idle_timeout_s, buf, len);
	else if (r->idle_answered)
		snprintf(buf, len, "> %.0f s", max_wait_s);
	else
		snprintf(buf, len, "unknown");
	return buf;
}

enum kp_chain_verdict kp_chain_judge(const struct kp_results *front, const struct kp_results *back,
                                     double max_wait_s, const struct kp_chain_demo *d,
                                     struct kp_findings *out)
{
	char f[32], b[32];
	enum kp_chain_verdict v = KP_CHAIN_UNKNOWN;

	out->n = 0;
	idle_text(front, max_wait_s, f, sizeof(f));
	idle_text(back, max_wait_s, b, sizeof(b));
	if (back->idle_closed_by_server && front->idle_answered &&
	    (!front->idle_closed_by_server || front->idle_timeout_s > back->idle_timeout_s + 0.05))
		v = KP_CHAIN_FRONT_LONGER;
	else if (back->idle_closed_by_server && front->idle_closed_by_server)
		v = KP_CHAIN_OK;
	if (v == KP_CHAIN_FRONT_LONGER && front->idle_closed_by_server)
		kp_finding_add(out, "chain", KP_ERROR, "front %s > backend %s: expect 502s; set the "
		               "front below %s or the backend above %s", f, b, b, f);
	else if (v == KP_CHAIN_FRONT_LONGER)
		kp_finding_add(out, "chain", KP_ERROR, "front %s > backend %s: expect 502s; set the "
		               "front's upstream idle timeout below %s or the backend's above the "
		               "front's (kaprobe sees the front's idle timeout toward clients, still "
		               "open at --max-wait)", f, b, b);
	else if (v == KP_CHAIN_UNKNOWN && !back->idle_closed_by_server)
		kp_finding_add(out, "chain", KP_INFO, "backend idle timeout %s: the ordering is "
		               "unknown; a longer --max-wait tells", b);
	if (d != NULL && d->ran && d->failures > 0)
		kp_finding_add(out, "chain", KP_ERROR, "%u of %u requests through the front failed "
		               "after idle gaps around the backend's %s timeout: the front reuses "
		               "upstream connections the backend is closing", d->failures, d->requests,
		               kp_seconds_text(d->backend_timeout_s, b, sizeof(b)));
	if (back->advertised_timeout_s < 0 && back->idle_closed_by_server)
		kp_finding_add(out, "chain", KP_INFO, "the backend advertises no `Keep-Alive: "
		               "timeout`: a front that honours it cannot learn the backend's %s", b);
	return v;
}
