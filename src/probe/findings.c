/*
 * What to change: the probe's results read as an operator's to-do list, one line per
 * finding, each naming the check that found it and how much it matters (error: clients
 * lose requests or wait; warning: clients pay or may lose responses; info: worth
 * knowing). Only what was measured is judged; a check that did not run says nothing.
 */
#include <stdarg.h>
#include <stdio.h>

#include "probe/probe.h"

const char *kp_severity_name(enum kp_severity s)
{
	switch (s) {
	case KP_INFO: return "info";
	case KP_WARNING: return "warning";
	case KP_ERROR: return "error";
	}
	return "?";
}

void kp_finding_add(struct kp_findings *out, const char *check, enum kp_severity sev,
                    const char *fmt, ...)
{
	va_list ap;
	struct kp_finding *f;

	if (out->n == KP_FINDINGS_MAX)
		return;
	f = &out->f[out->n++];
	f->check = check;
	f->severity = sev;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
}

/* "75 s", "1 s", "2.5 s": a measured time as an operator would write it (a
 * measurement within 50 ms of a whole second is that second). */
const char *kp_seconds_text(double s, char *buf, size_t len)
{
	double whole = (double)(long long)(s + 0.5);

	if (s >= 10 || (s - whole < 0.05 && whole - s < 0.05))
		snprintf(buf, len, "%.0f s", s);
	else
		snprintf(buf, len, "%.1f s", s);
	return buf;
}

static void keepalive_findings(const struct kp_results *r, struct kp_findings *out)
{
	const bool *ran = r->ran;
	bool persistent_idle = r->idle_answered &&
	                       (!r->idle_closed_by_server || r->idle_timeout_s >= 0.05);
	char t[32];

	if (ran[KP_PERSISTENT_HTTP11] && !r->persistent_http11)
		kp_finding_add(out, "persistent_http11", KP_WARNING, "HTTP/1.1 connections are not "
		               "persistent: every request pays for a new connection");
	if (ran[KP_CONNECTION_CLOSE] && !r->connection_close_honored)
		kp_finding_add(out, "connection_close", KP_ERROR, "does not close after `Connection: "
		               "close`: the client waits for a close that does not come");
	if (ran[KP_HTTP10_DEFAULT_CLOSE] && !r->http10_default_close)
		kp_finding_add(out, "http10_default_close", KP_WARNING, "keeps an HTTP/1.0 connection "
		               "open without `Connection: keep-alive` (RFC 9112 9.3 says close)");
	if (ran[KP_IDLE_TIMEOUT] && r->idle_closed_by_server && r->idle_rst)
		kp_finding_add(out, "idle_timeout", KP_WARNING, "closes idle connections with a reset, "
		               "not a FIN: a request in flight gets an error instead of a clean close");
	if (ran[KP_ADVERTISED] && r->advertised_verdict == KP_ADV_NONE && r->idle_closed_by_server)
		kp_finding_add(out, "advertised_vs_enforced", KP_WARNING, "idle timeout %s, no "
		               "`Keep-Alive: timeout`: clients cannot know when it closes; advertise "
		               "it", kp_seconds_text(r->idle_timeout_s, t, sizeof(t)));
	else if (ran[KP_ADVERTISED] && r->advertised_verdict == KP_ADV_NONE)
		kp_finding_add(out, "advertised_vs_enforced", KP_WARNING, "idle connections kept past "
		               "--max-wait, no `Keep-Alive: timeout`: clients cannot know when it "
		               "closes; advertise it");
	if (ran[KP_ADVERTISED] && r->advertised_verdict == KP_ADV_MORE)
		kp_finding_add(out, "advertised_vs_enforced", KP_ERROR, "advertises `Keep-Alive: "
		               "timeout=%lld` but closes idle connections after %s: clients that trust "
		               "the header race the close and lose requests; advertise less than it "
		               "enforces", (long long)r->advertised_timeout_s,
		               kp_seconds_text(r->idle_timeout_s, t, sizeof(t)));
	if (ran[KP_ADVERTISED] && r->advertised_verdict == KP_ADV_OK && r->idle_closed_by_server &&
	    r->idle_timeout_s - (double)r->advertised_timeout_s < 0.5)
		kp_finding_add(out, "advertised_vs_enforced", KP_INFO, "advertises `Keep-Alive: "
		               "timeout=%lld` and closes at %s: no margin, a client that waits exactly "
		               "that long races the close; advertise a second less",
		               (long long)r->advertised_timeout_s, kp_seconds_text(r->idle_timeout_s, t, sizeof(t)));
	if (ran[KP_MAX_REQUESTS] && r->max_requests_known && !r->max_requests_signalled &&
	    persistent_idle)
		kp_finding_add(out, "max_requests", KP_WARNING, "closes after %lld requests without "
		               "`Connection: close` on the last: the next request on that connection "
		               "fails; say `Connection: close` on the last response",
		               (long long)r->max_requests);
	if (ran[KP_PIPELINING] && !r->pipelining && persistent_idle)
		kp_finding_add(out, "pipelining", KP_INFO, "does not answer pipelined requests in "
		               "order (RFC 9112 9.3.2 requires it)");
}

static void wire_findings(const struct kp_results *r, struct kp_findings *out)
{
	const bool *ran = r->ran;
	char t[32];
	unsigned lost = r->race_reset + r->race_closed;

	if (ran[KP_LINGERING] && r->lingering == KP_LINGER_RESET)
		kp_finding_add(out, "lingering", KP_WARNING, "closes without lingering: responses to "
		               "pipelining clients may be destroyed (RFC 9112 9.6); shut down the write "
		               "side and read what follows before closing");
	if (ran[KP_CLOSE_RACE] && r->race_known && lost > 0)
		kp_finding_add(out, "close_race", KP_ERROR, "%s %u of %u requests that arrived as its "
		               "idle timer fired: clients that reuse connections lose requests; answer "
		               "a request that has arrived, and advertise less than it enforces",
		               r->race_reset >= r->race_closed ? "resets" : "closes without answering",
		               lost, r->race_tries);
	if (!ran[KP_TCP_KEEPALIVE] || (r->idle_closed_by_server && r->idle_timeout_s < 0.05))
		return;  /* not persistent: no idle connection to keep alive */
	if (r->tcpka_unavailable)
		kp_finding_add(out, "tcp_keepalive", KP_INFO, "TCP keepalive not measured: the packet "
		               "socket needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep kaprobe)");
	else if (!r->tcpka_known && r->tcpka_server_closed)
		kp_finding_add(out, "tcp_keepalive", r->tcpka_close_s >= 30 ? KP_WARNING : KP_INFO,
		               "TCP keepalive off (no probe before the idle close): a client that "
		               "vanished holds this connection for %s",
		               kp_seconds_text(r->tcpka_close_s, t, sizeof(t)));
	else if (!r->tcpka_known && r->idle_closed_by_server)
		kp_finding_add(out, "tcp_keepalive", KP_WARNING, "TCP keepalive off: a client that "
		               "vanished holds this connection for %s",
		               kp_seconds_text(r->idle_timeout_s, t, sizeof(t)));
	else if (!r->tcpka_known && r->idle_answered)
		kp_finding_add(out, "tcp_keepalive", KP_WARNING, "TCP keepalive off and idle "
		               "connections kept past --max-wait: a client that vanished holds a "
		               "connection for as long as the server keeps it");
}

void kp_findings_of(const struct kp_results *r, struct kp_findings *out)
{
	out->n = 0;
	keepalive_findings(r, out);
	wire_findings(r, out);
}
