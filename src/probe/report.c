/*
 * kaprobe's output: the probe's results and the benchmark's two runs, as a table for
 * people or as one JSON object for programs. The JSON always has the same keys (a
 * check that did not run gives null), numbers are printed with the precision they
 * were measured to, and header values, which may hold any byte but CR, LF and NUL,
 * are escaped so the output is valid JSON whatever the server sent (bytes above 0x7f
 * are read as ISO-8859-1, as RFC 9110 5.5 suggests for obs-text).
 */
#include <stdio.h>
#include <string.h>

#include "probe/probe.h"

/* ---- JSON helpers ------------------------------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void json_key(FILE *out, const char *key, bool *first)
{
	fprintf(out, "%s\n  \"%s\": ", *first ? "" : ",", key);
	*first = false;
}

static void json_bool(FILE *out, const char *key, bool *first, bool ran, bool v)
{
	json_key(out, key, first);
	fputs(!ran ? "null" : v ? "true" : "false", out);
}

static void json_int(FILE *out, const char *key, bool *first, bool known, int64_t v)
{
	json_key(out, key, first);
	if (known)
		fprintf(out, "%lld", (long long)v);
	else
		fputs("null", out);
}

static void json_text(FILE *out, const char *key, bool *first, bool known, const char *v)
{
	json_key(out, key, first);
	if (known)
		json_string(out, v);
	else
		fputs("null", out);
}

/* ---- the probe ------------------------------------------------------------------------------ */

void kp_report_probe_json(FILE *out, const struct kp_results *r)
{
	bool first = true;
	const bool *ran = r->ran;
	bool idle_known = ran[KP_IDLE_TIMEOUT] && r->idle_answered;

	fputc('{', out);
	json_bool(out, "persistent_http11", &first, ran[KP_PERSISTENT_HTTP11], r->persistent_http11);
	json_bool(out, "http10_keepalive", &first, ran[KP_HTTP10_KEEPALIVE], r->http10_keepalive);
	json_bool(out, "http10_default_close", &first, ran[KP_HTTP10_DEFAULT_CLOSE],
	          r->http10_default_close);
	json_bool(out, "connection_close_honored", &first, ran[KP_CONNECTION_CLOSE],
	          r->connection_close_honored);
	json_text(out, "keep_alive_header", &first, r->has_keep_alive_header, r->keep_alive_header);
	json_int(out, "advertised_timeout_s", &first, r->advertised_timeout_s >= 0,
	         r->advertised_timeout_s);
	json_int(out, "advertised_max", &first, r->advertised_max >= 0, r->advertised_max);
	json_key(out, "idle_timeout_s", &first);
	if (r->idle_closed_by_server)
		fprintf(out, "%.3f", r->idle_timeout_s);
	else
		fputs("null", out);
	json_int(out, "max_requests", &first, r->max_requests_known, r->max_requests);
	json_bool(out, "max_requests_signalled", &first, ran[KP_MAX_REQUESTS],
	          r->max_requests_signalled);
	json_bool(out, "pipelining", &first, ran[KP_PIPELINING], r->pipelining);
	json_text(out, "closer", &first, idle_known, r->idle_closed_by_server ? "server" : "client");
	json_text(out, "close_kind", &first, r->idle_closed_by_server, r->idle_rst ? "rst" : "fin");
	json_text(out, "server", &first, r->has_server, r->server);
	fputs("\n}\n", out);
}

static const char *yes_no(bool v)
{
	return v ? "yes" : "no";
}

/* The short result shown in the table's second column. */
static void result_text(const struct kp_results *r, enum kp_check id, char *buf, size_t len)
{
	switch (id) {
	case KP_PERSISTENT_HTTP11:
		snprintf(buf, len, "%s", yes_no(r->persistent_http11));
		break;
	case KP_HTTP10_KEEPALIVE:
		snprintf(buf, len, "%s", yes_no(r->http10_keepalive));
		break;
	case KP_HTTP10_DEFAULT_CLOSE:
		snprintf(buf, len, "%s", yes_no(r->http10_default_close));
		break;
	case KP_CONNECTION_CLOSE:
		snprintf(buf, len, "%s", yes_no(r->connection_close_honored));
		break;
	case KP_KEEP_ALIVE_HEADER:
		if (!r->has_keep_alive_header) {
			snprintf(buf, len, "none");
			break;
		}
		int n = snprintf(buf, len, "timeout=");
		n += snprintf(buf + n, len - (size_t)n, r->advertised_timeout_s >= 0 ? "%lld" : "-",
		              (long long)r->advertised_timeout_s);
		n += snprintf(buf + n, len - (size_t)n, " max=");
		snprintf(buf + n, len - (size_t)n, r->advertised_max >= 0 ? "%lld" : "-",
		         (long long)r->advertised_max);
		break;
	case KP_IDLE_TIMEOUT:
		if (r->idle_closed_by_server)
			snprintf(buf, len, "%.3f s (%s)", r->idle_timeout_s, r->idle_rst ? "RST" : "FIN");
		else if (r->idle_answered)
			snprintf(buf, len, "open (client closed)");
		else
			snprintf(buf, len, "unknown");
		break;
	case KP_MAX_REQUESTS:
		if (!r->max_requests_known)
			snprintf(buf, len, "> --max-requests");
		else
			snprintf(buf, len, "%lld%s", (long long)r->max_requests,
			         r->max_requests_signalled ? " (signalled)" : "");
		break;
	case KP_PIPELINING:
		snprintf(buf, len, "%s", yes_no(r->pipelining));
		break;
	case KP_CHECK_COUNT:
		buf[0] = '\0';
		break;
	}
}

void kp_report_probe_table(FILE *out, const struct kp_target *t, const struct kp_results *r)
{
	fprintf(out, "kaprobe %s (%s)\nserver: %s\n\n", t->url, t->addr_text,
	        r->has_server ? r->server : "(no Server header)");
	fprintf(out, "%-21s %-20s %s\n", "check", "result", "evidence");
	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		char result[64];
		if (!r->ran[i])
			continue;
		result_text(r, (enum kp_check)i, result, sizeof(result));
		fprintf(out, "%-21s %-20s %s\n", kp_check_name((enum kp_check)i), result,
		        r->evidence[i]);
	}
	if (r->ran[KP_IDLE_TIMEOUT] && r->idle_answered)
		fprintf(out, "\nidle close: the %s closed first and holds the TIME_WAIT state\n",
		        r->idle_closed_by_server ? "server" : "client (kaprobe, at --max-wait)");
}

/* ---- the benchmark ------------------------------------------------------------------------------ */

static double speedup(const struct kp_bench_run *ka, const struct kp_bench_run *nc)
{
	return nc->requests_per_s > 0 ? ka->requests_per_s / nc->requests_per_s : 0;
}

static void json_run(FILE *out, const struct kp_bench_run *r)
{
	fprintf(out, "{\"requests\": %lld, \"requests_per_s\": %.1f, "
	        "\"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f}, "
	        "\"connections_opened\": %lld, \"time_wait\": ",
	        (long long)r->requests, r->requests_per_s, r->p50_ms, r->p90_ms, r->p99_ms,
	        (long long)r->connections_opened);
	if (r->time_wait >= 0)
		fprintf(out, "%lld", (long long)r->time_wait);
	else
		fputs("null", out);
	fprintf(out, ", \"errors\": %lld}", (long long)r->errors);
}

void kp_report_bench_json(FILE *out, const struct kp_bench_run *ka, const struct kp_bench_run *nc)
{
	fputs("{\n  \"keepalive\": ", out);
	json_run(out, ka);
	fputs(",\n  \"new_connection\": ", out);
	json_run(out, nc);
	fputs(",\n  \"speedup\": ", out);
	if (nc->requests_per_s > 0)
		fprintf(out, "%.2f", speedup(ka, nc));
	else
		fputs("null", out);
	fputs("\n}\n", out);
}

void kp_report_bench_table(FILE *out, const struct kp_target *t, const struct kp_bench_opts *o,
                           const struct kp_bench_run *ka, const struct kp_bench_run *nc)
{
	char tw_ka[32], tw_nc[32];
	snprintf(tw_ka, sizeof(tw_ka), ka->time_wait >= 0 ? "%lld" : "unknown", (long long)ka->time_wait);
	snprintf(tw_nc, sizeof(tw_nc), nc->time_wait >= 0 ? "%lld" : "unknown", (long long)nc->time_wait);
	fprintf(out, "kaprobe bench %s (%s): %lld requests per run, %lld at a time\n\n", t->url,
	        t->addr_text, (long long)o->requests, (long long)o->concurrency);
	fprintf(out, "%-30s %15s %15s\n", "", "keep-alive", "new connection");
	fprintf(out, "%-30s %15lld %15lld\n", "requests answered", (long long)ka->requests,
	        (long long)nc->requests);
	fprintf(out, "%-30s %15lld %15lld\n", "errors", (long long)ka->errors, (long long)nc->errors);
	fprintf(out, "%-30s %15.3f %15.3f\n", "seconds", ka->seconds, nc->seconds);
	fprintf(out, "%-30s %15.1f %15.1f\n", "requests/s", ka->requests_per_s, nc->requests_per_s);
	fprintf(out, "%-30s %15.3f %15.3f\n", "latency p50 (ms)", ka->p50_ms, nc->p50_ms);
	fprintf(out, "%-30s %15.3f %15.3f\n", "latency p90 (ms)", ka->p90_ms, nc->p90_ms);
	fprintf(out, "%-30s %15.3f %15.3f\n", "latency p99 (ms)", ka->p99_ms, nc->p99_ms);
	fprintf(out, "%-30s %15lld %15lld\n", "TCP connections opened",
	        (long long)ka->connections_opened, (long long)nc->connections_opened);
	fprintf(out, "%-30s %15lld %15lld\n", "distinct local ports", (long long)ka->local_ports,
	        (long long)nc->local_ports);
	fprintf(out, "%-30s %15s %15s\n", "TIME_WAIT left on this host", tw_ka, tw_nc);
	if (nc->requests_per_s > 0)
		fprintf(out, "\nspeedup: %.2fx the requests per second over persistent connections\n",
		        speedup(ka, nc));
	if (ka->time_wait_overflow > 0 || nc->time_wait_overflow > 0)
		fprintf(out, "(the kernel's TIME_WAIT table was full: %lld + %lld TIME_WAIT sockets on this "
		        "host were not created during the runs, see net.ipv4.tcp_max_tw_buckets)\n",
		        (long long)ka->time_wait_overflow, (long long)nc->time_wait_overflow);
	if (ka->timed_out || nc->timed_out)
		fprintf(out, "(a run reached --time-limit before all its requests were answered)\n");
	if (ka->first_error[0])
		fprintf(out, "first keep-alive error: %s\n", ka->first_error);
	if (nc->first_error[0])
		fprintf(out, "first new-connection error: %s\n", nc->first_error);
}
