/*
 * kaprobe's output: the probe's results and the benchmark's runs, as a table for
 * people or as one JSON object for programs. The JSON always has the same keys (a
 * check that did not run gives null), numbers are printed with the precision they
 * were measured to, and header values, which may hold any byte but CR, LF and NUL,
 * are escaped so the output is valid JSON whatever the server sent (bytes above 0x7f
 * are read as ISO-8859-1, as RFC 9110 5.5 suggests for obs-text).
 */
#include <stddef.h>
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

/* The indent of the object being printed: the probe's object sits inside chain's
 * and compare's. */
static int json_indent = 2;

static void json_key(FILE *out, const char *key, bool *first)
{
	fprintf(out, "%s\n%*s\"%s\": ", *first ? "" : ",", json_indent, "", key);
	*first = false;
}

static void json_num(FILE *out, const char *key, bool *first, bool known, double v)
{
	json_key(out, key, first);
	if (known)
		fprintf(out, "%.3f", v);
	else
		fputs("null", out);
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

/* How the second connection's handshake went: by a ticket, by a session id, or not. */
static const char *resumption_text(const struct kp_results *r)
{
	if (!r->tls_resumed)
		return "none";
	return r->tls_ticket ? "ticket" : "session_id";
}

static const char *const advertised_names[] = {
	[KP_ADV_UNKNOWN] = "unknown", [KP_ADV_OK] = "ok", [KP_ADV_MORE] = "advertises_more",
	[KP_ADV_NONE] = "not_advertised",
};

/* The keys of the four wire checks: objects, or null. */
static void json_wire(FILE *out, const struct kp_results *r, bool *first)
{
	bool inner;
	int outer = json_indent;

	json_key(out, "tcp_keepalive", first);
	if (r->tcpka_known) {
		inner = true;
		fputc('{', out);
		json_indent = outer + 2;
		json_num(out, "first_probe_after_s", &inner, true, r->tcpka_first_s);
		json_num(out, "interval_s", &inner, r->has_tcpka_interval, r->tcpka_interval_s);
		json_int(out, "count", &inner, r->has_tcpka_count, r->tcpka_count);
		json_int(out, "probes_seen", &inner, true, r->tcpka_probes);
		json_indent = outer;
		fprintf(out, "\n%*s}", outer, "");
	} else {
		fputs("null", out);
	}
	json_key(out, "close_race", first);
	if (r->race_known)
		fprintf(out, "{\"answered\": %u, \"reset\": %u, \"closed_unanswered\": %u, "
		        "\"tries\": %u}", r->race_answered, r->race_reset, r->race_closed, r->race_tries);
	else
		fputs("null", out);
	json_key(out, "advertised_vs_enforced", first);
	if (r->ran[KP_ADVERTISED]) {
		fputs("{\"advertised_s\": ", out);
		if (r->advertised_timeout_s >= 0)
			fprintf(out, "%lld", (long long)r->advertised_timeout_s);
		else
			fputs("null", out);
		fputs(", \"enforced_s\": ", out);
		if (r->idle_closed_by_server)
			fprintf(out, "%.3f", r->idle_timeout_s);
		else
			fputs("null", out);
		fprintf(out, ", \"verdict\": \"%s\"}", advertised_names[r->advertised_verdict]);
	} else {
		fputs("null", out);
	}
	json_text(out, "lingering", first, r->lingering != KP_LINGER_UNKNOWN,
	          r->lingering == KP_LINGER_FIN ? "fin" : "reset");
}

void kp_report_findings_json(FILE *out, const struct kp_findings *f)
{
	fputc('[', out);
	for (size_t i = 0; i < f->n; i++) {
		fprintf(out, "%s\n%*s{\"check\": ", i ? "," : "", json_indent + 2, "");
		json_string(out, f->f[i].check);
		fprintf(out, ", \"severity\": \"%s\", \"message\": ", kp_severity_name(f->f[i].severity));
		json_string(out, f->f[i].message);
		fputc('}', out);
	}
	if (f->n)
		fprintf(out, "\n%*s", json_indent, "");
	fputc(']', out);
}

void kp_report_probe_json_object(FILE *out, const struct kp_results *r, int indent)
{
	bool first = true;
	const bool *ran = r->ran;
	bool idle_known = ran[KP_IDLE_TIMEOUT] && r->idle_answered;

	struct kp_findings findings;

	json_indent = indent + 2;
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
	json_text(out, "tls_version", &first, r->tls_seen, r->tls.version);
	json_text(out, "tls_cipher", &first, r->tls_seen, r->tls.cipher);
	json_text(out, "alpn", &first, r->tls_seen && r->tls.alpn[0], r->tls.alpn);
	json_key(out, "tls_handshake_ms", &first);
	if (r->tls_seen)
		fprintf(out, "%.3f", r->tls_handshake_ms);
	else
		fputs("null", out);
	json_text(out, "tls_resumption", &first, r->tls_resumption_known, resumption_text(r));
	json_int(out, "ticket_lifetime_s", &first, r->has_ticket_lifetime, r->ticket_lifetime_s);
	json_wire(out, r, &first);
	kp_findings_of(r, &findings);
	json_key(out, "findings", &first);
	kp_report_findings_json(out, &findings);
	fprintf(out, "\n%*s}", indent, "");
	json_indent = 2;
}

void kp_report_probe_json(FILE *out, const struct kp_results *r)
{
	kp_report_probe_json_object(out, r, 0);
	fputc('\n', out);
}

static const char *yes_no(bool v)
{
	return v ? "yes" : "no";
}

/* tcp_keepalive's short result: "2.0+1.0 s x3", "none", "unknown". */
static void wire_text(const struct kp_results *r, char *buf, size_t len)
{
	int n;

	if (r->tcpka_unavailable || !r->tcpka_known) {
		snprintf(buf, len, "%s", r->tcpka_unavailable ? "not measured" : "none");
		return;
	}
	n = snprintf(buf, len, "%.1f s", r->tcpka_first_s);
	if (r->has_tcpka_interval)
		n += snprintf(buf + n, len - (size_t)n, " +%.1f s", r->tcpka_interval_s);
	if (r->has_tcpka_count)
		snprintf(buf + n, len - (size_t)n, " x%lld", (long long)r->tcpka_count);
	else
		snprintf(buf + n, len - (size_t)n, " (%lld seen)", (long long)r->tcpka_probes);
}

/* The short result shown in the table's second column. */
void kp_report_result_text(const struct kp_results *r, enum kp_check id, char *buf, size_t len)
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
	case KP_TLS_RESUMPTION:
		if (!r->tls_resumption_known)
			snprintf(buf, len, "unknown");
		else if (r->has_ticket_lifetime && r->tls_resumed)
			snprintf(buf, len, "%s (%lld s)", resumption_text(r), (long long)r->ticket_lifetime_s);
		else
			snprintf(buf, len, "%s", resumption_text(r));
		break;
	case KP_TCP_KEEPALIVE:
		wire_text(r, buf, len);
		break;
	case KP_CLOSE_RACE:
		if (!r->race_known)
			snprintf(buf, len, "unknown");
		else if (r->race_tries == 0)
			snprintf(buf, len, "none sent");
		else if (r->race_reset + r->race_closed == 0)
			snprintf(buf, len, "clean (%u/%u)", r->race_answered, r->race_tries);
		else
			snprintf(buf, len, "%u of %u lost", r->race_reset + r->race_closed, r->race_tries);
		break;
	case KP_ADVERTISED:
		snprintf(buf, len, "%s", advertised_names[r->advertised_verdict]);
		break;
	case KP_LINGERING:
		snprintf(buf, len, "%s", r->lingering == KP_LINGER_FIN ? "fin"
		                         : r->lingering == KP_LINGER_RESET ? "reset" : "unknown");
		break;
	case KP_CHECK_COUNT:
		buf[0] = '\0';
		break;
	}
}

void kp_report_probe_table(FILE *out, const struct kp_target *t, const struct kp_results *r)
{
	fprintf(out, "kaprobe %s (%s)\nserver: %s\n", t->url, t->addr_text,
	        r->has_server ? r->server : "(no Server header)");
	if (r->tls_seen)
		fprintf(out, "tls: %s, %s, ALPN %s, handshake %.2f ms\n", r->tls.version, r->tls.cipher,
		        r->tls.alpn[0] ? r->tls.alpn : "none", r->tls_handshake_ms);
	fputc('\n', out);
	fprintf(out, "%-22s %-20s %s\n", "check", "result", "evidence");
	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		char result[64];
		if (!r->ran[i])
			continue;
		kp_report_result_text(r, (enum kp_check)i, result, sizeof(result));
		fprintf(out, "%-22s %-20s %s\n", kp_check_name((enum kp_check)i), result,
		        r->evidence[i]);
	}
	if (r->ran[KP_IDLE_TIMEOUT] && r->idle_answered)
		fprintf(out, "\nidle close: the %s closed first and holds the TIME_WAIT state\n",
		        r->idle_closed_by_server ? "server" : "client (kaprobe, at --max-wait)");
	struct kp_findings findings;
	kp_findings_of(r, &findings);
	fputc('\n', out);
	kp_report_findings(out, &findings, false, true);
}

void kp_report_findings(FILE *out, const struct kp_findings *f, bool markdown, bool heading)
{
	if (heading)
		fputs(markdown ? "### What to change\n\n" : "what to change:\n", out);
	if (f->n == 0)
		fputs(markdown ? "Nothing found.\n" : "  nothing found\n", out);
	for (size_t i = 0; i < f->n; i++) {
		if (markdown)
			fprintf(out, "- **%s** (`%s`): %s\n", kp_severity_name(f->f[i].severity),
			        f->f[i].check, f->f[i].message);
		else
			fprintf(out, "  %-7s %s: %s\n", kp_severity_name(f->f[i].severity), f->f[i].check,
			        f->f[i].message);
	}
}

/* A table cell: | would end it, a newline would end the row. */
static void md_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

void kp_report_probe_markdown(FILE *out, const struct kp_target *t, const struct kp_results *r)
{
	struct kp_findings findings;

	fprintf(out, "## kaprobe %s\n\nServer: `%s` at %s", t->url,
	        r->has_server ? r->server : "(no Server header)", t->addr_text);
	if (r->tls_seen)
		fprintf(out, "; %s, %s, ALPN %s, handshake %.2f ms", r->tls.version, r->tls.cipher,
		        r->tls.alpn[0] ? r->tls.alpn : "none", r->tls_handshake_ms);
	fputs(".\n\n| check | result | evidence |\n|---|---|---|\n", out);
	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		char result[64];
		if (!r->ran[i])
			continue;
		kp_report_result_text(r, (enum kp_check)i, result, sizeof(result));
		fprintf(out, "| `%s` | ", kp_check_name((enum kp_check)i));
		md_cell(out, result);
		fputs(" | ", out);
		md_cell(out, r->evidence[i]);
		fputs(" |\n", out);
	}
	fputc('\n', out);
	kp_findings_of(r, &findings);
	kp_report_findings(out, &findings, true, true);
}

/* ---- the benchmark ------------------------------------------------------------------------------ */

static double speedup(const struct kp_bench_run *ka, const struct kp_bench_run *nc)
{
	return nc->requests_per_s > 0 ? ka->requests_per_s / nc->requests_per_s : 0;
}

static void json_run(FILE *out, const struct kp_bench_run *r, bool is_tls)
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
	if (is_tls)
		fprintf(out, ", \"tls_resumed\": %lld", (long long)r->tls_resumed);
	fprintf(out, ", \"errors\": %lld}", (long long)r->errors);
}

static void json_speedup(FILE *out, const char *key, const struct kp_bench_run *ka,
                         const struct kp_bench_run *other)
{
	fprintf(out, ",\n  \"%s\": ", key);
	if (other->requests_per_s > 0)
		fprintf(out, "%.2f", speedup(ka, other));
	else
		fputs("null", out);
}

void kp_report_bench_json(FILE *out, const struct kp_bench_result *r)
{
	fputs("{\n  \"keepalive\": ", out);
	json_run(out, &r->keepalive, r->is_tls);
	fputs(",\n  \"new_connection\": ", out);
	json_run(out, &r->new_connection, r->is_tls);
	if (r->has_resumed) {
		fputs(",\n  \"new_connection_resumed\": ", out);
		json_run(out, &r->resumed, r->is_tls);
	}
	json_speedup(out, "speedup", &r->keepalive, &r->new_connection);
	if (r->has_resumed)
		json_speedup(out, "speedup_vs_resumed", &r->keepalive, &r->resumed);
	fputs("\n}\n", out);
}

/* One row of the table: a label, then one column per run. */
static void row(FILE *out, const char *label, const char *const *cells, size_t n)
{
	fprintf(out, "%-30s", label);
	for (size_t i = 0; i < n; i++)
		fprintf(out, " %15s", cells[i]);
	fputc('\n', out);
}

static void row_int(FILE *out, const char *label, const struct kp_bench_run *const *runs,
                    size_t n, size_t field)
{
	char text[3][32];
	const char *cells[3];
	for (size_t i = 0; i < n; i++) {
		int64_t v = *(const int64_t *)((const char *)runs[i] + field);
		snprintf(text[i], sizeof(text[i]), v >= 0 ? "%lld" : "unknown", (long long)v);
		cells[i] = text[i];
	}
	row(out, label, cells, n);
}

static void row_num(FILE *out, const char *label, const struct kp_bench_run *const *runs,
                    size_t n, size_t field, const char *fmt)
{
	char text[3][32];
	const char *cells[3];
	for (size_t i = 0; i < n; i++) {
		snprintf(text[i], sizeof(text[i]), fmt,
		         *(const double *)((const char *)runs[i] + field));
		cells[i] = text[i];
	}
	row(out, label, cells, n);
}

#define RUN_FIELD(f) offsetof(struct kp_bench_run, f)

void kp_report_bench_table(FILE *out, const struct kp_target *t, const struct kp_bench_opts *o,
                           const struct kp_bench_result *r)
{
	static const char *const names[] = { "keep-alive", "new connection", "new, resumed" };
	static const char *const error_names[] = { "keep-alive", "new-connection",
		                                       "resumed new-connection" };
	const struct kp_bench_run *runs[] = { &r->keepalive, &r->new_connection, &r->resumed };
	size_t n = r->has_resumed ? 3 : 2;
	int64_t overflow = 0;
	bool timed_out = false;

	fprintf(out, "kaprobe bench %s (%s): %lld requests per run, %lld at a time\n\n", t->url,
	        t->addr_text, (long long)o->requests, (long long)o->concurrency);
	row(out, "", names, n);
	row_int(out, "requests answered", runs, n, RUN_FIELD(requests));
	row_int(out, "errors", runs, n, RUN_FIELD(errors));
	row_num(out, "seconds", runs, n, RUN_FIELD(seconds), "%.3f");
	row_num(out, "requests/s", runs, n, RUN_FIELD(requests_per_s), "%.1f");
	row_num(out, "latency p50 (ms)", runs, n, RUN_FIELD(p50_ms), "%.3f");
	row_num(out, "latency p90 (ms)", runs, n, RUN_FIELD(p90_ms), "%.3f");
	row_num(out, "latency p99 (ms)", runs, n, RUN_FIELD(p99_ms), "%.3f");
	row_int(out, "TCP connections opened", runs, n, RUN_FIELD(connections_opened));
	if (r->is_tls)
		row_int(out, "TLS sessions resumed", runs, n, RUN_FIELD(tls_resumed));
	row_int(out, "distinct local ports", runs, n, RUN_FIELD(local_ports));
	row_int(out, "TIME_WAIT left on this host", runs, n, RUN_FIELD(time_wait));
	if (r->new_connection.requests_per_s > 0)
		fprintf(out, "\nspeedup: %.2fx the requests per second over persistent connections\n",
		        speedup(&r->keepalive, &r->new_connection));
	if (r->has_resumed && r->resumed.requests_per_s > 0)
		fprintf(out, "speedup: %.2fx over new connections that resume the TLS session\n",
		        speedup(&r->keepalive, &r->resumed));
	for (size_t i = 0; i < n; i++) {
		overflow += runs[i]->time_wait_overflow;
		timed_out = timed_out || runs[i]->timed_out;
	}
	if (overflow > 0)
		fprintf(out, "(the kernel's TIME_WAIT table was full: %lld TIME_WAIT sockets on this "
		        "host were not created during the runs, see net.ipv4.tcp_max_tw_buckets)\n",
		        (long long)overflow);
	if (timed_out)
		fprintf(out, "(a run reached --time-limit before all its requests were answered)\n");
	for (size_t i = 0; i < n; i++)
		if (runs[i]->first_error[0])
			fprintf(out, "first %s error: %s\n", error_names[i], runs[i]->first_error);
}
