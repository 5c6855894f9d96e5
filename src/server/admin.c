/*
 * The --admin listener's pages: /status (JSON), /metrics (Prometheus text format),
 * /connections (JSON, one object per live connection), /healthz (200 or 503, for load
 * balancers) and / (the dashboard, HTML with
 * its CSS and JavaScript, embedded in the binary and fetching nothing from elsewhere).
 * The admin worker sums the request workers' counters (each has a single writer, read
 * here with relaxed loads) and walks their connection lists under each list's lock,
 * which a worker takes only to link or unlink a connection: a connection is never
 * freed while we read it. Its field values may be a moment old; that is all a
 * snapshot promises.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sockdiag.h"
#include "core/util.h"
#include "server/admin.h"
#include "server/conn.h"
#include "server/proxy.h"
#include "server/trace.h"

/* The dashboard page, linked in from dashboard.html (see the Makefile). */
__asm__(".section .rodata\n"
        ".global ka_dashboard_html\n"
        "ka_dashboard_html:\n"
        ".incbin \"src/server/dashboard.html\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char ka_dashboard_html[];

/* A growing output buffer; on allocation failure it stops growing and says so. */
struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* Before the first allocation p is NULL, and NULL + 0 is undefined in C
		 * (clang's UBSan reports it); vsnprintf(NULL, 0) only measures. */
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = o->cap ? o->cap * 2 : 8192;
			char *p;

			while (cap < o->len + (size_t)n + 1)
				cap *= 2;
			if (!(p = realloc(o->p, cap))) {
				o->failed = true;
				return;
			}
			o->p = p;
			o->cap = cap;
		}
	}
}

/* The figures of every request worker, summed; the admin worker's own are left out. */
struct snapshot {
	struct ka_stats s;
	uint64_t active;
	uint64_t reading;
	long time_wait;
	double uptime_s;
};

/* A TIME_WAIT socket counts when its local port is one of our listeners': the server
 * closed that connection first. */
static bool on_our_port(const struct inet_diag_msg *m, void *arg)
{
	const struct ka_server *srv = arg;
	uint16_t port = ntohs(m->id.idiag_sport);

	for (unsigned i = 0; i < srv->n_public; i++)
		if (srv->ports[i] == port)
			return true;
	return false;
}

static void take_snapshot(struct ka_worker *admin, struct snapshot *snap)
{
	struct ka_server *srv = admin->srv;

	memset(snap, 0, sizeof(*snap));
	for (unsigned k = 0; k < srv->n_workers; k++)
		ka_stats_sum(&snap->s, &srv->workers[k].stats);
	for (unsigned st = 0; st < KA_CONN_STATES; st++)
		snap->active += ka_stat_get(&snap->s.in_state[st]);
	snap->reading = ka_stat_get(&snap->s.in_state[KA_CONN_HEAD]) +
	                ka_stat_get(&snap->s.in_state[KA_CONN_BODY]);
	snap->time_wait = ka_sock_count_time_wait(0, on_our_port, srv);
	snap->uptime_s = (double)(admin->loop.now - srv->started) / 1000.0;
}

static uint64_t state_count(const struct snapshot *snap, enum ka_conn_state st)
{
	return ka_stat_get(&snap->s.in_state[st]);
}

/* ---- /status --------------------------------------------------------------------------- */

static void json_histogram(struct out *o, const char *name, const ka_counter *counts,
                           unsigned n, const char *const *bounds, double sum)
{
	uint64_t total = 0;

	out_printf(o, "\"%s\": {\"le\": [", name);
	for (unsigned i = 0; i + 1 < n; i++)
		out_printf(o, "%s, ", bounds[i]);
	out_printf(o, "\"+Inf\"], \"counts\": [");
	for (unsigned i = 0; i < n; i++) {
		total += ka_stat_get(&counts[i]);
		out_printf(o, "%s%llu", i ? ", " : "", (unsigned long long)ka_stat_get(&counts[i]));
	}
	out_printf(o, "], \"sum\": %.3f, \"count\": %llu}", sum, (unsigned long long)total);
}

static const char *const rpc_le[] = { "1", "2", "5", "10", "100", "1000" };
static const char *const life_le[] = { "0.1", "1", "5", "15", "60", "300", "1800", "3600" };

/* A timeout in ms as JSON seconds, or null when none is known. */
static void json_seconds(struct out *o, const char *name, int64_t ms)
{
	if (ms < 0)
		out_printf(o, ", \"%s\": null", name);
	else
		out_printf(o, ", \"%s\": %.3f", name, (double)ms / 1000.0);
}

/* --proxy: each backend's pool, summed over the workers. */
static void json_upstreams(struct ka_server *srv, struct out *o)
{
	unsigned n = ka_proxy_backends(srv);

	out_printf(o, ",\n \"upstreams\": [");
	for (unsigned i = 0; i < n; i++) {
		struct ka_upstream_figures f;
		uint64_t used;

		ka_proxy_figures(srv, i, &f);
		used = f.connects + f.reuses;
		out_printf(o,
		           "%s\n  {\"backend\": \"%s\", \"open\": %llu, \"idle\": %llu, "
		           "\"connects\": %llu, \"reuses\": %llu, \"reuse_ratio\": %.4f, "
		           "\"retired_told\": %llu, \"retired_learned\": %llu, \"retired_max\": %llu, "
		           "\"closed_idle\": %llu, \"stale_failures\": %llu, \"retries\": %llu, "
		           "\"failures\": {",
		           i ? "," : "", f.backend, (unsigned long long)f.open,
		           (unsigned long long)f.idle, (unsigned long long)f.connects,
		           (unsigned long long)f.reuses, used ? (double)f.reuses / (double)used : 0.0,
		           (unsigned long long)f.retired_told, (unsigned long long)f.retired_learned,
		           (unsigned long long)f.retired_max, (unsigned long long)f.closed_idle,
		           (unsigned long long)f.stale_failures, (unsigned long long)f.retries);
		for (int j = 0; j < KA_UP_FAILURES; j++)
			out_printf(o, "%s\"%s\": %llu", j ? ", " : "", ka_up_failure_name(j),
			           (unsigned long long)f.failures[j]);
		out_printf(o, "}");
		json_seconds(o, "told_timeout_s", f.told_ms);
		json_seconds(o, "learned_timeout_s", f.learned_ms);
		out_printf(o, "}");
	}
	out_printf(o, "%s]", n ? "\n " : "");
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_string(struct out *o, const char *s)
{
	out_printf(o, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			out_printf(o, "\\%c", ch);
		else if (ch < 0x20)
			out_printf(o, "\\u%04x", ch);
		else
			out_printf(o, "%c", ch);
	}
	out_printf(o, "\"");
}

/* What the last SIGHUP did: ok, or the error that kept its configuration out. */
static void json_reload(struct out *o, struct ka_reload_status *st)
{
	pthread_mutex_lock(&st->lock);
	out_printf(o, ",\n \"config_reload\": {\"ok\": %s, \"error\": ", st->ok ? "true" : "false");
	if (st->ok)
		out_printf(o, "null");
	else
		json_string(o, st->error);
	out_printf(o, ", \"reloads\": %llu, \"failed\": %llu}", (unsigned long long)st->reloads,
	           (unsigned long long)st->failed);
	pthread_mutex_unlock(&st->lock);
}

static void page_status(struct ka_worker *w, struct out *o)
{
	struct snapshot snap;

	take_snapshot(w, &snap);
	out_printf(o,
	           "{\"connections\": {\"active\": %llu, \"reading\": %llu, \"processing\": %llu, "
	           "\"writing\": %llu, \"idle\": %llu, \"lingering\": %llu},\n",
	           (unsigned long long)snap.active, (unsigned long long)snap.reading,
	           (unsigned long long)state_count(&snap, KA_CONN_PROCESS),
	           (unsigned long long)state_count(&snap, KA_CONN_WRITE),
	           (unsigned long long)state_count(&snap, KA_CONN_IDLE),
	           (unsigned long long)state_count(&snap, KA_CONN_LINGER));
	out_printf(o, " \"accepted\": %llu, \"requests\": %llu,\n \"closed\": {",
	           (unsigned long long)ka_stat_get(&snap.s.accepted),
	           (unsigned long long)ka_stat_get(&snap.s.requests));
	for (unsigned r = 0; r < KA_CLOSE_REASONS; r++)
		out_printf(o, "%s\"%s\": %llu", r ? ", " : "", ka_close_reason_name(r),
		           (unsigned long long)ka_stat_get(&snap.s.closed[r]));
	{
		uint64_t closed = 0, by_client = ka_stat_get(&snap.s.closed_by_client);

		for (unsigned r = 0; r < KA_CLOSE_REASONS; r++)
			closed += ka_stat_get(&snap.s.closed[r]);
		out_printf(o, "},\n \"closed_by\": {\"server\": %llu, \"client\": %llu},\n ",
		           (unsigned long long)(closed - by_client), (unsigned long long)by_client);
	}
	json_histogram(o, "requests_per_connection", snap.s.rpc, KA_RPC_BUCKETS, rpc_le,
	               (double)ka_stat_get(&snap.s.rpc_sum));
	out_printf(o, ",\n ");
	json_histogram(o, "connection_lifetime_seconds", snap.s.life, KA_LIFE_BUCKETS, life_le,
	               (double)ka_stat_get(&snap.s.life_sum_ms) / 1000.0);
	out_printf(o, ",\n \"tls\": {\"handshakes\": {\"full\": %llu, \"resumed\": %llu}, "
	              "\"versions\": {\"1.2\": %llu, \"1.3\": %llu}, \"failed\": {",
	           (unsigned long long)ka_stat_get(&snap.s.tls_full),
	           (unsigned long long)ka_stat_get(&snap.s.tls_resumed),
	           (unsigned long long)ka_stat_get(&snap.s.tls_version[0]),
	           (unsigned long long)ka_stat_get(&snap.s.tls_version[1]));
	for (unsigned f = 0; f < KA_TLS_FAILS; f++)
		out_printf(o, "%s\"%s\": %llu", f ? ", " : "", ka_tls_fail_name(f),
		           (unsigned long long)ka_stat_get(&snap.s.tls_failed[f]));
	out_printf(o, "}}");
	json_upstreams(w->srv, o);
	json_reload(o, &w->srv->reload);
	out_printf(o, ",\n \"time_wait\": %ld, \"uptime_s\": %.3f, \"workers\": %u}\n",
	           snap.time_wait < 0 ? 0 : snap.time_wait, snap.uptime_s, w->srv->n_workers);
}

/* ---- /metrics (Prometheus text exposition format 0.0.4) ---------------------------------- */

static void metric_head(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP kahttpd_%s %s\n# TYPE kahttpd_%s %s\n", name, help, name, type);
}

static void prom_histogram(struct out *o, const char *name, const char *help,
                           const ka_counter *counts, unsigned n, const char *const *bounds,
                           double sum)
{
	uint64_t cum = 0;

	metric_head(o, name, "histogram", help);
	for (unsigned i = 0; i < n; i++) {
		cum += ka_stat_get(&counts[i]);
		out_printf(o, "kahttpd_%s_bucket{le=\"%s\"} %llu\n", name,
		           i + 1 < n ? bounds[i] : "+Inf", (unsigned long long)cum);
	}
	out_printf(o, "kahttpd_%s_sum %.3f\nkahttpd_%s_count %llu\n", name, sum, name,
	           (unsigned long long)cum);
}

static void prom_upstreams(struct ka_server *srv, struct out *o)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
#define UPF(field) offsetof(struct ka_upstream_figures, field)
		{ "upstream_connects_total", "New connections to the backend.", UPF(connects) },
		{ "upstream_reuses_total", "Requests sent on a pooled connection.", UPF(reuses) },
		{ "upstream_retired_told_total", "Pooled connections retired before the timeout "
		  "the backend advertised.", UPF(retired_told) },
		{ "upstream_retired_learned_total", "Pooled connections retired before the timeout "
		  "learned from the backend's closes.", UPF(retired_learned) },
		{ "upstream_retired_max_total", "Connections retired after the backend's Keep-Alive "
		  "max.", UPF(retired_max) },
		{ "upstream_closed_idle_total", "Pooled connections the backend closed.",
		  UPF(closed_idle) },
		{ "upstream_stale_failures_total", "Reused connections that failed before any "
		  "response byte.", UPF(stale_failures) },
		{ "upstream_retries_total", "Requests sent again on a new connection.", UPF(retries) },
		{ "upstream_open", "Open connections to the backend.", UPF(open) },
		{ "upstream_idle", "Idle connections in the pool.", UPF(idle) },
#undef UPF
	};
	unsigned n = ka_proxy_backends(srv);
	struct ka_upstream_figures f[KA_MAX_PROXIES * KA_MAX_BACKENDS];

	if (!n)
		return;
	for (unsigned i = 0; i < n; i++)
		ka_proxy_figures(srv, i, &f[i]);
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		bool gauge = !strstr(counters[k].name, "_total");

		metric_head(o, counters[k].name, gauge ? "gauge" : "counter", counters[k].help);
		for (unsigned i = 0; i < n; i++)
			out_printf(o, "kahttpd_%s{backend=\"%s\"} %llu\n", counters[k].name, f[i].backend,
			           (unsigned long long)*(const uint64_t *)((const char *)&f[i] +
			                                                    counters[k].off));
	}
	metric_head(o, "upstream_failures_total", "counter",
	            "Proxied requests answered 502 or 504, by cause.");
	for (unsigned i = 0; i < n; i++)
		for (int j = 0; j < KA_UP_FAILURES; j++)
			out_printf(o, "kahttpd_upstream_failures_total{backend=\"%s\",cause=\"%s\"} %llu\n",
			           f[i].backend, ka_up_failure_name(j), (unsigned long long)f[i].failures[j]);
}

static void page_metrics(struct ka_worker *w, struct out *o)
{
	static const char *const states[] = { "reading", "processing", "writing", "idle",
		                              "lingering" };
	static const enum ka_conn_state state_of[] = { KA_CONN_HEAD, KA_CONN_PROCESS,
		                                       KA_CONN_WRITE, KA_CONN_IDLE,
		                                       KA_CONN_LINGER };
	struct snapshot snap;
	uint64_t by_client, closed = 0;

	take_snapshot(w, &snap);
	metric_head(o, "connections", "gauge", "Open client connections by state.");
	for (unsigned i = 0; i < 5; i++)
		out_printf(o, "kahttpd_connections{state=\"%s\"} %llu\n", states[i],
		           (unsigned long long)(i == 0 ? snap.reading
		                                       : state_count(&snap, state_of[i])));
	metric_head(o, "connections_active", "gauge", "Open client connections.");
	out_printf(o, "kahttpd_connections_active %llu\n", (unsigned long long)snap.active);
	metric_head(o, "connections_accepted_total", "counter", "Connections accepted.");
	out_printf(o, "kahttpd_connections_accepted_total %llu\n",
	           (unsigned long long)ka_stat_get(&snap.s.accepted));
	metric_head(o, "requests_total", "counter", "Requests received.");
	out_printf(o, "kahttpd_requests_total %llu\n",
	           (unsigned long long)ka_stat_get(&snap.s.requests));
	metric_head(o, "connections_closed_total", "counter", "Connections closed, by reason.");
	for (unsigned r = 0; r < KA_CLOSE_REASONS; r++) {
		closed += ka_stat_get(&snap.s.closed[r]);
		out_printf(o, "kahttpd_connections_closed_total{reason=\"%s\"} %llu\n",
		           ka_close_reason_name(r), (unsigned long long)ka_stat_get(&snap.s.closed[r]));
	}
	by_client = ka_stat_get(&snap.s.closed_by_client);
	metric_head(o, "connections_closed_by_total", "counter",
	            "Connections closed, by the side that closed first (it keeps TIME_WAIT).");
	out_printf(o, "kahttpd_connections_closed_by_total{side=\"server\"} %llu\n"
	              "kahttpd_connections_closed_by_total{side=\"client\"} %llu\n",
	           (unsigned long long)(closed - by_client), (unsigned long long)by_client);
	prom_histogram(o, "requests_per_connection", "Requests served per closed connection.",
	               snap.s.rpc, KA_RPC_BUCKETS, rpc_le, (double)ka_stat_get(&snap.s.rpc_sum));
	prom_histogram(o, "connection_lifetime_seconds", "Lifetime of closed connections.",
	               snap.s.life, KA_LIFE_BUCKETS, life_le,
	               (double)ka_stat_get(&snap.s.life_sum_ms) / 1000.0);
	metric_head(o, "tls_handshakes_total", "counter",
	            "TLS handshakes completed, by kind (full or resumed from a ticket).");
	out_printf(o, "kahttpd_tls_handshakes_total{kind=\"full\"} %llu\n"
	              "kahttpd_tls_handshakes_total{kind=\"resumed\"} %llu\n",
	           (unsigned long long)ka_stat_get(&snap.s.tls_full),
	           (unsigned long long)ka_stat_get(&snap.s.tls_resumed));
	metric_head(o, "tls_protocol_total", "counter", "TLS handshakes completed, by version.");
	out_printf(o, "kahttpd_tls_protocol_total{version=\"1.2\"} %llu\n"
	              "kahttpd_tls_protocol_total{version=\"1.3\"} %llu\n",
	           (unsigned long long)ka_stat_get(&snap.s.tls_version[0]),
	           (unsigned long long)ka_stat_get(&snap.s.tls_version[1]));
	metric_head(o, "tls_handshake_failures_total", "counter", "TLS handshakes failed, by kind.");
	for (unsigned f = 0; f < KA_TLS_FAILS; f++)
		out_printf(o, "kahttpd_tls_handshake_failures_total{kind=\"%s\"} %llu\n",
		           ka_tls_fail_name(f), (unsigned long long)ka_stat_get(&snap.s.tls_failed[f]));
	metric_head(o, "time_wait_sockets", "gauge",
	            "TIME_WAIT sockets on the listening ports: connections the server closed first.");
	out_printf(o, "kahttpd_time_wait_sockets %ld\n", snap.time_wait < 0 ? 0 : snap.time_wait);
	metric_head(o, "uptime_seconds", "gauge", "Seconds since the server started.");
	out_printf(o, "kahttpd_uptime_seconds %.3f\n", snap.uptime_s);
	prom_upstreams(w->srv, o);
}

/* ---- /connections ------------------------------------------------------------------------ */

static void page_connections(struct ka_worker *admin, struct out *o)
{
	struct ka_server *srv = admin->srv;
	int64_t now = admin->loop.now;
	bool first = true;

	out_printf(o, "[");
	for (unsigned k = 0; k < srv->n_workers; k++) {
		struct ka_worker *w = &srv->workers[k];

		pthread_mutex_lock(&w->conns_lock);
		for (struct ka_link *l = w->conns.next; l != &w->conns; l = l->next) {
			const struct ka_conn *c = ka_container_of(l, struct ka_conn, link);
			enum ka_conn_state st = (enum ka_conn_state)c->state;
			char peer[KA_ADDR_TEXT_MAX];
			int64_t age = now - c->born;

			out_printf(o,
			           "%s\n {\"id\": %llu, \"peer\": \"%s\", \"worker\": %u, "
			           "\"state\": \"%s\", \"age_s\": %.3f, ",
			           first ? "" : ",", (unsigned long long)c->id,
			           ka_conn_peer_text(c, peer, sizeof(peer)), k, ka_conn_state_name(st),
			           (double)(age > 0 ? age : 0) / 1000.0);
			if (st == KA_CONN_IDLE) {
				/* idle_q's deadline is when it went idle plus --keepalive-timeout; an
				 * earlier one, if any, is on the heap timer. */
				int64_t idle = now - (c->timer.deadline - w->cfg->keepalive_timeout);
				int64_t deadline = ka_timer_armed(&c->idle_timer) ? c->idle_timer.deadline
				                                                  : c->timer.deadline;
				int64_t left = deadline - now;

				out_printf(o, "\"idle_s\": %.3f, \"requests\": %u, \"idle_timeout_in_s\": %.3f}",
				           (double)(idle > 0 ? idle : 0) / 1000.0, c->requests,
				           (double)(left > 0 ? left : 0) / 1000.0);
			} else {
				out_printf(o, "\"idle_s\": 0, \"requests\": %u}", c->requests);
			}
			first = false;
		}
		pthread_mutex_unlock(&w->conns_lock);
	}
	out_printf(o, "%s]\n", first ? "" : "\n");
}

/* ---- the routes -------------------------------------------------------------------------- */

static void serve_dashboard(struct ka_conn *c, const struct ka_route *route)
{
	struct ka_resp *r = &c->ex->resp;

	(void)route;
	r->status = 200;
	r->content_type = "text/html; charset=utf-8";
	r->body = KA_BODY_MEM;
	r->mem = ka_dashboard_html;
	r->mem_len = strlen(ka_dashboard_html);
	r->content_length = (int64_t)r->mem_len;
	ka_conn_respond(c);
}

/* A page built into the exchange's body buffer (freed with the exchange): route->data. */
struct page {
	void (*build)(struct ka_worker *w, struct out *o);
	const char *type;
};

static const struct page status_page = { page_status, "application/json" };
static const struct page metrics_page = { page_metrics, "text/plain; version=0.0.4; charset=utf-8" };
static const struct page connections_page = { page_connections, "application/json" };

static void serve_page(struct ka_conn *c, const struct ka_route *route)
{
	const struct page *page = route->data;
	struct ka_exchange *ex = c->ex;
	struct ka_resp *r = &ex->resp;
	struct out o = { ex->body, 0, ex->body_cap, false };

	page->build(c->w, &o);
	ex->body = o.p;
	ex->body_cap = o.cap;
	if (o.failed)
		return ka_conn_respond_text(c, 500, "out of memory");
	r->status = 200;
	r->content_type = page->type;
	r->body = KA_BODY_MEM;
	r->mem = o.p;
	r->mem_len = o.len;
	r->content_length = (int64_t)o.len;
	ka_resp_add_header(r, "Cache-Control", "no-store");
	ka_conn_respond(c);
}

/* For a load balancer's health check: 503 from the moment a drain (SIGTERM, SIGINT)
 * or a binary upgrade (SIGUSR2) begins, even while --drain-delay keeps serving, so
 * that the balancer stops sending before any connection is closed. */
static void serve_health(struct ka_conn *c, const struct ka_route *route)
{
	bool draining = atomic_load(&c->w->srv->unhealthy);

	(void)route;
	ka_resp_add_header(&c->ex->resp, "Cache-Control", "no-store");
	if (draining)
		ka_resp_text(&c->ex->resp, 503, "draining\n", 9);
	else
		ka_resp_text(&c->ex->resp, 200, "ok\n", 3);
	ka_conn_respond(c);
}

static void serve_unknown(struct ka_conn *c, const struct ka_route *route)
{
	(void)route;
	ka_conn_respond_text(c, 404, "try /, /status, /metrics, /connections or /healthz");
}

int ka_admin_add_routes(struct ka_routes *t)
{
	/* Read-only: every page takes GET and HEAD, and nothing else. */
	const struct ka_route routes[] = {
		{ .path = "/", .serve = serve_dashboard },
		{ .path = "/status", .serve = serve_page, .data = &status_page },
		{ .path = "/metrics", .serve = serve_page, .data = &metrics_page },
		{ .path = "/connections", .serve = serve_page, .data = &connections_page },
		{ .path = "/healthz", .serve = serve_health },
		{ .path = "", .prefix = true, .serve = serve_unknown },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		struct ka_route r = routes[i];

		r.methods = KA_METHODS_GET_HEAD;
		r.allow = "GET, HEAD";
		if (ka_routes_add(t, &r) < 0)
			return -1;
	}
	return 0;
}
