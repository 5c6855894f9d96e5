/*
 * The keep-alive policy (keepalive_policy.h): RFC 9112 section 9 and the pressure rules
 * as pure functions. Each rule is a line of ka_policy_decide, in the order they are
 * tried; the first that ends the connection gives the close reason.
 */
#include "server/keepalive_policy.h"

#include <string.h>

#include "core/util.h"

bool ka_policy_client_closes(const struct ka_policy_request *req)
{
	return req->conn_close || (req->minor_version == 0 && !req->conn_keep_alive);
}

int64_t ka_policy_idle_timeout(const struct ka_config *cfg, uint64_t conns, int64_t age_ms)
{
	int64_t full = cfg->keepalive_timeout, min = cfg->keepalive_min_timeout;
	double load = (double)conns / (double)cfg->max_connections;
	double wm = cfg->idle_watermark;
	int64_t t = full;

	/* Under pressure an idle connection is worth less than room for a newcomer. */
	if (load >= 1.0 && full > min)
		t = min;
	else if (load > wm && full > min)
		t = full - (int64_t)((double)(full - min) * (load - wm) / (1.0 - wm));
	if (cfg->keepalive_time) {
		int64_t left = cfg->keepalive_time - age_ms;

		if (left < t)
			t = left > 0 ? left : 0;
	}
	return t;
}

int64_t ka_policy_idle_deadline(const struct ka_config *cfg, uint64_t conns, int64_t age_ms,
                                int64_t advertised_ms)
{
	int64_t t = ka_policy_idle_timeout(cfg, conns, age_ms);

	return t < advertised_ms ? advertised_ms : t;
}

bool ka_policy_linger(bool client_asked, bool half_closed, bool unread_input, bool send_queued)
{
	if (half_closed)
		return false;
	return !client_asked || unread_input || send_queued;
}

static struct ka_decision closing(enum ka_close_reason reason, bool client_asked,
                                  const struct ka_policy_conn *conn,
                                  const struct ka_policy_request *req)
{
	struct ka_decision d = { .keep = false, .client_asked = client_asked };

	d.reason = (uint8_t)reason;
	d.linger = ka_policy_linger(client_asked, conn->half_closed,
	                            req->body_unread || conn->input_follows, conn->send_queued);
	return d;
}

struct ka_decision ka_policy_decide(const struct ka_config *cfg, const struct ka_policy_conn *conn,
                                    const struct ka_policy_request *req, uint64_t conns)
{
	struct ka_decision d = { .keep = true };
	int64_t t;

	if (ka_policy_client_closes(req))
		return closing(KA_CLOSE_CONNECTION_CLOSE, true, conn, req);
	if (cfg->keepalive_timeout == 0)
		return closing(KA_CLOSE_KEEPALIVE_TIMEOUT, false, conn, req);
	/* Draining, this response is the last, unless the client has already sent another
	 * request (pipelined): that one is answered too, and ends it. */
	if (conn->draining && !conn->input_follows)
		return closing(KA_CLOSE_SHUTDOWN, false, conn, req);
	/* The request came as the idle timer fired: answered, but the timeout stands. */
	if (conn->last_call)
		return closing(KA_CLOSE_KEEPALIVE_TIMEOUT, false, conn, req);
	if (cfg->keepalive_requests && conn->requests >= cfg->keepalive_requests)
		return closing(KA_CLOSE_KEEPALIVE_REQUESTS, false, conn, req);
	if (cfg->keepalive_time && conn->age_ms >= cfg->keepalive_time)
		return closing(KA_CLOSE_KEEPALIVE_TIME, false, conn, req);
	/* HTTP/1.0 has no chunked coding: the close ends a body of unknown length. */
	if (req->length_unknown && req->minor_version == 0 && !req->is_head)
		return closing(KA_CLOSE_CONNECTION_CLOSE, false, conn, req);
	/* Too much unread body to discard: cheaper to close. */
	if (req->body_unread && (req->body_chunked || req->body_left > KA_POLICY_DISCARD_MAX))
		return closing(KA_CLOSE_CONNECTION_CLOSE, false, conn, req);

	/* Advertise what will be enforced, less the grace, so that a client which trusts
	 * the header closes first and never races our close (docs/keepalive.md, "the reuse
	 * race"). */
	d.idle_timeout_ms = ka_policy_idle_timeout(cfg, conns, conn->age_ms);
	t = d.idle_timeout_ms - cfg->keepalive_grace;
	d.advertise_s = t > 0 ? t / 1000 : 0;
	d.advertise_max = cfg->keepalive_requests ? cfg->keepalive_requests - conn->requests
	                                          : UINT64_MAX;
	return d;
}

struct ka_decision ka_policy_error(enum ka_close_reason reason)
{
	struct ka_decision d = { .keep = false, .linger = true };

	d.reason = (uint8_t)reason;
	return d;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

char *ka_policy_write_header(char *p, const struct ka_decision *d)
{
	if (!d->keep)
		return put(p, "Connection: close\r\n");
	p = put(p, "Connection: keep-alive\r\nKeep-Alive: timeout=");
	p = ka_put_u64(p, (uint64_t)d->advertise_s);
	if (d->advertise_max != UINT64_MAX) {
		p = put(p, ", max=");
		p = ka_put_u64(p, d->advertise_max);
	}
	return put(p, "\r\n");
}
