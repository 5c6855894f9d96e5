/*
 * kaprobe bench: the same load twice, N requests with C in flight, first over
 * persistent connections (HTTP/1.1, no Connection header: each of C connections sends
 * its next request as soon as the previous response is complete, and opens a new
 * connection only when the server ends one), then with a new connection per request
 * (Connection: close; the server closes first, as it must after that header, and we
 * close once we have read its FIN). Everything counted is counted, not estimated:
 * answered requests and their latencies by us, connections by successful connects,
 * TIME_WAIT sockets by the kernel after the run. For https a third run repeats the
 * second with every connection offering the TLS session of an earlier one, so that the
 * cost of the full handshake and of the TCP connection can be told apart. Every run is
 * bounded by N and by --time-limit, and goes only to the URL given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "probe/probe.h"

struct bench;

struct slot {
	struct bench *b;
	struct kp_conn *conn;
	int64_t t_start_us;  /* the request's start: its write, or its connect for a new connection */
	bool request_out;    /* a request is waiting for its response */
	bool closing;        /* waiting for the server's close (ours was sent or it said close) */
	bool finished;
};

struct bench {
	struct kp_net net;
	const struct kp_target *t;
	const struct kp_bench_opts *o;
	struct kp_bench_run *run;
	struct slot *slots;
	int64_t *latency_us;   /* of answered requests, in completion order */
	uint8_t *ports;        /* 65536-bit map of the local ports this run used */
	unsigned active;       /* slots not finished */
	struct ka_timer limit; /* --time-limit */
	int64_t t_begin_us, t_end_us;
	bool resume;                        /* offer *session on every new connection */
	struct kp_tls_session **session;    /* https: the latest resumable session seen */
	char request[KP_PATH_MAX + KP_HOST_MAX + 256];
	size_t request_len;
};

static void fail_request(struct slot *s, const char *fmt, const char *detail)
{
	struct kp_bench_run *run = s->b->run;
	run->errors++;
	s->request_out = false;
	if (run->first_error[0] == '\0')
		snprintf(run->first_error, sizeof(run->first_error), fmt, detail);
}

static void slot_finished(struct slot *s)
{
	struct bench *b = s->b;
	if (s->finished)
		return;
	s->finished = true;
	if (--b->active == 0) {
		b->t_end_us = b->net.loop.now_us;
		b->net.loop.stop = true;
	}
}

static const struct kp_conn_ops bench_ops;

/* Gives the slot its next piece of work: a request, a connection to end, or nothing. */
static void slot_next(struct slot *s)
{
	struct bench *b = s->b;
	struct kp_bench_run *run = b->run;
	if (s->finished)
		return;
	if (run->issued >= b->o->requests || b->net.loop.stop) {
		if (s->conn == NULL) {
			slot_finished(s);
		} else if (!s->closing) {
			/* We close a persistent connection first: half-close, and wait for the
			 * server's FIN so that both sides are done when TIME_WAIT is counted. */
			s->closing = true;
			kp_conn_shutdown(s->conn);
			kp_conn_set_timer(s->conn, b->net.loop.now + b->o->timeout_ms);
		}
		return;
	}
	/* Fresh clock: a request's latency starts now, not at the start of the batch. */
	ka_loop_update_time(&b->net.loop);
	if (s->conn == NULL) {
		s->conn = kp_conn_open(&b->net, b->t, &bench_ops, s);
		if (s->conn == NULL) {
			run->issued++;
			fail_request(s, "cannot open a socket: %s", strerror(errno));
			slot_finished(s);
			return;
		}
		if (b->resume)
			kp_conn_offer_session(s->conn, *b->session);
	}
	run->issued++;
	s->request_out = true;
	s->closing = false;
	s->t_start_us = b->net.loop.now_us;
	kp_conn_queue(s->conn, b->request, b->request_len, KA_METHOD_GET);
	kp_conn_flush(s->conn);
	kp_conn_set_timer(s->conn, b->net.loop.now + b->o->timeout_ms);
}

static void on_connected(struct kp_conn *c)
{
	struct slot *s = c->owner;
	struct bench *b = s->b;
	b->run->connections_opened++;
	b->ports[c->local_port >> 3] |= (uint8_t)(1u << (c->local_port & 7));
}

/* After a connection's first response (for TLS 1.3 the tickets came before it): counts
 * a resumed handshake, and keeps the connection's session for the connections to come
 * when there is none yet or this run resumes (the newest ticket, as browsers use each
 * ticket once). */
static void keep_session(struct bench *b, struct kp_conn *c)
{
	struct kp_tls_info info;
	double ms;

	if (kp_conn_tls_info(c, &info, &ms) && info.resumed)
		b->run->tls_resumed++;
	if (*b->session != NULL && !b->resume)
		return;
	struct kp_tls_session *s = kp_tls_session_get(c->tls);
	if (s == NULL)
		return;
	if (*b->session != NULL)
		kp_tls_session_free(*b->session);
	*b->session = s;
}

static void on_response(struct kp_conn *c, const struct kp_response *resp)
{
	struct slot *s = c->owner;
	struct bench *b = s->b;
	struct kp_bench_run *run = b->run;
	b->latency_us[run->requests++] = resp->t_done_us - s->t_start_us;
	s->request_out = false;
	if (c->tls != NULL && resp->index == 1)
		keep_session(b, c);
	kp_conn_clear_timer(c);
	if (b->run->keepalive && resp->keeps_open) {
		slot_next(s);
		return;
	}
	/* The server ends this connection (we asked, or it decided): wait for its FIN. */
	s->closing = true;
	kp_conn_set_timer(c, b->net.loop.now + b->o->timeout_ms);
}

static void on_closed(struct kp_conn *c)
{
	struct slot *s = c->owner;
	struct kp_bench_run *run = s->b->run;
	s->conn = NULL;
	if (c->end == KP_END_PARSE && c->responses == 0)
		run->not_http = true;
	if (c->end == KP_END_TLS && run->requests == 0 && !run->tls_failed) {
		/* Every connection would fail the same way (a certificate that does not
		 * verify, a server that does not speak TLS): stop here. */
		run->tls_failed = true;
		snprintf(run->first_error, sizeof(run->first_error), "%s", c->tls_error);
		s->b->t_end_us = s->b->net.loop.now_us;
		s->b->net.loop.stop = true;
		return;
	}
	if (s->request_out) {
		char why[160];
		if (c->end == KP_END_PARSE)
			snprintf(why, sizeof(why), "not HTTP: %s", c->parse_error);
		else if (c->end == KP_END_TLS)
			snprintf(why, sizeof(why), "TLS: %s", c->tls_error);
		else if (c->end == KP_END_FIN || c->end == KP_END_RST)
			snprintf(why, sizeof(why), "server %s before the response", kp_end_name(c->end));
		else
			snprintf(why, sizeof(why), "%s: %s", kp_end_name(c->end), strerror(c->err));
		fail_request(s, "%s", why);
	}
	s->closing = false;
	slot_next(s);
}

static void on_timer(struct kp_conn *c)
{
	struct slot *s = c->owner;
	if (s->request_out)
		fail_request(s, "no response within --timeout%s", "");
	kp_conn_close(c);  /* a close that did not come: we close instead */
	s->conn = NULL;
	s->closing = false;
	slot_next(s);
}

static const struct kp_conn_ops bench_ops = {
	.connected = on_connected,
	.response = on_response,
	.closed = on_closed,
	.timer = on_timer,
};

/* --time-limit: stop issuing, close what is open, end the run. */
static void on_limit(struct ka_timer *t)
{
	struct bench *b = ka_container_of(t, struct bench, limit);
	b->run->timed_out = true;
	b->t_end_us = b->net.loop.now_us;
	for (int64_t i = 0; i < b->o->concurrency; i++) {
		if (b->slots[i].conn != NULL)
			kp_conn_close(b->slots[i].conn);
		b->slots[i].conn = NULL;  /* freed at the end of this iteration */
	}
	b->net.loop.stop = true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in ms. */
static double percentile_ms(const int64_t *sorted, int64_t n, double p)
{
	if (n == 0)
		return 0;
	int64_t rank = (int64_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return (double)sorted[KA_MIN(rank, n) - 1] / 1000.0;
}

static int run_once(const struct kp_target *t, const struct kp_bench_opts *o,
                    struct kp_bench_run *run, bool keepalive, bool resume,
                    struct kp_tls_session **session)
{
	struct bench b;
	memset(&b, 0, sizeof(b));
	memset(run, 0, sizeof(*run));
	run->keepalive = keepalive;
	run->time_wait = -1;
	b.t = t;
	b.o = o;
	b.run = run;
	b.resume = resume;
	b.session = session;
	b.request_len = kp_request_format(b.request, sizeof(b.request), t, "GET", 1,
	                                  keepalive ? "" : "Connection: close\r\n");
	b.slots = calloc((size_t)o->concurrency, sizeof(*b.slots));
	b.latency_us = calloc((size_t)o->requests, sizeof(*b.latency_us));
	b.ports = calloc(65536 / 8, 1);
	int err = kp_net_init(&b.net);
	if (b.slots == NULL || b.latency_us == NULL || b.ports == NULL || err) {
		free(b.slots);
		free(b.latency_us);
		free(b.ports);
		return err ? err : -ENOMEM;
	}

	int64_t overflows = kp_time_wait_overflows();
	b.t_begin_us = b.net.loop.now_us;
	b.limit.cb = on_limit;
	ka_loop_timer_add(&b.net.loop, &b.limit, b.net.loop.now + o->time_limit_ms);
	b.active = (unsigned)o->concurrency;
	for (int64_t i = 0; i < o->concurrency; i++) {
		b.slots[i].b = &b;
		slot_next(&b.slots[i]);
	}
	while (!b.net.loop.stop)
		ka_loop_run_once(&b.net.loop, -1);
	for (int64_t i = 0; i < o->concurrency; i++)
		if (b.slots[i].conn != NULL)
			kp_conn_close(b.slots[i].conn);
	ka_loop_timer_remove(&b.net.loop, &b.limit);
	kp_net_close(&b.net);

	run->seconds = (double)(b.t_end_us - b.t_begin_us) / 1e6;
	run->requests_per_s = run->seconds > 0 ? (double)run->requests / run->seconds : 0;
	qsort(b.latency_us, (size_t)run->requests, sizeof(int64_t), cmp_i64);
	run->p50_ms = percentile_ms(b.latency_us, run->requests, 50);
	run->p90_ms = percentile_ms(b.latency_us, run->requests, 90);
	run->p99_ms = percentile_ms(b.latency_us, run->requests, 99);
	for (size_t i = 0; i < 65536 / 8; i++)
		run->local_ports += __builtin_popcount(b.ports[i]);
	int64_t tw = kp_time_wait_count(&t->addr, b.ports);
	run->time_wait = tw >= 0 ? tw : -1;
	int64_t overflows_after = kp_time_wait_overflows();
	if (overflows >= 0 && overflows_after > overflows)
		run->time_wait_overflow = overflows_after - overflows;
	free(b.slots);
	free(b.latency_us);
	free(b.ports);
	return 0;
}

/* A run that answered nothing says why the server cannot be benchmarked. */
static bool run_unusable(const struct kp_target *t, const struct kp_bench_run *run, char *fatal,
                         size_t fatal_len)
{
	if (run->tls_failed) {
		snprintf(fatal, fatal_len, "TLS with %s failed: %s", t->addr_text, run->first_error);
		return true;
	}
	if (run->not_http) {
		snprintf(fatal, fatal_len, "%s did not answer with HTTP (%s)", t->addr_text,
		         run->first_error);
		return true;
	}
	if (run->requests == 0) {
		snprintf(fatal, fatal_len, "no request to %s was answered (%s)", t->addr_text,
		         run->first_error[0] ? run->first_error : "no error recorded");
		return true;
	}
	return false;
}

int kp_bench_run_all(const struct kp_target *t, const struct kp_bench_opts *opts,
                     struct kp_bench_result *r, char *fatal, size_t fatal_len)
{
	static const struct {
		const char *name;
		bool keepalive, resume;
	} plan[] = {
		{ "keep-alive", true, false },
		{ "new-connection", false, false },
		{ "resumed new-connection", false, true },
	};
	struct kp_bench_run *runs[] = { &r->keepalive, &r->new_connection, &r->resumed };
	struct kp_tls_session *session = NULL;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->is_tls = t->tls != NULL;
	r->has_resumed = r->is_tls;
	for (size_t i = 0; i < (r->has_resumed ? 3u : 2u) && rc == 0; i++) {
		int err = run_once(t, opts, runs[i], plan[i].keepalive, plan[i].resume, &session);
		if (err) {
			snprintf(fatal, fatal_len, "%s run: %s", plan[i].name, strerror(-err));
			rc = 1;
		} else if (run_unusable(t, runs[i], fatal, fatal_len)) {
			rc = 1;
		}
	}
	if (session != NULL)
		kp_tls_session_free(session);
	return rc;
}
