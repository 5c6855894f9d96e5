/*
 * The probe: eight checks of how a server treats persistent connections (and for
 * https a ninth, whether a new connection can resume the TLS session), the four wire
 * checks of checks_wire.c and checks_race.c, and the dispatch that runs them all on
 * one event loop, each on connections of its own, started at once as far as
 * --connections allows (kp_probe_pump), so that the whole probe takes as long as its
 * longest waits (the idle timeout, and once more for close_race, which needs it)
 * rather than the sum of them.
 * Every result is what happened on the wire: a second request answered or not, the
 * moment a FIN or RST arrived after the last response byte, the headers as sent. A
 * check is a handful of callbacks (start, response, closed, timer) over one
 * connection; the evidence line it leaves says what was sent, seen and timed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "probe/check.h"

static const struct check checks[KP_CHECK_COUNT];

const char *kp_check_name(enum kp_check id)
{
	return checks[id].names[0];
}

int kp_check_lookup(const char *name, size_t len)
{
	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		for (size_t k = 0; k < CHECK_NAMES && checks[i].names[k]; k++) {
			const char *known = checks[i].names[k];

			if (strlen(known) == len && memcmp(known, name, len) == 0)
				return i;
		}
	}
	return -1;
}

/* ---- shared steps ------------------------------------------------------------------------ */

void kp_probe_fatal(struct probe *p, const char *fmt, ...)
{
	va_list ap;
	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(p->fatal, p->fatal_len, fmt, ap);
	va_end(ap);
	p->net.loop.stop = true;
}

void kp_run_evidence(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->p->res->evidence[r->id], KP_EVIDENCE_MAX, fmt, ap);
	va_end(ap);
}

void kp_run_finish(struct run *r)
{
	if (r->done)
		return;
	r->done = true;
	if (r->conn != NULL)
		kp_conn_close(r->conn);
	r->conn = NULL;
	if (--r->p->pending == 0)
		r->p->net.loop.stop = true;
	else
		kp_probe_pump(r->p);
}

static int64_t now_ms(const struct run *r)
{
	return r->p->net.loop.now;
}

static double ms_between(int64_t from_us, int64_t to_us)
{
	return (double)(to_us - from_us) / 1000.0;
}

static double timeout_s(const struct run *r)
{
	return (double)r->p->o->timeout_ms / 1000.0;
}

/* Queues one request and writes it (once connected); the response timer starts. */
void kp_run_send(struct run *r, const char *method, int minor, const char *extra)
{
	char buf[KP_PATH_MAX + KP_HOST_MAX + 256];
	size_t n = kp_request_format(buf, sizeof(buf), r->p->t, method, minor, extra);
	enum ka_http_method m = strcmp(method, "HEAD") == 0 ? KA_METHOD_HEAD : KA_METHOD_GET;
	kp_conn_queue(r->conn, buf, n, m);
	kp_conn_flush(r->conn);
	kp_conn_set_timer(r->conn, now_ms(r) + r->p->o->timeout_ms);
}

/* "HTTP/1.1 200 OK, Connection: keep-alive, 612 body bytes" */
static void summarize(const struct kp_response *resp, char *out, size_t len)
{
	char line[96];
	const struct ka_http_header *conn = ka_http_response_header_find(&resp->head, "Connection");
	int n = snprintf(out, len, "%s",
	                 kp_escape(resp->status_line.p, resp->status_line.len, line, sizeof(line)));
	if (n < 0 || (size_t)n >= len)
		return;
	if (conn != NULL)
		n += snprintf(out + n, len - (size_t)n, ", Connection: %.*s", (int)KA_MIN(conn->value.len, 40),
		              conn->value.p);
	else
		n += snprintf(out + n, len - (size_t)n, ", no Connection header");
	static const char *const framing[] = {
		[KA_HTTP_BODY_NONE] = "", [KA_HTTP_BODY_CHUNKED] = " chunked",
		[KA_HTTP_BODY_LENGTH] = "", [KA_HTTP_BODY_CLOSE] = " ended by the close",
	};
	if ((size_t)n < len && resp->framing != KA_HTTP_BODY_NONE)
		snprintf(out + n, len - (size_t)n, ", %llu body bytes%s",
		         (unsigned long long)resp->body_len, framing[resp->framing]);
}

/* How the server ended it: "FIN", "RST"; over TLS "close_notify" when one came (the
 * FIN follows it, and both count as the server's close), else "FIN without
 * close_notify". */
static const char *server_end_name(const struct kp_conn *c)
{
	if (c->end != KP_END_FIN || c->tls == NULL)
		return kp_end_name(c->end);
	return kp_tls_saw_close_notify(c->tls) ? "close_notify" : "FIN without close_notify";
}

/* "server FIN 0.21 ms after the response" */
const char *kp_run_close_text(const struct run *r, const struct kp_conn *c, char *out, size_t len)
{
	if (c->end == KP_END_PARSE)
		snprintf(out, len, "then bytes that are not HTTP (%s)", c->parse_error);
	else if ((c->end == KP_END_FIN || c->end == KP_END_RST) &&
	         c->t_end_us - r->t_last_done_us >= 1000000)
		snprintf(out, len, "server %s %.3f s after the response", server_end_name(c),
		         ms_between(r->t_last_done_us, c->t_end_us) / 1000.0);
	else if (c->end == KP_END_FIN || c->end == KP_END_RST)
		snprintf(out, len, "server %s %.2f ms after the response", server_end_name(c),
		         ms_between(r->t_last_done_us, c->t_end_us));
	else if (c->end == KP_END_TLS)
		snprintf(out, len, "%s (%s)", kp_end_name(c->end), c->tls_error);
	else
		snprintf(out, len, "%s (%s)", kp_end_name(c->end), strerror(c->err));
	return out;
}

/* The connection ended before any response: every check says so the same way. */
bool kp_run_closed_unanswered(struct run *r, const struct kp_conn *c)
{
	if (r->answered > 0)
		return false;
	kp_run_evidence(r, "connection ended (%s) before any response%s", kp_end_name(c->end),
	         c->in_len ? "; a partial response was received" : "");
	kp_run_finish(r);
	return true;
}

bool kp_run_timeout_unanswered(struct run *r)
{
	if (r->answered > 0)
		return false;
	kp_run_evidence(r, "no response within %.1f s (--timeout)", timeout_s(r));
	kp_run_finish(r);
	return true;
}

/* ---- persistent_http11, http10_keepalive: is a second request answered? -------------------- */

static void second_request(struct run *r)
{
	if (r->id == KP_PERSISTENT_HTTP11)
		kp_run_send(r, "GET", 1, "");
	else
		kp_run_send(r, "GET", 0, "Connection: keep-alive\r\n");
}

static void reuse_start(struct run *r)
{
	second_request(r);
}

static bool *reuse_result(struct run *r)
{
	return r->id == KP_PERSISTENT_HTTP11 ? &r->p->res->persistent_http11
	                                     : &r->p->res->http10_keepalive;
}

static void reuse_response(struct run *r, const struct kp_response *resp)
{
	if (resp->index == 1) {
		/* The server said the connection ends here: a second request would break
		 * RFC 9112 9.6, and the answer is already known. */
		if (resp->head.conn_close || resp->framing == KA_HTTP_BODY_CLOSE) {
			kp_run_evidence(r, "#1 %s: the server ended the connection with the response", r->first);
			kp_run_finish(r);
			return;
		}
		second_request(r);
		return;
	}
	*reuse_result(r) = true;
	kp_run_evidence(r, "#1 %s; #2 on the same connection %s, %.2f ms after it was sent", r->first,
	         r->last, ms_between(resp->t_sent_us, resp->t_done_us));
	kp_run_finish(r);
}

static void reuse_closed(struct run *r, const struct kp_conn *c)
{
	char how[160];
	if (kp_run_closed_unanswered(r, c))
		return;
	kp_run_evidence(r, "#1 %s; request #2 sent, unanswered: %s", r->first, kp_run_close_text(r, c, how, sizeof(how)));
	kp_run_finish(r);
}

static void reuse_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	kp_run_evidence(r, "#1 %s; request #2 sent, no response within %.1f s and the connection stayed open",
	         r->first, timeout_s(r));
	kp_run_finish(r);
}

/* ---- http10_default_close, connection_close: does the server close after the response? -- */

static void closes_start(struct run *r)
{
	if (r->id == KP_HTTP10_DEFAULT_CLOSE)
		kp_run_send(r, "GET", 0, "");
	else
		kp_run_send(r, "GET", 1, "Connection: close\r\n");
}

static bool *closes_result(struct run *r)
{
	return r->id == KP_HTTP10_DEFAULT_CLOSE ? &r->p->res->http10_default_close
	                                        : &r->p->res->connection_close_honored;
}

static void closes_response(struct run *r, const struct kp_response *resp)
{
	int64_t wait = KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms);
	r->awaiting_close = true;
	kp_conn_set_timer(r->conn, resp->t_done_us / 1000 + wait);
}

static void closes_closed(struct run *r, const struct kp_conn *c)
{
	char how[160];
	if (kp_run_closed_unanswered(r, c))
		return;
	*closes_result(r) = c->end == KP_END_FIN || c->end == KP_END_RST;
	kp_run_evidence(r, "#1 %s; %s", r->first, kp_run_close_text(r, c, how, sizeof(how)));
	kp_run_finish(r);
}

static void closes_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	kp_run_evidence(r, "#1 %s; still open %.1f s after the response (kaprobe closed it)", r->first,
	         (double)KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms) / 1000.0);
	kp_run_finish(r);
}

/* ---- keep_alive_header: what the first response advertises ------------------------------- */

static void header_start(struct run *r)
{
	kp_run_send(r, "GET", 1, "");
}

static void header_response(struct run *r, const struct kp_response *resp)
{
	struct kp_results *res = r->p->res;
	const struct ka_http_header *h = ka_http_response_header_find(&resp->head, "Keep-Alive");
	unsigned count = 0;
	for (size_t i = 0; i < resp->head.num_headers; i++)
		count += ka_str_ieq(resp->head.headers[i].name, "Keep-Alive");
	if (h == NULL) {
		kp_run_evidence(r, "#1 %s; no Keep-Alive header", r->first);
		kp_run_finish(r);
		return;
	}
	size_t n = KA_MIN(h->value.len, sizeof(res->keep_alive_header) - 1);
	memcpy(res->keep_alive_header, h->value.p, n);
	res->keep_alive_header[n] = '\0';
	res->has_keep_alive_header = true;
	ka_http_keep_alive_parse(h->value, &res->advertised_timeout_s, &res->advertised_max);
	char shown[KP_TEXT_MAX + 16];
	kp_run_evidence(r, "#1 %s; Keep-Alive: %s%s", r->first,
	         kp_escape(h->value.p, h->value.len, shown, sizeof(shown)),
	         count > 1 ? " (the first of several Keep-Alive fields)" : "");
	kp_run_finish(r);
}

/* The check ends with its first response, so only an unanswered request gets here;
 * finishing regardless keeps a surprise from leaving the probe waiting forever. */
static void header_closed(struct run *r, const struct kp_conn *c)
{
	if (!kp_run_closed_unanswered(r, c))
		kp_run_finish(r);
}

static void header_timer(struct run *r)
{
	if (!kp_run_timeout_unanswered(r))
		kp_run_finish(r);
}

/* ---- idle_timeout: from the last response byte to the server's close ----------------------- */

static void idle_start(struct run *r)
{
	kp_run_send(r, "GET", 1, "");
}

static void idle_response(struct run *r, const struct kp_response *resp)
{
	r->p->res->idle_answered = true;
	kp_conn_set_timer(r->conn, resp->t_done_us / 1000 + r->p->o->max_wait_ms);
}

static void idle_closed(struct run *r, const struct kp_conn *c)
{
	struct kp_results *res = r->p->res;
	char how[160], sample[KP_UNSOLICITED_KEEP * 4 + 8];
	if (kp_run_closed_unanswered(r, c))
		return;
	if (c->end == KP_END_FIN || c->end == KP_END_RST) {
		res->idle_closed_by_server = true;
		res->idle_timeout_s = (double)(c->t_end_us - r->t_last_done_us) / 1e6;
		res->idle_rst = c->end == KP_END_RST;
	}
	if (c->unsolicited > 0)
		kp_run_evidence(r, "#1 %s; %s, after %zu unrequested bytes %s", r->first,
		         kp_run_close_text(r, c, how, sizeof(how)), c->unsolicited,
		         kp_escape(c->unsolicited_start, KA_MIN(c->unsolicited, (size_t)KP_UNSOLICITED_KEEP),
		                   sample, sizeof(sample)));
	else
		kp_run_evidence(r, "#1 %s; %s", r->first, kp_run_close_text(r, c, how, sizeof(how)));
	kp_run_finish(r);
}

static void idle_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	kp_run_evidence(r, "#1 %s; still open %.1f s after the response (--max-wait); kaprobe closed it",
	         r->first, (double)r->p->o->max_wait_ms / 1000.0);
	kp_run_finish(r);
}

/* ---- max_requests: sequential requests until the server closes ------------------------------ */

/* The server's limit, n requests, is found; more than --max-requests N is reported
 * as null, as when the probe stops after N+1 without an end. */
static void max_found(struct run *r, unsigned n, bool signalled)
{
	struct kp_results *res = r->p->res;
	bool within = (int64_t)n <= r->p->o->max_requests;

	res->max_requests_known = within;
	res->max_requests = within ? n : 0;
	res->max_requests_signalled = within && signalled;
}

static void max_start(struct run *r)
{
	kp_run_send(r, "GET", 1, "");
}

static void max_response(struct run *r, const struct kp_response *resp)
{
	if (resp->head.conn_close || resp->framing == KA_HTTP_BODY_CLOSE) {
		/* The server ended it: no further request may be sent (RFC 9112 9.6). */
		max_found(r, resp->index, resp->head.conn_close);
		r->awaiting_close = true;
		kp_conn_set_timer(r->conn, resp->t_done_us / 1000 +
		                           KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms));
		return;
	}
	if ((int64_t)resp->index > r->p->o->max_requests) {
		kp_run_evidence(r, "%u responses on one connection, more than --max-requests %lld; last %s",
		         resp->index, (long long)r->p->o->max_requests, r->last);
		kp_run_finish(r);
		return;
	}
	kp_run_send(r, "GET", 1, "");
}

static void max_closed(struct run *r, const struct kp_conn *c)
{
	char how[160];
	if (!r->awaiting_close)  /* closed with a request unanswered, unannounced */
		max_found(r, r->answered, false);
	if (r->answered == 0)
		kp_run_evidence(r, "connection ended (%s) before any response", kp_end_name(c->end));
	else if (r->awaiting_close)
		kp_run_evidence(r, "%u response%s on one connection; #%u %s; %s", r->answered,
		         r->answered == 1 ? "" : "s", r->answered,
		         r->last, kp_run_close_text(r, c, how, sizeof(how)));
	else
		kp_run_evidence(r, "%u response%s on one connection; #%u %s; request #%u sent, unanswered: %s",
		         r->answered, r->answered == 1 ? "" : "s", r->answered, r->last, r->answered + 1,
		         kp_run_close_text(r, c, how, sizeof(how)));
	kp_run_finish(r);
}

static void max_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	if (r->awaiting_close) {
		kp_run_evidence(r, "%u responses on one connection; #%u %s; yet still open %.1f s later "
		         "(kaprobe closed it)", r->answered, r->answered, r->last,
		         (double)KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms) / 1000.0);
	} else {
		max_found(r, r->answered, false);
		kp_run_evidence(r, "%u responses on one connection; request #%u unanswered within %.1f s, "
		         "connection open (kaprobe closed it)", r->answered, r->answered + 1, timeout_s(r));
	}
	kp_run_finish(r);
}

/* ---- pipelining: three requests in one write ------------------------------------------------- */

static void pipe_start(struct run *r)
{
	/* GET, HEAD, GET: a server that answers out of order, or gives the HEAD a body,
	 * desynchronises the framing and is caught by the parser. */
	static const char *const methods[3] = { "GET", "HEAD", "GET" };
	char buf[KP_PATH_MAX + KP_HOST_MAX + 256];
	for (int i = 0; i < 3; i++) {
		size_t n = kp_request_format(buf, sizeof(buf), r->p->t, methods[i], 1, "");
		kp_conn_queue(r->conn, buf, n, i == 1 ? KA_METHOD_HEAD : KA_METHOD_GET);
	}
	kp_conn_flush(r->conn);  /* before the connect completes: all three leave in one send() */
	kp_conn_set_timer(r->conn, now_ms(r) + r->p->o->timeout_ms);
}

static void pipe_response(struct run *r, const struct kp_response *resp)
{
	char *e = r->p->res->evidence[r->id];
	size_t used = strlen(e);
	snprintf(e + used, KP_EVIDENCE_MAX - used, "%s#%u %s %s", used ? "; " : "3 requests in one write: ",
	         resp->index, resp->method == KA_METHOD_HEAD ? "(HEAD)" : "(GET)", r->last);
	if (resp->index == 3) {
		r->p->res->pipelining = true;
		kp_run_finish(r);
		return;
	}
	kp_conn_set_timer(r->conn, now_ms(r) + r->p->o->timeout_ms);
}

static void pipe_closed(struct run *r, const struct kp_conn *c)
{
	char *e = r->p->res->evidence[r->id];
	size_t used = strlen(e);
	char how[160];
	if (kp_run_closed_unanswered(r, c))
		return;
	snprintf(e + used, KP_EVIDENCE_MAX - used, "; only %u of 3 answered, %s", r->answered,
	         kp_run_close_text(r, c, how, sizeof(how)));
	kp_run_finish(r);
}

static void pipe_timer(struct run *r)
{
	char *e = r->p->res->evidence[r->id];
	size_t used = strlen(e);
	if (kp_run_timeout_unanswered(r))
		return;
	snprintf(e + used, KP_EVIDENCE_MAX - used, "; only %u of 3 answered within %.1f s",
	         r->answered, timeout_s(r));
	kp_run_finish(r);
}

/* ---- tls_resumption: does a second connection resume the first one's session? --------- */

static void resume_start(struct run *r)
{
	kp_run_send(r, "GET", 1, "");
}

/* The first response is in: the session (for TLS 1.3 the ticket, which the server
 * sends after the handshake and so before any response) goes to a new connection. */
static void resume_offer(struct run *r)
{
	struct kp_results *res = r->p->res;
	struct kp_tls_info info;

	memset(&info, 0, sizeof(info));
	kp_conn_tls_info(r->conn, &info, &r->first_handshake_ms);
	r->session = r->conn->tls ? kp_tls_session_get(r->conn->tls) : NULL;
	if (r->session == NULL) {
		res->tls_resumption_known = true;
		kp_run_evidence(r, "#1 %s; %s: the server gave no ticket and no resumable session id",
		         r->first, info.version);
		kp_run_finish(r);
		return;
	}
	res->tls_ticket = kp_tls_session_has_ticket(r->session);
	if (res->tls_ticket) {
		res->has_ticket_lifetime = true;
		res->ticket_lifetime_s = (int64_t)kp_tls_session_ticket_lifetime(r->session);
	}
	kp_conn_close(r->conn);
	r->conn = kp_conn_open(&r->p->net, r->p->t, &kp_run_ops, r);
	if (r->conn == NULL) {
		kp_run_evidence(r, "#1 %s; cannot open a second socket: %s", r->first, strerror(errno));
		kp_run_finish(r);
		return;
	}
	kp_conn_offer_session(r->conn, r->session);
	r->second = true;
	r->answered = 0;
	kp_run_send(r, "GET", 1, "");
}

static void resume_response(struct run *r, const struct kp_response *resp)
{
	struct kp_results *res = r->p->res;
	struct kp_tls_info info;
	double ms = 0;
	char offered[64];

	(void)resp;
	if (!r->second) {
		resume_offer(r);
		return;
	}
	memset(&info, 0, sizeof(info));
	kp_conn_tls_info(r->conn, &info, &ms);
	res->tls_resumption_known = true;
	res->tls_resumed = info.resumed;
	if (res->tls_ticket)
		snprintf(offered, sizeof(offered), "a ticket (lifetime hint %lld s)",
		         (long long)res->ticket_lifetime_s);
	else
		snprintf(offered, sizeof(offered), "a session id");
	kp_run_evidence(r, "%s, full handshake %.2f ms, gave %s; a new connection offering it: %s, "
	         "handshake %.2f ms, #1 %s", info.version, r->first_handshake_ms, offered,
	         info.resumed ? "resumed" : "not resumed (a full handshake)", ms, r->last);
	kp_run_finish(r);
}

static void resume_closed(struct run *r, const struct kp_conn *c)
{
	if (kp_run_closed_unanswered(r, c))
		return;
	kp_run_evidence(r, "the connection offering the session ended (%s) before any response",
	         kp_end_name(c->end));
	kp_run_finish(r);
}

static void resume_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	kp_run_finish(r);
}

#define B(check) (1u << (check))

static const struct check checks[KP_CHECK_COUNT] = {
	[KP_PERSISTENT_HTTP11] = { { "persistent_http11" }, 0,
	                           reuse_start, reuse_response, reuse_closed, reuse_timer, NULL },
	[KP_HTTP10_KEEPALIVE] = { { "http10_keepalive" }, 0,
	                          reuse_start, reuse_response, reuse_closed, reuse_timer, NULL },
	[KP_HTTP10_DEFAULT_CLOSE] = { { "http10_default_close" }, 0,
	                              closes_start, closes_response, closes_closed, closes_timer, NULL },
	[KP_CONNECTION_CLOSE] = { { "connection_close", "connection_close_honored" }, 0,
	                          closes_start, closes_response, closes_closed, closes_timer, NULL },
	[KP_KEEP_ALIVE_HEADER] = { { "keep_alive_header", "advertised_timeout_s", "advertised_max" }, 0,
	                           header_start, header_response, header_closed, header_timer, NULL },
	[KP_IDLE_TIMEOUT] = { { "idle_timeout", "idle_timeout_s", "closer", "close_kind" }, 0,
	                      idle_start, idle_response, idle_closed, idle_timer, NULL },
	[KP_MAX_REQUESTS] = { { "max_requests", "max_requests_signalled" }, 0,
	                      max_start, max_response, max_closed, max_timer, NULL },
	[KP_PIPELINING] = { { "pipelining" }, 0,
	                    pipe_start, pipe_response, pipe_closed, pipe_timer, NULL },
	[KP_TLS_RESUMPTION] = { { "tls_resumption", "ticket_lifetime_s" }, 0,
	                        resume_start, resume_response, resume_closed, resume_timer, NULL },
	[KP_TCP_KEEPALIVE] = { { "tcp_keepalive" }, 0,
	                       kp_tcpka_start, kp_tcpka_response, kp_tcpka_closed, kp_tcpka_timer,
	                       kp_tcpka_connected },
	/* Both build on the measured idle timeout: they start when it is known. */
	[KP_CLOSE_RACE] = { { "close_race" }, B(KP_IDLE_TIMEOUT),
	                    kp_race_start, kp_noconn_response, kp_noconn_closed, kp_noconn_timer,
	                    NULL },
	[KP_ADVERTISED] = { { "advertised_vs_enforced" }, B(KP_IDLE_TIMEOUT) | B(KP_KEEP_ALIVE_HEADER),
	                    kp_advertised_start, kp_noconn_response, kp_noconn_closed, kp_noconn_timer,
	                    NULL },
	[KP_LINGERING] = { { "lingering" }, 0,
	                   kp_linger_start, kp_linger_response, kp_linger_closed, kp_linger_timer, NULL },
};

unsigned kp_check_needs(unsigned mask)
{
	for (int i = 0; i < KP_CHECK_COUNT; i++)
		if (mask & B(i))
			mask |= checks[i].needs;
	return mask;
}

/* ---- dispatch from the connections ------------------------------------------------------------- */

static void on_response(struct kp_conn *c, const struct kp_response *resp)
{
	struct run *r = c->owner;
	struct kp_results *res = r->p->res;
	if (!res->server_seen) {
		const struct ka_http_header *h = ka_http_response_header_find(&resp->head, "Server");
		res->server_seen = true;
		if (h != NULL) {
			size_t n = KA_MIN(h->value.len, sizeof(res->server) - 1);
			memcpy(res->server, h->value.p, n);
			res->server[n] = '\0';
			res->has_server = true;
		}
	}
	/* The parameters of a full handshake: not those of the connection that resumes. */
	if (!res->tls_seen && !r->second &&
	    kp_conn_tls_info(c, &res->tls, &res->tls_handshake_ms))
		res->tls_seen = true;
	res->responses++;
	r->answered = resp->index;
	r->t_last_done_us = resp->t_done_us;
	summarize(resp, r->last, sizeof(r->last));
	if (resp->index == 1)
		memcpy(r->first, r->last, sizeof(r->first));
	kp_conn_clear_timer(c);
	checks[r->id].response(r, resp);
}

static void on_closed(struct kp_conn *c)
{
	struct run *r = c->owner;
	char sample[160];
	r->conn = NULL;  /* released by the client layer */
	if (c->end == KP_END_CONNECT) {
		kp_probe_fatal(r->p, "cannot connect to %s: %s", r->p->t->addr_text, strerror(c->err));
		return;
	}
	if (c->end == KP_END_TLS && c->responses == 0 && !r->second) {
		kp_probe_fatal(r->p, "TLS with %s failed: %s", r->p->t->addr_text, c->tls_error);
		return;
	}
	if (c->end == KP_END_PARSE && c->responses == 0) {
		kp_probe_fatal(r->p, "%s did not answer with HTTP (%s); it sent %s", r->p->t->addr_text,
		      c->parse_error, kp_escape(c->in, KA_MIN(c->in_len, (size_t)60), sample, sizeof(sample)));
		return;
	}
	checks[r->id].closed(r, c);
}

static void on_timer(struct kp_conn *c)
{
	struct run *r = c->owner;
	checks[r->id].timer(r);
}

static void on_connected(struct kp_conn *c)
{
	struct run *r = c->owner;
	if (checks[r->id].connected != NULL)
		checks[r->id].connected(r);
}

const struct kp_conn_ops kp_run_ops = {
	.connected = on_connected,
	.response = on_response,
	.closed = on_closed,
	.timer = on_timer,
};

unsigned kp_probe_open(const struct probe *p)
{
	unsigned n = p->extra_open;

	for (int i = 0; i < KP_CHECK_COUNT; i++)
		n += p->runs[i].conn != NULL && !p->runs[i].conn->closed;
	return n;
}

/* Starts what can start, in the table's order, until nothing more can: a check whose
 * needs are done, with a free connection (--connections) unless it needs none. */
void kp_probe_pump(struct probe *p)
{
	bool progress = true;

	if (p->pumping)
		return;
	p->pumping = true;
	while (progress && !p->failed) {
		unsigned done = 0;

		progress = false;
		for (int i = 0; i < KP_CHECK_COUNT; i++)
			done |= p->runs[i].done ? B(i) : 0;
		for (int i = 0; i < KP_CHECK_COUNT && !p->failed; i++) {
			struct run *r = &p->runs[i];

			if (!(p->only & B(i)) || r->done || (checks[i].needs & ~done) != 0)
				continue;
			if (r->started) {
				if (i == KP_CLOSE_RACE)
					kp_race_pump(r);
				continue;
			}
			/* A check that needs others works on their results: no connection. */
			if (checks[i].needs == 0) {
				if (kp_probe_open(p) >= (unsigned)p->o->connections)
					continue;
				r->conn = kp_conn_open(&p->net, p->t, &kp_run_ops, r);
				if (r->conn == NULL) {
					kp_probe_fatal(p, "cannot open a socket: %s", strerror(errno));
					break;
				}
			}
			r->started = true;
			progress = true;
			checks[i].start(r);
		}
	}
	p->pumping = false;
}

int kp_probe_run(const struct kp_target *t, const struct kp_probe_opts *opts,
                 struct kp_results *res, char *fatal_msg, size_t fatal_len)
{
	static struct probe p;  /* large (the results' text); one per process */
	memset(&p, 0, sizeof(p));
	memset(res, 0, sizeof(*res));
	res->advertised_timeout_s = res->advertised_max = -1;
	p.t = t;
	p.o = opts;
	p.res = res;
	p.fatal = fatal_msg;
	p.fatal_len = fatal_len;
	fatal_msg[0] = '\0';
	int err = kp_net_init(&p.net);
	if (err) {
		snprintf(fatal_msg, fatal_len, "event loop: %s", strerror(-err));
		return 1;
	}

	p.only = kp_check_needs(opts->only);
	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		if (!(p.only & B(i)))
			continue;
		p.runs[i].p = &p;
		p.runs[i].id = (enum kp_check)i;
		res->ran[i] = true;
		p.pending++;
	}
	if (p.pending == 0)
		kp_probe_fatal(&p, "no check to run");  /* the loop would wait for nothing */
	kp_probe_pump(&p);
	while (!p.net.loop.stop)
		ka_loop_run_once(&p.net.loop, -1);

	for (int i = 0; i < KP_CHECK_COUNT; i++) {
		if (p.runs[i].conn != NULL)
			kp_conn_close(p.runs[i].conn);
		if (p.runs[i].session != NULL)
			kp_tls_session_free(p.runs[i].session);
	}
	kp_tcpka_cleanup(&p.runs[KP_TCP_KEEPALIVE]);
	kp_race_cleanup(&p.runs[KP_CLOSE_RACE]);
	kp_net_close(&p.net);
	if (!p.failed && res->responses == 0) {
		kp_probe_fatal(&p, "no HTTP response from %s", t->addr_text);
		for (int i = 0; i < KP_CHECK_COUNT; i++)
			if (res->ran[i] && res->evidence[i][0]) {
				size_t used = strlen(fatal_msg);
				snprintf(fatal_msg + used, fatal_len - used, "; %s: %s", checks[i].names[0],
				         res->evidence[i]);
				break;
			}
	}
	return p.failed ? 1 : 0;
}
